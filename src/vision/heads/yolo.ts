/**
 * Ultralytics YOLOv8 / YOLO11 detect head: one output [B, 4+C, N], channel-major: rows 0..3 are
 * cx, cy, w, h in input pixels, rows 4..4+C-1 class scores (already sigmoided, no objectness).
 * Segment and pose exports carry extra rows after the classes (mask coefficients, keypoints); with
 * `names` in the metadata the head knows C and reads the boxes only.
 *
 * The scan (scanClasses, candidates.ts) is class-major: for each class row, one forward pass over
 * N contiguous floats that mostly compares against the threshold, so memory is read once, in order
 * (the [1,84,8400] output is 2.7 MB).
 */
import { resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import { detectorLabels, parseNames } from '../labels.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections, scanClasses } from './candidates.js';
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

/** Tasks whose Ultralytics export starts with the detect rows. */
const ULTRALYTICS_BOX_TASKS = ['detect', 'segment', 'pose'];

/** C: the number of labels (the model's names) when they fit, else every row after the box. */
function classCount(rows: number, labels: readonly string[] | undefined): number {
  const named = labels?.length;
  return named !== undefined && named > 0 && named <= rows - 4 ? named : rows - 4;
}

/** Ultralytics' preprocessing (also YOLOv5's and most end-to-end exports'): RGB, /255, centred letterbox, pad 114. */
export const ULTRALYTICS_PREPROCESS = resolvePreprocessConfig({
  width: 640,
  height: 640,
  resize: 'letterbox',
  anchor: 'center',
  padValue: 114,
  channelOrder: 'rgb',
  rescale: 1 / 255,
});

export const yoloHead: VisionHead = {
  name: 'yolo',
  task: 'detect',
  expects: 'one output [B, 4+C, N] (Ultralytics YOLOv8/YOLO11: cx,cy,w,h then C class scores per column)',
  defaults: ULTRALYTICS_PREPROCESS,
  // Ultralytics predict defaults: conf 0.25, iou 0.7, max_det 300.
  decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.7, maxDetections: 300 },
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata): boolean {
    const task = metadata['task'];
    if (task !== undefined && !ULTRALYTICS_BOX_TASKS.includes(task)) return false;
    const s = outputs[0]?.shape;
    if (s === undefined || s.length !== 3) return false;
    const rows = fixedDim(s, 1);
    const n = fixedDim(s, 2);
    if (rows === undefined || rows < 5) return false;
    if (n !== undefined && n <= rows) return false;
    const names = parseNames(metadata['names']);
    return names === undefined || names.length <= rows - 4;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('yolo', outputs);
    const dims = expectRank('yolo', name, t, 3);
    const rows = dims[1]!;
    const n = dims[2]!;
    if (rows < 5 || n <= rows)
      headMismatch('yolo', `output '${name}' is [${dims.join(',')}], expected [B, 4+C, N] with N > 4+C`);
    const { data, base } = batchData('yolo', name, t, options.batchIndex);
    const nc = classCount(rows, options.labels);
    const keep = classFilter(options.classes);
    const { best, cls } = scanClasses(data, base + 4 * n, n, nc, options.scoreThreshold, keep);
    candidates.reset();
    for (let i = 0; i < n; i++) {
      const s = best[i]!;
      // Only positive scores are detections, even at a threshold <= 0.
      if (!(s > 0)) continue;
      candidates.pushCenterColumn(data, base, n, i, s, cls[i]!);
    }
    return {
      task: 'detect',
      detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, nc)),
    };
  },
};
