/**
 * How far a replica has applied its log, kept in the store folder beside the collections
 * (`.replica-<log>.json`, a file the store itself ignores) and rewritten atomically after each
 * applied batch. It is written after the batch is durable in the collections, so a crash in
 * between makes the replica apply that batch again on restart: harmless, since applying an entry
 * twice in log order leaves the same state (upsert and delete by id).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplicaLogError } from '../errors.js';
import { fsyncDir } from '../collections/wal.js';
import type { CreateCollectionOptions } from '../collections/types.js';

export interface ReplicaState {
  /** The log's epoch (a new one begins when Redis lost the log and a replica seeded it again). */
  epoch: string;
  /** The stream id of the last applied entry ('0-0': none yet in this epoch). */
  last: string;
  /** The log sequence number of the last applied entry: the position writes return. */
  n: number;
  /** Each collection's creation settings, as the log gave them (snapshots carry them on). */
  creates: Record<string, CreateCollectionOptions>;
}

export function stateFile(storePath: string, log: string): string {
  return join(storePath, `.replica-${log}.json`);
}

/** The saved state, or undefined for a store that never followed this log. */
export function readState(file: string): ReplicaState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as ReplicaState;
    if (typeof s.epoch !== 'string' || typeof s.last !== 'string' || !Number.isSafeInteger(s.n) || typeof s.creates !== 'object') throw new Error('missing fields');
    return s;
  } catch (error) {
    throw new ReplicaLogError(`replica state ${file} is damaged (${(error as Error).message}); remove it to copy the store again from the log's snapshot`);
  }
}

export function writeState(file: string, state: ReplicaState): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { flush: true });
  renameSync(tmp, file);
  fsyncDir(join(file, '..'));
}
