/** The retrieval sets (built by build-sets.ts) and their half/half split. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SETS_DIR = fileURLToPath(new URL('./', import.meta.url));
export const SET_NAMES = ['docstrings', 'debian'] as const;

export interface SetItem {
  id: string;
  query: string;
  doc: string;
}

export interface RetrievalSet {
  name: string;
  source: string;
  /** Query i's one relevant document is document i. */
  items: SetItem[];
}

/** Unit-length embeddings of `texts` through `pool`, 64 texts a call (so a dot product is the cosine). */
export async function embedUnits(pool: { embed(texts: string[]): Promise<Float32Array[]> }, texts: readonly string[]): Promise<Float32Array[]> {
  const unit = (v: Float32Array) => {
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += 64) out.push(...(await pool.embed(texts.slice(i, i + 64))).map(unit));
  return out;
}

export function loadSet(name: string): RetrievalSet {
  return JSON.parse(readFileSync(`${SETS_DIR}${name}.json`, 'utf8')) as RetrievalSet;
}

/**
 * Which half a query falls in: 'A' (where configurations are chosen) or 'B' (where the choice is
 * confirmed), by the first byte of sha256(id). Every query still searches all documents.
 */
export function half(id: string): 'A' | 'B' {
  return (createHash('sha256').update(`half:${id}`).digest()[0] ?? 0) < 128 ? 'A' : 'B';
}
