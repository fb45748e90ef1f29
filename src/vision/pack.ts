/**
 * The per-pixel step: HWC uint8 pixels from the decoder → one item of the model's input tensor
 * (NCHW or NHWC; float32, float16 or uint8), written in place at an item offset so that a batch is
 * one preallocated tensor. Padding is written over the runs of padRuns (fill() per plane for NCHW),
 * pixels with one tight loop per layout and value map (affine or table): no per-pixel function
 * calls, objects or branches.
 *
 * float32 uses the affine map directly (measured faster here than a 256-entry table: 0.80 vs
 * 0.95 ms for 640×360 RGB on this 2-vCPU Xeon). float16 looks the half-precision bits up in a
 * 256-entry table per channel, since there are only 256 input values and converting each pixel
 * would cost far more.
 */
import { toFloat16Bits } from '../runtime/float16.js';
import { channelAffine, type PreprocessConfig } from './config.js';
import type { DecodedPixels } from './decode.js';
import type { ImageTransform } from './geometry.js';
import type { VisionTensor } from './types.js';

type Values = Float32Array | Uint16Array | Uint8Array;

/** The tensor channel c reads source channel SRC[order][c] of an RGB pixel. */
const SOURCE_CHANNEL = { rgb: [0, 1, 2], bgr: [2, 1, 0] } as const;

/** Elements in one image of the tensor. */
export function itemLength(width: number, height: number, channels = 3): number {
  return channels * width * height;
}

/** dims of a batch: [n, c, h, w] (nchw) or [n, h, w, c] (nhwc), c = config.channels (default 3). */
export function tensorDims(
  config: Pick<PreprocessConfig, 'layout'> & { channels?: number },
  batch: number,
  width: number,
  height: number,
): number[] {
  const c = config.channels ?? 3;
  return config.layout === 'nchw' ? [batch, c, height, width] : [batch, height, width, c];
}

/** A zeroed tensor for `batch` images of width × height. */
export function allocateTensor(
  config: Pick<PreprocessConfig, 'layout' | 'dtype'> & { channels?: number },
  batch: number,
  width: number,
  height: number,
): VisionTensor {
  const data = newValues(config.dtype, batch * itemLength(width, height, config.channels ?? 3));
  return { type: config.dtype, dims: tensorDims(config, batch, width, height), data };
}

function newValues(dtype: PreprocessConfig['dtype'], n: number): Values {
  return dtype === 'float32' ? new Float32Array(n) : dtype === 'float16' ? new Uint16Array(n) : new Uint8Array(n);
}

/** The tensor value of each channel for pixel value v: a 3 × 256 table, in the tensor's dtype. */
export function valueTable(config: PreprocessConfig): Values {
  const { scale, offset } = channelAffine(config);
  const table = newValues(config.dtype, 768);
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) {
      const x = v * scale[c]! + offset[c]!;
      table[c * 256 + v] = config.dtype === 'float16' ? toFloat16Bits(x) : x;
    }
  }
  return table;
}

/**
 * The tensor value of each of the config.channels channels in the padding. Pad colours are given
 * in RGB; tensor channel c holds source channel SOURCE_CHANNEL[c]; grey is the luma of the pad
 * colour (as packOther computes it for pixels) and a fourth channel is opaque alpha.
 */
function padValues(config: PreprocessConfig, table: Values): number[] {
  const pad =
    typeof config.padValue === 'number' ? [config.padValue, config.padValue, config.padValue] : config.padValue;
  if (config.channels === 1) return [table[Math.round(0.299 * pad[0]! + 0.587 * pad[1]! + 0.114 * pad[2]!)]!];
  const src = SOURCE_CHANNEL[config.channelOrder];
  const rgb = [table[pad[src[0]]!]!, table[256 + pad[src[1]]!]!, table[512 + pad[src[2]]!]!];
  return config.channels === 4 ? [...rgb, table[255]!] : rgb;
}

/**
 * Writes one image into `out` at element `offset`: padding first (only the pad region), then the
 * pixels at `transform.content`. `table` is `valueTable(config)` (pass it to avoid rebuilding it).
 */
export function packPixels(
  out: Values,
  offset: number,
  pixels: DecodedPixels,
  transform: ImageTransform,
  config: PreprocessConfig,
  table: Values = valueTable(config),
): void {
  fillPadding(out, offset, transform, config, table);
  packContent(out, offset, pixels, transform, config, table);
}

function checkRoom(out: Values, offset: number, transform: ImageTransform, channels = 3): void {
  if (out.length < offset + itemLength(transform.input.width, transform.input.height, channels)) {
    throw new RangeError(`tensor of ${out.length} values has no room for an item at offset ${offset}`);
  }
}

/** Writes the padding of the item at `offset` (the part of the tensor outside `transform.content`). */
export function fillPadding(
  out: Values,
  offset: number,
  transform: ImageTransform,
  config: PreprocessConfig,
  table: Values = valueTable(config),
): void {
  checkRoom(out, offset, transform, config.channels);
  const { x, y, width, height } = transform.content;
  const { width: W, height: H } = transform.input;
  if (x === 0 && y === 0 && width === W && height === H) return;
  const values = padValues(config, table);
  const C = values.length;
  const plane = W * H;
  // One loop per layout over the runs, not one fill callback: a call site that sees three
  // callbacks is not inlined, and NHWC padding measured 15% slower that way.
  const runs = padRuns(W, H, transform.content);
  if (config.layout === 'nchw') {
    for (let c = 0; c < C; c++) {
      const p = offset + c * plane;
      for (const [start, length, count] of runs) {
        for (let i = p + start, end = i + count * W; i < end; i += W) out.fill(values[c]!, i, i + length);
      }
    }
  } else if (C === 3) {
    const [p0, p1, p2] = values as [number, number, number];
    for (const [start, length, count] of runs) {
      for (let n = 0; n < count; n++) {
        const from = offset + (start + n * W) * 3;
        fillTriples(out, from, from + length * 3, p0, p1, p2);
      }
    }
  } else {
    for (const [start, length, count] of runs) {
      for (let n = 0; n < count; n++) {
        for (let i = offset + (start + n * W) * C, end = i + length * C; i < end; i += C) {
          for (let c = 0; c < C; c++) out[i + c] = values[c]!;
        }
      }
    }
  }
}

/** out[from..to) = p0, p1, p2, p0, … (its own small function: the loop inline measured 4-10% slower). */
function fillTriples(out: Values, from: number, to: number, p0: number, p1: number, p2: number): void {
  for (let i = from; i < to; i += 3) {
    out[i] = p0;
    out[i + 1] = p1;
    out[i + 2] = p2;
  }
}

/**
 * The padding of a W × H item around `content`, as runs of pixels counted row-major: each
 * [start, length, count] is `count` runs of `length` pixels, one row (W pixels) apart. The right
 * side of one content row and the left side of the next are one run, so the padding is a head
 * (rows above, left of the first content row), the gaps between content rows and a tail.
 */
function padRuns(W: number, H: number, content: ImageTransform['content']): [number, number, number][] {
  const { x, y, width, height } = content;
  if (width === 0 || height === 0) return [[0, W * H, 1]];
  const tail = (y + height - 1) * W + x + width;
  const runs: [number, number, number][] = [
    [0, y * W + x, 1],
    [y * W + x + width, W - width, height - 1],
    [tail, W * H - tail, 1],
  ];
  return runs.filter((run) => run[1] > 0 && run[2] > 0);
}

/**
 * What the pack loops read: the item starts at out[base], W × H = plane pixels, the content at
 * (cx, cy), cw × ch. Source pixels are `step` bytes apart with the tensor's channel c at byte sc of
 * a pixel (the same byte three times for grey).
 */
interface ContentRun {
  base: number;
  W: number;
  cx: number;
  cy: number;
  cw: number;
  ch: number;
  plane: number;
  data: Uint8Array;
  step: number;
  s0: number;
  s1: number;
  s2: number;
}

/** Writes the image pixels of the item at `offset` into `transform.content`. */
export function packContent(
  out: Values,
  offset: number,
  pixels: DecodedPixels,
  transform: ImageTransform,
  config: PreprocessConfig,
  table: Values = valueTable(config),
): void {
  checkRoom(out, offset, transform, config.channels);
  const W = transform.input.width;
  const H = transform.input.height;
  const { x: cx, y: cy, width: cw, height: ch } = transform.content;
  if (pixels.width !== cw || pixels.height !== ch)
    throw new RangeError(`pixels are ${pixels.width}x${pixels.height}, the transform places ${cw}x${ch}`);
  if (config.channels !== 3) {
    packOther(out, offset, pixels, transform, config, table);
    return;
  }
  const src = SOURCE_CHANNEL[config.channelOrder];
  const step = pixels.channels;
  const data = pixels.data;
  const nchw = config.layout === 'nchw';
  const run: ContentRun = {
    base: offset,
    W,
    cx,
    cy,
    cw,
    ch,
    plane: W * H,
    data,
    step,
    // Grey pixels (one channel) are read three times; sharp gives RGB for colour images.
    s0: step === 1 ? 0 : src[0],
    s1: step === 1 ? 0 : src[1],
    s2: step === 1 ? 0 : src[2],
  };
  if (config.dtype !== 'float32') {
    if (nchw) packNchwTable(out, run, table);
    else packNhwcTable(out, run, table);
    return;
  }
  const { scale, offset: shift } = channelAffine(config);
  if (nchw && step === 3 && LITTLE_ENDIAN && data.byteOffset % 4 === 0 && cw % 4 === 0) {
    packNchwWords(out as Float32Array, run, config.channelOrder === 'rgb', scale, shift);
  } else if (nchw) {
    packNchwAffine(out as Float32Array, run, scale, shift);
  } else {
    packNhwcAffine(out as Float32Array, run, scale, shift);
  }
}

// One loop per layout and value map (affine or table) rather than one loop strided by layout: the
// strided loop (o += 1 or 3, channels at o + plane or o + 1) measured 2-8% slower for NHWC and tables.
function packNchwAffine(out: Float32Array, run: ContentRun, scale: readonly number[], shift: readonly number[]): void {
  const { base, W, cx, cy, cw, ch, plane, data, step, s0, s1, s2 } = run;
  const plane2 = 2 * plane;
  const [a0, a1, a2] = scale as [number, number, number];
  const [b0, b1, b2] = shift as [number, number, number];
  for (let y = 0; y < ch; y++) {
    let p = y * cw * step;
    const o0 = base + (cy + y) * W + cx;
    for (let o = o0, end = o0 + cw; o < end; o++, p += step) {
      out[o] = data[p + s0]! * a0 + b0;
      out[o + plane] = data[p + s1]! * a1 + b1;
      out[o + plane2] = data[p + s2]! * a2 + b2;
    }
  }
}

function packNhwcAffine(out: Float32Array, run: ContentRun, scale: readonly number[], shift: readonly number[]): void {
  const { base, W, cx, cy, cw, ch, data, step, s0, s1, s2 } = run;
  const [a0, a1, a2] = scale as [number, number, number];
  const [b0, b1, b2] = shift as [number, number, number];
  for (let y = 0; y < ch; y++) {
    let p = y * cw * step;
    const o0 = base + ((cy + y) * W + cx) * 3;
    for (let o = o0, end = o0 + cw * 3; o < end; o += 3, p += step) {
      out[o] = data[p + s0]! * a0 + b0;
      out[o + 1] = data[p + s1]! * a1 + b1;
      out[o + 2] = data[p + s2]! * a2 + b2;
    }
  }
}

function packNchwTable(out: Values, run: ContentRun, table: Values): void {
  const { base, W, cx, cy, cw, ch, plane, data, step, s0, s1, s2 } = run;
  const plane2 = 2 * plane;
  for (let y = 0; y < ch; y++) {
    let p = y * cw * step;
    const o0 = base + (cy + y) * W + cx;
    for (let o = o0, end = o0 + cw; o < end; o++, p += step) {
      out[o] = table[data[p + s0]!]!;
      out[o + plane] = table[256 + data[p + s1]!]!;
      out[o + plane2] = table[512 + data[p + s2]!]!;
    }
  }
}

function packNhwcTable(out: Values, run: ContentRun, table: Values): void {
  const { base, W, cx, cy, cw, ch, data, step, s0, s1, s2 } = run;
  for (let y = 0; y < ch; y++) {
    let p = y * cw * step;
    const o0 = base + ((cy + y) * W + cx) * 3;
    for (let o = o0, end = o0 + cw * 3; o < end; o += 3, p += step) {
      out[o] = table[data[p + s0]!]!;
      out[o + 1] = table[256 + data[p + s1]!]!;
      out[o + 2] = table[512 + data[p + s2]!]!;
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The common case (RGB pixels, NCHW float32, rows a multiple of 4 pixels) reads the pixels as
 * 32-bit words, four pixels per three words, instead of byte by byte: 0.57 against 0.78 ms for
 * 640×360 on the 2-vCPU Xeon. Each source channel goes to its plane (R to plane 0 for RGB, to
 * plane 2 for BGR) with that tensor channel's scale and offset.
 */
function packNchwWords(
  out: Float32Array,
  run: ContentRun,
  rgb: boolean,
  scale: readonly number[],
  shift: readonly number[],
): void {
  const { base, W, cx, cy, cw, ch, plane, data } = run;
  const words = new Uint32Array(data.buffer, data.byteOffset, (cw * ch * 3) >>> 2);
  const [tr, tb] = rgb ? [0, 2] : [2, 0];
  const qr = tr * plane;
  const qg = plane;
  const qb = tb * plane;
  const ar = scale[tr]!,
    br = shift[tr]!;
  const ag = scale[1]!,
    bg = shift[1]!;
  const ab = scale[tb]!,
    bb = shift[tb]!;
  const rowWords = (cw * 3) >>> 2;
  for (let y = 0; y < ch; y++) {
    let w = y * rowWords;
    const o0 = base + (cy + y) * W + cx;
    const end = o0 + cw;
    for (let o = o0; o < end; o += 4, w += 3) {
      const w0 = words[w]!;
      const w1 = words[w + 1]!;
      const w2 = words[w + 2]!;
      out[o + qr] = (w0 & 255) * ar + br;
      out[o + qg] = ((w0 >>> 8) & 255) * ag + bg;
      out[o + qb] = ((w0 >>> 16) & 255) * ab + bb;
      out[o + 1 + qr] = (w0 >>> 24) * ar + br;
      out[o + 1 + qg] = (w1 & 255) * ag + bg;
      out[o + 1 + qb] = ((w1 >>> 8) & 255) * ab + bb;
      out[o + 2 + qr] = ((w1 >>> 16) & 255) * ar + br;
      out[o + 2 + qg] = (w1 >>> 24) * ag + bg;
      out[o + 2 + qb] = (w2 & 255) * ab + bb;
      out[o + 3 + qr] = ((w2 >>> 8) & 255) * ar + br;
      out[o + 3 + qg] = ((w2 >>> 16) & 255) * ag + bg;
      out[o + 3 + qb] = (w2 >>> 24) * ab + bb;
    }
  }
}

/**
 * Grey (1 channel) and RGBA-style (4 channels) tensors: rarer, so one plain loop through the value
 * table for every dtype. Grey is the BT.601 luma of RGB pixels (0.299 R + 0.587 G + 0.114 B,
 * rounded: cv2.COLOR_RGB2GRAY and PIL's convert('L') use these weights), scaled as channel 0; the
 * fourth channel is an opaque alpha (255), scaled as channel 0 too.
 */
function packOther(
  out: Values,
  base: number,
  pixels: DecodedPixels,
  t: ImageTransform,
  config: PreprocessConfig,
  table: Values,
): void {
  const W = t.input.width;
  const plane = W * t.input.height;
  const C = config.channels;
  const { x: cx, y: cy, width: cw, height: ch } = t.content;
  const src = SOURCE_CHANNEL[config.channelOrder];
  const step = pixels.channels;
  const data = pixels.data;
  const alpha = table[255]!;
  const nchw = config.layout === 'nchw';
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const p = (y * cw + x) * step;
      const pos = (cy + y) * W + cx + x;
      if (C === 1) {
        const v = step === 1 ? data[p]! : Math.round(0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!);
        out[base + pos] = table[v]!;
        continue;
      }
      for (let c = 0; c < 3; c++) {
        const v = table[c * 256 + data[step === 1 ? p : p + src[c]!]!]!;
        out[nchw ? base + c * plane + pos : base + pos * 4 + c] = v;
      }
      out[nchw ? base + 3 * plane + pos : base + pos * 4 + 3] = alpha;
    }
  }
}
