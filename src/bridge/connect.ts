/** The caller's side of the bridge: a renderer, a worker, any thread without the pool. */
import { releaseProxy, wrap, type Remote } from 'comlink';
import { AbortError, InvalidInputError, errorFromWire } from '../errors.js';
import type { EmbedOptions } from '../inputs.js';
import type { StatsSnapshot } from '../stats.js';
import type { ModelInfo, PackedVectors } from '../types.js';
import { toEndpoint, type AnyEndpoint } from './endpoint.js';
import type { ClassifyOptions, LabelScore, RerankOptions, RerankResult } from '../task-inputs.js';
import type { BridgeApi, BridgeEmbedOptions, Outcome } from './protocol.js';

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

/** An argument that cannot be cloned (a function, a class instance with methods) is bad input. */
function cloneError(error: unknown): unknown {
  if (error instanceof Error && error.name === 'DataCloneError') {
    return new InvalidInputError(`the input cannot be sent to the pool: ${error.message}`, { cause: error });
  }
  return error;
}
