/**
 * Semantic segmentation: one output [B, K, H, W] of K ≥ 2 class scores (or logits) per pixel
 * (DeepLab, SegFormer, FCN exports), at the input's resolution or a fraction of it. The class of a
 * pixel is the argmax over K (the scores need no softmax for that); the map is sampled back to
 * every pixel of the ORIGINAL image (nearest cell, through the resize/letterbox transform; pixels
 * that fall in letterbox padding take the nearest cell inside). Segments list each class present
 * with its pixel count. Preprocessing defaults: ImageNet mean/std, RGB, plain resize.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import { labelOf } from '../labels.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import {
  batchData,
  firstOutput,
  fixedDim,
  headMismatch,
  inputSize,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

/**
 * Argmax over K planes of [K, H, W] at each cell, a tile of cells at a time so that the running
 * best stays in cache while the K planes stream through (one pass over every plane per tile).
 */
export function argmaxPlanes(data: Float32Array, base: number, k: number, cells: number): Uint16Array {
  const TILE = 2048;
  const best = new Float32Array(TILE);
  const out = new Uint16Array(cells);
  for (let t0 = 0; t0 < cells; t0 += TILE) {
    const n = Math.min(TILE, cells - t0);
    best.set(data.subarray(base + t0, base + t0 + n));
    for (let c = 1; c < k; c++) {
      const p = base + c * cells + t0;
      for (let i = 0; i < n; i++) {
        const v = data[p + i]!;
        if (v > best[i]!) {
          best[i] = v;
          out[t0 + i] = c;
        }
      }
    }
  }
  return out;
}

export function isSemanticShape(outputs: readonly TensorMeta[], inputs: readonly TensorMeta[] | undefined): boolean {
  const s = outputs[0]?.shape;
  if (outputs.length !== 1 || s === undefined || s.length !== 4) return false;
  const k = fixedDim(s, 1);
  const h = fixedDim(s, 2);
  // Class maps have tens to hundreds of classes (VOC 21, Cityscapes 19, ADE20K 150); a backbone's
  // feature map ([1, 2048, 7, 7]) has thousands of channels at 1/32 of the input: not a map.
  if (k === undefined || k < 2 || k > 1024 || h === 1) return false;
  const size = inputSize(inputs);
  // Segmentation heads answer at the input's resolution down to 1/16 of it (DeepLab 1/8 or 1/4
  // before their own upsampling, SegFormer 1/4).
  return size === undefined || h === undefined || (h >= size.height / 16 && h <= size.height);
}

export const semanticHead: VisionHead = {
  name: 'semantic',
  task: 'semantic',
  expects: 'one output [B, K, H, W] of K ≥ 2 class scores per pixel (semantic segmentation)',
  defaults: resolvePreprocessConfig({
    width: 512,
    height: 512,
    resize: 'stretch',
    channelOrder: 'rgb',
    ...SCALING.imagenet,
  }),
  decodeDefaults: {},
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    if (metadata['task'] !== undefined && metadata['task'] !== 'segment' && metadata['task'] !== 'semantic')
      return false;
    return isSemanticShape(outputs, inputs);
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('semantic', outputs);
    if (t.dims.length !== 4)
      headMismatch('semantic', `output '${name}' is [${t.dims.join(',')}], expected [B, K, H, W]`);
    const [, k, mh, mw] = t.dims as [number, number, number, number];
    const { data, base } = batchData('semantic', name, t, options.batchIndex);
    const cells = argmaxPlanes(data, base, k, mh * mw);
    const { width: W, height: H } = transform.original;
    const map = k <= 256 ? new Uint8Array(W * H) : new Uint16Array(W * H);
    const counts = new Float64Array(k);
    // Column and row of the map cell under each original column / row (nearest, clamped into the content).
    const cx = new Int32Array(W);
    const cy = new Int32Array(H);
    const sx = mw / transform.input.width;
    const sy = mh / transform.input.height;
    const { content } = transform;
    for (let x = 0; x < W; x++) {
      const tx = Math.min(
        Math.max((x + 0.5) * transform.scaleX - transform.cropX + transform.padX, content.x),
        content.x + content.width - 1e-3,
      );
      cx[x] = Math.min(mw - 1, Math.floor(tx * sx));
    }
    for (let y = 0; y < H; y++) {
      const ty = Math.min(
        Math.max((y + 0.5) * transform.scaleY - transform.cropY + transform.padY, content.y),
        content.y + content.height - 1e-3,
      );
      cy[y] = Math.min(mh - 1, Math.floor(ty * sy));
    }
    for (let y = 0; y < H; y++) {
      const o = y * W;
      if (y > 0 && cy[y] === cy[y - 1]) {
        // The same map row as the line above (the map is coarser than the image): copy it.
        map.copyWithin(o, o - W, o);
        for (let x = 0; x < W; x++) counts[map[o + x]!]!++;
        continue;
      }
      const row = cy[y]! * mw;
      for (let x = 0; x < W; x++) {
        const c = cells[row + cx[x]!]!;
        map[o + x] = c;
        counts[c]!++;
      }
    }
    const segments: Array<{ classId: number; label: string; pixels: number }> = [];
    for (let c = 0; c < k; c++)
      if (counts[c]! > 0) segments.push({ classId: c, label: labelOf(options.labels, c), pixels: counts[c]! });
    segments.sort((a, b) => b.pixels - a.pixels);
    return { task: 'semantic', map: { width: W, height: H, data: map }, segments };
  },
};
