/**
 * Images → model input tensors: decode (sharp, one pipeline) then pack (typed-array loop), each
 * stage timed with performance.now(). A batch is one preallocated tensor; item i is written at
 * offset i · itemLength, and an image that fails fails its item only.
 */
import { performance } from 'node:perf_hooks';
import { RtinferError } from '../errors.js';
import type { PreprocessConfig } from './config.js';
import { beginDecode, decodeError, decodeImage, imageLabel } from './decode.js';
import type { ImageTransform } from './geometry.js';
import { allocateTensor, fillPadding, itemLength, packContent, packPixels, tensorDims, valueTable } from './pack.js';
import type { ImageSource, VisionTensor } from './types.js';

export interface StageTimes {
  /** File read plus libvips decode, orientation, alpha flattening, resize and crop (until the pixels arrive). */
  decodeMs: number;
  /**
   * Writing the tensor: padding, channel order, scaling, layout, dtype. For a single image the
   * padding is written while libvips decodes, so the two stages may overlap by that much.
   */
  preprocessMs: number;
}

export interface Preprocessed {
  tensor: VisionTensor;
  transform: ImageTransform;
  /** Encoded format ('jpeg', 'png', ...) or 'raw'. */
  format: string;
  timing: StageTimes;
}

export interface PreprocessOptions {
  /**
   * Write into this tensor instead of allocating one (its dims must fit the image's planned input
   * size and the config's layout and dtype); `offset` is the element offset of the item.
   */
  into?: { tensor: VisionTensor; item: number };
}

// Tables per config object: building one costs 768 conversions, a config is used for many images.
const tables = new WeakMap<PreprocessConfig, ReturnType<typeof valueTable>>();
function tableFor(config: PreprocessConfig): ReturnType<typeof valueTable> {
  let t = tables.get(config);
  if (t === undefined) {
    t = valueTable(config);
    tables.set(config, t);
  }
  return t;
}

function checkInto(tensor: VisionTensor, item: number, transform: ImageTransform, config: PreprocessConfig): void {
  const { width, height } = transform.input;
  const want = tensorDims(config, tensor.dims[0] ?? 1, width, height);
  const ok =
    tensor.type === config.dtype && tensor.dims.length === 4 && want.every((d, i) => i === 0 || tensor.dims[i] === d);
  if (!ok || !Number.isInteger(item) || item < 0 || item >= (tensor.dims[0] ?? 0)) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid preprocess target: item ${item} of a ${tensor.type} [${tensor.dims.join(',')}] tensor cannot ` +
        `hold a ${config.dtype} ${config.layout} ${width}x${height} image`,
    );
  }
}

/**
 * One image → one tensor (batch 1), or into item `into.item` of a given tensor. The tensor is
 * allocated and its padding written while libvips decodes (the plan is known from the header), so
 * that work costs no latency; `preprocessMs` counts it all the same.
 */
export async function preprocess(
  source: ImageSource,
  config: PreprocessConfig,
  options: PreprocessOptions = {},
): Promise<Preprocessed> {
  const pending = await beginDecode(source, config);
  const t0 = performance.now();
  const { transform } = pending;
  let tensor: VisionTensor;
  let item = 0;
  if (options.into !== undefined) {
    ({ tensor, item } = options.into);
    checkInto(tensor, item, transform, config);
  } else {
    tensor = allocateTensor(config, 1, transform.input.width, transform.input.height);
  }
  const offset = item * itemLength(transform.input.width, transform.input.height, config.channels);
  const table = tableFor(config);
  fillPadding(tensor.data, offset, transform, config, table);
  const padMs = performance.now() - t0;
  const { pixels, decodeMs } = await pending.pixels;
  const t1 = performance.now();
  packContent(tensor.data, offset, pixels, transform, config, table);
  return {
    tensor,
    transform,
    format: pending.format,
    timing: { decodeMs: pending.readMs + decodeMs, preprocessMs: padMs + performance.now() - t1 },
  };
}

export type BatchItem =
  | {
      ok: true;
      source: string;
      transform: ImageTransform;
      format: string;
      timing: StageTimes;
      /** Row in the batch tensor. */ row: number;
    }
  | { ok: false; source: string; error: RtinferError };

export interface PreprocessedBatch {
  /** Rows 0..rows-1 hold the images that succeeded, in order; dims[0] is `rows` (or `padTo`). */
  tensor: VisionTensor;
  rows: number;
  items: BatchItem[];
}

export interface BatchOptions {
  /** Make the tensor this many rows (zero-filled beyond the images), for models with a fixed batch. */
  padTo?: number;
  /** Reuse this tensor when it is big enough (dims are set to the batch); otherwise one is allocated. */
  reuse?: VisionTensor;
}

/**
 * Several images → one tensor. Needs a fixed width and height (a batch shares one shape). Images
 * decode concurrently (libvips runs on libuv's thread pool); packing is sequential. Failed images
 * get `{ ok: false, error }` and take no row.
 */
export async function preprocessBatch(
  sources: readonly ImageSource[],
  config: PreprocessConfig,
  options: BatchOptions = {},
): Promise<PreprocessedBatch> {
  if (config.width === null || config.height === null) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      'invalid preprocess config for a batch: width and height must be fixed (dynamic sizes differ per image)',
    );
  }
  const W = config.width;
  const H = config.height;
  const decoded = await Promise.all(
    sources.map((s) =>
      decodeImage(s, config).then(
        (d) => ({ ok: true as const, d }),
        (error: unknown) => ({ ok: false as const, error: decodeError(imageLabel(s), error) }),
      ),
    ),
  );
  const good = decoded.filter((d) => d.ok).length;
  const rows = Math.max(good, options.padTo ?? 0);
  const len = itemLength(W, H, config.channels);
  let tensor: VisionTensor;
  const reuse = options.reuse;
  if (
    reuse !== undefined &&
    reuse.type === config.dtype &&
    reuse.data.length >= rows * len &&
    reuse.data.buffer.byteLength > 0
  ) {
    tensor = {
      type: reuse.type,
      dims: tensorDims(config, rows, W, H),
      data: reuse.data.subarray(0, rows * len),
    } as VisionTensor;
    tensor.data.fill(0, good * len);
  } else {
    tensor = allocateTensor(config, rows, W, H);
  }
  const table = tableFor(config);
  const items: BatchItem[] = [];
  let row = 0;
  for (let i = 0; i < sources.length; i++) {
    const r = decoded[i]!;
    const source = imageLabel(sources[i]!);
    if (!r.ok) {
      items.push({ ok: false, source, error: r.error });
      continue;
    }
    const t0 = performance.now();
    packPixels(tensor.data, row * len, r.d.pixels, r.d.transform, config, table);
    items.push({
      ok: true,
      source,
      transform: r.d.transform,
      format: r.d.format,
      timing: { decodeMs: r.d.readMs + r.d.decodeMs, preprocessMs: performance.now() - t0 },
      row,
    });
    row++;
  }
  return { tensor, rows, items };
}
