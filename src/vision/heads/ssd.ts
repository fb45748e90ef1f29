/**
 * SSD-style detectors with decoded boxes, as UltraFace (version-RFB-320) exports them: two outputs
 * over the same N priors, `scores` [B, N, C] (softmaxed, class 0 is background) and `boxes`
 * [B, N, 4] in corner form x1, y1, x2, y2 normalised to the input (0..1; clipped to it). The best
 * non-background class scores each prior, then class-aware NMS.
 * Preprocessing is UltraFace's: RGB, (x − 127) / 128, plain resize to 320×240.
 */
import { resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, OutputTensor, TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections } from './candidates.js';
import {
  batchOffset,
  fixedDim,
  floatData,
  headMismatch,
  outputEntries,
  sameDim,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

const candidates = new Candidates();

/** Which of two declared outputs are the boxes (last dim 4) and the scores (same N, C >= 2). */
function roles(outputs: readonly TensorMeta[]): { boxes: number; scores: number } | undefined {
  if (outputs.length !== 2) return undefined;
  const [a, b] = outputs as [TensorMeta, TensorMeta];
  if (a.shape.length !== 3 || b.shape.length !== 3 || !sameDim(a.shape[1], b.shape[1])) return undefined;
  const boxesFirst = fixedDim(a.shape, 2) === 4 && (fixedDim(b.shape, 2) ?? 0) >= 2;
  const boxesSecond = fixedDim(b.shape, 2) === 4 && (fixedDim(a.shape, 2) ?? 0) >= 2;
  if (boxesFirst && boxesSecond) {
    // Both could be boxes (C = 4): names decide.
    if (/box/i.test(a.name)) return { boxes: 0, scores: 1 };
    if (/box/i.test(b.name)) return { boxes: 1, scores: 0 };
    return undefined;
  }
  if (boxesSecond) return { boxes: 1, scores: 0 };
  if (boxesFirst) return { boxes: 0, scores: 1 };
  return undefined;
}

function actualRoles(outputs: ModelOutputs): { boxes: [string, OutputTensor]; scores: [string, OutputTensor] } {
  const entries = outputEntries(outputs);
  const r = roles(entries.map(([name, t]) => ({ name, shape: t.dims })));
  if (r === undefined) {
    headMismatch(
      'ssd',
      `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not scores [B,N,C] and ` +
        `boxes [B,N,4]`,
    );
  }
  return { boxes: entries[r.boxes]!, scores: entries[r.scores]! };
}

export const ssdHead: VisionHead = {
  name: 'ssd',
  task: 'detect',
  expects:
    'two outputs over the same N priors: scores [B, N, C] (softmaxed, class 0 background) and boxes [B, N, 4] ' +
    '(x1,y1,x2,y2 normalised to 0..1)',
  defaults: resolvePreprocessConfig({
    width: 320,
    height: 240,
    resize: 'stretch',
    channelOrder: 'rgb',
    rescale: 1,
    mean: [127, 127, 127],
    std: [128, 128, 128],
  }),
  // UltraFace's detect_imgs.py: threshold 0.7, iou 0.3.
  decodeDefaults: { scoreThreshold: 0.7, iouThreshold: 0.3, maxDetections: 200 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata): boolean {
    return roles(outputs) !== undefined;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const {
      boxes: [bName, bT],
      scores: [sName, sT],
    } = actualRoles(outputs);
    const n = bT.dims[1]!;
    const nc = sT.dims[2]!;
    const boxes = floatData('ssd', bName, bT);
    const scores = floatData('ssd', sName, sT);
    const bBase = batchOffset('ssd', bName, bT.dims, options.batchIndex);
    const sBase = batchOffset('ssd', sName, sT.dims, options.batchIndex);
    const { width: W, height: H } = transform.input;
    const keep = classFilter(options.classes);
    const thr = options.scoreThreshold;
    const clip01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
    candidates.reset();
    for (let i = 0; i < n; i++) {
      const r = sBase + i * nc;
      let bestC = -1;
      let bestS = thr;
      for (let c = 1; c < nc; c++) {
        const s = scores[r + c]!;
        if (s >= bestS && (keep === undefined || keep[c] === 1)) {
          bestS = s;
          bestC = c;
        }
      }
      if (bestC < 0) continue;
      const b = bBase + i * 4;
      candidates.push(
        clip01(boxes[b]!) * W,
        clip01(boxes[b + 1]!) * H,
        clip01(boxes[b + 2]!) * W,
        clip01(boxes[b + 3]!) * H,
        bestS,
        bestC,
      );
    }
    const labels = options.labels ?? (nc === 2 ? ['background', 'face'] : undefined);
    return { task: 'detect', detections: finishDetections(candidates, transform, options, labels) };
  },
};
