/**
 * A minimal ONNX writer: just enough protobuf encoding to emit ModelProto files
 * for the graphs in this folder, without pulling in a protobuf dependency.
 *
 * Field numbers follow onnx/onnx.proto (proto2). Repeated scalar fields such as
 * TensorProto.dims and AttributeProto.ints are declared without [packed = true]
 * there, so they are written unpacked (one tag per element).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { toHalf } from '../src/collections/quantize.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT8: 3, INT64: 7, FLOAT16: 10 } as const;
export type DataTypeValue = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, FLOATS: 6, INTS: 7 } as const;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/**
 * Accumulates a message as a list of chunks so that large tensors (raw_data)
 * are referenced rather than copied while nesting messages.
 */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private pending: number[] = [];
  length = 0;

  private byte(b: number): void {
    this.pending.push(b);
    this.length += 1;
  }

  private flush(): void {
    if (this.pending.length > 0) {
      this.chunks.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  private append(data: Uint8Array): void {
    this.flush();
    this.chunks.push(data);
    this.length += data.length;
  }

  varint(value: number | bigint): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, value, true);
    for (const b of buf) this.byte(b);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.append(data);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, sub: ProtoWriter): void {
    this.tag(field, WIRE_LEN);
    this.varint(sub.length);
    this.flush();
    this.chunks.push(...sub.finish());
    this.length += sub.length;
  }

  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

export interface Tensor {
  name: string;
  dataType: DataTypeValue;
  dims: readonly number[];
  /** Little-endian element bytes in row-major order. */
  raw: Uint8Array;
}

export type Attribute =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'ints'; value: readonly number[] }
  | { name: string; kind: 'floats'; value: readonly number[] };

export interface Node {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  attributes?: readonly Attribute[];
}

/** A graph input/output: a tensor whose dims are fixed sizes or symbolic names. */
export interface ValueInfo {
  name: string;
  elemType: DataTypeValue;
  shape: readonly (number | string)[];
}

export interface Graph {
  name: string;
  nodes: readonly Node[];
  initializers: readonly Tensor[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
}

function encodeTensor(t: Tensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
  return w;
}

function encodeAttribute(a: Attribute): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, a.name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      w.int(20, AttributeType.FLOAT);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, AttributeType.INT);
      break;
    case 'floats':
      for (const v of a.value) w.float(7, v);
      w.int(20, AttributeType.FLOATS);
      break;
    case 'ints':
      for (const v of a.value) w.int(8, v);
      w.int(20, AttributeType.INTS);
      break;
  }
  return w;
}

function encodeNode(n: Node): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name !== undefined) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, encodeAttribute(a));
  return w;
}

function encodeValueInfo(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter();
  tensorType.int(1, v.elemType);
  tensorType.message(2, shape);
  const type = new ProtoWriter();
  type.message(1, tensorType);

  const w = new ProtoWriter();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

function encodeGraph(g: Graph): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  for (const i of g.inputs) w.message(11, encodeValueInfo(i));
  for (const o of g.outputs) w.message(12, encodeValueInfo(o));
  return w;
}

/** Encodes a ModelProto (IR version 8, default-domain opset 17) as byte chunks. */
export function encodeModel(graph: Graph): Uint8Array[] {
  const opset = new ProtoWriter();
  opset.string(1, '');
  opset.int(2, 17);

  const model = new ProtoWriter();
  model.int(1, 8);
  model.string(2, 'warmpool');
  model.message(7, encodeGraph(graph));
  model.message(8, opset);
  return model.finish();
}

/** Writes the model chunk by chunk, so a 90 MB model is never concatenated in memory. */
export function writeModel(path: string, graph: Graph): number {
  const fd = openSync(path, 'w');
  let total = 0;
  try {
    for (const chunk of encodeModel(graph)) {
      writeSync(fd, chunk);
      total += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

// ---------------------------------------------------------------------------
// Tensor helpers

export function floatTensor(name: string, dims: readonly number[], data: Float32Array): Tensor {
  return { name, dataType: DataType.FLOAT, dims, raw: littleEndianBytes(data) };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): Tensor {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return { name, dataType: DataType.INT64, dims, raw: littleEndianBytes(data) };
}

export function int8Tensor(name: string, dims: readonly number[], data: Int8Array): Tensor {
  return { name, dataType: DataType.INT8, dims, raw: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A float16 tensor from raw half-precision bit patterns. */
export function float16BitsTensor(name: string, dims: readonly number[], bits: Uint16Array): Tensor {
  return { name, dataType: DataType.FLOAT16, dims, raw: littleEndianBytes(bits) };
}

export function float16Tensor(name: string, dims: readonly number[], data: Float32Array): Tensor {
  const bits = Uint16Array.from(data, toFloat16Bits);
  return { name, dataType: DataType.FLOAT16, dims, raw: littleEndianBytes(bits) };
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndianBytes(data: Float32Array | BigInt64Array | Uint16Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (isLittleEndian) return bytes;
  const swapped = new Uint8Array(bytes.length);
  const width = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += width) {
    for (let j = 0; j < width; j++) swapped[i + j] = bytes[i + width - 1 - j] ?? 0;
  }
  return swapped;
}

// ---------------------------------------------------------------------------
// IEEE 754 half precision (Node 20 has no Float16Array).

/** float32 -> float16 bits, round to nearest even, like a hardware conversion (the collections' own converter). */
export const toFloat16Bits: (value: number) => number = toHalf;

export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------
// Graph construction

/** Collects nodes and initializers, naming intermediate values uniquely. */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  private counter = 0;

  initializer(t: Tensor): string {
    this.initializers.push(t);
    return t.name;
  }

  /** Adds a node with one output and returns that output's name. */
  op(opType: string, inputs: readonly string[], attributes: readonly Attribute[] = [], output?: string): string {
    const id = this.counter++;
    const out = output ?? `${opType.toLowerCase()}_${id}`;
    this.nodes.push({ opType, inputs, outputs: [out], name: `${opType}_${id}`, attributes });
    return out;
  }

  build(name: string, inputs: readonly ValueInfo[], outputs: readonly ValueInfo[]): Graph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }
}

export const int = (name: string, value: number): Attribute => ({ name, kind: 'int', value });
export const float = (name: string, value: number): Attribute => ({ name, kind: 'float', value });
export const ints = (name: string, value: readonly number[]): Attribute => ({ name, kind: 'ints', value });
