/**
 * One copy of a model's weights for every worker that loads it.
 *
 * onnxruntime memory-maps the initializers a model keeps in an external data file, so sessions
 * that load the same file, in any thread or process, share its pages in the page cache. What a
 * session would still copy onto its own heap is the prepacked form of the matrix-multiply weights
 * (about 42 MB for a MiniLM-L6): onnxruntime can save those too, when it writes an optimised model
 * (`session.save_external_prepacked_constant_initializers`), and maps them again at load.
 *
 * So a model is prepared once per machine: onnxruntime optimises it (in a child process, see
 * prepare-weights.ts) and writes `onnx/model*.onnx` with its data beside it into the weights cache,
 * under a key of the source file, the onnxruntime version, the CPU and the dtype (the prepacked
 * layout depends on the CPU: a prepared file is never shipped, only made where it is used). Every
 * worker then loads that folder through transformers.js, by path, as it would the original:
 * same session options, same graph, same outputs.
 *
 * Several workers (threads or processes) starting at once prepare it once: one takes a lock file
 * and writes into a temporary folder renamed into place when complete; the others wait for it.
 * An entry is checked (sizes, hashes) before use and rebuilt when damaged. Where it cannot be done
 * (sharing off, a cache folder that cannot be written, a model onnxruntime cannot prepare, a hub
 * model not on disk yet), the worker loads the model as before and says why.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import { preferUnpacked } from '../src/asar-path.js';
import { describe } from '../src/errors.js';
import type { ModelSpec } from '../src/protocol.js';
import { onnxFileOf, type WeightsInfo } from '../src/weights.js';
import { PRUNE_AFTER_DAYS, STALE_LOCK_MS, pruneWeightsCache, touchUsed } from '../src/weights-cache.js';

/** Bumped when what a prepared entry holds, or how it is checked, changes. */
const ENTRY_VERSION = 1;
const LOCK_TOUCH_MS = 2_000;
/** How long a worker waits for another to prepare the model before loading it the old way. */
const WAIT_MS = 15 * 60_000;
const PREPARE_TIMEOUT_MS = 15 * 60_000;

const PREPARE_SCRIPT = preferUnpacked(fileURLToPath(new URL('./prepare-weights.js', import.meta.url)));

/** What a worker loads: the prepared folder (as transformers.js' localModelPath and id), or nothing to change. */
export interface WeightsPlan {
  prepared?: { localModelPath: string; id: string; entry: string };
  info: WeightsInfo;
}

interface EntryMeta {
  v: number;
  key: string;
  source: string;
  file: string;
  graphBytes: number;
  graphHash: string;
  dataBytes: number;
  dataHash: string;
  preparedMs: number;
  preparedAt: string;
}

const notShared = (reason: string): WeightsPlan => ({ info: { shared: false, reason } });

/** The CPU as far as the prepacked layout may depend on it: model name and instruction-set flags. */
export function cpuSignature(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    if (model || flags) return `${process.arch}|${model.trim()}|${flags.trim().split(/\s+/).sort().join(' ')}`;
  } catch {
    // not Linux
  }
  return `${process.platform}|${process.arch}|${cpus()[0]?.model ?? 'unknown'}`;
}

/** onnxruntime-node's version (the prepared format and the prepacking may change with it). */
async function ortVersion(): Promise<string> {
  const ort = (await import('onnxruntime-node')) as unknown as { env?: { versions?: Record<string, string> }; default?: { env?: { versions?: Record<string, string> } } };
  const versions = ort.env?.versions ?? ort.default?.env?.versions ?? {};
  return JSON.stringify(versions);
}

/** A hash of the whole of a small file. */
function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * A hash of a large file's size and of 64 blocks of 4 KiB spread over it: enough to tell a
 * truncated or overwritten file without reading all of it at every worker start.
 */
export function sampledHash(path: string): string {
  const size = statSync(path).size;
  const hash = createHash('sha256').update(String(size));
  const fd = openSync(path, 'r');
  try {
    const block = Buffer.alloc(4096);
    const samples = 64;
    for (let i = 0; i < samples; i++) {
      const at = size <= block.length ? 0 : Math.floor(((size - block.length) * i) / (samples - 1));
      const n = readSync(fd, block, 0, block.length, at);
      hash.update(block.subarray(0, n));
      if (size <= block.length) break;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Why a cached entry cannot be used, or its meta when it can. */
function checkEntry(dir: string, key: string): EntryMeta | string {
  let meta: EntryMeta;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as EntryMeta;
  } catch (error) {
    return existsSync(dir) ? `its weights.json is missing or unreadable (${describe(error)})` : 'absent';
  }
  if (meta.v !== ENTRY_VERSION || meta.key !== key) return 'it was made for another version or model';
  try {
    const graph = join(dir, 'onnx', meta.file);
    if (statSync(graph).size !== meta.graphBytes || fileHash(graph) !== meta.graphHash) return 'its graph file does not match its checksum';
    const data = join(dir, 'onnx', `${meta.file}.data`);
    if (meta.dataBytes > 0 && (statSync(data).size !== meta.dataBytes || sampledHash(data) !== meta.dataHash)) return 'its weights file does not match its checksum';
  } catch (error) {
    return `a file of it is missing (${describe(error)})`;
  }
  return meta;
}

/** The dtype transformers.js will load: `auto` is the config's own choice, else fp32 on the CPU. */
function effectiveDtype(dtype: string, config: Record<string, unknown>): string {
  if (dtype !== 'auto') return dtype;
  const tjs = (config['transformers.js_config'] ?? {}) as Record<string, unknown>;
  return typeof tjs.dtype === 'string' && tjs.dtype !== 'auto' ? tjs.dtype : 'fp32';
}

/**
 * Finds or makes the prepared copy of `spec`'s model in `cache`. Never throws: whatever stands in
 * the way becomes `info.reason`, and the worker loads the model as before.
 */
export async function shareWeights(spec: ModelSpec, cache: string | false, hubCache?: string): Promise<WeightsPlan> {
  if (cache === false) return notShared('weightsCache is false');
  if (spec.task === 'custom') return notShared('a custom task loads its own model');
  // A hub model without `cacheDir` is in transformers.js' own cache (`<cacheDir>/<id>/...`) once downloaded.
  const localModelPath = spec.localModelPath ?? (hubCache && existsSync(join(hubCache, spec.id, 'config.json')) ? hubCache : null);
  if (localModelPath === null) return notShared('a hub model not on disk yet: its weights are shared from the next start, once it is in the cache');
  try {
    return await prepareOrFind({ ...spec, localModelPath }, cache);
  } catch (error) {
    return notShared(`could not prepare it: ${describe(error)}`);
  }
}

async function prepareOrFind(spec: ModelSpec, cache: string): Promise<WeightsPlan> {
  const folder = join(spec.localModelPath!, spec.id);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    return notShared(`its config.json could not be read (${describe(error)})`);
  }
  const tjs = (config['transformers.js_config'] ?? {}) as Record<string, unknown>;
  if (typeof tjs.device === 'string' && tjs.device !== 'cpu') return notShared(`its config asks for device ${tjs.device}`);
  const dtype = effectiveDtype(spec.dtype, config);
  const file = onnxFileOf(dtype);
  if (file === undefined) return notShared(`dtype ${dtype} is not one it knows the file of`);
  let source: string;
  let sourceStat: ReturnType<typeof statSync>;
  try {
    source = realpathSync(join(folder, 'onnx', file));
    sourceStat = statSync(source);
  } catch (error) {
    return notShared(`no onnx/${file} on disk (${describe(error)})`);
  }
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: ENTRY_VERSION,
        source,
        size: sourceStat.size,
        mtime: sourceStat.mtimeMs,
        ort: await ortVersion(),
        cpu: cpuSignature(),
        dtype,
        level: 'all',
      }),
    )
    .digest('hex')
    .slice(0, 20);
  const name = `${basename(spec.id).replace(/[^\w.-]/g, '_')}-${dtype}-${key}`;
  const entry = join(cache, name);
  const found = async (meta: EntryMeta, preparedNow: boolean): Promise<WeightsPlan> => {
    // Before it is loaded: pruning (weights-cache.ts) leaves an entry used since it looked.
    await touchUsed(entry);
    return {
      prepared: { localModelPath: cache, id: name, entry },
      info: { shared: true, preparedMs: Math.round(meta.preparedMs), preparedNow, cachePath: entry },
    };
  };

  // Ready already (a read-only cache that holds it will do).
  const first = checkEntry(entry, key);
  if (typeof first !== 'string') return found(first, false);
  // onnxruntime refused this very file before (its key names its size and time): no second try.
  const refused = readRefusal(entry);
  if (refused !== undefined) return notShared(refused);

  try {
    await mkdir(cache, { recursive: true });
  } catch (error) {
    return notShared(`the weights cache ${cache} cannot be written (${(error as { code?: string }).code ?? describe(error)})`);
  }
  const lock = `${entry}.lock`;
  const deadline = performance.now() + WAIT_MS;
  for (let wait = 50; ; wait = Math.min(500, wait * 2)) {
    const held = await takeLock(lock);
    if (typeof held === 'string') return notShared(`the weights cache ${cache} cannot be written (${held})`);
    if (held) {
      try {
        // Someone may have finished between our check and the lock.
        const now = checkEntry(entry, key);
        if (typeof now !== 'string') return found(now, false);
        const refusedMeanwhile = readRefusal(entry);
        if (refusedMeanwhile !== undefined) return notShared(refusedMeanwhile);
        // Only the lock's holder prepares: temporary folders of this entry were left by one that died.
        await removeLeftovers(cache, basename(entry));
        try {
          const meta = await prepare(folder, source, file, key, entry);
          // A new entry is when old ones pile up (a new model version, onnxruntime or CPU): those
          // unused for PRUNE_AFTER_DAYS go, unless a process prepares or maps them.
          await pruneWeightsCache(cache, { olderThanDays: PRUNE_AFTER_DAYS, keep: [name] }).catch(() => {});
          return found(meta, true);
        } catch (error) {
          // onnxruntime answered that it cannot: remembered, so that the other workers and later
          // starts load the model at once (a process that died or timed out is tried again).
          if (error instanceof PrepareRefused) await writeFile(`${entry}.refused`, error.message).catch(() => {});
          throw error;
        }
      } finally {
        await held.release();
      }
    }
    // Another worker or process prepares it: wait for its entry, or for its lock to go.
    await new Promise((resolve) => setTimeout(resolve, wait));
    const now = checkEntry(entry, key);
    if (typeof now !== 'string') return found(now, false);
    if (performance.now() > deadline) return notShared(`another process has been preparing it for over ${WAIT_MS / 60_000} minutes`);
  }
}

/** Takes the lock file (false: another holder has it; a string: why it cannot be written). */
async function takeLock(lock: string): Promise<{ release(): Promise<void> } | false | string> {
  const body = JSON.stringify({ pid: process.pid, thread: threadId, at: new Date().toISOString() });
  try {
    await writeFile(lock, body, { flag: 'wx' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'EEXIST') return code ?? describe(error);
    // Held: take it over only when its holder has stopped touching it (died while preparing).
    try {
      const age = Date.now() - (await stat(lock)).mtimeMs;
      if (age > STALE_LOCK_MS) {
        const stale = `${lock}.stale-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`;
        // Renaming is atomic: of two takers, one moves the stale lock and the other finds nothing.
        await rename(lock, stale);
        await unlink(stale).catch(() => {});
      }
    } catch {
      // gone meanwhile: try again
    }
    return false;
  }
  const touch = setInterval(() => {
    const now = new Date();
    void utimes(lock, now, now).catch(() => {});
  }, LOCK_TOUCH_MS);
  touch.unref();
  return {
    async release() {
      clearInterval(touch);
      await unlink(lock).catch(() => {});
    },
  };
}

/** Prepares the model into a temporary folder, checks it, and renames it into place. Holds the lock. */
async function prepare(folder: string, source: string, file: string, key: string, entry: string): Promise<EntryMeta> {
  const tmp = `${entry}.tmp-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(join(tmp, 'onnx'), { recursive: true });
    // The folder's small JSON files (config, tokenizer, generation config), so that transformers.js
    // loads the prepared folder as it loads the original. The model's weights are all in the
    // prepared data file: transformers.js must not fetch external data of its own.
    for (const name of await readdir(folder)) {
      if (!name.endsWith('.json')) continue;
      const path = join(folder, name);
      const info = await stat(path);
      if (!info.isFile() || info.size > 64 * 2 ** 20) continue;
      let text = await readFile(path, 'utf8');
      if (name === 'config.json') {
        const config = JSON.parse(text) as Record<string, unknown>;
        const tjs = config['transformers.js_config'] as Record<string, unknown> | undefined;
        if (tjs && typeof tjs === 'object') {
          delete tjs.use_external_data_format;
          delete tjs.device_config;
        }
        text = JSON.stringify(config, null, 2);
      }
      await writeFile(join(tmp, name), text);
    }
    const graph = join(tmp, 'onnx', file);
    const began = performance.now();
    await runPrepare(source, graph, `${file}.data`);
    const preparedMs = performance.now() - began;
    const data = `${graph}.data`;
    const dataBytes = existsSync(data) ? statSync(data).size : 0;
    const meta: EntryMeta = {
      v: ENTRY_VERSION,
      key,
      source,
      file,
      graphBytes: statSync(graph).size,
      graphHash: fileHash(graph),
      dataBytes,
      dataHash: dataBytes > 0 ? sampledHash(data) : '',
      preparedMs,
      preparedAt: new Date().toISOString(),
    };
    // Written last: an entry without it is incomplete.
    await writeFile(join(tmp, 'weights.json'), JSON.stringify(meta, null, 2));
    // A damaged entry in the way goes first (moved aside, then removed).
    if (existsSync(entry)) await discard(entry);
    await rename(tmp, entry);
    return meta;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw error;
  }
}

/** Removes the temporary and discarded folders of an entry (`<name>.tmp-*`, `<name>.old-*`). */
async function removeLeftovers(cache: string, name: string): Promise<void> {
  const names = await readdir(cache).catch(() => [] as string[]);
  await Promise.all(
    names.filter((n) => n.startsWith(`${name}.tmp-`) || n.startsWith(`${name}.old-`)).map((n) => rm(join(cache, n), { recursive: true, force: true }).catch(() => {})),
  );
}

/** Moves a cache entry aside and removes it (a session may still map its files: they live on until unmapped). */
export async function discard(entry: string): Promise<void> {
  const trash = `${entry}.old-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(entry, trash);
  } catch {
    return;
  }
  await rm(trash, { recursive: true, force: true }).catch(() => {});
}

/** onnxruntime answered that it cannot prepare the model (not a crash or a timeout). */
class PrepareRefused extends Error {}

function readRefusal(entry: string): string | undefined {
  try {
    return `could not prepare it: ${readFileSync(`${entry}.refused`, 'utf8')} (remembered in ${entry}.refused)`;
  } catch {
    return undefined;
  }
}

function runPrepare(source: string, out: string, dataName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [PREPARE_SCRIPT, source, out, dataName],
      // ELECTRON_RUN_AS_NODE: inside Electron, process.execPath is the app; this makes it plain Node.
      { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, timeout: PREPARE_TIMEOUT_MS, maxBuffer: 1 << 20, windowsHide: true },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        let answer: { ok?: boolean; error?: string } = {};
        try {
          answer = JSON.parse(line) as typeof answer;
        } catch {
          // no answer: the process died
        }
        if (answer.ok) return resolve();
        if (answer.ok === false) return reject(new PrepareRefused(`onnxruntime refused: ${answer.error}`));
        reject(new Error(`the preparing process failed: ${error ? `${error.message} ${stderr.trim().slice(-400)}` : 'no answer'}`));
      },
    );
  });
}

/** Lists entries of a cache folder (for tests and tools): folder names that hold a weights.json. */
export function cacheEntries(cache: string): string[] {
  try {
    return readdirSync(cache).filter((name) => existsSync(join(cache, name, 'weights.json')));
  } catch {
    return [];
  }
}
