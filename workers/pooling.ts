/**
 * Pooling and normalisation of one row of a model run's hidden states: the arithmetic of every
 * vector the pool returns, in loops over typed arrays.
 */
import { normalizeRow } from '../src/normalize.js';
import { CALL_CLS, CALL_LASTTOKEN, CALL_NORMALIZE } from '../src/protocol.js';

export { normalizeRow };

/** Row `r` of a run, pooled and (if `flags` ask) normalised, into `dest` at `to`. */
export function writeRow(
  hidden: ArrayLike<number>,
  mask: Uint8Array,
  r: number,
  seq: number,
  width: number,
  flags: number,
  dest: Float32Array,
  to: number,
  scratch: Float64Array,
): void {
  poolRow(hidden, mask, r, seq, width, flags & CALL_CLS ? 'cls' : flags & CALL_LASTTOKEN ? 'lasttoken' : 'mean', dest, to, scratch);
  if (flags & CALL_NORMALIZE) normalizeRow(dest, to, width);
}

/**
 * Pools row `r` of a hidden state `[rows, seq, width]` into `out` at `offset`: the mean of the
 * token vectors the attention mask keeps (summed in double precision, as transformers.js'
 * `mean_pooling` does), the first token's vector (`cls`), or the vector of the last token the mask
 * keeps (`lasttoken`, as sentence-transformers does for decoder models). `mask` is the mask as 0/1 bytes.
 */
export function poolRow(
  hidden: ArrayLike<number>,
  mask: Uint8Array,
  r: number,
  seq: number,
  width: number,
  pooling: 'mean' | 'cls' | 'lasttoken',
  out: Float32Array,
  offset: number,
  sum: Float64Array,
): void {
  const base = r * seq * width;
  if (pooling === 'cls') {
    for (let k = 0; k < width; k++) out[offset + k] = hidden[base + k]!;
    return;
  }
  if (pooling === 'lasttoken') {
    let last = seq - 1;
    while (last > 0 && mask[r * seq + last] === 0) last--;
    const from = base + last * width;
    for (let k = 0; k < width; k++) out[offset + k] = hidden[from + k]!;
    return;
  }
  sum.fill(0, 0, width);
  let count = 0;
  for (let j = 0; j < seq; j++) {
    if (mask[r * seq + j] === 0) continue;
    count++;
    const from = base + j * width;
    for (let k = 0; k < width; k++) sum[k]! += hidden[from + k]!;
  }
  for (let k = 0; k < width; k++) out[offset + k] = sum[k]! / count;
}
