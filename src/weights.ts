/**
 * Shared weights: what `pool.model.weights` tells, and where prepared models are cached. The work
 * itself is done in the worker (workers/shared-weights.ts).
 */
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export type { WeightsInfo } from './types.js';

/** transformers.js' weights file suffix of each dtype (`onnx/model<suffix>.onnx`). */
const DTYPE_SUFFIX: Readonly<Record<string, string>> = Object.freeze({
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
});

/** The file (in the model folder's `onnx/`) that transformers.js loads for a dtype; undefined for a dtype it has no file name for. */
export function onnxFileOf(dtype: string): string | undefined {
  const suffix = Object.hasOwn(DTYPE_SUFFIX, dtype) ? DTYPE_SUFFIX[dtype] : undefined;
  return suffix === undefined ? undefined : `model${suffix}.onnx`;
}


/**
 * The default `weightsCache`: `$XDG_CACHE_HOME/warmpool/weights`, else `~/.cache/warmpool/weights`
 * (the system's temporary folder when there is no home directory).
 */
export function defaultWeightsCache(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && xdg.trim() !== '') return join(xdg, 'warmpool', 'weights');
  let home = '';
  try {
    home = homedir();
  } catch {
    home = '';
  }
  return home ? join(home, '.cache', 'warmpool', 'weights') : join(tmpdir(), 'warmpool', 'weights');
}
