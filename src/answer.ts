/** A call's answer put together: cached and fresh vectors in one buffer, and the shape `embed` returns. */
import type { CachedVector } from './cache.js';
import type { PackedVectors } from './types.js';

/** Puts cached and freshly embedded vectors of one call back together, in input order. */
export function assemble(count: number, hits: (CachedVector | undefined)[] | undefined, result: PackedVectors | undefined, knownDims: number): PackedVectors {
  if (!hits || !hits.some((h) => h !== undefined)) return result ?? { data: new Float32Array(0), dims: [0, knownDims], tokens: 0 };
  // Tokens of the call's texts, whether the model saw them now or when they were cached.
  let tokens = result?.tokens ?? 0;
  const width = result?.dims[1] ?? hits.find((h) => h !== undefined)!.vector.length;
  const data = new Float32Array(count * width);
  for (let i = 0, m = 0; i < count; i++) {
    const hit = hits[i];
    if (hit) {
      data.set(hit.vector, i * width);
      tokens += hit.tokens;
    } else data.set(result!.data.subarray(m * width, ++m * width), i * width);
  }
  return { data, dims: [count, width], tokens };
}

/** A call's vectors as `embed` answers: the one vector of a string input, else one view per text over the call's buffer. */
export function vectorsOf({ data, dims: [rows, width] }: PackedVectors, one: boolean): Float32Array | Float32Array[] {
  // One text: its buffer holds exactly its vector.
  if (one && data.length === width) return data;
  // Views over the call's one buffer: no copy per vector.
  const vectors = new Array<Float32Array>(rows);
  for (let r = 0; r < rows; r++) vectors[r] = data.subarray(r * width, (r + 1) * width);
  return one ? vectors[0]! : vectors;
}
