/** Unit-length scaling of vectors, shared by the workers (every vector they pool) and the main thread (shortened vectors). */

/**
 * L2-normalises `width` floats of `data` from `offset`, in place. A zero row (a text none of whose
 * tokens the model knows, for a word-vector model) stays zero rather than becoming NaN.
 */
export function normalizeRow(data: Float32Array, offset: number, width: number): void {
  const end = offset + width;
  let sum = 0;
  for (let i = offset; i < end; i++) {
    const x = data[i]!;
    sum += x * x;
  }
  if (sum === 0) return;
  const inv = 1 / Math.sqrt(sum);
  for (let i = offset; i < end; i++) data[i] = data[i]! * inv;
}
