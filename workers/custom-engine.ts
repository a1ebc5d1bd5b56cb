/**
 * The engine of a `custom` model: a module of the user's own, loaded once per worker. Its default
 * export (or its export named `load`) is called with a {@link LoadContext} and returns a
 * {@link TaskHandler}; the worker keeps that handler warm and gives it the inputs of one or more
 * coalesced calls at a time. See docs/custom-tasks.md for the contract.
 */
import { pathToFileURL } from 'node:url';
import { InvalidInputError, ModelLoadError, describe, errorToWire, type WireError } from '../src/errors.js';
import type { EmbedTask, ModelSpec, ValueAnswer } from '../src/protocol.js';
import type { LoadContext, TaskHandler } from '../src/custom-task.js';
import { callStarts } from './embed-steps.js';
import { guardedRun, unmarked, type Engine, type NativeWork, type RunHooks } from './engine.js';

export async function loadCustomEngine(spec: ModelSpec, intraOpThreads: number, threadId: number, native: NativeWork = unmarked): Promise<Engine> {
  const url = spec.module!;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url.startsWith('file:') ? url : pathToFileURL(url).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ModelLoadError(`model "${spec.name}": could not import its module ${url}: ${describe(error)}`, { cause: error });
  }
  const load = typeof loaded.default === 'function' ? loaded.default : loaded.load;
  if (typeof load !== 'function') {
    throw new ModelLoadError(`model "${spec.name}": its module ${url} exports no loader (a default export, or an export named load, that is a function)`);
  }
  const context: LoadContext = { name: spec.name, options: spec.moduleOptions, intraOpThreads, threadId, native };
  let handler: TaskHandler<unknown, unknown>;
  try {
    handler = (await (load as (context: LoadContext) => unknown)(context)) as TaskHandler<unknown, unknown>;
  } catch (error) {
    throw new ModelLoadError(`model "${spec.name}": its loader failed: ${describe(error)}`, { cause: error });
  }
  if (typeof handler !== 'object' || handler === null || typeof handler.run !== 'function') {
    throw new ModelLoadError(`model "${spec.name}": its loader must resolve to an object with a run(inputs) method, received ${describe(handler)}`);
  }
  const h = handler;
  return {
    dims: 0,
    maxTokens: 0,
    async run(task: EmbedTask, hooks: RunHooks): Promise<ValueAnswer> {
      const inputs = task.inputs ?? [];
      const { calls } = task;
      const callCount = calls.length >> 1;
      const starts = callStarts(calls);
      const errors: [number, WireError][] = [];
      const valid: unknown[] = [];
      const at: number[] = [];
      for (let c = 0; c < callCount; c++) {
        const from = starts[c]!;
        const to = starts[c + 1]!;
        try {
          if (h.check) for (let i = from; i < to; i++) h.check(inputs[i]);
        } catch (error) {
          errors.push([c, errorToWire(error, InvalidInputError.code)]);
          continue;
        }
        for (let i = from; i < to; i++) {
          valid.push(inputs[i]);
          at.push(i);
        }
      }
      const values = new Array<unknown>(inputs.length).fill(null);
      if (valid.length > 0) {
        await hooks.beforeRun(0);
        const outputs = await guardedRun(hooks, async () => h.run(valid, { stopped: hooks.stopped }));
        if (!Array.isArray(outputs) || outputs.length !== valid.length) {
          throw new Error(`model "${spec.name}": run() must resolve to an array with one output per input (${valid.length}), received ${Array.isArray(outputs) ? `an array of ${outputs.length}` : describe(outputs)}`);
        }
        for (let i = 0; i < at.length; i++) values[at[i]!] = outputs[i];
      }
      return { values, errors };
    },
    async warmup() {
      await h.warmup?.();
    },
    async dispose() {
      await h.dispose?.();
    },
  };
}

/**
 * The buffers of a custom task's outputs that can be moved rather than copied: an ArrayBuffer, or
 * a typed array that spans its whole buffer, found at the top level of an output or one level
 * inside a plain object or array. A view on part of a larger buffer (a Node Buffer from its
 * shared slab, a subarray) is copied, never moved: moving it would take the rest of the buffer
 * away from the worker.
 */
export function transferablesOf(values: readonly unknown[]): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const take = (value: unknown): void => {
    if (value instanceof ArrayBuffer) {
      found.add(value);
    } else if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
      found.add(value.buffer);
    }
  };
  for (const value of values) {
    take(value);
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) continue;
    if (Array.isArray(value)) for (const item of value) take(item);
    else if (Object.getPrototypeOf(value) === Object.prototype) for (const item of Object.values(value)) take(item);
  }
  return [...found];
}
