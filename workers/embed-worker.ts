/**
 * The Piscina worker: loads the model once, before it takes any call, and keeps it warm.
 *
 * Its default export is a promise of the task handler, so Piscina runs no task here until the
 * model is loaded. A load failure does not kill the worker (Piscina would respawn it in a tight
 * loop); the worker reports it to the pool and answers every call with the ModelLoadError.
 */
import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { LoadTimeoutError, ModelLoadError, describe, errorToWire, ErrorCodes } from '../src/errors.js';
import { CONTROL_ALL, MESSAGE_TAG, broadcastName, type EmbedTask, type PoolBroadcast, type TaskResult, type WorkerConfig, type WorkerMessage } from '../src/protocol.js';
import { WorkerStatsWriter } from '../src/stats.js';
import { TEST_HOOKS_ENV, testHooks, type TestHooks } from '../src/test-hooks.js';
import { loadCustomEngine, transferablesOf } from './custom-engine.js';
import { loadEngine, type Engine, type NativeWork, type RunHooks } from './engine.js';
import { loadSequenceEngine } from './sequence-engine.js';
import { collectGarbage } from './trim.js';

/** The engine for the model's task. */
function loadFor(spec: WorkerConfig['model']): Promise<Engine> {
  if (spec.task === 'custom') return loadCustomEngine(spec, config.intraOpThreads, threadId, nativeLoad);
  if (spec.task === 'rerank' || spec.task === 'classify') return loadSequenceEngine(spec, config.intraOpThreads, config.memory, config.weightsCache, nativeLoad);
  return loadEngine(spec, config.intraOpThreads, config.memory, config.weightsCache, nativeLoad);
}

/**
 * Native work of the load (importing transformers.js, which loads onnxruntime's and sharp's
 * addons; creating a session; the warm-up run), announced in the stats buffer so that the pool
 * never ends this thread inside it; the rest of the load (file reads, the tokenizer, a custom
 * loader's own JavaScript) is not, and a load stuck there past `loadTimeout` is ended by the pool.
 * The announcement is read against the pool's word that it is ending this thread (see
 * PoolStats.stopNative: past `loadTimeout`, or closing, or retired), and the pool's close flag is
 * read after it too: a worker told so never enters, and can be ended at once.
 */
const nativeLoad: NativeWork = async (work) => {
  if (!stats.enterNative()) throw stoppedLoad();
  try {
    if (Atomics.load(control, CONTROL_ALL) !== 0) throw stoppedLoad();
    if (!nativePaused && hooks.nativePause) await new Promise((resolve) => setTimeout(resolve, hooks.nativePause));
    nativePaused = true;
    return await work();
  } finally {
    stats.leaveNative();
  }
};

/** Whether the test hook `nativePause` has been served (it pauses the first native work only). */
let nativePaused = false;

/** Why a load did not enter native code: the pool closed, the load outlived `loadTimeout`, or the pool retired the worker. */
function stoppedLoad(): ModelLoadError | LoadTimeoutError {
  if (Atomics.load(control, CONTROL_ALL) !== 0) return new ModelLoadError('the pool closed before the model was loaded');
  if (performance.now() - loadBegan > config.loadTimeout) return new LoadTimeoutError(`model ${config.model.label} did not load within loadTimeout (${config.loadTimeout} ms)`);
  return new ModelLoadError(`the pool retired this worker before model ${config.model.label} was loaded`);
}

/**
 * Frees a session the load made (its warm-up failed, or it came back past `loadTimeout`): native
 * work too, announced so that the pool waits for it, but skipped when the pool is ending the
 * thread anyway (its memory goes with it).
 */
const release = async (engine: Engine): Promise<void> => {
  if (!stats.enterNative()) return;
  try {
    await engine.dispose();
  } catch {
    // The load fails anyway; the thread ends with whatever was not freed.
  } finally {
    stats.leaveNative();
  }
};

const config = workerData as WorkerConfig;
// `move` must come from the very piscina module the pool runs (its marker symbol is private to a
// module instance). In a packaged Electron app this worker runs from app.asar.unpacked while the
// pool's piscina may load from app.asar: a plain `import 'piscina'` here would be another copy.
const { move, transferableSymbol, valueSymbol } = (await import(config.piscinaUrl)) as typeof import('piscina');
const stats = new WorkerStatsWriter(config.statsBuffer, threadId);
const control = new Int32Array(config.control);
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);
/** When this thread began to load: the load's age, for its deadline and its `loadMs`. */
const loadBegan = performance.now();
/** Model runs announce themselves as native work, under the pool's word (see guardedRun). */
const nativeHooks: Pick<RunHooks, 'enter' | 'leave'> = { enter: () => stats.enterNative(), leave: () => stats.leaveNative() };

// The heartbeat stops only when this thread's event loop is blocked (a busy loop, a hung
// synchronous call): the pool's health check reads it without sending a message.
setInterval(() => stats.beat(), config.heartbeatMs).unref();
stats.beat();

/** This thread's own V8 heap in use (each worker has an isolate of its own). */
const heapMb = (): number => getHeapStatistics().used_heap_size / 2 ** 20;

type FaultPoint = 'before' | 'between' | 'after';

/**
 * Test-only failures (`crash`, `exit`, `hang`, `loadExit`), from the environment this worker
 * started with; read as loading begins, so a malformed variable is a load error like any other.
 */
let hooks: TestHooks = {};

/** Test-only: fails the worker on purpose at one point of a task, never inside a model run. */
function faultPlan(): { kind: 'crash' | 'exit' | 'hang'; at: FaultPoint } | undefined {
  if (hooks.crash === undefined && hooks.exit === undefined && hooks.hang === undefined) return undefined;
  const at = (['before', 'between', 'after'] as const)[Math.floor(Math.random() * 3)]!;
  const roll = Math.random();
  let edge = 0;
  for (const kind of ['crash', 'exit', 'hang'] as const) {
    edge += hooks[kind] ?? 0;
    if (roll < edge) return { kind, at };
  }
  return undefined;
}

function listenForPool(engine: Engine | undefined): void {
  const channel = new BroadcastChannel(broadcastName(config.poolId, config.generation));
  channel.onmessage = (event) => {
    const message = (event as { data?: PoolBroadcast }).data;
    if (message?.type === 'dispose') {
      // Freeing a session is native work too: the pool must not terminate this thread meanwhile,
      // and a thread the pool is ending keeps its session (it goes with the thread).
      const entered = stats.enterNative();
      void (entered ? engine?.dispose() ?? Promise.resolve() : Promise.resolve())
        .catch(() => {})
        .finally(() => {
          if (entered) stats.leaveNative();
          channel.close();
          post({ [MESSAGE_TAG]: 'disposed', threadId });
        });
    }
  };
}

/** Fails the worker now. Called only between model runs: never with a native run pending. */
async function fail(kind: 'crash' | 'exit' | 'hang'): Promise<never> {
  if (kind === 'exit') process.exit(1);
  if (kind === 'hang') {
    for (;;) {
      // Spin: the heartbeat stops and the pool's health check must notice.
    }
  }
  // Thrown from a fresh stack, so nothing catches it: the worker dies as a real crash would.
  return new Promise<never>(() => {
    setImmediate(() => {
      throw new Error('injected worker crash');
    });
  });
}

async function start(): Promise<(task: EmbedTask) => Promise<unknown>> {
  /**
   * A load that came back from onnxruntime past `loadTimeout` goes no further: it fails with a
   * LoadTimeoutError (the pool reported it when the deadline passed, and ends it as it would a
   * failed load). A load stuck in JavaScript the pool ends by itself.
   */
  const checkDeadline = async (loaded?: Engine): Promise<void> => {
    const took = performance.now() - loadBegan;
    if (took <= config.loadTimeout) return;
    if (loaded) await release(loaded);
    throw new LoadTimeoutError(`model ${config.model.label} took ${Math.round(took)} ms to load, past loadTimeout (${config.loadTimeout} ms)`);
  };
  // Say hello before loading: a worker that dies while loading is then still seen to die.
  post({ [MESSAGE_TAG]: 'hello', threadId });
  let engine: Engine;
  try {
    hooks = testHooks();
    if (hooks.loadExit) await new Promise(() => setTimeout(() => process.exit(3), 50));
    if (hooks.loadFail?.includes(config.generation)) throw new ModelLoadError(`test-only: worker ${config.generation} cannot load model ${config.model.label} (${TEST_HOOKS_ENV} loadFail)`);
    // An await that never resolves, in JavaScript: only loadTimeout ends it (a timer keeps the thread alive).
    if (hooks.loadHang?.includes(config.generation)) await new Promise(() => setInterval(() => {}, 60_000));
    if (Atomics.load(control, CONTROL_ALL) !== 0) throw stoppedLoad();
    engine = await loadFor(config.model);
    await checkDeadline(engine);
    try {
      await nativeLoad(() => engine.warmup(config.warmup));
    } catch (error) {
      await release(engine);
      throw error instanceof ModelLoadError ? error : new ModelLoadError(`model ${config.model.label} loaded but failed its warm-up run: ${describe(error)}`, { cause: error });
    }
    await checkDeadline(engine);
  } catch (error) {
    const wire = errorToWire(error instanceof ModelLoadError ? error : new ModelLoadError(String(error)), ErrorCodes.MODEL_LOAD);
    stats.failed();
    post({ [MESSAGE_TAG]: 'load-error', threadId, error: wire });
    listenForPool(undefined);
    return async () => ({ error: wire }) satisfies TaskResult;
  }
  // The load's garbage (the tokenizer's JSON, the library's start-up) out of the heap before ready.
  await collectGarbage();
  const loadMs = performance.now() - loadBegan;
  stats.loaded(loadMs);
  listenForPool(engine);
  post({ [MESSAGE_TAG]: 'ready', threadId, slot: stats.slot, loadMs, dims: engine.dims, maxTokens: engine.maxTokens, labels: engine.labels, multiLabel: engine.multiLabel ?? false, weights: engine.weights });

  // Tasks run one at a time, in the order they came within their lane: a task sent while one runs
  // waits here, ready to start the moment the first ends, instead of sharing the thread with it.
  // A waiting interactive task goes first, and a running batch task runs the interactive tasks
  // that arrived meanwhile between two of its model runs: an interactive call waits for one
  // model run at most, never for a whole batch task.
  interface Job {
    run: () => Promise<unknown>;
    resolve: (result: unknown) => void;
  }
  const lanes: [Job[], Job[]] = [[], []];
  let draining = false;
  const execute = async (job: Job): Promise<void> => job.resolve(await job.run());
  const drain = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    try {
      for (let job = lanes[0].shift() ?? lanes[1].shift(); job; job = lanes[0].shift() ?? lanes[1].shift()) await execute(job);
    } finally {
      draining = false;
    }
  };
  /** Runs the interactive tasks waiting now: called by a batch task between its model runs. */
  const letInteractiveThrough = async (): Promise<void> => {
    for (let job = lanes[0].shift(); job; job = lanes[0].shift()) await execute(job);
  };
  // `preallocate`: the arena's peak runs come after ready, as batch work, one model run each, so
  // that calls made meanwhile go first (an interactive one waits one peak run at most).
  const peakHooks: RunHooks = { stopped: () => Atomics.load(control, CONTROL_ALL) !== 0, beforeRun: () => {}, ...nativeHooks };
  for (const run of engine.peakRuns?.(config.warmup, peakHooks) ?? []) {
    lanes[1].push({ run: () => run().catch(() => {}), resolve: () => {} });
  }
  void drain();
  return (task: EmbedTask) =>
    new Promise<unknown>((resolve) => {
      lanes[task.lane === 1 ? 1 : 0].push({ run: () => runTask(task), resolve });
      void drain();
    });

  async function runTask(task: EmbedTask): Promise<unknown> {
    const texts = task.inputs?.length ?? task.texts.length;
    const began = performance.now();
    const fault = faultPlan();
    stats.taskStart();
    try {
      const hooks: RunHooks = {
        stopped: () => Atomics.load(control, CONTROL_ALL) !== 0 || Atomics.load(control, task.cancelSlot) !== 0,
        beforeRun: async (index) => {
          if (fault && index > 0 && fault.at === 'between') await fail(fault.kind);
          if (task.lane === 1 && lanes[0].length > 0) await letInteractiveThrough();
        },
        ...nativeHooks,
      };
      if (fault?.at === 'before') await fail(fault.kind);
      const result = await engine.run(task, hooks);
      if (fault) await fail(fault.kind); // 'after', or 'between' when the task had a single run
      stats.taskEnd(texts, true, performance.now() - began, heapMb());
      // Hand each call's results over to the main thread instead of copying them.
      let buffers: ArrayBuffer[];
      if ('values' in result) {
        buffers = transferablesOf(result.values);
      } else {
        buffers = [result.tokens.buffer as ArrayBuffer];
        if (result.packed) buffers.push(result.packed.buffer as ArrayBuffer);
        for (const v of result.vectors) if (v) buffers.push(v.buffer as ArrayBuffer);
      }
      return move({ [transferableSymbol]: buffers, [valueSymbol]: result satisfies TaskResult } as never);
    } catch (error) {
      stats.taskEnd(texts, false, performance.now() - began, heapMb());
      return { error: errorToWire(error) } satisfies TaskResult;
    }
  }
}

export default start();
