/**
 * The Open Inference Protocol over gRPC: the service as @grpc/proto-loader makes it from the
 * generated descriptor of KServe's grpc_predict_v2.proto (grpc-predict-v2.ts), and the conversions
 * between its messages and rtinfer's tensors. Shared by the server and the load generator's gRPC
 * target, as kserve-v2.ts is for REST.
 *
 * Tensors travel either typed (`contents`, one repeated field per datatype family; FP16 has none)
 * or raw (`raw_input_contents` / `raw_output_contents`: the same little-endian bytes as REST's
 * binary extension, one entry per tensor, in order).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { RtinferError } from '../errors.js';
import { DTYPES, elementCount, type NumericArray, type TensorData, type TensorDType } from '../runtime/dtypes.js';
import { GRPC_PREDICT_V2 } from './grpc-predict-v2.js';
import { bytesToTensorData, fromV2Datatype, tensorToBytes, toV2Datatype, type V2Tensor } from './kserve-v2.js';

/** Field names as in the proto (keepCase); int64 as JS numbers; defaults filled in. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export const GRPC_SERVICE = 'inference.GRPCInferenceService';

const MESSAGES = GRPC_PREDICT_V2.nested.inference.nested;

let service: grpc.ServiceDefinition | undefined;

/**
 * The service definition (loaded once). ModelInfer's decoders leave raw contents aligned for typed
 * arrays (alignRawInPlace), so that neither end copies a tensor out of the message it came in.
 */
export function grpcServiceDefinition(): grpc.ServiceDefinition {
  if (service) return service;
  const loaded = protoLoader.fromJSON(GRPC_PREDICT_V2 as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
  const base = loaded[GRPC_SERVICE] as grpc.ServiceDefinition;
  const infer = base['ModelInfer'] as grpc.MethodDefinition<GrpcInferRequest, GrpcInferResponse>;
  const request = (message: Buffer): GrpcInferRequest => {
    const req = infer.requestDeserialize(message);
    alignRawInPlace(message, req.raw_input_contents, bytesContents(req.inputs));
    return req;
  };
  const response = (message: Buffer): GrpcInferResponse => {
    const res = infer.responseDeserialize(message);
    alignRawInPlace(message, res.raw_output_contents, bytesContents(res.outputs));
    return res;
  };
  service = {
    ...base,
    ModelInfer: {
      ...infer,
      requestDeserialize: (message: Buffer) => withValuedMaps(request, message, REQUEST_MAPS),
      responseDeserialize: (message: Buffer) => withValuedMaps(response, message, RESPONSE_MAPS),
    },
  };
  return service;
}

/** Where a message's map<string, InferParameter> fields are (field numbers), and its messages that hold more. */
interface MapFields {
  maps: readonly number[];
  nested?: Readonly<Record<number, MapFields>>;
}

const REQUEST = MESSAGES.ModelInferRequest;
const RESPONSE = MESSAGES.ModelInferResponse;
const REQUEST_MAPS: MapFields = {
  maps: [REQUEST.fields.parameters.id],
  nested: {
    [REQUEST.fields.inputs.id]: { maps: [REQUEST.nested.InferInputTensor.fields.parameters.id] },
    [REQUEST.fields.outputs.id]: { maps: [REQUEST.nested.InferRequestedOutputTensor.fields.parameters.id] },
  },
};
const RESPONSE_MAPS: MapFields = {
  maps: [RESPONSE.fields.parameters.id],
  nested: { [RESPONSE.fields.outputs.id]: { maps: [RESPONSE.nested.InferOutputTensor.fields.parameters.id] } },
};

/** A map entry's value field (protobuf encodes an entry as a message of key = 1, value = 2). */
const MAP_VALUE = 2;

/**
 * A map entry may leave its value out (proto3: the value is then its type's default, here an
 * InferParameter with no choice set, as protobuf's C++ reads it), but proto-loader's protobufjs
 * decodes the value as null and then throws a TypeError converting it ("Cannot read properties of
 * null"). Only then is the message decoded again with an empty value written into each such entry:
 * a well-formed message costs nothing more.
 */
function withValuedMaps<T>(decode: (message: Buffer) => T, message: Buffer, fields: MapFields): T {
  try {
    return decode(message);
  } catch (error) {
    const filled = error instanceof TypeError ? fillMapValues(message, fields) : undefined;
    if (!filled) throw error;
    return decode(filled);
  }
}

/**
 * `bytes` with an empty value appended to every map entry of `fields` that has none; undefined when
 * none lacks one, null when the bytes are no protobuf message.
 */
function fillMapValues(bytes: Uint8Array, fields: MapFields): Buffer | undefined | null {
  const parts: Uint8Array[] = [];
  let copied = 0;
  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    const tag = readVarint(bytes, pos);
    if (!tag) return null;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    pos = tag.next;
    if (wire === 2) {
      const len = readVarint(bytes, pos);
      if (!len || len.next + len.value > bytes.length) return null;
      const body = bytes.subarray(len.next, len.next + len.value);
      pos = len.next + len.value;
      const nested = fields.nested?.[field];
      const rewritten = fields.maps.includes(field)
        ? entryWithValue(body)
        : nested
          ? fillMapValues(body, nested)
          : undefined;
      if (rewritten === null) return null;
      if (rewritten === undefined) continue;
      const head = Buffer.alloc(varintLength(tag.value) + varintLength(rewritten.length));
      writeVarint(head, writeVarint(head, 0, tag.value), rewritten.length);
      parts.push(bytes.subarray(copied, start), head, rewritten);
      copied = pos;
    } else if (wire === 0) {
      const v = readVarint(bytes, pos);
      if (!v) return null;
      pos = v.next;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else return null;
  }
  if (pos > bytes.length) return null;
  if (parts.length === 0) return undefined;
  parts.push(bytes.subarray(copied));
  return Buffer.concat(parts);
}

/** A map entry with an empty value appended when it has none (undefined when it has one, null when it is no message). */
function entryWithValue(entry: Uint8Array): Buffer | undefined | null {
  let pos = 0;
  while (pos < entry.length) {
    const tag = readVarint(entry, pos);
    if (!tag) return null;
    if (Math.floor(tag.value / 8) === MAP_VALUE) return undefined;
    pos = tag.next;
    const wire = tag.value % 8;
    if (wire === 2 || wire === 0) {
      const v = readVarint(entry, pos);
      if (!v) return null;
      pos = v.next + (wire === 2 ? v.value : 0);
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else return null;
  }
  if (pos > entry.length) return null;
  return Buffer.concat([entry, Buffer.from([(MAP_VALUE << 3) | 2, 0])]);
}

/** Responses up to this size are written into the serializer's kept buffer; larger ones get their own. */
const REUSE_LIMIT = 8 * 1024 * 1024;

/** The raw contents' field numbers, from the official descriptor. */
export const RAW_INPUT_FIELD = MESSAGES.ModelInferRequest.fields.raw_input_contents.id;
export const RAW_OUTPUT_FIELD = MESSAGES.ModelInferResponse.fields.raw_output_contents.id;

const ID_FIELD = MESSAGES.ModelInferResponse.fields.id.id;

interface Layout {
  /** Every field but the raw outputs (and, in a kept head, the id), as the proto's serializer writes them. */
  head: Buffer;
  /** The id's bytes, written after the head when the head was kept without it. */
  id: Buffer | undefined;
  /** The whole message's. */
  size: number;
}

/**
 * A response's layout: the head encoded by the proto's own serializer, then the id where the head
 * was kept without it (protobuf readers take fields in any order), then the raw outputs, the
 * message's last field, with their numbers from the descriptor, as protobufjs would write them.
 */
function responseLayout(res: GrpcInferResponse): Layout {
  const key = headKey(res);
  let head = key === undefined ? undefined : heads.get(key);
  if (!head) {
    const infer = grpcServiceDefinition()['ModelInfer'] as grpc.MethodDefinition<GrpcInferRequest, GrpcInferResponse>;
    head = infer.responseSerialize({
      ...res,
      ...(key === undefined ? {} : { id: undefined }),
      raw_output_contents: [],
    } as GrpcInferResponse);
    if (key !== undefined) {
      if (heads.size >= MAX_HEADS) heads.clear();
      heads.set(key, head);
    }
  }
  const id = key !== undefined && res.id ? Buffer.from(res.id) : undefined;
  let size = head.length;
  if (id) size += fieldLength(ID_FIELD, id.byteLength);
  for (const r of res.raw_output_contents) size += fieldLength(RAW_OUTPUT_FIELD, r.byteLength);
  return { head, id, size };
}

/**
 * Heads of raw answers by what they hold, ids aside: a model answers with the same names,
 * datatypes and shapes again and again, and protobufjs's serializer (fromObject, then encode) took
 * ~25 µs of the HTTP thread per answer for a head of a few dozen bytes (PP-OCR classifier).
 * Bounded: cleared when full.
 */
const heads = new Map<string, Buffer>();
const MAX_HEADS = 256;

/**
 * The key of a head that can be kept (raw outputs, no parameters), else undefined. Names are
 * length-prefixed, so that no choice of names makes two different heads share a key.
 */
function headKey(res: GrpcInferResponse): string | undefined {
  if (res.parameters && Object.keys(res.parameters).length > 0) return undefined;
  let key = `${res.model_name.length}:${res.model_name}${res.model_version.length}:${res.model_version}`;
  for (const o of res.outputs) {
    if (o.contents || (o.parameters && Object.keys(o.parameters).length > 0)) return undefined;
    key += `${o.name.length}:${o.name}${o.datatype.length}:${o.datatype}[${o.shape.join(',')}]`;
  }
  return key.length <= 4096 ? key : undefined;
}

/** A length-delimited field's bytes on the wire (wire type 2): tag, length, value. */
function fieldLength(field: number, bytes: number): number {
  return varintLength((field << 3) | 2) + varintLength(bytes) + bytes;
}

function writeField(out: Buffer, pos: number, field: number, value: Uint8Array): number {
  pos = writeVarint(out, pos, (field << 3) | 2);
  pos = writeVarint(out, pos, value.byteLength);
  out.set(value, pos);
  return pos + value.byteLength;
}

function writeResponse(out: Buffer, at: number, layout: Layout, raw: readonly Uint8Array[]): void {
  let pos = at + layout.head.copy(out, at);
  if (layout.id) pos = writeField(out, pos, ID_FIELD, layout.id);
  for (const r of raw) pos = writeField(out, pos, RAW_OUTPUT_FIELD, r);
}

/**
 * A ModelInfer response serializer for the server: the message is written into a buffer it keeps
 * and reuses, not a fresh one per answer (protobufjs's writer allocates the whole message, raw
 * outputs included, and grpc-js copies it into a frame of its own at once anyway: a second
 * tensor-sized allocation per answer, 1.2 MB on yolox_nano's). A result is valid until the next
 * call (grpc-js's serializeMessage copies it before anything else runs). The server uses it only
 * where it cannot frame the answer itself (framedResponseSerializer).
 */
export function reusingResponseSerializer(): (res: GrpcInferResponse) => Buffer {
  let kept = Buffer.alloc(0);
  return (res) => {
    const layout = responseLayout(res);
    const size = layout.size;
    if (size <= REUSE_LIMIT && kept.length < size)
      kept = Buffer.allocUnsafeSlow(Math.min(REUSE_LIMIT, Math.max(size, 2 * kept.length)));
    const out = size <= REUSE_LIMIT ? kept : Buffer.allocUnsafe(size);
    writeResponse(out, 0, layout, res.raw_output_contents);
    return out.subarray(0, size);
  };
}

/**
 * A ModelInfer response as gRPC frames it (a flag byte 0, the 4-byte big-endian length, the
 * message), written in one buffer: grpc-js's own framing copies the serialized message into a
 * frame, so the raw outputs were copied twice per answer (1.2 MB each on yolox_nano); here once.
 */
export function framedResponse(res: GrpcInferResponse): Buffer {
  const layout = responseLayout(res);
  const out = Buffer.allocUnsafe(5 + layout.size);
  out[0] = 0;
  out.writeUInt32BE(layout.size, 1);
  writeResponse(out, 5, layout, res.raw_output_contents);
  return out;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

function writeVarint(out: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[pos++] = n;
  return pos;
}

/** A varint at `pos`: its value and the position after it, or undefined when `bytes` ends first. */
function readVarint(bytes: Uint8Array, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < bytes.length && i < pos + 10; i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, next: i + 1 };
    scale *= 0x80;
  }
  return undefined;
}

/**
 * Where the first entry of length-delimited field `field` starts its bytes in a message (its
 * top-level fields read from the start), or undefined when `bytes` end first, the field is not
 * there or the bytes are no protobuf: only a placement hint (MessageDecoder), never a decode.
 */
export function rawEntryOffset(bytes: Uint8Array, field: number): number | undefined {
  let pos = 0;
  while (pos < bytes.length) {
    const tag = readVarint(bytes, pos);
    if (!tag) return undefined;
    const wire = tag.value % 8;
    pos = tag.next;
    if (wire === 2) {
      const len = readVarint(bytes, pos);
      if (!len) return undefined;
      if (Math.floor(tag.value / 8) === field) return len.next;
      pos = len.next + len.value;
    } else if (wire === 0) {
      const v = readVarint(bytes, pos);
      if (!v) return undefined;
      pos = v.next;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else return undefined;
  }
  return undefined;
}

/** Raw contents are moved to offsets that are a multiple of this (every fixed-width datatype's size divides it). */
const RAW_ALIGN = 8;

/**
 * Raw contents sit wherever the protobuf layout puts them, rarely at a multiple of their element
 * size, and a typed array needs one: copying each out took a fresh tensor-sized buffer per message
 * (on yolox_nano's 2 MB input, an allocation and the garbage collections that external memory
 * brings). A decoded message's bytes are the decoder's (grpc-js and the lean client drop them once
 * decoded) and all but the views the decoded message keeps are dead, so each raw entry is moved
 * down to an aligned offset within the message, in place, never over another live view; where it
 * cannot be, it stays as it is (and is copied out later, as before).
 */
export function alignRawInPlace(message: Uint8Array, raw: Uint8Array[], pinned: readonly Uint8Array[]): void {
  if (!raw.some((v) => v.byteOffset % RAW_ALIGN !== 0)) return;
  const start = message.byteOffset;
  const end = start + message.byteLength;
  const inside = (v: Uint8Array): boolean =>
    v.byteLength > 0 && v.buffer === message.buffer && v.byteOffset >= start && v.byteOffset + v.byteLength <= end;
  const held = pinned.filter(inside);
  const order = raw.flatMap((v, i) => (inside(v) ? [i] : [])).sort((a, b) => raw[a]!.byteOffset - raw[b]!.byteOffset);
  let whole: Uint8Array | undefined;
  // Below `floor` lie the entries already placed: a move never goes there.
  let floor = start;
  for (const i of order) {
    const v = raw[i]!;
    const from = v.byteOffset;
    const to = from - (from % RAW_ALIGN);
    const free = to >= floor && !held.some((p) => p.byteOffset < from && p.byteOffset + p.byteLength > to);
    if (to === from || !free) {
      floor = Math.max(floor, from + v.byteLength);
      continue;
    }
    whole ??= new Uint8Array(message.buffer, start, message.byteLength);
    whole.copyWithin(to - start, from - start, from - start + v.byteLength);
    raw[i] = whole.subarray(to - start, to - start + v.byteLength);
    floor = to + v.byteLength;
  }
}

/** The typed BYTES contents of decoded tensors: views on the message too. */
function bytesContents(tensors: readonly GrpcTensor[]): Uint8Array[] {
  return tensors.flatMap((t) => t.contents?.bytes_contents ?? []);
}

// ---- messages as proto-loader gives and takes them ----

export interface InferParameter {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param';
}

export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export interface GrpcTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, InferParameter>;
  contents?: TensorContents | null;
}

export interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: GrpcTensor[];
  outputs: Array<{ name: string; parameters?: Record<string, InferParameter> }>;
  raw_input_contents: Uint8Array[];
}

export interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, InferParameter>;
  outputs: GrpcTensor[];
  raw_output_contents: Uint8Array[];
}

function bad(message: string): RtinferError {
  return new RtinferError('RTI_ERR_INPUT_DATA', message);
}

/**
 * Plain values from a parameter map (the oneof's chosen field). A parameter with none chosen (an
 * empty InferParameter, or an entry that left its value out) is refused by name, as Triton refuses
 * it ("invalid value type for '<key>' parameter"): a value the client meant to send is missing.
 */
export function fromGrpcParameters(
  params: Readonly<Record<string, InferParameter>> | undefined,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, p] of Object.entries(params ?? {})) {
    const choice = p.parameter_choice;
    if (choice === 'bool_param') out[k] = p.bool_param ?? false;
    else if (choice === 'int64_param') out[k] = Number(p.int64_param ?? 0);
    else if (choice === 'string_param') out[k] = p.string_param ?? '';
    else throw bad(`parameter '${k}' has no value: set bool_param, int64_param or string_param`);
  }
  return out;
}

export function toGrpcParameters(
  params: Readonly<Record<string, string | number | boolean | undefined>>,
): Record<string, InferParameter> {
  const out: Record<string, InferParameter> = {};
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'number') out[k] = { int64_param: Math.trunc(v) };
    else if (typeof v === 'string') out[k] = { string_param: v };
  }
  return out;
}

/** The typed-contents field a datatype travels in (FP16 has none: raw only). */
function contentsField(type: TensorDType): keyof TensorContents | undefined {
  switch (type) {
    case 'bool':
      return 'bool_contents';
    case 'int8':
    case 'int16':
    case 'int32':
      return 'int_contents';
    case 'int64':
      return 'int64_contents';
    case 'uint8':
    case 'uint16':
    case 'uint32':
      return 'uint_contents';
    case 'uint64':
      return 'uint64_contents';
    case 'float32':
      return 'fp32_contents';
    case 'float64':
      return 'fp64_contents';
    case 'string':
      return 'bytes_contents';
    default:
      return undefined;
  }
}

function checkedDims(shape: readonly unknown[], what: string): number[] {
  const dims = shape.map(Number);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw bad(`${what}: shape [${shape.join(',')}] must be non-negative integers`);
  return dims;
}

/**
 * A request's or response's tensors: from `raw` when it has entries (then every tensor must have
 * one, as the protocol says, and no typed values: Triton refuses a tensor given both ways), else
 * from each tensor's typed `contents`.
 */
export function fromGrpcTensors(
  tensors: readonly GrpcTensor[],
  raw: readonly Uint8Array[],
  field: 'inputs' | 'outputs',
): V2Tensor[] {
  if (raw.length > 0 && raw.length !== tensors.length)
    throw bad(
      `raw_${field === 'inputs' ? 'input' : 'output'}_contents has ${raw.length} entries for ${tensors.length} ` +
        `${field}: with raw contents every tensor needs one`,
    );
  return tensors.map((t, i) => {
    const what = `${field}[${i}] '${t.name}'`;
    const type = fromV2Datatype(t.datatype);
    if (!type) throw bad(`${what}: unknown datatype '${t.datatype}'`);
    const dims = checkedDims(t.shape, what);
    const bytes = raw[i];
    if (bytes && hasValues(t.contents))
      throw bad(
        `${what}: given both in raw_${field === 'inputs' ? 'input' : 'output'}_contents and in contents: send one`,
      );
    if (bytes) return { name: t.name, type, dims, data: bytesToTensorData(type, dims, bytes, what) };
    return { name: t.name, type, dims, data: fromContents(type, dims, t.contents ?? {}, what) };
  });
}

/** Typed contents that hold a value (an empty contents message is no second source). */
function hasValues(contents: TensorContents | null | undefined): boolean {
  if (!contents) return false;
  for (const v of Object.values(contents)) if (Array.isArray(v) && v.length > 0) return true;
  return false;
}

function fromContents(type: TensorDType, dims: readonly number[], contents: TensorContents, what: string): TensorData {
  const key = contentsField(type);
  if (!key)
    throw bad(`${what}: ${toV2Datatype(type)} has no typed contents in the protocol: send it in raw_input_contents`);
  const values = (contents[key] ?? []) as unknown[];
  const n = elementCount(dims);
  if (values.length !== n)
    throw bad(`${what}: ${values.length} values in contents.${key}, shape [${dims.join(',')}] needs ${n}`);
  if (type === 'string')
    return (values as Uint8Array[]).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
  const out = DTYPES[type].create(n) as NumericArray;
  if (type === 'int64' || type === 'uint64') {
    const big = out as BigInt64Array;
    for (let j = 0; j < n; j++) big[j] = BigInt(Math.trunc(Number(values[j])));
  } else if (type === 'bool') {
    for (let j = 0; j < n; j++) (out as Uint8Array)[j] = values[j] ? 1 : 0;
  } else {
    (out as Float32Array).set(values as number[]);
  }
  return out;
}

function toContents(t: V2Tensor): TensorContents {
  const key = contentsField(t.type);
  if (!key) throw bad(`${t.name}: ${toV2Datatype(t.type)} has no typed contents in the protocol`);
  if (t.type === 'string') return { bytes_contents: (t.data as string[]).map((s) => Buffer.from(s, 'utf8')) };
  const a = t.data as NumericArray;
  if (t.type === 'int64' || t.type === 'uint64') return { [key]: Array.from(a as BigInt64Array, Number) };
  if (t.type === 'bool') return { bool_contents: Array.from(a as Uint8Array, (v) => v !== 0) };
  return { [key]: Array.from(a as Float32Array) };
}

/** Tensors as the protocol carries them: raw bytes (one entry each) or typed contents (FP16 always raw). */
export function toGrpcTensors(
  tensors: readonly V2Tensor[],
  raw: boolean,
): { tensors: GrpcTensor[]; raw: Uint8Array[] } {
  const useRaw = raw || tensors.some((t) => contentsField(t.type) === undefined);
  return {
    tensors: tensors.map((t) => ({
      name: t.name,
      datatype: toV2Datatype(t.type),
      shape: t.dims,
      ...(useRaw ? {} : { contents: toContents(t) }),
    })),
    raw: useRaw ? tensors.map((t) => tensorToBytes(t)) : [],
  };
}

/** A ModelInferRequest from its message's bytes (no frame prefix), raw contents aligned in place, as the service decodes it. */
export function decodeInferRequest(message: Buffer): GrpcInferRequest {
  const infer = grpcServiceDefinition()['ModelInfer'] as grpc.MethodDefinition<GrpcInferRequest, GrpcInferResponse>;
  return infer.requestDeserialize(message);
}
