/**
 * The binary record format shared by the write-ahead log and snapshots.
 *
 * Frame: `u32 payloadLength | u32 ~payloadLength | u32 crc32(payload) | payload` (little-endian).
 * The length's complement tells a damaged length field (corruption) from a record cut short by a
 * crash (a torn write at the tail).
 * Payload: `u8 op | f64 seq | ...` where the rest depends on the op:
 *   upsert: `u32 idLen id | u32 textLen text | u32 metaLen metaJson | u32 dims | f32 x dims`
 *   delete: `u32 idLen id`
 *   header: `u32 jsonLen json` (snapshots only: what the snapshot covers)
 *   end:    `u32 count` (snapshots only: written last, so a snapshot without it is incomplete)
 *
 * `metaLen` 0xffffffff means "no metadata".
 */
import { crc32 } from 'node:zlib';

export const Op = { upsert: 1, delete: 2, header: 3, end: 4 } as const;

const FRAME = 12;
const NO_META = 0xffffffff;
/** A frame longer than this is not a frame: the length field itself is damaged. */
const MAX_PAYLOAD = 1 << 30;

export interface UpsertRecord {
  op: typeof Op.upsert;
  seq: number;
  id: string;
  text: string;
  metadata: string | undefined;
  vector: Float32Array;
}
export interface DeleteRecord {
  op: typeof Op.delete;
  seq: number;
  id: string;
}
export interface HeaderRecord {
  op: typeof Op.header;
  seq: number;
  json: string;
}
export interface EndRecord {
  op: typeof Op.end;
  seq: number;
  count: number;
}
export type LogRecord = UpsertRecord | DeleteRecord | HeaderRecord | EndRecord;

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(~payload.length >>> 0, 4);
  out.writeUInt32LE(crc32(payload), 8);
  payload.copy(out, FRAME);
  return out;
}

function head(op: number, seq: number, rest: number): { buf: Buffer; at: number } {
  const buf = Buffer.allocUnsafe(9 + rest);
  buf.writeUInt8(op, 0);
  buf.writeDoubleLE(seq, 1);
  return { buf, at: 9 };
}

export function encodeUpsert(seq: number, id: string, text: string, metadata: string | undefined, vector: Float32Array): Buffer {
  const idB = Buffer.from(id, 'utf8');
  const textB = Buffer.from(text, 'utf8');
  const metaB = metadata === undefined ? undefined : Buffer.from(metadata, 'utf8');
  const { buf, at } = head(Op.upsert, seq, 16 + idB.length + textB.length + (metaB?.length ?? 0) + vector.byteLength);
  let o = at;
  o = buf.writeUInt32LE(idB.length, o);
  o += idB.copy(buf, o);
  o = buf.writeUInt32LE(textB.length, o);
  o += textB.copy(buf, o);
  o = buf.writeUInt32LE(metaB ? metaB.length : NO_META, o);
  if (metaB) o += metaB.copy(buf, o);
  o = buf.writeUInt32LE(vector.length, o);
  Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(buf, o);
  return frame(buf);
}

/** A record whose body is one length-prefixed UTF-8 string. */
function encodeText(op: number, seq: number, text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const { buf, at } = head(op, seq, 4 + bytes.length);
  buf.writeUInt32LE(bytes.length, at);
  bytes.copy(buf, at + 4);
  return frame(buf);
}

export function encodeDelete(seq: number, id: string): Buffer {
  return encodeText(Op.delete, seq, id);
}

export function encodeHeader(seq: number, json: string): Buffer {
  return encodeText(Op.header, seq, json);
}

export function encodeEnd(seq: number, count: number): Buffer {
  const { buf, at } = head(Op.end, seq, 4);
  buf.writeUInt32LE(count, at);
  return frame(buf);
}

function decodePayload(p: Buffer): LogRecord {
  const op = p.readUInt8(0);
  const seq = p.readDoubleLE(1);
  let o = 9;
  const str = (): string => {
    const len = p.readUInt32LE(o);
    o += 4;
    if (o + len > p.length) throw new RangeError('string runs past the record');
    const s = p.toString('utf8', o, o + len);
    o += len;
    return s;
  };
  switch (op) {
    case Op.upsert: {
      const id = str();
      const text = str();
      const metaLen = p.readUInt32LE(o);
      let metadata: string | undefined;
      if (metaLen === NO_META) o += 4;
      else metadata = str();
      const dims = p.readUInt32LE(o);
      o += 4;
      if (o + dims * 4 !== p.length) throw new RangeError('vector length does not match the record');
      // Copy into its own aligned buffer: the payload offset is not a multiple of 4.
      const vector = new Float32Array(dims);
      Buffer.from(vector.buffer).set(p.subarray(o, o + dims * 4));
      return { op, seq, id, text, metadata, vector };
    }
    case Op.delete:
      return { op, seq, id: str() };
    case Op.header:
      return { op, seq, json: str() };
    case Op.end:
      return { op, seq, count: p.readUInt32LE(o) };
    default:
      throw new RangeError(`unknown record type ${op}`);
  }
}

export interface DecodeResult {
  records: LogRecord[];
  /** Bytes of whole, valid records from the start. */
  validLength: number;
  /** Why decoding stopped before the end, if it did. */
  problem?: { offset: number; reason: string; atTail: boolean };
}

/**
 * Decodes frames until the end, the first bad one, or the zeros of a log segment's unused,
 * allocated space (only zeros from there on: the records end). A bad frame is `atTail` when it
 * could be a write cut short by a crash: it runs past the end of the file, or nothing but zeros
 * (or nothing) follows the place where it should end.
 */
export function decodeRecords(buf: Buffer): DecodeResult {
  const records: LogRecord[] = [];
  let o = 0;
  while (o < buf.length) {
    const stop = (reason: string, end: number): DecodeResult => ({
      records,
      validLength: o,
      problem: { offset: o, reason, atTail: end >= buf.length || allZero(buf, Math.max(end, o)) },
    });
    if (buf[o] === 0 && allZero(buf, o)) break;
    if (buf.length - o < FRAME) return stop('a frame header cut short', buf.length);
    const len = buf.readUInt32LE(o);
    // A header torn by a crash, with zeros after it, is a torn write too.
    if (buf.readUInt32LE(o + 4) !== (~len >>> 0) || len > MAX_PAYLOAD || len < 9) return stop(`a damaged record header (length ${len})`, o + FRAME);
    const end = o + FRAME + len;
    if (end > buf.length) return stop('a record cut short', buf.length);
    const payload = buf.subarray(o + FRAME, end);
    if (crc32(payload) !== buf.readUInt32LE(o + 8)) return stop('a checksum mismatch', end);
    try {
      records.push(decodePayload(payload));
    } catch (error) {
      return stop(`a malformed record (${(error as Error).message})`, end);
    }
    o = end;
  }
  return { records, validLength: o };
}

/** Whether every byte from `from` on is zero. */
export function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
