/**
 * The KServe v2 / Open Inference Protocol over HTTP/REST, with the binary tensor data extension
 * (https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol): tensor
 * datatypes, inference requests and responses in JSON or JSON + binary, and model metadata.
 * Shared by the load generator's HTTP target and rtinfer's server.
 *
 * Binary layout: the JSON object comes first, its byte length in the `Inference-Header-Content-Length`
 * header; each binary tensor follows in order, little-endian, row-major, sized by its
 * `binary_data_size` parameter. BOOL is one byte per element, BYTES a 4-byte length then the bytes.
 */
import { RtinferError, firstLine } from '../errors.js';
import { DTYPES, elementCount, type NumericArray, type TensorData, type TensorDType } from '../runtime/dtypes.js';
import { fromFloat16Bits, toFloat16Bits } from '../runtime/float16.js';
import type { Dim, TensorSpec } from '../runtime/session.js';

export const HEADER_LENGTH = 'inference-header-content-length';

const TO_V2: Readonly<Record<TensorDType, string>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};
const FROM_V2: Readonly<Record<string, TensorDType>> = Object.fromEntries(
  Object.entries(TO_V2).map(([k, v]) => [v, k as TensorDType]),
);

export function toV2Datatype(dtype: TensorDType): string {
  return TO_V2[dtype];
}

export function fromV2Datatype(datatype: string): TensorDType | undefined {
  return FROM_V2[datatype];
}

export interface V2Tensor {
  name: string;
  type: TensorDType;
  dims: number[];
  data: TensorData;
}

export interface V2Parameters {
  [key: string]: string | number | boolean | undefined;
}

export interface EncodedMessage {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * A message as the pieces that follow one another on the wire (the JSON head, then each binary
 * tensor as a view of its data), for a writer that sends them without joining them into one buffer.
 */
export interface EncodedParts {
  parts: Buffer[];
  headers: Record<string, string>;
}

function bad(message: string): RtinferError {
  return new RtinferError('RTI_ERR_INPUT_DATA', message);
}

// ---- tensor <-> bytes ----

export function tensorToBytes(t: Pick<V2Tensor, 'type' | 'data'>): Buffer {
  if (t.type === 'string') {
    const parts: Buffer[] = [];
    for (const s of t.data as string[]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length, 0);
      parts.push(len, b);
    }
    return Buffer.concat(parts);
  }
  const a = t.data as NumericArray;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export function bytesToTensorData(
  type: TensorDType,
  dims: readonly number[],
  bytes: Uint8Array,
  what: string,
): TensorData {
  const n = elementCount(dims);
  if (type === 'string') {
    const out: string[] = [];
    let off = 0;
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (off < view.length) {
      if (off + 4 > view.length) throw bad(`${what}: truncated BYTES element`);
      const len = view.readUInt32LE(off);
      off += 4;
      if (off + len > view.length) throw bad(`${what}: truncated BYTES element`);
      out.push(view.toString('utf8', off, off + len));
      off += len;
    }
    if (out.length !== n) throw bad(`${what}: ${out.length} BYTES elements, shape [${dims.join(',')}] needs ${n}`);
    return out;
  }
  const spec = DTYPES[type];
  if (bytes.length !== n * spec.bytes)
    throw bad(`${what}: ${bytes.length} bytes, ${toV2Datatype(type)} [${dims.join(',')}] needs ${n * spec.bytes}`);
  // A typed array needs its element alignment: view the body in place when it allows (the server
  // lays bodies out so that it usually does), copy otherwise.
  if (bytes.byteOffset % spec.bytes === 0) return spec.fromBytes(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  const own = new Uint8Array(bytes.length);
  own.set(bytes);
  return spec.fromBytes(own.buffer, 0, n);
}

/** Deeper nesting than any tensor has: beyond it `data` is refused rather than walked. */
const MAX_DATA_DEPTH = 32;

/** Nested arrays in order, without recursion (a client's nesting must not reach the stack's limit). */
function flatten(data: unknown, limit: number, what: string): unknown[] {
  const out: unknown[] = [];
  walkLeaves(data, what, (v) => {
    // More values than the shape needs: stop early instead of flattening all of them.
    if (out.length > limit) throw bad(`${what}: more values than the shape needs (${limit})`);
    out.push(v);
  });
  return out;
}

/** Calls `leaf` with each non-array value of `data` (flat or nested) in order, without recursion. */
function walkLeaves(data: unknown, what: string, leaf: (v: unknown) => void): void {
  const lists: unknown[][] = [];
  const at: number[] = [];
  let list: unknown[] = [data];
  let i = 0;
  for (;;) {
    if (i >= list.length) {
      const up = lists.pop();
      if (!up) return;
      list = up;
      i = at.pop()!;
      continue;
    }
    const v = list[i++];
    if (Array.isArray(v)) {
      if (lists.length >= MAX_DATA_DEPTH) throw bad(`${what}: data is nested more than ${MAX_DATA_DEPTH} levels deep`);
      lists.push(list);
      at.push(i);
      list = v;
      i = 0;
    } else leaf(v);
  }
}

/**
 * Numbers of JSON `data` (flat or nested) written straight into `arr`, each checked: no
 * intermediate array of every value (flattening one first took as long as JSON.parse itself).
 * Returns how many values there were.
 */
function fillNumbers(type: TensorDType, data: unknown, arr: NumericArray, what: string): number {
  const n = arr.length;
  let k = 0;
  const put = (v: unknown): void => {
    if (k >= n) throw bad(`${what}: more values than the shape needs (${n})`);
    if (type === 'bool') {
      if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw bad(`${what}: BOOL data must be true/false`);
      (arr as Uint8Array)[k] = v === true || v === 1 ? 1 : 0;
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw bad(`${what}: element ${k} is not a number`);
    } else if (type === 'int64' || type === 'uint64') {
      (arr as BigInt64Array)[k] = BigInt(Math.trunc(v));
    } else if (type === 'float16') {
      (arr as Uint16Array)[k] = toFloat16Bits(v);
    } else {
      (arr as Float32Array)[k] = v;
    }
    k++;
  };
  // The common case, a flat list of numbers (bool and 64-bit types take the general walk).
  if (Array.isArray(data) && (type === 'float32' || type === 'float64' || type === 'int32' || type === 'uint8')) {
    const flat = data as unknown[];
    const len = Math.min(flat.length, n);
    for (; k < len; k++) {
      const v = flat[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) break;
      (arr as Float32Array)[k] = v;
    }
    if (k === flat.length) return k;
    // Nested, or a value to refuse: the walk below starts over and says which.
    k = 0;
  }
  walkLeaves(data, what, put);
  return k;
}

/** JSON `data` (flat or nested) into typed tensor data, checking every element's type. */
function jsonToTensorData(
  type: TensorDType,
  dims: readonly number[],
  data: unknown,
  what: string,
  jsonBytes: number,
): TensorData {
  const n = elementCount(dims);
  // Every JSON value takes a byte of the header at least: a shape that needs more values cannot be
  // filled, and is refused before its array is allocated (an 80-byte header asked for 4.8 GB).
  if (n > jsonBytes)
    throw bad(`${what}: shape [${dims.join(',')}] needs ${n} values, more than a ${jsonBytes}-byte JSON header holds`);
  if (type === 'string') {
    const flat = flatten(data, n, what);
    if (flat.length !== n) throw bad(`${what}: ${flat.length} values, shape [${dims.join(',')}] needs ${n}`);
    if (!flat.every((v) => typeof v === 'string')) throw bad(`${what}: BYTES data must be strings`);
    return flat as string[];
  }
  const arr = DTYPES[type].create(n) as NumericArray;
  const count = fillNumbers(type, data, arr, what);
  if (count !== n) throw bad(`${what}: ${count} values, shape [${dims.join(',')}] needs ${n}`);
  return arr;
}

/**
 * A tensor's values as JSON numbers. JSON has no NaN or Infinity (JSON.stringify writes null), so a
 * float tensor holding one is refused, naming it, rather than sent with its values changed.
 */
function tensorDataToJson(
  name: string,
  type: TensorDType,
  data: TensorData,
  hint: string,
): Array<number | boolean | string> {
  if (type === 'string') return data as string[];
  if (type === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (type === 'int64' || type === 'uint64') return Array.from(data as BigInt64Array, Number);
  const values =
    type === 'float16' ? Array.from(data as Uint16Array, fromFloat16Bits) : Array.from(data as Float32Array);
  if (type === 'float16' || type === 'float32' || type === 'float64') {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new RtinferError(
          'RTI_ERR_INPUT_DATA',
          `tensor '${name}' holds ${values[i]} at index ${i}, which JSON cannot carry: ${hint}`,
        );
      }
    }
  }
  return values;
}

// ---- messages ----

interface JsonTensor {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown;
  parameters?: V2Parameters;
}

function encodeParts(json: Record<string, unknown>, binaries: Buffer[]): EncodedParts {
  const head = Buffer.from(JSON.stringify(json), 'utf8');
  if (binaries.length === 0) return { parts: [head], headers: { 'content-type': 'application/json' } };
  return {
    parts: [head, ...binaries],
    headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(head.length) },
  };
}

function joined({ parts, headers }: EncodedParts): EncodedMessage {
  return { body: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts), headers };
}

function encodeMessage(json: Record<string, unknown>, binaries: Buffer[]): EncodedMessage {
  return joined(encodeParts(json, binaries));
}

/** The message's own levels (object, inputs, a tensor, parameters) above the deepest `data`. */
const MAX_JSON_DEPTH = MAX_DATA_DEPTH + 8;

/**
 * One pass over a JSON text's bytes, before JSON.parse: whether it nests objects or arrays deeper
 * than `limit` (strings skipped; JSON.parse spends long on deep nesting: 138 ms for 100,000 levels
 * in 200 KB here, a CPU a client could make the server spend per request), and whether it is all
 * ASCII, which reads as Latin-1: a one-byte string made without UTF-8 decoding (that decoding took
 * a sixth of a large JSON request's decode time).
 */
function scanJson(body: Uint8Array, end: number, limit: number): 'too deep' | 'ascii' | 'utf8' {
  let depth = 0;
  let inString = false;
  let high = 0;
  for (let i = 0; i < end; i++) {
    const c = body[i]!;
    high |= c;
    if (inString) {
      // A backslash: the next byte is escaped.
      if (c === 0x5c) high |= body[++i] ?? 0;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return 'too deep';
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return high < 0x80 ? 'ascii' : 'utf8';
}

/** Splits a body into its JSON object and the binary section after it. */
function splitBody(
  body: Buffer,
  headerLength: string | undefined,
  parsed?: Record<string, unknown>,
): { json: Record<string, unknown>; binary: Buffer; jsonBytes: number } {
  let jsonLen = body.length;
  if (headerLength !== undefined) {
    jsonLen = Number(headerLength);
    if (!Number.isInteger(jsonLen) || jsonLen < 0 || jsonLen > body.length) {
      throw bad(`invalid Inference-Header-Content-Length ${headerLength} for a body of ${body.length} bytes`);
    }
  }
  return { json: parsed ?? parseJsonHeader(body, jsonLen), binary: body.subarray(jsonLen), jsonBytes: jsonLen };
}

/**
 * The JSON object in a message's first `jsonLen` bytes, its nesting checked before JSON.parse; throws
 * a 400-kind error otherwise. Also what a server reads from a binary request's header before the
 * rest of the body has arrived.
 */
export function parseJsonHeader(body: Buffer, jsonLen: number): Record<string, unknown> {
  const text = scanJson(body, jsonLen, MAX_JSON_DEPTH);
  if (text === 'too deep') throw bad(`the JSON header nests deeper than ${MAX_JSON_DEPTH} levels`);
  let json: unknown;
  try {
    json = JSON.parse(body.toString(text === 'ascii' ? 'latin1' : 'utf8', 0, jsonLen));
  } catch (error) {
    throw bad(`the JSON header is not valid JSON (${firstLine(error)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad('the JSON header must be an object');
  return json as Record<string, unknown>;
}

/** Reads `inputs` or `outputs` tensors of a message, taking binary ones from `binary` in order. */
function readTensors(list: unknown, binary: Buffer, field: 'inputs' | 'outputs', jsonBytes: number): V2Tensor[] {
  if (!Array.isArray(list)) throw bad(`'${field}' must be an array`);
  let offset = 0;
  const tensors = list.map((raw, i) => {
    const t = raw as Partial<JsonTensor> | null;
    const where = `${field}[${i}]`;
    if (t === null || typeof t !== 'object') throw bad(`${where} must be an object`);
    if (typeof t.name !== 'string' || t.name === '') throw bad(`${where}.name must be a non-empty string`);
    const type = typeof t.datatype === 'string' ? fromV2Datatype(t.datatype) : undefined;
    if (type === undefined)
      throw bad(`${where}.datatype '${String(t.datatype)}' is not a v2 datatype (${Object.values(TO_V2).join(', ')})`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isInteger(d) || d < 0))
      throw bad(`${where}.shape must be an array of non-negative integers`);
    const dims = t.shape;
    const size = t.parameters?.['binary_data_size'];
    let data: TensorData;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0)
        throw bad(`${where}.parameters.binary_data_size must be a non-negative integer`);
      // Which would the client mean? Triton refuses both too.
      if (t.data !== undefined) throw bad(`${where} '${t.name}' has both data and parameters.binary_data_size`);
      if (offset + size > binary.length) throw bad(`${where}: binary_data_size ${size} runs past the end of the body`);
      data = bytesToTensorData(type, dims, binary.subarray(offset, offset + size), `${where} '${t.name}'`);
      offset += size;
    } else {
      if (t.data === undefined) throw bad(`${where} '${t.name}' has neither data nor parameters.binary_data_size`);
      data = jsonToTensorData(type, dims, t.data, `${where} '${t.name}'`, jsonBytes);
    }
    return { name: t.name, type, dims, data };
  });
  if (offset !== binary.length)
    throw bad(`${binary.length - offset} bytes after the declared binary tensors (binary_data_size covers ${offset})`);
  return tensors;
}

export interface InferRequestOptions {
  /** Send inputs as binary (default true). */
  binaryInputs?: boolean;
  /** Ask for binary outputs (default true). */
  binaryOutputs?: boolean;
  id?: string;
  parameters?: V2Parameters;
}

export function encodeInferRequest(inputs: readonly V2Tensor[], options: InferRequestOptions = {}): EncodedMessage {
  const binaryIn = options.binaryInputs ?? true;
  const binaries: Buffer[] = [];
  const jsonInputs: JsonTensor[] = inputs.map((t) => {
    const base = { name: t.name, datatype: toV2Datatype(t.type), shape: [...t.dims] };
    if (!binaryIn) return { ...base, data: tensorDataToJson(t.name, t.type, t.data, 'send it as binary tensor data') };
    const bytes = tensorToBytes(t);
    binaries.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.length } };
  });
  const parameters: V2Parameters = { ...options.parameters };
  if (options.binaryOutputs ?? true) parameters['binary_data_output'] = true;
  return encodeMessage(
    {
      ...(options.id ? { id: options.id } : {}),
      ...(Object.keys(parameters).length ? { parameters } : {}),
      inputs: jsonInputs,
    },
    binaries,
  );
}

export interface DecodedInferRequest {
  id: string | undefined;
  inputs: V2Tensor[];
  /** Outputs asked for by name (empty: all), and which of them come back as binary. */
  outputs: Array<{ name: string; binary: boolean }>;
  binaryOutputByDefault: boolean;
  parameters: V2Parameters;
}

/** A boolean parameter: true, false or absent (a string such as "yes" is the client's mistake, not false). */
function flag(value: unknown, where: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw bad(`${where} must be true or false, not ${JSON.stringify(value)}`);
}

export function decodeInferRequest(
  body: Buffer,
  headerLength: string | undefined,
  /** The JSON header, already read from these bytes by parseJsonHeader (a server's early check). */
  parsed?: Record<string, unknown>,
): DecodedInferRequest {
  const { json, binary, jsonBytes } = splitBody(body, headerLength, parsed);
  if (json['id'] !== undefined && typeof json['id'] !== 'string') throw bad("'id' must be a string");
  const parameters = (json['parameters'] ?? {}) as V2Parameters;
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))
    throw bad("'parameters' must be an object");
  const binaryDefault = flag(parameters['binary_data_output'], 'parameters.binary_data_output') ?? false;
  const outputsRaw = json['outputs'] ?? [];
  if (!Array.isArray(outputsRaw)) throw bad("'outputs' must be an array");
  const outputs = outputsRaw.map((o: unknown, i) => {
    const out = o as { name?: unknown; parameters?: V2Parameters } | null;
    if (!out || typeof out.name !== 'string') throw bad(`outputs[${i}].name must be a string`);
    const b = flag(out.parameters?.['binary_data'], `outputs[${i}].parameters.binary_data`);
    return { name: out.name, binary: b ?? binaryDefault };
  });
  return {
    id: json['id'] as string | undefined,
    inputs: readTensors(json['inputs'], binary, 'inputs', jsonBytes),
    outputs,
    binaryOutputByDefault: binaryDefault,
    parameters,
  };
}

export function encodeInferResponse(
  modelName: string,
  modelVersion: string | undefined,
  outputs: readonly V2Tensor[],
  binary: (name: string) => boolean,
  id?: string,
): EncodedMessage {
  return joined(encodeInferResponseParts(modelName, modelVersion, outputs, binary, id));
}

/**
 * encodeInferResponse's message in pieces: its binary tensors are views of the outputs' data, so
 * the outputs must not change until the pieces are written (the server's are its own). Joined, a
 * yolox_nano answer cost a fresh 1.2 MB buffer and a copy into it per request.
 */
export function encodeInferResponseParts(
  modelName: string,
  modelVersion: string | undefined,
  outputs: readonly V2Tensor[],
  binary: (name: string) => boolean,
  id?: string,
): EncodedParts {
  const binaries: Buffer[] = [];
  const jsonOutputs: JsonTensor[] = outputs.map((t) => {
    const base = { name: t.name, datatype: toV2Datatype(t.type), shape: [...t.dims] };
    if (!binary(t.name))
      return {
        ...base,
        data: tensorDataToJson(
          t.name,
          t.type,
          t.data,
          'ask for it as binary data (parameters.binary_data_output: true)',
        ),
      };
    const bytes = tensorToBytes(t);
    binaries.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.length } };
  });
  return encodeParts(
    {
      model_name: modelName,
      ...(modelVersion ? { model_version: modelVersion } : {}),
      ...(id ? { id } : {}),
      outputs: jsonOutputs,
    },
    binaries,
  );
}

export function decodeInferResponse(body: Buffer, headerLength: string | undefined): V2Tensor[] {
  const { json, binary, jsonBytes } = splitBody(body, headerLength);
  return readTensors(json['outputs'], binary, 'outputs', jsonBytes);
}

// ---- metadata ----

export interface V2ModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: Array<{ name: string; datatype: string; shape: number[] }>;
  outputs: Array<{ name: string; datatype: string; shape: number[] }>;
}

/** Model metadata for a spec list; dynamic dimensions are -1, as the protocol has it. */
export function modelMetadata(
  name: string,
  versions: string[],
  inputs: readonly TensorSpec[],
  outputs: readonly TensorSpec[],
): V2ModelMetadata {
  const conv = (s: TensorSpec): { name: string; datatype: string; shape: number[] } => ({
    name: s.name,
    datatype: toV2Datatype(s.dtype),
    shape: s.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)),
  });
  return { name, versions, platform: 'onnxruntime_onnx', inputs: inputs.map(conv), outputs: outputs.map(conv) };
}

/** TensorSpecs from metadata; -1 becomes an unnamed symbolic dimension (""). */
export function specsFromMetadata(meta: unknown, what: string): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  const m = meta as Partial<V2ModelMetadata> | null;
  const conv = (list: unknown, field: string): TensorSpec[] => {
    if (!Array.isArray(list))
      throw new RtinferError('RTI_ERR_INPUT_DATA', `${what}: model metadata has no '${field}' array`);
    return list.map((t: { name?: unknown; datatype?: unknown; shape?: unknown }) => {
      const dtype = typeof t.datatype === 'string' ? fromV2Datatype(t.datatype) : undefined;
      if (typeof t.name !== 'string' || dtype === undefined || !Array.isArray(t.shape)) {
        throw new RtinferError(
          'RTI_ERR_INPUT_DATA',
          `${what}: model metadata ${field} entry ${JSON.stringify(t)} is not a v2 tensor description`,
        );
      }
      return { name: t.name, dtype, shape: (t.shape as number[]).map((d): Dim => (d >= 0 ? d : '')) };
    });
  };
  return { inputs: conv(m?.inputs, 'inputs'), outputs: conv(m?.outputs, 'outputs') };
}
