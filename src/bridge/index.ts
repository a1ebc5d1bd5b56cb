export { exposePool } from './expose.js';
export { connectPool } from './connect.js';
export type { PoolClient } from './connect.js';
export { electronPortEndpoint, toEndpoint } from './endpoint.js';
export type { AnyEndpoint, ElectronPort } from './endpoint.js';
export type { BridgeEmbedOptions } from './protocol.js';
