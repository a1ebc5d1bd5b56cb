/** The caller's side of the bridge: a renderer, a worker, any thread without the pool. */
import { releaseProxy, wrap, type Remote } from 'comlink';
import { isAbortSignal } from '../caller-data.js';
import type { CollectionsApi } from '../collections/client.js';
import type {
  CollectionInfo,
  CollectionOption,
  Doc,
  GetOptions,
  IndexDocsOptions,
  IndexResult,
  IndexStreamOptions,
  SearchHit,
  SearchOptions,
  StoredDoc,
  VectorInput,
  MigrationResult,
} from '../collections/types.js';
import { AbortError, InvalidInputError, describe, errorFromWire } from '../errors.js';
import type { EmbedOptions } from '../inputs.js';
import type { StatsSnapshot } from '../stats.js';
import type { ModelInfo, PackedVectors } from '../types.js';
import { toEndpoint, type AnyEndpoint } from './endpoint.js';
import type { ClassifyOptions, LabelScore, RerankOptions, RerankResult } from '../task-inputs.js';
import type { BridgeApi, BridgeEmbedOptions, CollectionsCall, Outcome } from './protocol.js';

/** The pool as seen across a port: the same calls as `WarmPool`, all asynchronous. */
export interface PoolClient {
  embed(input: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(input: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  embedPacked(input: string | readonly string[], options?: EmbedOptions): Promise<PackedVectors>;
  /** Scores documents against a query with one of the pool's rerank models (see `WarmPool.rerank`). */
  rerank(query: string, documents: readonly string[], options?: RerankOptions): Promise<RerankResult[]>;
  /** Labels of a text, or of each text, from one of the pool's classify models (see `WarmPool.classify`). */
  classify(input: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(input: readonly string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  /** Embeds documents and writes them to a collection (see `WarmPool.index`). */
  index(docs: readonly (Doc | string)[] | Doc | string, options?: IndexDocsOptions): Promise<IndexResult>;
  /**
   * Indexes an (async) iterable of this side's documents (see `WarmPool.indexStream`). This side
   * pulls `batchSize` documents at a time and sends each batch; at most two are on their way or
   * being indexed at once. `onProgress` is called here after each batch is durable, in order;
   * `signal` stops the pulling, and the call rejects with `AbortError` once the batches already
   * sent are settled: the collection then holds whole batches only, each one reported to `onProgress`.
   */
  indexStream(source: AsyncIterable<Doc | string> | Iterable<Doc | string>, options?: IndexStreamOptions): Promise<{ count: number; batches: number }>;
  /** Nearest neighbours of a text or a vector (`Float32Array` or `number[]`), best first (see `WarmPool.search`). */
  search(query: string | VectorInput, options?: SearchOptions): Promise<SearchHit[]>;
  /** Stored documents by id, in order; `null` for an id that is not there. */
  get(ids: string | readonly string[], options?: GetOptions): Promise<(StoredDoc | null)[]>;
  /** Deletes documents by id; resolves to how many existed. */
  delete(ids: string | readonly string[], options?: CollectionOption): Promise<number>;
  /** Documents in a collection. */
  count(options?: CollectionOption): Promise<number>;
  /** List, create, inspect and drop collections. */
  collections(): CollectionsApi;
  /** Resolves once the pool is warm, with its model's details. */
  ready(): Promise<ModelInfo | undefined>;
  stats(): Promise<StatsSnapshot>;
  /** Lets go of the port's proxy. The pool is not closed: it belongs to the side that exposed it. */
  release(): void;
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw errorFromWire(outcome.error);
}

/**
 * Connects to a pool served by {@link exposePool} on the other end of `endpoint`. Errors arrive
 * as the same warmpool classes, with their `code`; an `AbortSignal` works as it does locally.
 *
 * @example
 * const pool = connectPool(port);
 * const [a, b] = await pool.embed(['first text', 'second text']);
 */
export function connectPool(endpoint: AnyEndpoint): PoolClient {
  const remote: Remote<BridgeApi> = wrap<BridgeApi>(toEndpoint(endpoint));
  let nextCallId = 0;

  /** One call across the port, with its `signal` (which stays here) turned into an abort message. */
  async function remoteCall<T>(options: { signal?: AbortSignal } | undefined, send: (rest: Record<string, unknown>, callId: number) => Promise<Outcome<T>>): Promise<T> {
    const { signal, ...rest } = options ?? {};
    if (signal?.aborted) throw new AbortError('the call was aborted before it started', { cause: signal.reason });
    const callId = ++nextCallId;
    let call: Promise<Outcome<T>>;
    try {
      call = send(rest, callId);
    } catch (error) {
      throw cloneError(error);
    }
    if (!signal) return unwrap(await call.catch((error: unknown) => Promise.reject(cloneError(error))));
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        void remote.abort(callId);
        reject(new AbortError('the call was aborted while running', { cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      call.then(
        (outcome) => {
          signal.removeEventListener('abort', onAbort);
          try {
            resolve(unwrap(outcome));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(cloneError(error));
        },
      );
    });
  }

  /** A call that the owner cannot abort, with its options' uncloneable `signal` and `onProgress` left here. */
  async function plainCall<T>(send: () => Promise<Outcome<T>>): Promise<T> {
    let outcome: Outcome<T>;
    try {
      outcome = await send();
    } catch (error) {
      throw cloneError(error);
    }
    return unwrap(outcome);
  }

  async function indexStream(source: AsyncIterable<Doc | string> | Iterable<Doc | string>, options?: IndexStreamOptions): Promise<{ count: number; batches: number }> {
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      throw new InvalidInputError(`options must be an object, received ${describe(options)}`);
    }
    const { signal, onProgress, batchSize = 256, ...rest } = options ?? {};
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, received ${describe(batchSize)}`);
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidInputError(`options.onProgress must be a function, received ${describe(onProgress)}`);
    if (signal !== undefined && !isAbortSignal(signal)) throw new InvalidInputError(`options.signal must be an AbortSignal, received ${describe(signal)}`);
    const iterable = source as { [Symbol.asyncIterator]?: unknown; [Symbol.iterator]?: unknown } | null;
    if (typeof iterable !== 'object' || iterable === null || (typeof iterable[Symbol.asyncIterator] !== 'function' && typeof iterable[Symbol.iterator] !== 'function')) {
      throw new InvalidInputError(`the source must be an iterable or async iterable of documents, received ${describe(source)}`);
    }
    let indexed = 0;
    let batches = 0;
    const abortError = (): AbortError => new AbortError(`indexing was aborted after ${indexed} documents`, { cause: signal?.reason });
    if (signal?.aborted) throw abortError();
    const streamId = ++nextCallId;
    const started = performance.now();
    let sent = false;
    let ended = false;
    /** The answers of the batches sent, oldest first: at most two. */
    const pending: Promise<Outcome<IndexResult>>[] = [];
    /** Tells the owner the stream is over (once, and only if it has seen it): it drops a batch still waiting. */
    const end = (): void => {
      if (!sent || ended) return;
      ended = true;
      void remote.endStream(streamId).catch(() => undefined);
    };
    // Aborting tells the owner at once to drop a batch still waiting there.
    const onAbort = (): void => end();
    signal?.addEventListener('abort', onAbort, { once: true });
    const acknowledged = (count: number): void => {
      indexed += count;
      batches++;
    };
    const progress = (): void => onProgress?.({ indexed, batches, elapsedMs: performance.now() - started });
    /** Waits for the oldest batch's answer. */
    const settle = async (): Promise<void> => {
      const { count } = unwrap(await pending.shift()!);
      acknowledged(count);
      progress();
    };
    const send = async (batch: (Doc | string)[]): Promise<void> => {
      while (pending.length >= 2) await settle();
      if (signal?.aborted) throw abortError();
      sent = true;
      let answer: Promise<Outcome<IndexResult>>;
      try {
        answer = remote.indexBatch(streamId, batch, rest) as Promise<Outcome<IndexResult>>;
      } catch (error) {
        answer = Promise.reject(error);
      }
      // A batch that cannot be cloned fails as bad input, when its turn comes.
      const checked = answer.catch((error: unknown) => Promise.reject(cloneError(error)));
      checked.catch(() => undefined);
      pending.push(checked);
    };
    try {
      let batch: (Doc | string)[] = [];
      for await (const doc of source) {
        if (signal?.aborted) throw abortError();
        batch.push(doc);
        if (batch.length >= batchSize) {
          await send(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await send(batch);
      while (pending.length > 0) await settle();
      return { count: indexed, batches };
    } catch (error) {
      // Stop: the owner drops the batches still waiting; those already being indexed finish, and
      // the call settles only then, so the collection holds whole batches only. After an abort,
      // each of them that was written is still reported, as it is durable.
      end();
      const aborted = signal?.aborted === true;
      for (const answer of pending.splice(0)) {
        const outcome = await answer.catch(() => undefined);
        if (outcome?.ok) {
          acknowledged(outcome.value.count);
          if (aborted) {
            try {
              progress();
            } catch {
              // The call already rejects with AbortError.
            }
          }
        }
      }
      // An abort says how many documents were written in the end.
      throw aborted && error instanceof AbortError ? abortError() : error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      end();
    }
  }

  function embedPacked(input: string | readonly string[], options: EmbedOptions = {}): Promise<PackedVectors> {
    return remoteCall(options, (rest, callId) => remote.embedPacked(input, rest as BridgeEmbedOptions, callId) as Promise<Outcome<PackedVectors>>);
  }

  async function embed(input: string | readonly string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    const { data, dims } = await embedPacked(input, options);
    const [rows, width] = dims;
    const vectors = Array.from({ length: rows }, (_, r) => data.subarray(r * width, (r + 1) * width));
    return typeof input === 'string' ? vectors[0]! : vectors;
  }

  return {
    embed: embed as PoolClient['embed'],
    embedPacked,
    rerank(query, documents, options) {
      return remoteCall(options, (rest, callId) => remote.rerank(query, documents, rest, callId) as Promise<Outcome<RerankResult[]>>);
    },
    classify: ((input: string | readonly string[], options?: ClassifyOptions) =>
      remoteCall(options, (rest, callId) => remote.classify(input, rest, callId) as Promise<Outcome<LabelScore[] | LabelScore[][]>>)) as PoolClient['classify'],
    index(docs, options) {
      return plainCall(() => remote.index(docs, cloneable(options)) as Promise<Outcome<IndexResult>>);
    },
    indexStream,
    search(query, options) {
      return plainCall(() => remote.search(query, cloneable(options)) as Promise<Outcome<SearchHit[]>>);
    },
    get(ids, options) {
      return plainCall(() => remote.get(ids, cloneable(options)) as Promise<Outcome<(StoredDoc | null)[]>>);
    },
    delete(ids, options) {
      return plainCall(() => remote.delete(ids, cloneable(options)) as Promise<Outcome<number>>);
    },
    count(options) {
      return plainCall(() => remote.count(cloneable(options)) as Promise<Outcome<number>>);
    },
    collections() {
      const call = <T>(request: CollectionsCall): Promise<T> => plainCall(() => remote.collections(request) as Promise<Outcome<T>>);
      return {
        list: () => call<CollectionInfo[]>({ op: 'list' }),
        create: (name, options) => call<CollectionInfo>({ op: 'create', name, options }),
        info: (name) => call<CollectionInfo>({ op: 'info', name }),
        drop: (name) => call<boolean>({ op: 'drop', name }),
        ids: (name) => call<string[]>({ op: 'ids', name }),
        // A progress callback or a signal cannot cross: the migration runs to its end in the owner.
        migrate: (name, options) => call<MigrationResult>({ op: 'migrate', name, options: cloneable(options) }),
      };
    },
    async ready() {
      return unwrap(await remote.ready());
    },
    async stats() {
      return (await remote.stats()) as StatsSnapshot;
    },
    release() {
      remote[releaseProxy]();
    },
  };
}

/**
 * Options as they cross: `signal` and `onProgress` (which cannot be cloned) stay here, the rest
 * passes through. Anything but a plain object passes as it is, for the pool to judge.
 */
function cloneable<T>(options: T): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return options;
  const { signal: _signal, onProgress: _onProgress, ...rest } = options as Record<string, unknown>;
  return rest as T;
}

/** An argument that cannot be cloned (a function, a class instance with methods) is bad input. */
function cloneError(error: unknown): unknown {
  if (error instanceof Error && error.name === 'DataCloneError') {
    return new InvalidInputError(`the input cannot be sent to the pool: ${error.message}`, { cause: error });
  }
  return error;
}
