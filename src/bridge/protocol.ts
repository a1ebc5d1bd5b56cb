/**
 * What crosses the bridge. Results are wrapped rather than thrown: comlink sends a thrown error
 * as a plain `Error`, losing its class and `code`; a wrapped `WireError` is rebuilt on the
 * caller's side as the same warmpool error class.
 */
import type { WireError } from '../errors.js';
import type { StatsSnapshot } from '../stats.js';
import type { ClassifyOptions, LabelScore, RerankOptions, RerankResult } from '../task-inputs.js';
import type { ModelInfo, PackedVectors, Pooling, Priority } from '../types.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** Rerank and classify options that can be cloned: an `AbortSignal` stays on the caller's side. */
export type BridgeRerankOptions = Omit<RerankOptions, 'signal'>;
export type BridgeClassifyOptions = Omit<ClassifyOptions, 'signal'>;

/** Embed options that can be cloned: an `AbortSignal` stays on the caller's side. */
export interface BridgeEmbedOptions {
  model?: string;
  priority?: Priority;
  normalize?: boolean;
  pooling?: Pooling;
  truncate?: boolean;
  dimensions?: number;
  prompt?: string;
  timeout?: number;
}

/** The object `exposePool` serves. */
export interface BridgeApi {
  embedPacked(input: string | readonly string[], options: BridgeEmbedOptions | undefined, callId: number): Promise<Outcome<PackedVectors>>;
  rerank(query: string, documents: readonly string[], options: BridgeRerankOptions | undefined, callId: number): Promise<Outcome<RerankResult[]>>;
  classify(input: string | readonly string[], options: BridgeClassifyOptions | undefined, callId: number): Promise<Outcome<LabelScore[] | LabelScore[][]>>;
  abort(callId: number): void;
  ready(): Promise<Outcome<ModelInfo | undefined>>;
  stats(): StatsSnapshot;
}
