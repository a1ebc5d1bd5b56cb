/**
 * Shortened vectors (`dimensions`): the first n components of each vector, scaled back to unit
 * length when the call normalizes. Done on the caller's side after the answer, so workers, tasks
 * and the cache only ever see full vectors: calls with and without `dimensions` share a task and
 * cached vectors, and the hot path (no `dimensions`) does nothing more.
 */
import { InvalidInputError } from './errors.js';
import { normalizeRow } from './normalize.js';
import type { PackedVectors } from './types.js';

/** Throws when `dimensions` is wider than the model's vectors. */
export function checkDimensions(dimensions: number, width: number): void {
  if (dimensions > width) {
    throw new InvalidInputError(`options.dimensions is ${dimensions}, but the model's vectors have ${width} components; it must be an integer from 1 to ${width}`);
  }
}

/**
 * The first `dimensions` components of each row of `packed`, in a buffer of their own, each row
 * scaled to unit length when `normalize` (a zero row stays zero). Checks the width first.
 */
export function shortenPacked(packed: PackedVectors, dimensions: number, normalize: boolean): PackedVectors {
  const [rows, width] = packed.dims;
  if (rows === 0) {
    if (width > 0) checkDimensions(dimensions, width);
    return { data: new Float32Array(0), dims: [0, dimensions], tokens: packed.tokens };
  }
  checkDimensions(dimensions, width);
  const src = packed.data;
  const data = new Float32Array(rows * dimensions);
  for (let r = 0; r < rows; r++) {
    data.set(src.subarray(r * width, r * width + dimensions), r * dimensions);
    if (normalize) normalizeRow(data, r * dimensions, dimensions);
  }
  return { data, dims: [rows, dimensions], tokens: packed.tokens };
}
