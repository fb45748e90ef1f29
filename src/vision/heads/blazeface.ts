/**
 * MediaPipe BlazeFace, front-camera model (blazeface_front_128): two outputs over 896 SSD anchors,
 * regressors [B, 896, 16] (box cx, cy, w, h then 6 keypoints, in input pixels relative to the
 * anchor) and raw score logits [B, 896, 1]. Anchors and decoding follow MediaPipe's
 * face_detection_front graph: strides 8, 16, 16, 16 (the three stride-16 layers share one 8×8
 * grid), two anchors per layer and cell, unit size, centres at (cell + 0.5) / grid;
 * cx = r0 / 128 + anchor x, w = r2 / 128 (in units of the input), score = sigmoid(clip(logit, ±100)).
 * Keypoints are not reported. Preprocessing: RGB, x / 127.5 − 1, letterbox centred on black.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { Candidates, finishDetections } from './candidates.js';
import { batchOffset, fixedDim, floatData, headMismatch, outputEntries, type DecodeOptions, type ModelMetadata, type VisionHead } from './head.js';

const ANCHORS = 896;
const SIZE = 128;
const candidates = new Candidates();

/** Anchor centres (x, y pairs, normalised) in MediaPipe's order: cell-major, anchors within a cell. */
export function blazefaceAnchors(): Float32Array {
  const out = new Float32Array(ANCHORS * 2);
  let k = 0;
  for (const [stride, perCell] of [[8, 2], [16, 6]] as const) {
    const grid = SIZE / stride;
    for (let y = 0; y < grid; y++) {
      for (let x = 0; x < grid; x++) {
        for (let a = 0; a < perCell; a++) {
          out[k++] = (x + 0.5) / grid;
          out[k++] = (y + 0.5) / grid;
        }
      }
    }
  }
  return out;
}

const anchors = blazefaceAnchors();

function roles(shapes: ReadonlyArray<ReadonlyArray<number | string>>): { boxes: number; scores: number } | undefined {
  if (shapes.length !== 2) return undefined;
  const last = shapes.map((s) => (s.length === 3 && fixedDim(s, 1) === ANCHORS ? fixedDim(s, 2) : undefined));
  if (last[0] === 16 && last[1] === 1) return { boxes: 0, scores: 1 };
  if (last[0] === 1 && last[1] === 16) return { boxes: 1, scores: 0 };
  return undefined;
}

export const blazefaceHead: VisionHead = {
  name: 'blazeface',
  task: 'detect',
  expects: 'two outputs over 896 anchors: regressors [B, 896, 16] and score logits [B, 896, 1] (BlazeFace front, 128×128)',
  defaults: resolvePreprocessConfig({ width: SIZE, height: SIZE, resize: 'letterbox', anchor: 'center', padValue: 0, channelOrder: 'rgb', ...SCALING.symmetric }),
  // MediaPipe face_detection_front: min_score_thresh 0.75, min_suppression_threshold 0.3.
  decodeDefaults: { scoreThreshold: 0.75, iouThreshold: 0.3, maxDetections: 100 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    const s = inputs?.[0]?.shape;
    if (s !== undefined && s.length === 4 && (fixedDim(s, 2) ?? SIZE) !== SIZE) return false;
    return roles(outputs.map((o) => o.shape)) !== undefined;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const entries = outputEntries(outputs);
    const r = roles(entries.map(([, t]) => t.dims));
    if (r === undefined) headMismatch('blazeface', `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not [B,896,16] and [B,896,1]`);
    const [bName, bT] = entries[r.boxes]!;
    const [sName, sT] = entries[r.scores]!;
    const reg = floatData('blazeface', bName, bT);
    const logits = floatData('blazeface', sName, sT);
    const bBase = batchOffset('blazeface', bName, bT.dims, options.batchIndex);
    const sBase = batchOffset('blazeface', sName, sT.dims, options.batchIndex);
    const sx = transform.input.width;
    const sy = transform.input.height;
    // sigmoid(x) >= t  ⇔  x >= logit(t): compare logits, compute the sigmoid for the few that pass.
    const t = Math.min(Math.max(options.scoreThreshold, 1e-7), 1 - 1e-7);
    const minLogit = Math.log(t / (1 - t));
    candidates.reset();
    for (let i = 0; i < ANCHORS; i++) {
      const logit = Math.min(Math.max(logits[sBase + i]!, -100), 100);
      if (logit < minLogit) continue;
      const score = 1 / (1 + Math.exp(-logit));
      const b = bBase + i * 16;
      const cx = (reg[b]! / SIZE + anchors[2 * i]!) * sx;
      const cy = (reg[b + 1]! / SIZE + anchors[2 * i + 1]!) * sy;
      const w = (reg[b + 2]! / SIZE) * sx;
      const h = (reg[b + 3]! / SIZE) * sy;
      candidates.pushCenter(cx, cy, w, h, score, 0);
    }
    return { task: 'detect', detections: finishDetections(candidates, transform, options, options.labels ?? ['face']) };
  },
};
