/**
 * The weights cache's entries (see workers/shared-weights.ts), how recently each was used, and
 * pruning the ones no one has used for a while: an entry is keyed by model file, onnxruntime
 * version and CPU, so every new model, model version or upgrade leaves the old entry behind.
 *
 * Used means: a worker found the entry and loaded it, which touches the entry's `last-used`
 * marker. An entry is removed only when all of these hold, checked again once its lock is held:
 * - not used for `olderThanDays` (the marker's time, else the time it was prepared);
 * - no process prepares it (its `<entry>.lock` is absent; a fresh lock means one does);
 * - no live process maps one of its files (Linux: every readable `/proc/<pid>/maps`; a process
 *   of another user cannot be read, which is why the cache folder should be the user's own).
 * It is then moved aside (renamed, atomic) and deleted. A worker that found the entry just before
 * it was moved fails to load it and loads the model from its own folder, as when an entry is
 * damaged: pruning never stops a pool, at worst it makes one start without sharing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readdir, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file inside an entry whose time says when a worker last loaded it. */
export const LAST_USED = 'last-used';
/** A lock whose holder has not touched it for this long is stale (its holder died). */
export const STALE_LOCK_MS = 30_000;
/** What a new preparation prunes: entries not used for this many days. */
export const PRUNE_AFTER_DAYS = 30;

const DAY_MS = 86_400_000;

/** One entry of the cache, as `warmpool weights` lists it. */
export interface WeightsCacheEntry {
  name: string;
  /** Bytes of its files. */
  bytes: number;
  /** When a worker last loaded it (else when it was prepared), ISO 8601. */
  lastUsed: string;
  preparedAt: string | undefined;
  /** Live processes that map its files now (Linux). */
  mappedBy: number[];
}

export interface PruneResult {
  removed: WeightsCacheEntry[];
  /** Entries kept, with why (used recently, being prepared, mapped by a process). */
  kept: (WeightsCacheEntry & { reason: string })[];
  /** Remembered refusals and leftovers of dead preparations removed. */
  leftovers: string[];
}

/** Marks an entry as used now (best effort: a read-only cache stays as it is). */
export async function touchUsed(entry: string): Promise<void> {
  const marker = join(entry, LAST_USED);
  const now = new Date();
  try {
    await utimes(marker, now, now);
  } catch {
    await writeFile(marker, '').catch(() => {});
  }
}

function lastUsedMs(entry: string): number {
  for (const name of [LAST_USED, 'weights.json']) {
    try {
      return statSync(join(entry, name)).mtimeMs;
    } catch {
      // next
    }
  }
  return 0;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    total += info.isDirectory() ? folderBytes(path) : info.size;
  }
  return total;
}

/**
 * Each live process's mapped files under `root`, by process id (Linux; elsewhere, and for
 * processes that cannot be read, nothing).
 */
function mappedUnder(root: string): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  const prefix = `${root}/`;
  for (const pid of pids) {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue;
    }
    for (const line of maps.split('\n')) {
      const at = line.indexOf(prefix);
      if (at < 0) continue;
      let paths = out.get(Number(pid));
      if (!paths) out.set(Number(pid), (paths = new Set()));
      paths.add(line.slice(at).replace(/ \(deleted\)$/, ''));
    }
  }
  return out;
}

function lockFresh(entry: string): boolean {
  try {
    return Date.now() - statSync(`${entry}.lock`).mtimeMs <= STALE_LOCK_MS;
  } catch {
    return false;
  }
}

/** The entries of a cache folder (folders that hold a weights.json), oldest use first. */
export function listWeightsCache(cache: string): WeightsCacheEntry[] {
  let root: string;
  try {
    root = realpathSync(cache);
  } catch {
    return [];
  }
  const mapped = mappedUnder(root);
  const entries: WeightsCacheEntry[] = [];
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    if (!existsSync(join(dir, 'weights.json'))) continue;
    let preparedAt: string | undefined;
    try {
      preparedAt = (JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as { preparedAt?: string }).preparedAt;
    } catch {
      preparedAt = undefined;
    }
    let bytes = 0;
    try {
      bytes = folderBytes(dir);
    } catch {
      // removed meanwhile
    }
    const mappedBy = [...mapped].filter(([, paths]) => [...paths].some((p) => p.startsWith(`${dir}/`))).map(([pid]) => pid);
    entries.push({ name, bytes, lastUsed: new Date(lastUsedMs(dir)).toISOString(), preparedAt, mappedBy });
  }
  return entries.sort((a, b) => a.lastUsed.localeCompare(b.lastUsed));
}

/**
 * Removes the entries of `cache` not used for `olderThanDays` that no process prepares or maps
 * (see the top of this file), with the remembered refusals (`<entry>.refused`) and the leftovers
 * of dead preparations (`.tmp-`, `.old-`, `.stale-`) older than that. `dryRun`: says what it would
 * remove, removes nothing. `keep`: entry names never removed (the caller's own).
 */
export async function pruneWeightsCache(cache: string, options: { olderThanDays: number; dryRun?: boolean; keep?: string[] }): Promise<PruneResult> {
  const result: PruneResult = { removed: [], kept: [], leftovers: [] };
  const cutoff = Date.now() - options.olderThanDays * DAY_MS;
  let root: string;
  try {
    root = realpathSync(cache);
  } catch {
    return result;
  }
  for (const entry of listWeightsCache(root)) {
    const dir = join(root, entry.name);
    const keep = (reason: string): void => void result.kept.push({ ...entry, reason });
    if (options.keep?.includes(entry.name)) keep('in use by this process');
    else if (Date.parse(entry.lastUsed) > cutoff) keep(`used within ${options.olderThanDays} days`);
    else if (lockFresh(dir)) keep('being prepared');
    else if (entry.mappedBy.length > 0) keep(`mapped by process ${entry.mappedBy.join(', ')}`);
    else if (options.dryRun) result.removed.push(entry);
    else {
      const reason = await removeEntry(dir, cutoff);
      if (reason === undefined) result.removed.push(entry);
      else keep(reason);
    }
  }
  // Refusals and leftovers: files and folders beside the entries.
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!/\.(refused$|tmp-|old-|stale-)/.test(name)) continue;
    const path = join(root, name);
    const base = join(root, name.replace(/\.(refused|tmp-.*|old-.*|lock\.stale-.*)$/, ''));
    try {
      if ((await stat(path)).mtimeMs > cutoff || lockFresh(base)) continue;
    } catch {
      continue;
    }
    if (!options.dryRun) await rm(path, { recursive: true, force: true }).catch(() => {});
    result.leftovers.push(name);
  }
  return result;
}

/** Takes the entry's lock, checks again, moves the entry aside and deletes it; or says why not. */
async function removeEntry(dir: string, cutoff: number): Promise<string | undefined> {
  const lock = `${dir}.lock`;
  try {
    await writeFile(lock, JSON.stringify({ pid: process.pid, pruning: true, at: new Date().toISOString() }), { flag: 'wx' });
  } catch (error) {
    return (error as { code?: string }).code === 'EEXIST' ? 'locked by another process' : `cannot be written (${(error as { code?: string }).code ?? String(error)})`;
  }
  try {
    // Between the listing and the lock, a worker may have loaded it.
    if (lastUsedMs(dir) > cutoff) return 'used meanwhile';
    const trash = `${dir}.old-${process.pid}-prune-${randomBytes(4).toString('hex')}`;
    await rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
    return undefined;
  } catch (error) {
    return `could not be removed (${(error as { code?: string }).code ?? String(error)})`;
  } finally {
    await unlink(lock).catch(() => {});
  }
}
