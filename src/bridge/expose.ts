/** The side that owns the pool: an Electron utility (or main) process, a Node worker, a server. */
import { expose, transfer } from 'comlink';
import type { CollectionInfo, IndexResult, MigrationResult } from '../collections/types.js';
import { AbortError, InvalidInputError, describe, errorToWire } from '../errors.js';
import type { WarmPool } from '../pool.js';
import type { PackedVectors } from '../types.js';
import { canTransferBuffers, toEndpoint, type AnyEndpoint } from './endpoint.js';
import type { BridgeApi, BridgeClassifyOptions, BridgeEmbedOptions, BridgeRerankOptions, Outcome } from './protocol.js';

const failed = (error: unknown): Outcome<never> => ({ ok: false, error: errorToWire(error) });

/** Runs a call that cannot be aborted and wraps its outcome. */
async function outcomeOf<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return failed(error);
  }
}

/**
 * The stored vectors of search hits or documents, made transferable: a vector that fills its
 * buffer alone is handed over as it is, a view into a larger buffer is copied first (cloning a
 * view would copy the whole buffer). Without transfer, the outcome is cloned as it is.
 */
function withVectors<T extends { vector?: Float32Array } | null>(outcome: Outcome<T[]>, transfers: boolean): Outcome<T[]> {
  if (!transfers || !outcome.ok) return outcome;
  const buffers = new Set<ArrayBuffer>();
  for (const item of outcome.value) {
    const vector = item?.vector;
    if (!vector) continue;
    const whole = vector.byteOffset === 0 && vector.byteLength === vector.buffer.byteLength && vector.buffer instanceof ArrayBuffer && !buffers.has(vector.buffer);
    const own = whole ? vector : vector.slice();
    item.vector = own;
    buffers.add(own.buffer as ArrayBuffer);
  }
  return buffers.size > 0 ? transfer(outcome, [...buffers]) : outcome;
}

/** A caller's `indexStream` as the owner sees it: its batches in order, stopped at the first failure or at the end. */
interface Stream {
  tail: Promise<unknown>;
  stopped: boolean;
}

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
  const streams = new Map<number, Stream>();
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
    index(docs, options) {
      return outcomeOf(() => pool.index(docs, options));
    },
    indexBatch(streamId, docs, options) {
      let stream = streams.get(streamId);
      if (!stream) streams.set(streamId, (stream = { tail: Promise.resolve(), stopped: false }));
      const own = stream;
      const result = own.tail.then(async (): Promise<Outcome<IndexResult>> => {
        if (own.stopped) return failed(new AbortError('the stream was stopped before this batch was indexed'));
        // Bulk work: the batch lane unless the caller says otherwise, as pool.indexStream does.
        const outcome = await outcomeOf(() => pool.index(docs, { ...options, priority: options?.priority ?? 'batch' }));
        if (!outcome.ok) own.stopped = true;
        return outcome;
      });
      own.tail = result;
      return result;
    },
    endStream(streamId) {
      const stream = streams.get(streamId);
      if (stream) stream.stopped = true;
      streams.delete(streamId);
    },
    async search(query, options) {
      return withVectors(await outcomeOf(() => pool.search(query, options)), transfers);
    },
    async get(ids, options) {
      return withVectors(await outcomeOf(() => pool.get(ids, options)), transfers);
    },
    delete(ids, options) {
      return outcomeOf(() => pool.delete(ids, options));
    },
    count(options) {
      return outcomeOf(() => pool.count(options));
    },
    collections(call) {
      const api = pool.collections();
      return outcomeOf<CollectionInfo[] | CollectionInfo | boolean | string[] | MigrationResult>(() => {
        switch (call?.op) {
          case 'list':
            return api.list();
          case 'create':
            return api.create(call.name, call.options);
          case 'info':
            return api.info(call.name);
          case 'drop':
            return api.drop(call.name);
          case 'ids':
            return api.ids(call.name);
          case 'migrate':
            return api.migrate(call.name, call.options);
          default:
            throw new InvalidInputError(`unknown collections call ${describe((call as { op?: unknown } | undefined)?.op)}`);
        }
      });
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
