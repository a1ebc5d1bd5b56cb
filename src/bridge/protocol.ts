/**
 * What crosses the bridge. Results are wrapped rather than thrown: comlink sends a thrown error
 * as a plain `Error`, losing its class and `code`; a wrapped `WireError` is rebuilt on the
 * caller's side as the same warmpool error class.
 */
import type { WireError } from '../errors.js';
import type { StatsSnapshot } from '../stats.js';
import type { ModelInfo, PackedVectors, Pooling } from '../types.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** Embed options that can be cloned: an `AbortSignal` stays on the caller's side. */
export interface BridgeEmbedOptions {
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
  abort(callId: number): void;
  ready(): Promise<Outcome<ModelInfo | undefined>>;
  stats(): StatsSnapshot;
}
