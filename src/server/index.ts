export { createServer, startServer } from './create-server.js';
export type { RunningServer } from './create-server.js';
export { warmpoolPlugin } from './plugin.js';
export type { PluginOptions } from './plugin.js';
export { resolveServerOptions, SERVER_DEFAULTS, SERVER_ENV_VARS, SERVER_LOG_LEVELS } from './options.js';
export type { ServerOptions, ResolvedServerOptions, RouteContext, WarmpoolRoute, ServerLogLevel } from './options.js';
export { HttpError } from './http-errors.js';
export { BUILT_IN_ROUTES } from './routes/index.js';
export { float32ToBase64 } from './routes/openai-embeddings.js';
