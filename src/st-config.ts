/**
 * What a sentence-transformers model folder says about how the model means its vectors: its
 * pooling (`1_Pooling/config.json`) and its prompts (`config_sentence_transformers.json`). Read on
 * the main thread when the model is resolved, so calls know them before any worker has loaded.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError, describe } from './errors.js';
import type { Pooling } from './types.js';

export interface SentenceTransformersConfig {
  /** The folder's pooling, or undefined when it has no `1_Pooling/config.json`. */
  pooling: Pooling | undefined;
  /** Prompt name to the text put before each input. */
  prompts: Record<string, string>;
  /** The prompt used when a call names none (`default_prompt_name`), if any. */
  defaultPrompt: string | undefined;
}

/** The modes of `1_Pooling/config.json` and what warmpool makes of them (undefined: not supported). */
const POOLING_MODES: readonly [string, Pooling | undefined][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
  ['pooling_mode_max_tokens', undefined],
  ['pooling_mode_mean_sqrt_len_tokens', undefined],
  ['pooling_mode_weightedmean_tokens', undefined],
];

function readJson(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelLoadError(`could not read ${path}: ${describe(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${path} is not valid JSON: ${describe(error)}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ModelLoadError(`${path} must hold a JSON object`);
  return value as Record<string, unknown>;
}

/** Reads the folder's sentence-transformers settings; throws ModelLoadError for a pooling warmpool cannot do. */
export function readSentenceTransformersConfig(folder: string): SentenceTransformersConfig {
  let pooling: Pooling | undefined;
  const poolingPath = join(folder, '1_Pooling', 'config.json');
  const poolingConfig = readJson(poolingPath);
  if (poolingConfig) {
    const on = POOLING_MODES.filter(([key]) => poolingConfig[key] === true);
    if (on.length !== 1) {
      throw new ModelLoadError(`${poolingPath} must turn on exactly one pooling mode; it turns on ${on.length === 0 ? 'none' : on.map(([k]) => k).join(', ')}`);
    }
    const [key, mode] = on[0]!;
    if (mode === undefined) {
      throw new ModelLoadError(`${poolingPath} asks for ${key}, which warmpool does not support (it does pooling_mode_mean_tokens, pooling_mode_cls_token and pooling_mode_lasttoken)`);
    }
    pooling = mode;
  }
  const stPath = join(folder, 'config_sentence_transformers.json');
  const st = readJson(stPath);
  const prompts: Record<string, string> = {};
  let defaultPrompt: string | undefined;
  if (st) {
    const p = st.prompts;
    if (p !== undefined && p !== null) {
      if (typeof p !== 'object' || Array.isArray(p)) throw new ModelLoadError(`${stPath}: prompts must be an object of strings`);
      for (const [name, text] of Object.entries(p)) {
        if (typeof text !== 'string') throw new ModelLoadError(`${stPath}: prompts.${name} must be a string`);
        prompts[name] = text;
      }
    }
    const d = st.default_prompt_name;
    if (d !== undefined && d !== null) {
      if (typeof d !== 'string' || !Object.hasOwn(prompts, d)) {
        throw new ModelLoadError(`${stPath}: default_prompt_name ${JSON.stringify(d)} is not one of its prompts (${Object.keys(prompts).join(', ') || 'none'})`);
      }
      defaultPrompt = d;
    }
  }
  return { pooling, prompts: Object.freeze(prompts), defaultPrompt };
}
