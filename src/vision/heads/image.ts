/**
 * Image-to-image models (super-resolution, enhancement, denoising, matting): one output
 * [B, C, H', W'] with C = 1 or 3, at the input's size or a whole multiple of it. The output is
 * turned back into an 8-bit image of the part of the tensor that holds the picture (letterbox
 * padding cut off, scaled by H'/H): its value range is read from the data itself (within −1..1
 * with negatives: −1..1; within 0..1: 0..1; else 0..255, clipped), as exporters rarely say. A
 * one-channel model fed one channel is a luminance model (the ONNX model zoo's super-resolution
 * takes the Y of YCbCr): `luminance` is set and `composeImage` (render.ts) puts the input's chroma
 * back. Preprocessing defaults: RGB, x / 255, plain resize; the input's own size when dynamic.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ImageOutput, ModelOutputs, TensorMeta } from '../types.js';
import {
  batchData,
  firstOutput,
  fixedDim,
  headMismatch,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

function inputChannels(inputs: readonly TensorMeta[] | undefined): number | undefined {
  const s = inputs?.[0]?.shape;
  if (s === undefined || s.length !== 4) return undefined;
  const c1 = fixedDim(s, 1);
  const c3 = fixedDim(s, 3);
  return c1 === 1 || c1 === 3 ? c1 : c3 === 1 || c3 === 3 ? c3 : undefined;
}

/** Output channels and scale when the outputs look like an image of the input, else undefined. */
export function imageShape(
  outputs: readonly TensorMeta[],
  inputs: readonly TensorMeta[] | undefined,
): { channels: number; scale: number | undefined } | undefined {
  const s = outputs[0]?.shape;
  if (outputs.length !== 1 || s === undefined || s.length !== 4) return undefined;
  const c = fixedDim(s, 1);
  if (c !== 1 && c !== 3) return undefined;
  const inC = inputChannels(inputs);
  // One channel from a colour input (or an input of unknown channels) is a probability map (text,
  // matting): the text head's, unless named.
  if (inC === undefined ? c === 1 : c !== inC) return undefined;
  const inH =
    inputs?.[0]?.shape.length === 4 ? fixedDim(inputs[0]!.shape, inC === inputs[0]!.shape[1] ? 2 : 1) : undefined;
  const h = fixedDim(s, 2);
  if (inH === undefined || h === undefined) return { channels: c, scale: undefined };
  const scale = h / inH;
  return Number.isInteger(scale) && scale >= 1 && scale <= 8 ? { channels: c, scale } : undefined;
}

/** The value range of an output, from its values. */
export function valueRange(data: Float32Array, from: number, to: number): ImageOutput['range'] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = from; i < to; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // A little overshoot (sharpening models ring past 1) still reads as 0..1.
  if (max <= 1.5 && min >= -1.5) return min < -0.25 ? '-1..1' : '0..1';
  return '0..255';
}

export const imageHead: VisionHead = {
  name: 'image',
  task: 'image',
  expects: 'one output [B, C, H·s, W·s] with C = 1 or 3 as the input (an image: super-resolution, enhancement)',
  defaults: resolvePreprocessConfig({
    width: 224,
    height: 224,
    resize: 'stretch',
    channelOrder: 'rgb',
    ...SCALING.unit,
  }),
  decodeDefaults: {},
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    if (metadata['task'] !== undefined && metadata['task'] !== 'image') return false;
    return imageShape(outputs, inputs) !== undefined;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('image', outputs);
    if (t.dims.length !== 4 || (t.dims[1] !== 1 && t.dims[1] !== 3))
      headMismatch('image', `output '${name}' is [${t.dims.join(',')}], expected [B, 1 or 3, H, W]`);
    const [, c, oh, ow] = t.dims as [number, 1 | 3, number, number];
    const { data, base } = batchData('image', name, t, options.batchIndex);
    const plane = oh * ow;
    const range = valueRange(data, base, base + c * plane);
    const [mul, add] = range === '0..1' ? [255, 0] : range === '-1..1' ? [127.5, 127.5] : [1, 0];
    const scale = ow / transform.input.width;
    // The picture's part of the output: the tensor's content region, scaled.
    const x0 = Math.round(transform.content.x * scale);
    const y0 = Math.round(transform.content.y * scale);
    const w = Math.max(1, Math.min(ow - x0, Math.round(transform.content.width * scale)));
    const h = Math.max(1, Math.min(oh - y0, Math.round(transform.content.height * scale)));
    const out = new Uint8Array(w * h * c);
    // One plane at a time: contiguous reads; Uint8ClampedArray rounds (half to even) and clips.
    const clamped = new Uint8ClampedArray(out.buffer);
    for (let k = 0; k < c; k++) {
      for (let y = 0; y < h; y++) {
        const src = base + k * plane + (y0 + y) * ow + x0;
        let o = y * w * c + k;
        for (let x = 0; x < w; x++, o += c) clamped[o] = data[src + x]! * mul + add;
      }
    }
    return { task: 'image', image: { width: w, height: h, channels: c, data: out, range, luminance: c === 1, scale } };
  },
};
