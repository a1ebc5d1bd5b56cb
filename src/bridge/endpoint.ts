/**
 * Every kind of message port the bridge may be given, turned into comlink's `Endpoint`:
 * a DOM `MessagePort` or `Worker` (a renderer, a browser) as it is; Node's `MessagePort`,
 * `Worker` and `parentPort` through comlink's node adapter; Electron's `MessagePortMain` and a
 * utility process's `process.parentPort`, whose 'message' events carry `{ data, ports }`.
 */
import type { Endpoint } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';

/** Node's `MessagePort`, `Worker` or `parentPort`: an EventEmitter whose 'message' listener gets the data. */
export interface NodeEndpoint {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(type: 'message', listener: (data: unknown) => void): unknown;
  off(type: 'message', listener: (data: unknown) => void): unknown;
  start?: () => void;
}

type Listener = Parameters<Endpoint['addEventListener']>[1];

/** Electron's `MessagePortMain` / `ParentPort`, structurally (no dependency on electron). */
export interface ElectronPort {
  postMessage(message: unknown, transfer?: unknown[]): void;
  on(type: 'message', listener: (event: { data: unknown }) => void): unknown;
  off(type: 'message', listener: (event: { data: unknown }) => void): unknown;
  start?: () => void;
}

export type AnyEndpoint = Endpoint | NodeEndpoint | ElectronPort;

const ELECTRON_PORTS = new Set(['MessagePortMain', 'ParentPort']);

/**
 * Adapts Electron's `MessagePortMain` or a utility process's `parentPort`. They transfer only
 * ports, not ArrayBuffers: vectors sent through them are copied (structured clone) instead.
 */
export function electronPortEndpoint(port: ElectronPort): Endpoint {
  const listeners = new WeakMap<object, (event: { data: unknown }) => void>();
  return {
    postMessage: (message: unknown) => port.postMessage(message),
    addEventListener(_type: string, handler: Listener) {
      const listener = (event: { data: unknown }): void => {
        const wrapped = { data: event.data } as MessageEvent;
        if (typeof handler === 'function') handler(wrapped);
        else handler.handleEvent(wrapped);
      };
      listeners.set(handler, listener);
      port.on('message', listener);
    },
    removeEventListener(_type: string, handler: Listener) {
      const listener = listeners.get(handler);
      if (listener) port.off('message', listener);
      listeners.delete(handler);
    },
    start: () => port.start?.(),
  };
}

/** Whether an endpoint can take ArrayBuffers in its transfer list (Electron's main-process ports cannot). */
export function canTransferBuffers(endpoint: AnyEndpoint): boolean {
  return !ELECTRON_PORTS.has((endpoint as object).constructor?.name ?? '');
}

export function toEndpoint(endpoint: AnyEndpoint): Endpoint {
  if (typeof endpoint !== 'object' || endpoint === null || typeof (endpoint as { postMessage?: unknown }).postMessage !== 'function') {
    throw new TypeError('the bridge needs a MessagePort, a Worker or an Electron port (an object with postMessage)');
  }
  if (ELECTRON_PORTS.has((endpoint as object).constructor?.name ?? '')) return electronPortEndpoint(endpoint as ElectronPort);
  // Node's ports and workers are EventEmitters whose 'message' listener gets the data itself.
  if (typeof (endpoint as NodeEndpoint).on === 'function') return nodeEndpoint(endpoint as Parameters<typeof nodeEndpoint>[0]);
  return endpoint as Endpoint;
}
