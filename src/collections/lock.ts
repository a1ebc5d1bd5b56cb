/**
 * The store directory's lock file: created with O_EXCL and holding the owner's pid, so two pools
 * (in one process or two) never write the same collections. A lock left by a process that no
 * longer runs is taken over.
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

export class StoreLock {
  readonly file: string;
  readonly #token = `${process.pid}\n${randomUUID()}\n`;
  #held = false;

  constructor(dir: string) {
    this.file = join(dir, LOCK_FILE);
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
        this.#held = true;
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

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      if (readFileSync(this.file, 'utf8') === this.#token) unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}
