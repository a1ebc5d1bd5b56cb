import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preferUnpacked } from './asar-path.js';
import { ModelLoadError } from './errors.js';
import type { ResolvedModel, ResolvedOptions } from './options.js';
import type { ModelSpec } from './protocol.js';
import { readSentenceTransformersConfig } from './st-config.js';

/**
 * The package's own `models/` folder (found from this file, whether run from `src/` or `dist/src/`;
 * in a packaged Electron app, its unpacked copy beside the asar archive).
 */
export const BUNDLED_MODELS_DIR: string = preferUnpacked((() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'models'))) return join(dir, 'models');
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models');
})());

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

const isDir = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Turns the `model` option into what a worker loads. A bundled name or an existing folder loads
 * from disk; a hub id loads from transformers.js' cache or, with `allowRemoteModels`, the hub.
 * Throws `ModelLoadError` when the model cannot be found, naming the path it looked at.
 */
export function resolveModel(
  options: Pick<ResolvedOptions, 'model' | 'dtype' | 'allowRemoteModels' | 'cacheDir'>,
  entry: Pick<ResolvedModel, 'name' | 'task' | 'module' | 'moduleOptions'> = { name: 'default', task: 'embed', module: undefined, moduleOptions: undefined },
): ModelSpec {
  const { model, dtype, allowRemoteModels, cacheDir } = options;
  const { name, task, module, moduleOptions } = entry;
  const common = { name, task, module, moduleOptions, dtype, allowRemoteModels, cacheDir };
  if (task === 'custom') {
    // A module of the user's own: nothing to find on disk here (the worker imports it, and a
    // module that cannot be imported is a ModelLoadError there).
    return { id: name, localModelPath: null, label: module!, ...common, pooling: 'mean', prompts: {}, defaultPrompt: undefined, wordVectors: false };
  }
  /** The folder's pooling and prompts (sentence-transformers files), when the model is a folder on disk. */
  const read = (folder: string | undefined) => {
    const st = folder === undefined ? undefined : readSentenceTransformersConfig(folder);
    return { pooling: st?.pooling ?? ('mean' as const), prompts: st?.prompts ?? {}, defaultPrompt: st?.defaultPrompt, wordVectors: folder !== undefined && isWordVectors(folder) };
  };

  const bundled = join(BUNDLED_MODELS_DIR, model);
  if (!isAbsolute(model) && !model.startsWith('.') && isDir(bundled)) {
    return { id: model, localModelPath: BUNDLED_MODELS_DIR, label: bundled, ...common, ...read(bundled) };
  }
  const path = resolve(model);
  if (isDir(path)) {
    return { id: basename(path), localModelPath: dirname(path), label: path, ...common, ...read(path) };
  }
  if (HUB_ID.test(model) && !model.startsWith('.')) {
    const cached = cacheDir !== undefined && isDir(join(cacheDir, model)) ? join(cacheDir, model) : undefined;
    if (allowRemoteModels || cached !== undefined) {
      return { id: model, localModelPath: cached !== undefined ? cacheDir! : null, label: model, ...common, ...read(cached) };
    }
    throw new ModelLoadError(
      `model "${model}" is not a folder on disk (looked at ${path}) and remote models are disabled; ` +
        'set allowRemoteModels: true (or WARMPOOL_ALLOW_REMOTE_MODELS=1) to download it from the hub',
    );
  }
  throw new ModelLoadError(`model folder not found: ${path} (bundled models live in ${BUNDLED_MODELS_DIR})`);
}

/**
 * Whether a model folder holds averaged word vectors rather than a transformer: its config.json
 * declares no layers (no `num_hidden_layers`, `n_layer` or `num_layers`). False when unreadable.
 */
function isWordVectors(folder: string): boolean {
  try {
    const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    return config.num_hidden_layers === undefined && config.n_layer === undefined && config.num_layers === undefined;
  } catch {
    return false;
  }
}
