import type { Doc, IndexResult } from '../collections/types.js';
/**
 * What travels through Redis: job payloads, results, and failures.
 *
 * Vectors travel as base64 of little-endian float32: a third the size of a JSON number array and
 * bit-exact, so a vector that comes back through the queue equals the one a local pool returns.
 */
import { endianness } from 'node:os';
import { ErrorCodes, InferenceError, WorkerExitedError, errorFromWire, type WarmpoolError, type WireError } from '../errors.js';
import type { Pooling } from '../types.js';

const LITTLE_ENDIAN = endianness() === 'LE';

/** The data of an `embed` job. Only options that mean the same on every machine travel. */
export interface EmbedJobData {
  texts: string[];
  /** `pooling` and `prompt` only when the caller gave them: left out, the consumer's model decides. */
  options?: { normalize?: boolean; pooling?: Pooling; truncate?: boolean; prompt?: string };
}

/** The data of an `index` job: documents to upsert into a collection of the consumer's store. */
export interface IndexJobData {
  docs: (Doc | string)[];
  collection: string;
}

/** Checks an `index` job's stored result: what `pool.index()` answered on the consumer. */
export function decodeIndexResult(value: unknown): IndexResult {
  const r = value as Partial<IndexResult> | null;
  if (!r || !Array.isArray(r.ids) || typeof r.count !== 'number') {
    throw new InferenceError(`a queue result is not an index result: ${JSON.stringify(value)?.slice(0, 120)}`);
  }
  return r as IndexResult;
}

/** The return value of an `embed` job: `dims[0]` vectors of `dims[1]` floats, row-major. */
export interface EmbedJobResult {
  dims: [number, number];
  data: string;
  /** Tokens of the job's texts (as `PackedVectors.tokens`). */
  tokens?: number;
}

/** Encodes float32 values as base64 of their little-endian bytes. */
export function encodeVectors(data: Float32Array): string {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return bytes.toString('base64');
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy.toString('base64');
}

/** Decodes base64 of little-endian float32 into a fresh, aligned `Float32Array` of `count` values. */
export function decodeVectors(base64: string, count: number): Float32Array {
  const out = new Float32Array(count);
  const bytes = Buffer.from(out.buffer);
  const written = bytes.write(base64, 'base64');
  const decodedLength = Buffer.byteLength(base64, 'base64');
  if (decodedLength !== out.byteLength || written !== out.byteLength) {
    throw new InferenceError(`a queue result holds ${decodedLength} bytes, expected ${out.byteLength} (${count} float32 values)`);
  }
  if (!LITTLE_ENDIAN) bytes.swap32();
  return out;
}

export function encodeResult(data: Float32Array, dims: [number, number], tokens: number): EmbedJobResult {
  return { dims, data: encodeVectors(data), tokens };
}

export function decodeResult(value: unknown): { data: Float32Array; dims: [number, number]; tokens: number } {
  const r = value as Partial<EmbedJobResult> | null;
  const dims = r?.dims;
  if (!r || typeof r.data !== 'string' || !Array.isArray(dims) || dims.length !== 2 || !dims.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new InferenceError(`a queue result is not an encoded vector block: ${JSON.stringify(value)?.slice(0, 120)}`);
  }
  const tokens = typeof r.tokens === 'number' ? r.tokens : 0;
  return { data: decodeVectors(r.data, dims[0] * dims[1]), dims: [dims[0], dims[1]], tokens };
}

/**
 * A failed job keeps only a message string (`failedReason`), so the error's code leads it:
 * `ERR_WARMPOOL_INVALID_INPUT: input[0] is empty ...`. It stays readable in any queue dashboard.
 */
export function wireToReason(wire: WireError): string {
  return `${wire.code}: ${wire.message}`;
}

const REASON = /^(ERR_WARMPOOL_[A-Z_]+): ([\s\S]*)$/;

/** Rebuilds the typed error from a failed job's reason; a reason BullMQ wrote itself maps to the nearest class. */
export function reasonToError(reason: string | undefined): WarmpoolError {
  const text = reason ?? 'the job failed without a reason';
  const match = REASON.exec(text);
  if (match) return errorFromWire({ code: match[1]!, message: match[2]! });
  if (/stalled more than allowable limit/i.test(text)) {
    return new WorkerExitedError(`the job's consumer died more often than the queue allows (${text})`);
  }
  return errorFromWire({ code: ErrorCodes.INFERENCE, message: text });
}
