/**
 * MediaPipe BlazeFace: two outputs over SSD anchors, regressors [B, N, 4 + 2K] (box cx, cy, w, h,
 * then K keypoints, in input pixels relative to the anchor) and raw score logits [B, N, 1].
 * Anchors are generated from the model's strides, as MediaPipe's SsdAnchorsCalculator does (unit
 * size, centres at (cell + 0.5) / grid, consecutive layers of one stride sharing a grid, one anchor
 * per layer and aspect ratio, 2 per layer here): the short-range front model (128×128) and the back
 * model (256×256) both use four layers at strides S/16, S/8, S/8, S/8 (8,16,16,16 and 16,32,32,32)
 * = 896 anchors; the full-range model (192×192) one layer at stride 4 with one anchor = 2304. The
 * layout is the one whose count matches N for the input size. Decoding (face_detection graphs):
 * cx = r0 + anchor x · S, w = r2 (in input pixels, S the input size), keypoint k = r(4+2k) + anchor,
 * score = sigmoid(clip(logit, ±100)). Keypoints (6 for BlazeFace: eyes, nose, mouth, ears) are
 * reported. Preprocessing: RGB, x / 127.5 − 1, letterbox centred on black.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { Candidates, finishDetections } from './candidates.js';
import { batchOffset, fixedDim, floatData, headMismatch, inputSize, outputEntries, type DecodeOptions, type ModelMetadata, type VisionHead } from './head.js';

const candidates = new Candidates();

/** MediaPipe's anchor layouts, as strides relative to the input size and anchors per layer. */
const LAYOUTS: ReadonlyArray<{ name: string; strides: (size: number) => number[]; perLayer: number }> = [
  { name: 'short-range (front 128, back 256)', strides: (s) => [s / 16, s / 8, s / 8, s / 8], perLayer: 2 },
  { name: 'full-range', strides: (s) => [s / 48], perLayer: 1 },
];

/**
 * Anchor centres (x, y pairs, normalised) for an input of `size` and layer strides, in MediaPipe's
 * order: layers of one stride merged, then cell-major, anchors within a cell.
 */
export function ssdAnchorCentres(size: number, strides: readonly number[], perLayer: number): Float32Array {
  const out: number[] = [];
  for (let l = 0; l < strides.length; ) {
    let last = l;
    while (last < strides.length && strides[last] === strides[l]) last++;
    const grid = Math.ceil(size / strides[l]!);
    const perCell = (last - l) * perLayer;
    for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) for (let a = 0; a < perCell; a++) out.push((x + 0.5) / grid, (y + 0.5) / grid);
    l = last;
  }
  return Float32Array.from(out);
}

/** The front model's anchors (128×128, strides 8, 16, 16, 16). */
export function blazefaceAnchors(size = 128): Float32Array {
  return ssdAnchorCentres(size, LAYOUTS[0]!.strides(size), 2);
}

const anchorCache = new Map<string, Float32Array | null>();

/** The anchors of the layout with `count` anchors at this input size, or undefined. */
export function anchorsFor(size: number, count: number): Float32Array | undefined {
  const key = `${size}:${count}`;
  if (!anchorCache.has(key)) {
    const hit = LAYOUTS.map((l) => ssdAnchorCentres(size, l.strides(size), l.perLayer)).find((a) => a.length === 2 * count);
    anchorCache.set(key, hit ?? null);
  }
  return anchorCache.get(key) ?? undefined;
}

function roles(shapes: ReadonlyArray<ReadonlyArray<number | string>>): { boxes: number; scores: number; n: number; width: number } | undefined {
  if (shapes.length !== 2) return undefined;
  const n = shapes.map((s) => (s.length === 3 ? fixedDim(s, 1) : undefined));
  if (n[0] === undefined || n[0] !== n[1]) return undefined;
  const last = shapes.map((s) => fixedDim(s, 2));
  const ok = (w: number | undefined): w is number => w !== undefined && w >= 4 && w % 2 === 0 && w <= 4 + 2 * 32;
  if (ok(last[0]) && last[1] === 1) return { boxes: 0, scores: 1, n: n[0], width: last[0] };
  if (ok(last[1]) && last[0] === 1) return { boxes: 1, scores: 0, n: n[0], width: last[1] };
  return undefined;
}

export const blazefaceHead: VisionHead = {
  name: 'blazeface',
  task: 'detect',
  expects: 'two outputs over BlazeFace anchors: regressors [B, N, 4+2K] and score logits [B, N, 1] (N = 896 at 128 or 256, 2304 full-range at 192)',
  defaults: resolvePreprocessConfig({ width: 128, height: 128, resize: 'letterbox', anchor: 'center', padValue: 0, channelOrder: 'rgb', ...SCALING.symmetric }),
  // MediaPipe face_detection_front: min_score_thresh 0.75, min_suppression_threshold 0.3.
  decodeDefaults: { scoreThreshold: 0.75, iouThreshold: 0.3, maxDetections: 100 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    const r = roles(outputs.map((o) => o.shape));
    if (r === undefined) return false;
    const size = inputSize(inputs);
    if (size !== undefined && size.width !== size.height) return false;
    return anchorsFor(size?.width ?? 128, r.n) !== undefined;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const entries = outputEntries(outputs);
    const r = roles(entries.map(([, t]) => t.dims));
    if (r === undefined) headMismatch('blazeface', `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not [B,N,4+2K] and [B,N,1]`);
    const sx = transform.input.width;
    const sy = transform.input.height;
    const anchors = anchorsFor(sx, r.n) ?? headMismatch('blazeface', `no BlazeFace anchor layout has ${r.n} anchors at ${sx}x${sy}`);
    const [bName, bT] = entries[r.boxes]!;
    const [sName, sT] = entries[r.scores]!;
    const reg = floatData('blazeface', bName, bT);
    const logits = floatData('blazeface', sName, sT);
    const bBase = batchOffset('blazeface', bName, bT.dims, options.batchIndex);
    const sBase = batchOffset('blazeface', sName, sT.dims, options.batchIndex);
    const keypoints = (r.width - 4) / 2;
    // sigmoid(x) >= t  ⇔  x >= logit(t): compare logits, compute the sigmoid for the few that pass.
    const t = Math.min(Math.max(options.scoreThreshold, 1e-7), 1 - 1e-7);
    const minLogit = Math.log(t / (1 - t));
    candidates.reset(keypoints);
    for (let i = 0; i < r.n; i++) {
      const logit = Math.min(Math.max(logits[sBase + i]!, -100), 100);
      if (logit < minLogit) continue;
      const score = 1 / (1 + Math.exp(-logit));
      const b = bBase + i * r.width;
      const ax = anchors[2 * i]! * sx;
      const ay = anchors[2 * i + 1]! * sy;
      candidates.pushCenter(reg[b]! + ax, reg[b + 1]! + ay, reg[b + 2]!, reg[b + 3]!, score, 0);
      for (let k = 0; k < keypoints; k++) candidates.setKeypoint(k, reg[b + 4 + 2 * k]! + ax, reg[b + 5 + 2 * k]! + ay, NaN);
    }
    return { task: 'detect', detections: finishDetections(candidates, transform, options, options.labels ?? ['face']) };
  },
};
