/**
 * Number formats of compressed vectors: IEEE half precision (f16) and one signed byte a dimension
 * with a scale per vector (i8). Node 20 has no Float16Array, so halves are kept as their bits.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The nearest half-precision value's bits (round half to even; overflow becomes infinity). */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: the implicit bit joins the mantissa, shifted into place.
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly moves into the exponent.
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Every half's value, by its bits: decoding is one lookup. */
export const HALF_TO_FLOAT = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    table[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return table;
})();

/**
 * Writes `v` as bytes into `out` (at `at`), scaled so that its largest component is ±127, and
 * returns the scale that turns the bytes back into a vector of `v`'s length (1 for a unit vector).
 * A per-vector scale uses the whole byte range whatever the vector's spread, which a fixed one
 * (x × 127, as usearch's own conversion does) wastes on unit vectors of many dimensions.
 */
export function toBytes(v: Float32Array, out: Int8Array, at: number): number {
  let max = 0;
  let norm = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a > max) max = a;
    norm += v[i]! * v[i]!;
  }
  if (max === 0) {
    out.fill(0, at, at + v.length);
    return 0;
  }
  const k = 127 / max;
  let qnorm = 0;
  for (let i = 0; i < v.length; i++) {
    const q = Math.round(v[i]! * k);
    out[at + i] = q;
    qnorm += q * q;
  }
  // The bytes, times the scale, have the length of `v`: a cosine collection's vectors stay unit length.
  return Math.sqrt(norm) / Math.sqrt(qnorm);
}
