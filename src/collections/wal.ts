/**
 * One collection's write-ahead log: segment files `wal-<first seq>.log`, written with one write and
 * one fdatasync per group of records, so every acknowledged write is on disk.
 *
 * Segments are allocated ahead of their records (extended with zeros to {@link SEGMENT_BYTES},
 * sparse where the file system allows) and listed with their allocated size in `log.json`,
 * rewritten atomically whenever a segment is added or grown. A file only ever shrinks by damage,
 * so the log can tell a segment that was cut short or deleted from outside (acknowledged records
 * may be gone: reported) from a record torn by a crash mid-write (never acknowledged).
 */
import { closeSync, copyFileSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface Segment {
  file: string;
  firstSeq: number;
}

/** A segment as recovery sees it: on disk or only in the list, with its allocated and actual sizes. */
export interface SegmentState extends Segment {
  /** Allocated size from `log.json`; undefined for a segment the list does not name (older stores). */
  size: number | undefined;
  /** Size on disk; undefined when the file is missing. */
  length: number | undefined;
}

/** Bytes allocated for a new segment; a group of records larger than that gets a segment of its own size. */
export const SEGMENT_BYTES = 4 << 20;
export const MANIFEST = 'log.json';
/** Folder (inside the collection's) where recovery keeps the damaged files it found, before it repairs them. */
export const DAMAGED_DIR = 'damaged';

const SEGMENT = /^wal-(\d{16})\.log$/;

export function segmentName(firstSeq: number): string {
  return `wal-${String(firstSeq).padStart(16, '0')}.log`;
}

/** The directory's log segment files, oldest first. */
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

interface Manifest {
  version: 1;
  segments: { first: number; size: number }[];
}

/**
 * The segments `log.json` lists merged with those on disk, oldest first, and what was wrong with
 * the list itself (`problem`: present but unreadable). `listed` is false for a store written
 * before the list existed.
 */
export function segmentStates(dir: string): { segments: SegmentState[]; listed: boolean; problem?: string } {
  let manifest: Manifest | undefined;
  let problem: string | undefined;
  const file = join(dir, MANIFEST);
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
      if (!Array.isArray(parsed.segments) || parsed.segments.some((s) => !Number.isSafeInteger(s.first) || !Number.isSafeInteger(s.size))) {
        throw new Error('no list of segments');
      }
      manifest = parsed;
    } catch (error) {
      problem = `the log's list of segments (${MANIFEST}) is damaged (${(error as Error).message}); the segments on disk were used`;
    }
  }
  const byFirst = new Map<number, SegmentState>();
  for (const s of manifest?.segments ?? []) {
    byFirst.set(s.first, { file: join(dir, segmentName(s.first)), firstSeq: s.first, size: s.size, length: undefined });
  }
  for (const s of listSegments(dir)) {
    const known = byFirst.get(s.firstSeq);
    const length = statSync(s.file).size;
    if (known) known.length = length;
    else byFirst.set(s.firstSeq, { ...s, size: undefined, length });
  }
  const segments = [...byFirst.values()].sort((a, b) => a.firstSeq - b.firstSeq);
  return problem === undefined ? { segments, listed: manifest !== undefined } : { segments, listed: false, problem };
}

/** Writes `log.json` atomically: temporary file, fsync, rename, directory fsync. */
export function writeManifest(dir: string, segments: { firstSeq: number; size: number }[]): void {
  const manifest: Manifest = { version: 1, segments: segments.map((s) => ({ first: s.firstSeq, size: s.size })) };
  const tmp = join(dir, `${MANIFEST}.tmp`);
  writeFileSync(tmp, JSON.stringify(manifest), { flush: true });
  renameSync(tmp, join(dir, MANIFEST));
  fsyncDir(dir);
}

/**
 * Copies `file` as found into the collection's `damaged/` folder (fsynced) before recovery
 * changes it, and returns the copy's path relative to the collection folder.
 */
export function keepDamaged(dir: string, file: string): string {
  const folder = join(dir, DAMAGED_DIR);
  mkdirSync(folder, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let name = `${stamp}-${basename(file)}`;
  for (let i = 1; existsSync(join(folder, name)); i++) name = `${stamp}-${i}-${basename(file)}`;
  copyFileSync(file, join(folder, name));
  const fd = openSync(join(folder, name), 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(folder);
  fsyncDir(dir);
  return `${DAMAGED_DIR}/${name}`;
}

/** Overwrites `[from, to)` of the file with zeros and gives it at least `size` bytes, then fsyncs it. */
export function zeroRange(file: string, from: number, to: number, size: number): void {
  const fd = openSync(file, 'r+');
  try {
    const zeros = Buffer.alloc(Math.min(1 << 20, Math.max(0, to - from)));
    for (let at = from; at < to; ) at += writeSync(fd, zeros, 0, Math.min(zeros.length, to - at), at);
    if (fstatSync(fd).size < size) ftruncateSync(fd, size);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The segment being written. */
export class WalWriter {
  readonly #dir: string;
  #handle: FileHandle | undefined;
  /** Every segment of the log (for the list), the current one last. */
  #segments: { firstSeq: number; size: number }[] = [];
  /** Where the next record goes in the current segment. */
  #position = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Bytes written to the current segment. */
  get bytes(): number {
    return this.#position;
  }

  /**
   * Continues the log after recovery: `segments` are those recovery kept (their allocated or
   * actual sizes). With `end` (where the last one's records end) that segment is written on;
   * without (no segment, or one the list does not name) a new one starts at `nextSeq`. The list is
   * rewritten to match.
   */
  async resume(segments: { firstSeq: number; size: number }[], end: number | undefined, nextSeq: number): Promise<void> {
    const last = segments.at(-1);
    this.#segments = segments;
    if (!last || end === undefined) return this.rotate(nextSeq);
    this.#handle = await open(join(this.#dir, segmentName(last.firstSeq)), 'r+');
    this.#position = end;
    writeManifest(this.#dir, this.#segments);
  }

  /**
   * Starts a new segment whose first record will be `nextSeq`, allocated for at least `bytes`:
   * created under a temporary name, extended, fsynced and renamed, then listed.
   */
  async rotate(nextSeq: number, bytes = 0): Promise<void> {
    const size = Math.max(SEGMENT_BYTES, bytes);
    const name = segmentName(nextSeq);
    const file = join(this.#dir, name);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      ftruncateSync(fd, size);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    this.#segments = [...this.#segments.filter((s) => s.firstSeq < nextSeq), { firstSeq: nextSeq, size }];
    writeManifest(this.#dir, this.#segments);
    const handle = await open(file, 'r+');
    await this.#handle?.close();
    this.#handle = handle;
    this.#position = 0;
  }

  /** Segments pruned by a snapshot leave the list. */
  forget(firstSeqs: number[]): void {
    if (firstSeqs.length === 0) return;
    this.#segments = this.#segments.filter((s) => !firstSeqs.includes(s.firstSeq));
    writeManifest(this.#dir, this.#segments);
  }

  /**
   * Writes the frames (whose first record is `firstSeq`) and waits until they are on disk. A group
   * that does not fit in what is left of the segment starts the next one (or grows an empty one).
   */
  async append(frames: Buffer[], firstSeq: number): Promise<void> {
    const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    const current = this.#segments.at(-1)!;
    if (this.#position + buf.length > current.size) {
      if (this.#position === 0) {
        // Grown before it is listed larger: a crash in between leaves a longer file, never a shorter one.
        current.size = buf.length;
        await this.#handle!.truncate(buf.length);
        await this.#handle!.sync();
        writeManifest(this.#dir, this.#segments);
      } else {
        await this.rotate(firstSeq, buf.length);
      }
    }
    const handle = this.#handle!;
    for (let done = 0; done < buf.length; ) {
      const { bytesWritten } = await handle.write(buf, done, buf.length - done, this.#position + done);
      done += bytesWritten;
    }
    this.#position += buf.length;
    await handle.datasync();
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}
