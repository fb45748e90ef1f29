/**
 * Tensors as they cross between the engine and its workers: plain `{ type, dims, data }` records
 * whose buffers move by transfer, never through JSON. Also input validation against the model
 * (before anything reaches a worker) and stacking/splitting along the batch dimension.
 */
import { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';
import {
  DTYPES,
  elementCount,
  isTensorDType,
  type NumericArray,
  type TensorData,
  type TensorDType,
} from '../runtime/dtypes.js';
import type { TensorSpec } from '../runtime/session.js';

export interface WireTensor {
  type: TensorDType;
  dims: number[];
  data: TensorData;
}

export type WireFeeds = Record<string, WireTensor>;

/** What callers may pass: onnxruntime Tensors or plain objects of the same shape. */
export interface TensorLike {
  type: string;
  dims: readonly number[];
  data: unknown;
}

export interface ValidatedRequest {
  feeds: WireFeeds;
  /** Size along the batch dimension (1 for models without one). */
  rows: number;
  /** Requests batch together only when their non-batch dimensions agree. */
  shapeKey: string;
}

function fail(
  code: 'RTI_ERR_INPUT_DATA' | 'RTI_ERR_SHAPE_MISMATCH' | 'RTI_ERR_MODEL_INPUT_UNKNOWN',
  message: string,
): never {
  throw new RtinferError(code, message);
}

/** A model's shape for a client: any size is '?' (symbolic names such as 'p2o.DynamicDimension.0' say nothing to it). */
function describe(shape: ReadonlyArray<number | string>): string {
  return `[${shape.map((d) => (typeof d === 'number' && d >= 0 ? String(d) : '?')).join(',')}]`;
}

/** Checks names, dtypes, ranks, fixed dimensions and data length; copies nothing. */
export function validateInputs(
  specs: readonly TensorSpec[],
  inputs: Readonly<Record<string, TensorLike>>,
  batchable: boolean,
): ValidatedRequest {
  if (inputs === null || typeof inputs !== 'object')
    fail('RTI_ERR_INPUT_DATA', 'inputs must be an object mapping input names to tensors');
  const names = specs.map((s) => s.name);
  for (const name of Object.keys(inputs)) {
    if (!names.includes(name))
      fail('RTI_ERR_MODEL_INPUT_UNKNOWN', `unknown input '${name}' (the model's inputs are: ${names.join(', ')})`);
  }
  const feeds: WireFeeds = {};
  const keyParts: string[] = [];
  let rows = 1;
  for (const spec of specs) {
    const t = inputs[spec.name];
    if (t === undefined || t === null)
      fail('RTI_ERR_INPUT_DATA', `input '${spec.name}' is missing (expected ${spec.dtype} ${describe(spec.shape)})`);
    if (t.type !== spec.dtype || !isTensorDType(t.type))
      fail('RTI_ERR_INPUT_DATA', `input '${spec.name}' is ${String(t.type)}, but the model takes ${spec.dtype}`);
    const dims = Array.isArray(t.dims) ? t.dims.map(Number) : [];
    if (!Array.isArray(t.dims) || dims.some((d) => !Number.isInteger(d) || d < 0))
      fail('RTI_ERR_SHAPE_MISMATCH', `input '${spec.name}' has invalid dims`);
    if (dims.length !== spec.shape.length) {
      fail(
        'RTI_ERR_SHAPE_MISMATCH',
        `input '${spec.name}' has ${dims.length} dimensions [${dims.join(',')}], ` +
          `the model expects ${describe(spec.shape)}`,
      );
    }
    spec.shape.forEach((d, i) => {
      if (typeof d === 'number' && d > 0 && dims[i] !== d && !(batchable && i === 0)) {
        fail(
          'RTI_ERR_SHAPE_MISMATCH',
          `input '${spec.name}' dimension ${i} is ${dims[i]}, the model expects ${d}: ${describe(spec.shape)}`,
        );
      }
    });
    // onnxruntime accepts an empty tensor and then fails deep inside the graph, with a message
    // naming internal nodes ("Reshape node. Name:'Reshape_token_34' ... Input shape:{0,16,6,96}").
    if (dims.includes(0)) {
      const batch = batchable && dims[0] === 0 ? ' (batch size 0)' : '';
      fail('RTI_ERR_SHAPE_MISMATCH', `input '${spec.name}' has a zero-size dimension [${dims.join(',')}]${batch}`);
    }
    const data = t.data as TensorData;
    const n = elementCount(dims);
    if (!DTYPES[t.type].accepts(data)) fail('RTI_ERR_INPUT_DATA', `input '${spec.name}' data is not a ${t.type} array`);
    if (data.length !== n)
      fail(
        'RTI_ERR_INPUT_DATA',
        `input '${spec.name}' holds ${data.length} values, dims [${dims.join(',')}] need ${n}`,
      );
    if (batchable) {
      const r = dims[0] ?? 1;
      if (spec === specs[0]) rows = r;
      else if (r !== rows)
        fail('RTI_ERR_SHAPE_MISMATCH', `input '${spec.name}' has batch size ${r}, but '${specs[0]?.name}' has ${rows}`);
    }
    keyParts.push((batchable ? dims.slice(1) : dims).join('x'));
    feeds[spec.name] = { type: t.type, dims, data };
  }
  return { feeds, rows, shapeKey: keyParts.join('|') };
}

/**
 * The rows and shape key validateInputs would give inputs of these dimensions, from the dimensions
 * alone (a request whose data has not arrived yet); undefined when they do not fit the model.
 */
export function shapeKeyOf(
  specs: readonly TensorSpec[],
  dims: Readonly<Record<string, readonly number[]>>,
  batchable: boolean,
): { rows: number; shapeKey: string } | undefined {
  const keyParts: string[] = [];
  let rows = 1;
  for (const spec of specs) {
    const d = dims[spec.name];
    if (!d || d.length !== spec.shape.length || d.some((v) => !Number.isInteger(v) || v <= 0)) return undefined;
    if (batchable) {
      if (spec === specs[0]) rows = d[0] ?? 1;
      else if (d[0] !== rows) return undefined;
    }
    keyParts.push((batchable ? d.slice(1) : d).join('x'));
  }
  return { rows, shapeKey: keyParts.join('|') };
}

/**
 * Buffers for input copies, reused: the worker hands them back with its result. A fresh buffer
 * costs its page faults on first touch: copying a 2 MB input (yolox_nano, 1x3x416x416) into a new
 * buffer took 360 µs here, into a reused one 143 µs.
 *
 * Only sizes that `take()` asked for recently are kept. Buffers of other sizes come back too (a
 * server transfers whole request bodies of any size, a batch comes back as one stacked buffer), and
 * pooling those would keep memory high after one big request for nothing: no `take()` reuses them.
 */
export class BufferPool {
  /** Sizes kept at most: the recently taken ones, least recently taken first. */
  static readonly MAX_SIZES = 64;
  /** Buffers kept per size. */
  static readonly PER_SIZE = 8;
  readonly #free = new Map<number, ArrayBuffer[]>();
  /** Byte lengths `take()` was asked for, least recently first (a Set keeps insertion order). */
  readonly #wanted = new Set<number>();
  #bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes held in pooled buffers now. */
  get pooledBytes(): number {
    return this.#bytes;
  }

  take(byteLength: number): ArrayBuffer {
    this.#want(byteLength);
    const list = this.#free.get(byteLength);
    const b = list?.pop();
    if (b) {
      this.#bytes -= byteLength;
      return b;
    }
    return new ArrayBuffer(byteLength);
  }

  give(buffers: readonly ArrayBuffer[]): void {
    for (const b of buffers) {
      if (b.byteLength === 0 || !this.#wanted.has(b.byteLength) || this.#bytes + b.byteLength > this.#maxBytes)
        continue;
      // A slab of Node's Buffer pool (small Buffers, such as a small gRPC message's tensor views)
      // is shared with unrelated live Buffers: never hand one out as if it were free.
      if (b.byteLength === Buffer.poolSize) continue;
      const list = this.#free.get(b.byteLength) ?? [];
      if (list.length >= BufferPool.PER_SIZE) continue;
      list.push(b);
      this.#free.set(b.byteLength, list);
      this.#bytes += b.byteLength;
    }
  }

  /** Lets every pooled buffer go (a server gone quiet returns the memory). */
  clear(): void {
    this.#free.clear();
    this.#bytes = 0;
  }

  #want(byteLength: number): void {
    this.#wanted.delete(byteLength);
    this.#wanted.add(byteLength);
    if (this.#wanted.size <= BufferPool.MAX_SIZES) return;
    const oldest = this.#wanted.values().next().value as number;
    this.#wanted.delete(oldest);
    // Its buffers would never be taken again.
    const dropped = this.#free.get(oldest);
    if (dropped) this.#bytes -= dropped.length * oldest;
    this.#free.delete(oldest);
  }
}

/** A copy in buffers of the engine's own, so that transferring it to a worker never detaches the caller's. */
export function copyFeeds(feeds: WireFeeds, pool?: BufferPool): WireFeeds {
  const out: WireFeeds = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (Array.isArray(t.data) || pool === undefined) {
      out[name] = { type: t.type, dims: [...t.dims], data: t.data.slice() as TensorData };
      continue;
    }
    const src = t.data as NumericArray;
    const buffer = pool.take(src.byteLength);
    new Uint8Array(buffer).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    out[name] = { type: t.type, dims: [...t.dims], data: DTYPES[t.type].fromBytes(buffer, 0, src.length) };
  }
  return out;
}

/**
 * Stacks requests along dimension 0 into one new buffer per input. `padTo` (a model with a fixed
 * batch size) fills the remaining rows with zeros.
 */
export function stackFeeds(parts: readonly WireFeeds[], padTo?: number): WireFeeds {
  const first = parts[0];
  if (!first) throw new RangeError('stackFeeds needs at least one request');
  const out: WireFeeds = {};
  for (const [name, t0] of Object.entries(first)) {
    const rows = parts.reduce((s, p) => s + (p[name]?.dims[0] ?? 0), 0);
    const total = Math.max(rows, padTo ?? 0);
    const rowSize = elementCount(t0.dims.slice(1));
    const dims = [total, ...t0.dims.slice(1)];
    if (t0.type === 'string') {
      const data: string[] = [];
      for (const p of parts) data.push(...(p[name]?.data as string[]));
      while (data.length < total * rowSize) data.push('');
      out[name] = { type: t0.type, dims, data };
      continue;
    }
    const data = DTYPES[t0.type].create(total * rowSize) as NumericArray;
    let offset = 0;
    for (const p of parts) {
      const src = p[name]?.data as NumericArray;
      (data as Float32Array).set(src as Float32Array, offset);
      offset += src.length;
    }
    out[name] = { type: t0.type, dims, data };
  }
  return out;
}

/**
 * Splits batched outputs back per request: rows [offset, offset + rows) of every output, as views
 * on the batch's buffer (no copy). Outputs must carry the batch dimension first.
 */
export function splitOutputs(outputs: WireFeeds, rows: readonly number[]): WireFeeds[] {
  const total = rows.reduce((s, r) => s + r, 0);
  const result: WireFeeds[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if ((t.dims[0] ?? -1) < total) {
      throw new RtinferError(
        'RTI_ERR_INFERENCE_FAILED',
        `output '${name}' has dims [${t.dims.join(',')}], not the batch of ${total} first: ` +
          'run this model without batching',
      );
    }
    const rowSize = elementCount(t.dims.slice(1));
    let offset = 0;
    rows.forEach((r, i) => {
      const data = sliceRows(t.data, offset * rowSize, (offset + r) * rowSize);
      (result[i] as WireFeeds)[name] = { type: t.type, dims: [r, ...t.dims.slice(1)], data };
      offset += r;
    });
  }
  return result;
}

function sliceRows(data: TensorData, start: number, end: number): TensorData {
  return Array.isArray(data) ? data.slice(start, end) : (data as Float32Array).subarray(start, end);
}

/** The ArrayBuffers to transfer with a message (each once; strings travel by structured clone). */
export function transferList(feeds: WireFeeds): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const t of Object.values(feeds)) {
    if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer) set.add(t.data.buffer);
  }
  return [...set];
}

export function toOrtFeeds(feeds: WireFeeds): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new Tensor(t.type, t.data as never, t.dims);
  return out;
}

export function fromOrtOutputs(outputs: Record<string, Tensor>): WireFeeds {
  const out: WireFeeds = {};
  for (const [name, t] of Object.entries(outputs))
    out[name] = { type: t.type as TensorDType, dims: [...t.dims], data: t.data as TensorData };
  return out;
}
