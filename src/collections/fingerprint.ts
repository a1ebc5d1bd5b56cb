/**
 * The fingerprint of the model that made a collection's vectors, kept in its settings: vectors of
 * two models (or of one model run two ways) cannot be compared, so a search or a write with
 * another model is refused rather than answered with nonsense.
 *
 * The model is named by its folder's name (or hub id) and a hash of its files' contents, never by
 * an absolute path: a store copied to another machine, with the model in another folder, still
 * matches.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { ModelMismatchError } from '../errors.js';
import type { ModelInfo } from '../types.js';
import { onnxFileOf } from '../weights.js';

export interface ModelFingerprint {
  /** The model folder's name, or its hub id. */
  model: string;
  /**
   * SHA-256 (hex) over the folder's config, tokenizer and weights files for the dtype (a file
   * over 16 MiB: its size and 64 blocks of 64 KiB spread over it); null for a hub model not on disk.
   */
  hash: string | null;
  dtype: string;
  pooling: string;
  /** Collections always store unit-length vectors. */
  normalize: boolean;
  /** The text put before documents (the model's `document` or `passage` prompt), or null. */
  documentPrompt: string | null;
  /** The text put before queries (the model's `query` prompt), or null. */
  queryPrompt: string | null;
  dims: number;
}

/** Files of a model folder that change what its vectors are (besides the weights). */
const CONFIG_FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'modules.json',
  'config_sentence_transformers.json',
  '1_Pooling/config.json',
];

/**
 * Files larger than this are hashed by samples (4 MiB of them): reading a 90 MB model whole took
 * 0.7 s of the first collection call, a multi-GB one would take many. Two different weights files
 * (another fine-tune, another quantization) differ all through, so the samples tell them apart.
 */
const WHOLE_HASH_LIMIT = 16 << 20;

/** The weights files the dtype loads; every `.onnx` file (and its external data) when it is not known. */
function weightFiles(folder: string, dtype: string): string[] {
  const dir = join(folder, 'onnx');
  if (!existsSync(dir)) return [];
  const names = readdirSync(dir).sort();
  const wanted = onnxFileOf(dtype);
  const picked = wanted !== undefined && names.includes(wanted) ? names.filter((n) => n === wanted || n.startsWith(`${wanted}_data`) || n === `${wanted}.data`) : names.filter((n) => /\.onnx(_data|\.data)?$/.test(n));
  return picked.map((n) => join('onnx', n));
}

const fileHashes = new Map<string, Promise<string>>();

/** One file's hash, cached for the process by path, size and modification time. */
function fileHash(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${path}\u0000${st.size}\u0000${st.mtimeMs}`;
  let hash = fileHashes.get(key);
  if (!hash) {
    hash = new Promise<string>((resolve, reject) => {
      const h = createHash('sha256').update(String(st.size));
      if (st.size > WHOLE_HASH_LIMIT) {
        // 64 blocks of 64 KiB spread over the file, read one after another.
        const block = 64 << 10;
        const reads = Array.from({ length: 64 }, (_, i) => Math.floor(((st.size - block) * i) / 63));
        const next = (i: number): void => {
          if (i === reads.length) return resolve(h.digest('hex'));
          const chunks: Buffer[] = [];
          createReadStream(path, { start: reads[i]!, end: reads[i]! + block - 1 })
            .on('data', (c) => chunks.push(c as Buffer))
            .on('error', reject)
            .on('end', () => {
              h.update(Buffer.concat(chunks));
              next(i + 1);
            });
        };
        next(0);
        return;
      }
      createReadStream(path)
        .on('data', (c) => h.update(c))
        .on('error', reject)
        .on('end', () => resolve(h.digest('hex')));
    });
    fileHashes.set(key, hash);
    hash.catch(() => fileHashes.delete(key));
  }
  return hash;
}

/** The hash of a model folder's config, tokenizer and weights files (names relative to it, and contents). */
export async function folderHash(folder: string, dtype: string): Promise<string> {
  const files = [...CONFIG_FILES.filter((f) => existsSync(join(folder, f))), ...weightFiles(folder, dtype)];
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\u0000').update(await fileHash(join(folder, f))).update('\u0000');
  return h.digest('hex');
}

/** The fingerprint of the pool's model as collections use it (prompts as the client picks them). */
export async function fingerprintOf(info: ModelInfo): Promise<ModelFingerprint> {
  const onDisk = isAbsolute(info.model) && existsSync(info.model) && statSync(info.model).isDirectory();
  const prompt = (names: string[]): string | null => {
    const name = names.find((n) => Object.hasOwn(info.prompts, n));
    return name === undefined ? null : info.prompts[name]!;
  };
  return {
    model: onDisk ? basename(info.model) : info.model,
    hash: onDisk ? await folderHash(info.model, info.dtype) : null,
    dtype: info.dtype,
    pooling: info.pooling,
    normalize: true,
    documentPrompt: prompt(['document', 'passage']),
    queryPrompt: prompt(['query']),
    dims: info.dims,
  };
}

const FIELDS: readonly (keyof ModelFingerprint)[] = ['model', 'hash', 'dtype', 'pooling', 'normalize', 'documentPrompt', 'queryPrompt', 'dims'];

/** The fields in which two fingerprints differ (none: the same model, run the same way). */
export function fingerprintDiff(a: ModelFingerprint, b: ModelFingerprint): (keyof ModelFingerprint)[] {
  return FIELDS.filter((f) => a[f] !== b[f]);
}

/** One line for messages: `minilm-shape (weights 1a2b3c4d, fp32, mean pooling, 384 dims, no prompts)`. */
export function describeFingerprint(fp: ModelFingerprint): string {
  const prompts = [fp.documentPrompt !== null && `document prompt ${JSON.stringify(fp.documentPrompt)}`, fp.queryPrompt !== null && `query prompt ${JSON.stringify(fp.queryPrompt)}`].filter(Boolean);
  return (
    `${fp.model} (${fp.hash === null ? 'weights not on disk' : `weights ${fp.hash.slice(0, 12)}`}, ${fp.dtype}, ${fp.pooling} pooling, ` +
    `${fp.normalize ? '' : 'not '}normalized, ${fp.dims} dims, ${prompts.length > 0 ? prompts.join(', ') : 'no prompts'})`
  );
}

const HOW_TO_MIGRATE = (name: string): string =>
  `Re-embed it with the pool's model: pool.collections().migrate(${JSON.stringify(name)}) (CLI: warmpool migrate ${name}; ` +
  `HTTP: POST /v1/collections/${name}/migrate), or use the model it was made with`;

/** The error of a call that would mix the vectors of two models. */
export function mismatchError(name: string, stored: ModelFingerprint, current: ModelFingerprint): InstanceType<typeof ModelMismatchError> {
  const diff = fingerprintDiff(stored, current).map((f) => (f === 'hash' ? 'weights' : f));
  return new ModelMismatchError(
    `collection ${JSON.stringify(name)} was made with model ${describeFingerprint(stored)} but the pool's model is ${describeFingerprint(current)}; ` +
      `they differ in ${diff.join(', ')}, and vectors of different models cannot be compared. ${HOW_TO_MIGRATE(name)}.`,
  );
}

/** A collection with no recorded model whose vectors cannot be the pool's model's (their length differs). */
export function unrecordedMismatchError(name: string, dims: number, current: ModelFingerprint): InstanceType<typeof ModelMismatchError> {
  return new ModelMismatchError(
    `collection ${JSON.stringify(name)} has no recorded model and ${dims}-dimensional vectors, so they cannot be from the pool's model ` +
      `${describeFingerprint(current)}. ${HOW_TO_MIGRATE(name)}.`,
  );
}
