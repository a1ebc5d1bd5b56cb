/**
 * The store directory as the index worker sees it (the pool's main thread holds its lock, see
 * {@link StoreLock}): one {@link Collection} per folder
 * (opened on first use), creation, dropping, and the sweep that drops expired session collections.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CollectionExistsError, CollectionNotFoundError } from '../errors.js';
import type { PoolStats } from '../stats.js';
import type { CollectionRecovery } from '../types.js';
import { Collection, CREATING } from './collection.js';
import type { StoreLock } from './lock.js';
import type { CollectionInfo, CollectionSettings } from './types.js';
import { fsyncDir } from './wal.js';
import { testHooks } from '../test-hooks.js';

/** Folder of a migration's new collection while it is built; removed at start (an unfinished migration). */
const MIGRATING = '.migrating-';
/** The same folder once complete: the collection that counts, swapped in at start if a crash stopped the swap. */
const MIGRATED = '.migrated-';

/** Test-only: the process kills itself (SIGKILL) at this step of a migration's swap. */
function crashPoint(step: 'migrated' | 'old-moved'): void {
  if (testHooks().crashInMigration === step) process.kill(process.pid, 'SIGKILL');
}

export class Store {
  readonly root: string;
  readonly #stats: PoolStats;
  readonly #open = new Map<string, Promise<Collection>>();
  readonly #onRecovery: (name: string, recovery: CollectionRecovery) => void;
  #sweepTimer: NodeJS.Timeout | undefined;

  /** `onRecovery`: told whenever opening a collection found damage (see {@link CollectionRecovery}). */
  constructor(root: string, stats: PoolStats, onRecovery: (name: string, recovery: CollectionRecovery) => void = () => {}) {
    this.root = root;
    this.#stats = stats;
    this.#onRecovery = onRecovery;
    mkdirSync(root, { recursive: true });
    this.#finishSwaps();
    this.#sweepDisk();
  }

  #dir(name: string): string {
    return join(this.root, name);
  }

  /** The collection, opened (recovered) on first use; `CollectionNotFoundError` when there is none. */
  get(name: string): Promise<Collection> {
    let opening = this.#open.get(name);
    if (!opening) {
      const dir = this.#dir(name);
      opening = existsSync(join(dir, 'meta.json'))
        ? Collection.open(dir, this.#stats)
        : Promise.reject(new CollectionNotFoundError(`no collection named ${JSON.stringify(name)} in ${this.root}`));
      this.#open.set(name, opening);
      // A failed open is not cached: the next call sees the error again (or a repaired folder).
      opening.then(
        (c) => this.#opened(c),
        () => this.#open.delete(name),
      );
    }
    return opening;
  }

  /**
   * Creates the collection, or returns the existing one when its settings agree with the ones
   * given (`CollectionExistsError` when they do not).
   */
  async create(settings: CollectionSettings, strict: boolean): Promise<Collection> {
    const existing = this.#open.has(settings.name) || existsSync(join(this.#dir(settings.name), 'meta.json'));
    if (existing) {
      const c = await this.get(settings.name);
      const s = c.settings;
      if (
        strict &&
        (s.dims !== settings.dims || s.metric !== settings.metric || s.index !== settings.index || s.ttl !== settings.ttl || s.quantization !== settings.quantization)
      ) {
        throw new CollectionExistsError(
          `collection ${JSON.stringify(settings.name)} exists with dims ${s.dims}, metric ${s.metric}, index ${s.index}, quantization ${s.quantization}, ttl ${s.ttl ?? 'none'}; ` +
            `asked for dims ${settings.dims}, metric ${settings.metric}, index ${settings.index}, quantization ${settings.quantization}, ttl ${settings.ttl ?? 'none'}`,
        );
      }
      return c;
    }
    const creating = Collection.create(this.#dir(settings.name), settings, this.#stats);
    this.#open.set(settings.name, creating);
    creating.then(
      (c) => this.#opened(c),
      () => this.#open.delete(settings.name),
    );
    return creating;
  }

  /** Every collection in the directory (each is opened to count it). */
  async list(): Promise<CollectionInfo[]> {
    const names = readdirSync(this.root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && existsSync(join(this.root, d.name, 'meta.json')))
      .map((d) => d.name)
      .sort();
    const out: CollectionInfo[] = [];
    for (const name of names) out.push((await this.get(name)).info());
    return out;
  }

  /** Drops the collection and its files; resolves to whether it existed. */
  async drop(name: string): Promise<boolean> {
    let c: Collection;
    try {
      c = await this.get(name);
    } catch (error) {
      if (error instanceof CollectionNotFoundError) return false;
      // A damaged collection can still be dropped.
      if (!existsSync(this.#dir(name))) throw error;
      this.#remove(name);
      return true;
    }
    this.#open.delete(name);
    await c.close();
    this.#remove(name);
    return true;
  }

  /**
   * Starts a re-embed migration: an empty collection with the old one's settings and the new
   * settings given, in a hidden folder (`.migrating-<name>`) that a crash leaves to be removed at
   * the next start. The old collection stays open and keeps answering.
   */
  async beginMigration(name: string, settings: CollectionSettings): Promise<Collection> {
    const dir = join(this.root, `${MIGRATING}${name}`);
    rmSync(dir, { recursive: true, force: true });
    return Collection.create(dir, settings, this.#stats);
  }

  /** Removes the new collection of a migration that was aborted or failed; the old one stays. */
  async abortMigration(target: Collection): Promise<void> {
    await target.close().catch(() => {});
    rmSync(target.dir, { recursive: true, force: true });
  }

  /**
   * Swaps the new collection of a migration in. Once the new one is complete on disk (closed, so
   * snapshotted) it is renamed `.migrated-<name>`: from that rename on, the new collection is the
   * one that counts, and a crash at any later point is finished at the next start (see
   * {@link Store.#finishSwaps}). The old collection answers searches until the new one is open.
   */
  async commitMigration(name: string, target: Collection): Promise<Collection> {
    await target.close();
    const done = join(this.root, `${MIGRATED}${name}`);
    renameSync(target.dir, done);
    fsyncDir(this.root);
    crashPoint('migrated');
    const old = await this.#open.get(name)?.catch(() => undefined);
    await old?.close();
    this.#swap(name, done);
    const fresh = await Collection.open(this.#dir(name), this.#stats);
    this.#open.set(name, Promise.resolve(fresh));
    return fresh;
  }

  /** Puts the complete new collection `done` in place of the old one (which is moved aside, then removed). */
  #swap(name: string, done: string): void {
    const dir = this.#dir(name);
    let trash: string | undefined;
    if (existsSync(dir)) {
      trash = join(this.root, `.dropped-${name}-${process.pid}-${Date.now()}`);
      renameSync(dir, trash);
      fsyncDir(this.root);
      crashPoint('old-moved');
    }
    renameSync(done, dir);
    fsyncDir(this.root);
    if (trash) rmSync(trash, { recursive: true, force: true });
  }

  /** Finishes the swaps of migrations that a crash interrupted after their new collection was complete. */
  #finishSwaps(): void {
    for (const d of readdirSync(this.root, { withFileTypes: true })) {
      if (d.isDirectory() && d.name.startsWith(MIGRATED)) this.#swap(d.name.slice(MIGRATED.length), join(this.root, d.name));
    }
  }

  #remove(name: string): void {
    this.#open.delete(name);
    // Renamed first, so a crash halfway through the removal never leaves a half collection under its name.
    const trash = join(this.root, `.dropped-${name}-${process.pid}-${Date.now()}`);
    renameSync(this.#dir(name), trash);
    fsyncDir(this.root);
    rmSync(trash, { recursive: true, force: true });
  }

  #opened(c: Collection): void {
    if (c.recovery) this.#onRecovery(c.settings.name, c.recovery);
    this.#watchTtl(c);
  }

  #watchTtl(c: Collection): void {
    if (c.settings.ttl === undefined || this.#sweepTimer) return;
    const every = Math.max(50, Math.min(60_000, (c.settings.ttl * 1000) / 4));
    this.#sweepTimer = setInterval(() => void this.sweep(), every);
    this.#sweepTimer.unref();
  }

  /** Drops every open session collection unused for longer than its ttl; resolves to how many. */
  async sweep(now = Date.now()): Promise<number> {
    let dropped = 0;
    for (const [name, opening] of this.#open) {
      const c = await opening.catch(() => undefined);
      if (!c || c.settings.ttl === undefined || now - c.lastUsed <= c.settings.ttl * 1000) continue;
      if (await this.drop(name)) {
        dropped++;
        this.#stats.inc('collectionsExpired');
      }
    }
    return dropped;
  }

  /**
   * Drops session collections left by an earlier run whose ttl has passed since their newest file
   * was written (reads are not on disk, so after a restart the last write counts as the last use).
   */
  #sweepDisk(now = Date.now()): void {
    for (const d of readdirSync(this.root, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      const dir = this.#dir(d.name);
      if (d.name.startsWith('.dropped-') || d.name.startsWith(CREATING) || d.name.startsWith(MIGRATING)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      let ttl: unknown;
      try {
        ttl = (JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as CollectionSettings).ttl;
      } catch {
        continue; // not a collection, or damaged: opening it reports that
      }
      if (typeof ttl !== 'number') continue;
      const newest = Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
      if (now - newest > ttl * 1000) {
        this.#remove(d.name);
        this.#stats.inc('collectionsExpired');
      }
    }
  }

  async close(): Promise<void> {
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    for (const opening of this.#open.values()) {
      const c = await opening.catch(() => undefined);
      await c?.close();
    }
    this.#open.clear();
  }
}
