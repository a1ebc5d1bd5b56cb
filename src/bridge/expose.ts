/** The side that owns the pool: an Electron utility (or main) process, a Node worker, a server. */
import { expose, transfer } from 'comlink';
import { AbortError, errorToWire } from '../errors.js';
import type { WarmPool } from '../pool.js';
import type { PackedVectors } from '../types.js';
import { canTransferBuffers, toEndpoint, type AnyEndpoint } from './endpoint.js';
import type { BridgeApi, BridgeClassifyOptions, BridgeEmbedOptions, BridgeRerankOptions, Outcome } from './protocol.js';

const failed = (error: unknown): Outcome<never> => ({ ok: false, error: errorToWire(error) });

/**
 * Serves `pool` on `endpoint` to one {@link connectPool} caller. The vectors of each call are
 * transferred, not copied, where the port allows it. The pool stays the owner's to close.
 *
 * @example
 * // Electron utility process
 * process.parentPort.once('message', (e) => exposePool(pool, e.ports[0]));
 */
export function exposePool(pool: WarmPool, endpoint: AnyEndpoint): void {
  const transfers = canTransferBuffers(endpoint);
  const running = new Map<number, AbortController>();
  /** Runs one call that the caller may abort by its id, and wraps its outcome. */
  async function settle<T>(callId: number, call: (signal: AbortSignal) => Promise<T>): Promise<Outcome<T>> {
    const controller = new AbortController();
    running.set(callId, controller);
    try {
      return { ok: true, value: await call(controller.signal) };
    } catch (error) {
      return failed(error);
    } finally {
      running.delete(callId);
    }
  }
  const api: BridgeApi = {
    async embedPacked(input, options: BridgeEmbedOptions | undefined, callId) {
      const controller = new AbortController();
      running.set(callId, controller);
      try {
        const packed = await pool.embedPacked(input, { ...options, signal: controller.signal });
        // Only a buffer the vectors fill alone may be handed over; a view into a larger one is copied first.
        const data = packed.data.byteOffset === 0 && packed.data.byteLength === packed.data.buffer.byteLength ? packed.data : packed.data.slice();
        const outcome: Outcome<PackedVectors> = { ok: true, value: { data, dims: packed.dims, tokens: packed.tokens } };
        return transfers ? transfer(outcome, [data.buffer]) : outcome;
      } catch (error) {
        return failed(error);
      } finally {
        running.delete(callId);
      }
    },
    async rerank(query, documents, options: BridgeRerankOptions | undefined, callId) {
      return settle(callId, (signal) => pool.rerank(query, documents, { ...options, signal }));
    },
    async classify(input, options: BridgeClassifyOptions | undefined, callId) {
      return settle(callId, (signal) => pool.classify(input as string, { ...options, signal }));
    },
    abort(callId) {
      running.get(callId)?.abort(new AbortError('the caller aborted the call'));
    },
    async ready() {
      try {
        await pool.ready();
        return { ok: true, value: pool.model };
      } catch (error) {
        return failed(error);
      }
    },
    stats() {
      return pool.stats();
    },
  };
  expose(api, toEndpoint(endpoint));
}
