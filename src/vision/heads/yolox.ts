/**
 * YOLOX (Megvii's official ONNX exports, e.g. yolox_nano): one output [B, N, 5+C], one row per grid
 * cell for strides 8, 16, 32 in that order, row-major within each stride, and raw box offsets:
 *   cx = (p0 + grid x) · stride, cy = (p1 + grid y) · stride, w = exp(p2) · stride, h = exp(p3) · stride
 * Objectness and class scores are already sigmoided; score = obj · cls (YOLOX demo_postprocess and
 * multiclass_nms). N must equal the grid cell count of the input size (3549 at 416×416).
 * Preprocessing is YOLOX's own: BGR, raw 0..255, letterbox anchored top-left, pad 114.
 */
import { resolvePreprocessConfig } from '../config.js';
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
import { YOLO_STRIDES } from './yolov5.js';

const candidates = new Candidates();

/** Whether n grid cells fit a square input at strides 8/16/32 (n = (s/8)² · 21/16 for side s). */
function squareGrid(n: number): boolean {
  const cells8 = (n * 16) / 21;
  const side = Math.round(Math.sqrt(cells8));
  return Number.isInteger(cells8) && side * side === cells8 && gridCells(side * 8, side * 8, YOLO_STRIDES) === n;
}

export const yoloxHead: VisionHead = {
  name: 'yolox',
  task: 'detect',
  expects:
    'one output [B, N, 5+C] with N the grid cells over strides 8/16/32 (YOLOX: grid offsets, log sizes, ' +
    'objectness, C class scores per row)',
  defaults: resolvePreprocessConfig({
    width: 640,
    height: 640,
    resize: 'letterbox',
    anchor: 'top-left',
    padValue: 114,
    channelOrder: 'bgr',
    rescale: 1,
  }),
  // YOLOX demo (tools/demo.py): conf 0.3 there, 0.25 here like the other detectors; nms 0.45.
  decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 300 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    const shape = rowMajorShape(outputs);
    if (shape === undefined || shape.n === undefined) return shape !== undefined;
    const size = inputSize(inputs);
    if (size === undefined) return squareGrid(shape.n);
    return shape.n === gridCells(size.width, size.height, YOLO_STRIDES);
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('yolox', outputs);
    const dims = expectRank('yolox', name, t, 3);
    const n = dims[1]!;
    const width = dims[2]!;
    const { width: W, height: H } = transform.input;
    const cells = gridCells(W, H, YOLO_STRIDES);
    if (width < 6 || n !== cells) {
      headMismatch(
        'yolox',
        `output '${name}' is [${dims.join(',')}], but a ${W}x${H} input has ${cells} grid cells over ` +
          `strides ${YOLO_STRIDES.join('/')}`,
      );
    }
    const { data, base } = batchData('yolox', name, t, options.batchIndex);
    // Row i → (stride, grid x, grid y), from the cumulative cell counts of the strides.
    const levels = YOLO_STRIDES.map((s) => ({ s, gw: Math.floor(W / s), start: 0, end: 0 }));
    let start = 0;
    for (const l of levels) {
      l.start = start;
      start += l.gw * Math.floor(H / l.s);
      l.end = start;
    }
    candidates.reset();
    scanRows(data, base, n, width, options.scoreThreshold, options.classes, (i, score, cls) => {
      const l = levels.find((x) => i < x.end)!;
      const k = i - l.start;
      const gx = k % l.gw;
      const gy = (k - gx) / l.gw;
      const r = base + i * width;
      const cx = (data[r]! + gx) * l.s;
      const cy = (data[r + 1]! + gy) * l.s;
      const w = Math.exp(data[r + 2]!) * l.s;
      const h = Math.exp(data[r + 3]!) * l.s;
      candidates.pushCenter(cx, cy, w, h, score, cls);
    });
    return {
      task: 'detect',
      detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, width - 5)),
    };
  },
};
