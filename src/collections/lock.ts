/**
 * The store directory's lock: an operating-system lock on the `LOCK` file (an open-file-description
 * lock on Linux, `flock` on macOS, `LockFileEx` on Windows, through fs-native-extensions), held by
 * the pool's main thread for as long as the pool uses the store.
 *
 * Why an OS lock and not a pid file: the kernel grants it to exactly one open file at a time and
 * drops it the moment its holder closes the file or dies, however it dies. There is no stale lock
 * to judge (a dead pid, a pid reused by another program, a pid from another container sharing the
 * volume) and so no takeover to race: two processes that both judged a pid file stale could each
 * delete the other's fresh lock and both write the store.
 *
 * The lock is taken on one byte far past the end of the file, so the holder's pid, written into
 * the file for error messages, stays readable on Windows too (whose locks are mandatory). The file
 * is never deleted: deleting it would let a process that opened the old file and one that
 * created a new one each hold "the" lock.
 *
 * Held by the main thread, not the index worker: a worker thread that dies leaves its file
 * descriptors open, and a lock on one of those could never be released. The replacement worker
 * runs under the lock the pool still holds.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CollectionLockedError, InferenceError } from '../errors.js';

export const LOCK_FILE = 'LOCK';

/** Where the lock sits in the file: one byte at 1 GiB, past anything the file holds. */
const LOCK_OFFSET = 2 ** 30;

interface FileLocks {
  tryLock(fd: number, offset: number, length: number, options: { shared: boolean }): boolean;
  unlock(fd: number, offset: number, length: number): void;
}

let locks: FileLocks | undefined;

function fileLocks(): FileLocks {
  if (!locks) {
    try {
      locks = createRequire(import.meta.url)('fs-native-extensions') as FileLocks;
    } catch (error) {
      throw new InferenceError(`file locks are not available on this platform (fs-native-extensions failed to load): ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return locks;
}

export class StoreLock {
  readonly file: string;
  #fd: number | undefined;

  constructor(dir: string) {
    this.file = join(dir, LOCK_FILE);
  }

  /** Whether this object holds the lock now. */
  get held(): boolean {
    return this.#fd !== undefined;
  }

  /**
   * Takes the lock, or throws {@link CollectionLockedError} naming the holder's pid when another
   * pool (in this process or another) holds it. Taking a lock already held by this object is a no-op.
   */
  acquire(): void {
    if (this.#fd !== undefined) return;
    mkdirSync(join(this.file, '..'), { recursive: true });
    const fd = openSync(this.file, constants.O_RDWR | constants.O_CREAT, 0o644);
    let locked = false;
    try {
      locked = fileLocks().tryLock(fd, LOCK_OFFSET, 1, { shared: false });
    } finally {
      if (!locked) closeSync(fd);
    }
    if (!locked) {
      let pid = Number.NaN;
      try {
        pid = Number.parseInt(readFileSync(this.file, 'utf8'), 10);
      } catch {
        // unreadable: the message goes without the pid
      }
      const who = Number.isInteger(pid) && pid > 0 ? `process ${pid}${pid === process.pid ? ' (another pool in this process)' : ''}` : 'another process';
      throw new CollectionLockedError(`the collection store ${join(this.file, '..')} is in use by ${who}; lock file ${this.file}`);
    }
    this.#fd = fd;
    // For messages only: who holds it. The lock itself is the OS lock, not this content.
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch {
      // a read-only or full disk: the lock is held all the same
    }
  }

  /** Releases the lock (closing the file drops it). Idempotent. The file stays. */
  release(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      ftruncateSync(fd, 0);
    } catch {
      // the content is informative only
    }
    closeSync(fd);
  }
}
