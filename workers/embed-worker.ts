/**
 * The Piscina worker: loads the model once, before it takes any call, and keeps it warm.
 *
 * Its default export is a promise of the task handler, so Piscina runs no task here until the
 * model is loaded. A load failure does not kill the worker (Piscina would respawn it in a tight
 * loop); the worker reports it to the pool and answers every call with the ModelLoadError.
 */
import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ModelLoadError, errorToWire, ErrorCodes } from '../src/errors.js';
import { CONTROL_ALL, MESSAGE_TAG, broadcastName, type EmbedTask, type PoolBroadcast, type TaskResult, type WorkerConfig, type WorkerMessage } from '../src/protocol.js';
import { WorkerStatsWriter } from '../src/stats.js';
import { loadEngine, type Engine } from './engine.js';

const config = workerData as WorkerConfig;
// `move` must come from the very piscina module the pool runs (its marker symbol is private to a
// module instance). In a packaged Electron app this worker runs from app.asar.unpacked while the
// pool's piscina may load from app.asar: a plain `import 'piscina'` here would be another copy.
const { move, transferableSymbol, valueSymbol } = (await import(config.piscinaUrl)) as typeof import('piscina');
const stats = new WorkerStatsWriter(config.statsBuffer, threadId);
const control = new Int32Array(config.control);
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);

function listenForPool(engine: Engine | undefined): void {
  const channel = new BroadcastChannel(broadcastName(config.poolId));
  channel.onmessage = (event) => {
    const message = (event as { data?: PoolBroadcast }).data;
    if (message?.type === 'dispose') {
      void (engine?.dispose() ?? Promise.resolve())
        .catch(() => {})
        .finally(() => {
          channel.close();
          post({ [MESSAGE_TAG]: 'disposed', threadId });
        });
    }
  };
}

async function start(): Promise<(task: EmbedTask) => Promise<unknown>> {
  const began = performance.now();
  let engine: Engine;
  try {
    engine = await loadEngine(config.model, config.intraOpThreads);
  } catch (error) {
    const wire = errorToWire(error instanceof ModelLoadError ? error : new ModelLoadError(String(error)), ErrorCodes.MODEL_LOAD);
    stats.failed();
    post({ [MESSAGE_TAG]: 'load-error', threadId, error: wire });
    listenForPool(undefined);
    return async () => ({ error: wire }) satisfies TaskResult;
  }
  const loadMs = performance.now() - began;
  stats.loaded(loadMs);
  listenForPool(engine);
  post({ [MESSAGE_TAG]: 'ready', threadId, slot: stats.slot, loadMs, dims: engine.dims, maxTokens: engine.maxTokens });

  return async (task: EmbedTask) => {
    stats.taskStart();
    try {
      const stopped = (): boolean => Atomics.load(control, CONTROL_ALL) !== 0 || Atomics.load(control, task.cancelSlot) !== 0;
      const result = await engine.embed(task, stopped);
      stats.taskEnd(task.texts.length, true);
      // Hand the vectors' buffer over to the main thread instead of copying it.
      return move({ [transferableSymbol]: result.data.buffer, [valueSymbol]: result } as never);
    } catch (error) {
      stats.taskEnd(task.texts.length, false);
      return { error: errorToWire(error) } satisfies TaskResult;
    }
  };
}

export default start();
