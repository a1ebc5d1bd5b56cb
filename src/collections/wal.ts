/**
 * One collection's write-ahead log: segment files `wal-<first seq>.log`, appended with one write
 * and one fdatasync per group of records, so every acknowledged write is on disk.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, ftruncateSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CollectionCorruptError } from '../errors.js';
import { decodeRecords, type LogRecord } from './records.js';

export interface Segment {
  file: string;
  firstSeq: number;
}

const SEGMENT = /^wal-(\d{16})\.log$/;

export function segmentName(firstSeq: number): string {
  return `wal-${String(firstSeq).padStart(16, '0')}.log`;
}

/** The directory's log segments, oldest first. */
export function listSegments(dir: string): Segment[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const m = SEGMENT.exec(name);
      return m ? [{ file: join(dir, name), firstSeq: Number(m[1]) }] : [];
    })
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Makes a rename or a new file in `dir` durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the records of every segment in order. A record cut short at the very end of the last
 * segment (a crash mid-write: it was never acknowledged) is cut off the file; damage anywhere else
 * is a {@link CollectionCorruptError} naming the file.
 */
export function readSegments(segments: Segment[]): LogRecord[] {
  const records: LogRecord[] = [];
  segments.forEach((segment, i) => {
    const buf = readFileSync(segment.file);
    const result = decodeRecords(buf);
    if (result.problem) {
      const { offset, reason, atTail } = result.problem;
      if (!(atTail && i === segments.length - 1)) {
        throw new CollectionCorruptError(`write-ahead log ${segment.file} is damaged: ${reason} at byte ${offset} of ${buf.length}`);
      }
      const fd = openSync(segment.file, 'r+');
      try {
        ftruncateSync(fd, result.validLength);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    for (const record of result.records) records.push(record);
  });
  return records;
}

/** The segment being appended to. */
export class WalWriter {
  readonly #dir: string;
  #handle: FileHandle | undefined;
  #bytes = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Bytes appended to the current segment. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Continues the newest segment, or starts one at `nextSeq` when there is none. */
  async openLast(nextSeq: number): Promise<void> {
    const last = listSegments(this.#dir).at(-1);
    if (!last) return this.rotate(nextSeq);
    this.#handle = await open(last.file, 'a');
    this.#bytes = (await this.#handle.stat()).size;
  }

  /** Starts a new segment whose first record will be `nextSeq`. */
  async rotate(nextSeq: number): Promise<void> {
    const file = join(this.#dir, segmentName(nextSeq));
    const handle = await open(file, 'a');
    fsyncDir(this.#dir);
    await this.#handle?.close();
    this.#handle = handle;
    this.#bytes = (await handle.stat()).size;
  }

  /** Appends the frames and waits until they are on disk. */
  async append(frames: Buffer[]): Promise<void> {
    const handle = this.#handle!;
    const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    for (let done = 0; done < buf.length; ) {
      const { bytesWritten } = await handle.write(buf, done, buf.length - done);
      done += bytesWritten;
    }
    this.#bytes += buf.length;
    await handle.datasync();
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}
