/**
 * Reads graph initializers back out of an ONNX file. check-models.ts uses it to
 * compute reference embeddings from the exact table the graph gathers from,
 * which also exercises onnx-writer.ts's encoding from the other side.
 */
import { readFileSync } from 'node:fs';
import { DataType, fromFloat16Bits } from './onnx-writer.js';

interface Field {
  field: number;
  wire: number;
  /** Varint / fixed32 value, or the payload of a length-delimited field. */
  value: number | Uint8Array;
}

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error('truncated varint');
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      yield { field, wire, value: varint() };
    } else if (wire === 2) {
      const len = varint();
      yield { field, wire, value: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 5) {
      yield { field, wire, value: buf.subarray(pos, pos + 4) };
      pos += 4;
    } else if (wire === 1) {
      yield { field, wire, value: buf.subarray(pos, pos + 8) };
      pos += 8;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

function payload(f: Field): Uint8Array {
  if (typeof f.value === 'number') throw new Error(`field ${f.field} is not length-delimited`);
  return f.value;
}

export interface StoredTensor {
  dims: number[];
  /** Values widened to float32 (float16, float32 and int8 tables). */
  data: Float32Array;
}

function decodeTensor(buf: Uint8Array): { name: string; tensor: StoredTensor } {
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array = new Uint8Array(0);
  for (const f of fields(buf)) {
    if (f.field === 1) dims.push(f.value as number);
    else if (f.field === 2) dataType = f.value as number;
    else if (f.field === 8) name = new TextDecoder().decode(payload(f));
    else if (f.field === 9) raw = payload(f);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let data: Float32Array;
  if (dataType === DataType.FLOAT) {
    data = new Float32Array(raw.length / 4);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  } else if (dataType === DataType.FLOAT16) {
    data = new Float32Array(raw.length / 2);
    for (let i = 0; i < data.length; i++) data[i] = fromFloat16Bits(view.getUint16(i * 2, true));
  } else if (dataType === DataType.INT8) {
    data = Float32Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength));
  } else {
    data = new Float32Array(0); // Only float and int8 tables are needed by the checks.
  }
  return { name, tensor: { dims, data } };
}

/** Returns the float initializers of the model's main graph, by name. */
export function readInitializers(path: string): Map<string, StoredTensor> {
  const model = readFileSync(path);
  const out = new Map<string, StoredTensor>();
  for (const f of fields(model)) {
    if (f.field !== 7) continue; // ModelProto.graph
    for (const g of fields(payload(f))) {
      if (g.field !== 5) continue; // GraphProto.initializer
      const { name, tensor } = decodeTensor(payload(g));
      out.set(name, tensor);
    }
  }
  return out;
}
