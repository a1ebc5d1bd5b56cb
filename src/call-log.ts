/**
 * What each embed call counts in the pool's statistics, and publishes on the diagnostics channels
 * `warmpool:request:start` and `warmpool:request:end`, from the moment it enters the pool to its end.
 */
import { performance } from 'node:perf_hooks';
import type { Call } from './call.js';
import {
  AbortError,
  InvalidInputError,
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  TaskTimeoutError,
  WarmpoolError,
  describe,
} from './errors.js';
import { channels } from './events.js';
import type { PoolStats } from './stats.js';
import type { ModelTask, PackedVectors } from './types.js';

export class CallLog {
  readonly #poolId: string;
  readonly #model: string;
  readonly #op: ModelTask;
  readonly #stats: PoolStats;
  #requestIds = 0;

  constructor(poolId: string, stats: PoolStats, model = 'default', op: ModelTask = 'embed') {
    this.#poolId = poolId;
    this.#model = model;
    this.#op = op;
    this.#stats = stats;
  }

  /** A call entered the pool, valid or not: counted, and given its request id. */
  begin(): number {
    this.#stats.inc('requests');
    return ++this.#requestIds;
  }

  /** The call's input passed its checks: `warmpool:request:start`. */
  started(requestId: number, texts: number, batch = false): void {
    if (batch) this.#stats.inc('batchRequests');
    if (channels.requestStart.hasSubscribers) {
      channels.requestStart.publish({ poolId: this.#poolId, model: this.#model, requestId, op: this.#op, texts, priority: batch ? 'batch' : 'interactive' });
    }
  }

  /** The call was answered; `call` is undefined when the cache answered all of it. */
  succeeded(requestId: number, began: number, texts: number, call: Call | undefined, result: PackedVectors | undefined): void {
    const stats = this.#stats;
    const runMs = call ? performance.now() - call.dispatchedAt : 0;
    if (call) stats.recordRun(runMs);
    stats.inc('texts', texts);
    if (result) stats.inc('tokens', result.tokens);
    stats.inc('completed');
    this.#publishEnd(requestId, texts, call ? call.dispatchedAt - began : 0, runMs, undefined);
  }

  /** The call failed: its time counts as run time from its dispatch if it reached a worker, else as wait. */
  failed(requestId: number, began: number, texts: number, call: Call | undefined, error: unknown): void {
    const admitted = call !== undefined && call.dispatchedAt > 0;
    const now = performance.now();
    if (admitted) this.#stats.recordRun(now - call.dispatchedAt);
    this.#countFailure(error, admitted);
    this.#publishEnd(requestId, texts, admitted ? call.dispatchedAt - began : now - began, admitted ? now - call.dispatchedAt : 0, error);
  }

  #countFailure(error: unknown, admitted: boolean): void {
    const stats = this.#stats;
    if (!admitted && (error instanceof QueueFullError || error instanceof PoolClosedError)) {
      stats.inc('rejected');
      return;
    }
    stats.inc('errors');
    if (error instanceof QueueTimeoutError) stats.inc('queueTimeouts');
    else if (error instanceof AbortError) stats.inc('aborted');
    else if (error instanceof TaskTimeoutError) stats.inc('timeouts');
    else if (error instanceof InvalidInputError) stats.inc('invalidInputs');
  }

  #publishEnd(requestId: number, texts: number, queueMs: number, runMs: number, error: unknown): void {
    if (!channels.requestEnd.hasSubscribers) return;
    const event: Record<string, unknown> = { poolId: this.#poolId, model: this.#model, requestId, op: this.#op, texts, queueMs, runMs };
    if (error !== undefined) event.error = error instanceof WarmpoolError ? error.code : describe(error);
    channels.requestEnd.publish(event);
  }
}
