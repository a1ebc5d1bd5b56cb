/**
 * The store directory's lock file: created with O_EXCL and holding the owner's pid, so two pools
 * (in one process or two) never write the same collections. A lock left by a process that no
 * longer runs is taken over.
 *
 * The token (pid and a random id) belongs to the pool, not to one index worker: a replacement
 * worker, started after the previous one died holding the lock, finds its own token and takes the
 * lock back, while a second pool in the same process (another token, same pid) is refused.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { CollectionLockedError } from '../errors.js';

export const LOCK_FILE = 'LOCK';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock token for this process: what the lock file holds while it is ours. */
export function lockToken(): string {
  return `${process.pid}\n${randomUUID()}\n`;
}

export class StoreLock {
  readonly file: string;
  readonly #token: string;

  constructor(dir: string, token = lockToken()) {
    this.file = join(dir, LOCK_FILE);
    this.#token = token;
  }

  /** Takes the lock or throws {@link CollectionLockedError} naming the holder. */
  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.file, 'wx');
        try {
          writeSync(fd, this.#token);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let content = '';
      try {
        content = readFileSync(this.file, 'utf8');
      } catch {
        continue; // removed in between: try again
      }
      // Ours already: left by this pool's index worker that died before it could release it.
      if (content === this.#token) return;
      const pid = Number.parseInt(content, 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new CollectionLockedError(
          `the collection store ${join(this.file, '..')} is in use by process ${pid}${pid === process.pid ? ' (another pool in this process)' : ''}; lock file ${this.file}`,
        );
      }
      // Stale (dead pid) or unreadable: take it over. unlink + O_EXCL keeps a race to one winner.
      try {
        unlinkSync(this.file);
      } catch {
        // another process took it over first; the next attempt sees its lock
      }
    }
    throw new CollectionLockedError(`could not take the lock file ${this.file}`);
  }

  /** Removes the lock file if it holds this token (a lock another process took over is left alone). */
  release(): void {
    try {
      if (readFileSync(this.file, 'utf8') === this.#token) unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}
