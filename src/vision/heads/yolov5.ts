/**
 * YOLOv5 (and YOLOv7/YOLOv5u-style anchor exports): one output [B, N, 5+C], rows of cx, cy, w, h
 * in input pixels (already decoded against anchors and strides inside the graph), objectness and C
 * class scores, both already sigmoided. N is 3 anchors per grid cell over strides 8/16/32
 * (25200 at 640×640). score = objectness · class score, then class-aware NMS.
 */
import { ULTRALYTICS_PREPROCESS } from './yolo.js';
import type { ImageTransform } from '../geometry.js';
import { detectorLabels } from '../labels.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { Candidates, finishDetections } from './candidates.js';
import {
  batchData,
  expectRank,
  firstOutput,
  headMismatch,
  inputSize,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';
import { gridCells, rowMajorShape, scanRows } from './row-major.js';

const candidates = new Candidates();

export const YOLO_STRIDES: readonly number[] = [8, 16, 32];

export const yolov5Head: VisionHead = {
  name: 'yolov5',
  task: 'detect',
  expects: 'one output [B, N, 5+C] (YOLOv5: cx,cy,w,h in input pixels, objectness, C class scores per row)',
  defaults: ULTRALYTICS_PREPROCESS,
  // YOLOv5 detect.py defaults: conf 0.25, iou 0.45, max_det 1000.
  decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 1000 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    const shape = rowMajorShape(outputs);
    if (shape === undefined) return false;
    const size = inputSize(inputs);
    if (size === undefined || shape.n === undefined) return true;
    return shape.n === 3 * gridCells(size.width, size.height, YOLO_STRIDES);
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('yolov5', outputs);
    const dims = expectRank('yolov5', name, t, 3);
    const n = dims[1]!;
    const width = dims[2]!;
    if (width < 6) headMismatch('yolov5', `output '${name}' is [${dims.join(',')}], expected [B, N, 5+C]`);
    const { data, base } = batchData('yolov5', name, t, options.batchIndex);
    candidates.reset();
    scanRows(data, base, n, width, options.scoreThreshold, options.classes, (i, score, cls) => {
      const r = base + i * width;
      candidates.pushCenter(data[r]!, data[r + 1]!, data[r + 2]!, data[r + 3]!, score, cls);
    });
    return {
      task: 'detect',
      detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, width - 5)),
    };
  },
};
