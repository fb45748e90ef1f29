/**
 * End-to-end detectors whose graph already suppresses duplicates (Ultralytics YOLOv10 and YOLO26,
 * `nms=True` exports, RT-DETR-style post-processed exports): one output [B, K, 6] with rows
 * x1, y1, x2, y2 (input pixels), score, class. No NMS; rows below the threshold are dropped
 * (padding rows have score 0).
 */
import { ULTRALYTICS_PREPROCESS } from './yolo.js';
import type { ImageTransform } from '../geometry.js';
import { parseNames } from '../labels.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections } from './candidates.js';
import {
  batchData,
  expectRank,
  firstOutput,
  fixedDim,
  headMismatch,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

const candidates = new Candidates();

/**
 * Above this many rows a [B, N, 6] output is read as a one-class YOLOv5 ([1, 25200, 6]) rather than
 * an end-to-end one: end-to-end exports keep max_det rows, 300 by default.
 */
export const END2END_MAX_ROWS = 1000;

export const end2endHead: VisionHead = {
  name: 'end2end',
  task: 'detect',
  expects: 'one output [B, K, 6] (x1,y1,x2,y2,score,class per row, already suppressed)',
  defaults: ULTRALYTICS_PREPROCESS,
  decodeDefaults: { scoreThreshold: 0.25, maxDetections: 300 },
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata): boolean {
    const s = outputs[0]?.shape;
    if (outputs.length !== 1 || s === undefined || s.length !== 3 || fixedDim(s, 2) !== 6) return false;
    const k = fixedDim(s, 1);
    if (metadata['end2end'] === 'True' || metadata['nms'] === 'True') return true;
    // Ultralytics detect exports without end2end metadata are [1, 4+C, N]; [1, K, 6] with names is end-to-end.
    if (metadata['task'] === 'detect' && parseNames(metadata['names']) !== undefined)
      return k === undefined || k <= END2END_MAX_ROWS;
    return k !== undefined && k <= END2END_MAX_ROWS;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('end2end', outputs);
    const dims = expectRank('end2end', name, t, 3);
    if (dims[2] !== 6) headMismatch('end2end', `output '${name}' is [${dims.join(',')}], expected [B, K, 6]`);
    const k = dims[1]!;
    const { data, base } = batchData('end2end', name, t, options.batchIndex);
    const keep = classFilter(options.classes);
    const thr = options.scoreThreshold;
    candidates.reset();
    for (let i = 0; i < k; i++) {
      const r = base + i * 6;
      const score = data[r + 4]!;
      if (!(score >= thr)) continue;
      const cls = Math.round(data[r + 5]!);
      if (keep !== undefined && keep[cls] !== 1) continue;
      candidates.push(data[r]!, data[r + 1]!, data[r + 2]!, data[r + 3]!, score, cls);
    }
    // Without names the class count is unknown; COCO-80 labels apply only when given as labels.
    return { task: 'detect', detections: finishDetections(candidates, transform, options, options.labels, false) };
  },
};
