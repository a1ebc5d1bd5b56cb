/**
 * Snapshots: the whole collection at one log sequence number, in the record format of the log
 * between a header record (settings, sequence) and an end record (count). Written to a temporary
 * file, fsynced, renamed into place and the directory fsynced: a crash at any point leaves either
 * the old snapshot or the new one, never a half-written file under a snapshot name.
 */
import { readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CollectionCorruptError } from '../errors.js';
import { decodeRecords, encodeEnd, encodeHeader, Op, type UpsertRecord } from './records.js';
import { testHooks } from '../test-hooks.js';
import { fsyncDir } from './wal.js';

export interface SnapshotFile {
  file: string;
  seq: number;
}

export interface SnapshotContent {
  seq: number;
  header: Record<string, unknown>;
  docs: UpsertRecord[];
}

const NAME = /^snapshot-(\d{16})\.bin$/;

/** Snapshots in the directory, newest first. Leftover temporary files of an interrupted write are removed. */
export function listSnapshots(dir: string): SnapshotFile[] {
  const out: SnapshotFile[] = [];
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.tmp')) {
      unlinkSync(join(dir, name));
      continue;
    }
    const m = NAME.exec(name);
    if (m) out.push({ file: join(dir, name), seq: Number(m[1]) });
  }
  return out.sort((a, b) => b.seq - a.seq);
}

export function snapshotName(seq: number): string {
  return `snapshot-${String(seq).padStart(16, '0')}.bin`;
}

/** Reads and checks a snapshot; any damage is a {@link CollectionCorruptError} naming the file. */
export function readSnapshot(snap: SnapshotFile): SnapshotContent {
  const buf = readFileSync(snap.file);
  const bad = (why: string): CollectionCorruptError => new CollectionCorruptError(`snapshot ${snap.file} is damaged: ${why}`);
  const { records, problem } = decodeRecords(buf);
  if (problem) throw bad(`${problem.reason} at byte ${problem.offset} of ${buf.length}`);
  const first = records[0];
  const last = records.at(-1);
  if (first?.op !== Op.header) throw bad('it does not start with a header record');
  if (last?.op !== Op.end) throw bad('it has no end record (incomplete write)');
  const docs = records.slice(1, -1);
  if (docs.length !== last.count || docs.some((r) => r.op !== Op.upsert)) {
    throw bad(`it holds ${docs.length} records where its end record says ${last.count}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(first.json) as Record<string, unknown>;
  } catch {
    throw bad('its header is not JSON');
  }
  return { seq: first.seq, header, docs: docs as UpsertRecord[] };
}

/**
 * Writes a snapshot of `frames` (upsert records, already encoded) covering `seq`. The frames are
 * a copy taken synchronously, so the collection may change while they are written.
 */
export async function writeSnapshot(dir: string, seq: number, header: Record<string, unknown>, frames: Buffer[]): Promise<string> {
  const final = join(dir, snapshotName(seq));
  const tmp = `${final}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    const all = [encodeHeader(seq, JSON.stringify(header)), ...frames, encodeEnd(seq, frames.length)];
    // Test-only: the writer kills its own process after writing half the snapshot.
    const crashAt = testHooks().crashInSnapshot ? Math.floor(all.length / 2) : -1;
    // Chunks of a few MB: the worker answers searches between them.
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (let i = 0; i < all.length; i++) {
      if (i === crashAt) {
        if (chunk.length) await handle.write(Buffer.concat(chunk));
        await handle.datasync();
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => {});
      }
      chunk.push(all[i]!);
      chunkBytes += all[i]!.length;
      if (chunkBytes >= 4 << 20 || i === all.length - 1) {
        const buf = Buffer.concat(chunk);
        for (let done = 0; done < buf.length; ) done += (await handle.write(buf, done, buf.length - done)).bytesWritten;
        chunk = [];
        chunkBytes = 0;
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  renameSync(tmp, final);
  fsyncDir(dir);
  return final;
}
