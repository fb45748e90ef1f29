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
import {
  batchOffset,
  fixedDim,
  floatData,
  headMismatch,
  inputSize,
  outputEntries,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

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
  for (let l = 0; l < strides.length;) {
    let last = l;
    while (last < strides.length && strides[last] === strides[l]) last++;
    const grid = Math.ceil(size / strides[l]!);
    const perCell = (last - l) * perLayer;
    for (let y = 0; y < grid; y++)
      for (let x = 0; x < grid; x++) for (let a = 0; a < perCell; a++) out.push((x + 0.5) / grid, (y + 0.5) / grid);
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
    const hit = LAYOUTS.map((l) => ssdAnchorCentres(size, l.strides(size), l.perLayer)).find(
      (a) => a.length === 2 * count,
    );
    anchorCache.set(key, hit ?? null);
  }
  return anchorCache.get(key) ?? undefined;
}

interface Roles {
  /** Per part, finest level first: the regressor and score outputs' indices and their anchor count. */
  parts: Array<{ boxes: number; scores: number; n: number }>;
  n: number;
  width: number;
}

/**
 * Regressors [B, N, 4+2K] and scores [B, N, 1]: one pair (MediaPipe's own export), or one pair per
 * anchor grid (TensorFlow conversions split them: [1,512,16] + [1,384,16] and [1,512,1] +
 * [1,384,1]), paired by count, the finer grid's first as MediaPipe orders the anchors.
 */
function roles(shapes: ReadonlyArray<ReadonlyArray<number | string>>): Roles | undefined {
  if (shapes.length < 2 || shapes.length % 2 !== 0 || !shapes.every((s) => s.length === 3)) return undefined;
  const ok = (w: number | undefined): w is number => w !== undefined && w >= 4 && w % 2 === 0 && w <= 4 + 2 * 32;
  const scores: Array<{ i: number; n: number }> = [];
  const boxes: Array<{ i: number; n: number; w: number }> = [];
  for (let i = 0; i < shapes.length; i++) {
    const n = fixedDim(shapes[i]!, 1);
    const w = fixedDim(shapes[i]!, 2);
    if (n === undefined) return undefined;
    if (w === 1) scores.push({ i, n });
    else if (ok(w)) boxes.push({ i, n, w });
    else return undefined;
  }
  if (scores.length !== boxes.length || !boxes.every((b) => b.w === boxes[0]!.w)) return undefined;
  scores.sort((a, b) => b.n - a.n);
  boxes.sort((a, b) => b.n - a.n);
  if (!scores.every((sc, k) => sc.n === boxes[k]!.n)) return undefined;
  return {
    parts: scores.map((sc, k) => ({ boxes: boxes[k]!.i, scores: sc.i, n: sc.n })),
    n: scores.reduce((a, sc) => a + sc.n, 0),
    width: boxes[0]!.w,
  };
}

export const blazefaceHead: VisionHead = {
  name: 'blazeface',
  task: 'detect',
  expects:
    'outputs over BlazeFace anchors: regressors [B, N, 4+2K] and score logits [B, N, 1], or one such pair per ' +
    'anchor grid (N = 896 at 128 or 256, 2304 full-range at 192)',
  defaults: resolvePreprocessConfig({
    width: 128,
    height: 128,
    resize: 'letterbox',
    anchor: 'center',
    padValue: 0,
    channelOrder: 'rgb',
    ...SCALING.symmetric,
  }),
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
    if (r === undefined)
      headMismatch(
        'blazeface',
        `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not regressors ` +
          `[B,N,4+2K] and scores [B,N,1]`,
      );
    const sx = transform.input.width;
    const sy = transform.input.height;
    const anchors =
      anchorsFor(sx, r.n) ?? headMismatch('blazeface', `no BlazeFace anchor layout has ${r.n} anchors at ${sx}x${sy}`);
    const keypoints = (r.width - 4) / 2;
    // sigmoid(x) >= t  ⇔  x >= logit(t): compare logits, compute the sigmoid for the few that pass.
    const t = Math.min(Math.max(options.scoreThreshold, 1e-7), 1 - 1e-7);
    const minLogit = Math.log(t / (1 - t));
    candidates.reset(keypoints);
    let first = 0;
    for (const part of r.parts) {
      const [bName, bT] = entries[part.boxes]!;
      const [sName, sT] = entries[part.scores]!;
      const reg = floatData('blazeface', bName, bT);
      const logits = floatData('blazeface', sName, sT);
      const bBase = batchOffset('blazeface', bName, bT.dims, options.batchIndex);
      const sBase = batchOffset('blazeface', sName, sT.dims, options.batchIndex);
      for (let j = 0; j < part.n; j++) {
        const logit = Math.min(Math.max(logits[sBase + j]!, -100), 100);
        if (logit < minLogit) continue;
        const score = 1 / (1 + Math.exp(-logit));
        const i = first + j;
        const b = bBase + j * r.width;
        const ax = anchors[2 * i]! * sx;
        const ay = anchors[2 * i + 1]! * sy;
        candidates.pushCenter(reg[b]! + ax, reg[b + 1]! + ay, reg[b + 2]!, reg[b + 3]!, score, 0);
        for (let k = 0; k < keypoints; k++)
          candidates.setKeypoint(k, reg[b + 4 + 2 * k]! + ax, reg[b + 5 + 2 * k]! + ay, NaN);
      }
      first += part.n;
    }
    return { task: 'detect', detections: finishDetections(candidates, transform, options, options.labels ?? ['face']) };
  },
};
