/**
 * The contract of a `custom` model: a module of your own that the pool loads once per worker and
 * keeps warm. Its default export (or an export named `load`) is a {@link TaskLoader}.
 *
 * @example
 * // sentiment-task.mjs
 * import * as ort from 'onnxruntime-node';
 * export default async function load({ options, intraOpThreads, native }) {
 *   const session = await native(() => ort.InferenceSession.create(options.path, { intraOpNumThreads: intraOpThreads }));
 *   return {
 *     async run(inputs) { ... return one output per input; },
 *     async dispose() { await session.release(); },
 *   };
 * }
 */

/** What the loader is told: which model entry it serves, its options, and the threads it may use. */
export interface LoadContext {
  /** The model's name in the pool. */
  name: string;
  /** The entry's `options`, structured-cloned into the worker. */
  options: unknown;
  /** Threads the model may use for one run (pass it to onnxruntime's `intraOpNumThreads`). */
  intraOpThreads: number;
  /** The worker thread's id. */
  threadId: number;
  /**
   * Wrap native work of the load in it (importing a module that loads a native addon, creating an
   * onnxruntime session, a warm-up run): `await native(() => ort.InferenceSession.create(path))`.
   * A load that outlives `loadTimeout`, or whose pool closes, is ended, but never inside work
   * wrapped here (ending a thread inside native code can abort the process): then it is ended as
   * soon as that work returns, and `native()` rejects instead of starting more.
   */
  native<T>(work: () => Promise<T>): Promise<T>;
}

/** What a custom model's `run` may ask while it runs. */
export interface RunContext {
  /** True once every caller of the batch has given up (timeout, abort, close): stop early if you can. */
  stopped(): boolean;
}

/** A warm custom model, as its loader returns it. */
export interface TaskHandler<Input = unknown, Output = unknown> {
  /**
   * Runs a batch: the inputs of one or more concurrent calls, coalesced. Resolves to one output
   * per input, in order. Outputs are structured-cloned back to the caller, except ArrayBuffers
   * and typed arrays that span a whole buffer, which are moved (return fresh ones, never a buffer
   * the model keeps). A throw fails every call of the batch.
   */
  run(inputs: Input[], context: RunContext): Promise<Output[]> | Output[];
  /** Checks one input before it joins a batch; a throw fails that input's call alone (as InvalidInputError unless it is a warmpool error). */
  check?(input: Input): void;
  /** Runs once after loading, before the worker takes calls (e.g. one inference to warm kernels). */
  warmup?(): Promise<void> | void;
  /** Frees the model when the worker leaves. */
  dispose?(): Promise<void> | void;
}

/** The default export of a custom model's module. */
export type TaskLoader<Input = unknown, Output = unknown> = (context: LoadContext) => Promise<TaskHandler<Input, Output>> | TaskHandler<Input, Output>;
