/**
 * Shared weights: what `pool.model.weights` tells, and where prepared models are cached. The work
 * itself is done in the worker (workers/shared-weights.ts).
 */
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export type { WeightsInfo } from './types.js';


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
