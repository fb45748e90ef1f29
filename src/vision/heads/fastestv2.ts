/**
 * YOLO-FastestV2-style grid heads (dog-qiuqiu/Yolo-FastestV2, export_onnx): one output per stride,
 * channel-last [B, H, W, 4A + A + C] (A = 3 anchors: 4 box values per anchor, A objectness values,
 * then C class scores shared by the cell's anchors), two levels (strides 16 and 32 at 352×352:
 * 22×22 and 11×11). The export applies sigmoid to box and objectness and softmax to the classes.
 * Decoding as its demos do:
 *   cx = (b0 · 2 − 0.5 + col) · S, cy = (b1 · 2 − 0.5 + row) · S,
 *   w = (b2 · 2)² · anchor w, h = (b3 · 2)² · anchor h (anchors in input pixels),
 *   score = obj^0.6 · cls^0.4 (best class).
 * Anchors are the training config's: the COCO ones its repository ships by default (three per
 * level, finest level first), overridable with `anchors` metadata ("w,h, w,h, ...").
 * Preprocessing: BGR (cv2 as read), x / 255, plain resize to 352×352. Thresholds: 0.3, NMS 0.4.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import { detectorLabels } from '../labels.js';
import type { TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections } from './candidates.js';
import { at, hwcView } from './grid.js';
import { fixedDim, headMismatch, outputEntries, type ModelMetadata, type VisionHead } from './head.js';

const ANCHORS_PER_CELL = 3;
/** Yolo-FastestV2's data/coco.data anchors (w, h in input pixels), stride 16 then stride 32. */
export const FASTESTV2_COCO_ANCHORS: readonly number[] = [
  12.64, 19.39, 37.88, 51.48, 55.71, 138.31, 126.91, 78.23, 131.57, 214.55, 279.92, 258.87,
];
const candidates = new Candidates();

/** Levels [B, H, W, 15 + C] with one C and halving H, or undefined. */
export function fastestLevels(shapes: ReadonlyArray<ReadonlyArray<number | string>>): { channels: number } | undefined {
  if (shapes.length < 2 || shapes.length > 3 || !shapes.every((s) => s.length === 4)) return undefined;
  const c = fixedDim(shapes[0]!, 3);
  if (c === undefined || c <= 5 * ANCHORS_PER_CELL || !shapes.every((s) => fixedDim(s, 3) === c)) return undefined;
  const h = shapes.map((s) => fixedDim(s, 1));
  const w = shapes.map((s) => fixedDim(s, 2));
  for (let i = 1; i < shapes.length; i++) {
    if (h[i] === undefined || h[i - 1] !== 2 * h[i]! || w[i - 1] !== 2 * (w[i] ?? 0)) return undefined;
  }
  // Channel-last means the channels outnumber a small grid's side: refuse [B, C, H, W] lookalikes.
  if (h[0] === c) return undefined;
  return { channels: c };
}

function anchorsOf(metadata: ModelMetadata): readonly number[] {
  const nums = metadata['anchors']?.match(/\d+(?:\.\d+)?/g)?.map(Number);
  return nums !== undefined && nums.length >= 2 * ANCHORS_PER_CELL ? nums : FASTESTV2_COCO_ANCHORS;
}

function headFor(metadata: ModelMetadata): VisionHead {
  const anchors = anchorsOf(metadata);
  return {
    name: 'fastestv2',
    task: 'detect',
    expects:
      '2 or 3 outputs [B, H, W, 12+3+C] with halving grids (YOLO-FastestV2: 3 anchors per cell, boxes, ' +
      'objectness, classes)',
    defaults: resolvePreprocessConfig({
      width: 352,
      height: 352,
      resize: 'stretch',
      channelOrder: 'bgr',
      ...SCALING.unit,
    }),
    decodeDefaults: { scoreThreshold: 0.3, iouThreshold: 0.4, maxDetections: 100 },
    matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata): boolean {
      return fastestLevels(outputs.map((o) => o.shape)) !== undefined;
    },
    withMetadata: headFor,
    decode(outputs, transform, options) {
      const entries = outputEntries(outputs);
      const levels =
        fastestLevels(entries.map(([, t]) => t.dims)) ??
        headMismatch(
          'fastestv2',
          `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not [B, H, W, 15+C] levels`,
        );
      const classes = levels.channels - 5 * ANCHORS_PER_CELL;
      const keep = classFilter(options.classes);
      const views = entries
        .map(([n, t]) => hwcView('fastestv2', n, t, options.batchIndex, transform.input))
        .sort((a, b) => b.rows - a.rows);
      if (anchors.length < 2 * ANCHORS_PER_CELL * views.length)
        headMismatch('fastestv2', `${anchors.length / 2} anchors for ${views.length} levels of ${ANCHORS_PER_CELL}`);
      candidates.reset();
      views.forEach((v, level) => {
        for (let p = 0; p < v.rows * v.cols; p++) {
          let cls = 0;
          let clsScore = -1;
          for (let c = 0; c < classes; c++) {
            if (keep !== undefined && keep[c] !== 1) continue;
            const s = at(v, p, 5 * ANCHORS_PER_CELL + c);
            if (s > clsScore) {
              clsScore = s;
              cls = c;
            }
          }
          if (clsScore <= 0) continue;
          const col = p % v.cols;
          const row = (p - col) / v.cols;
          for (let a = 0; a < ANCHORS_PER_CELL; a++) {
            const obj = at(v, p, 4 * ANCHORS_PER_CELL + a);
            const score = Math.pow(obj, 0.6) * Math.pow(clsScore, 0.4);
            if (!(score >= options.scoreThreshold)) continue;
            const an = 2 * (level * ANCHORS_PER_CELL + a);
            const cx = (at(v, p, 4 * a) * 2 - 0.5 + col) * v.strideX;
            const cy = (at(v, p, 4 * a + 1) * 2 - 0.5 + row) * v.strideY;
            const w = (at(v, p, 4 * a + 2) * 2) ** 2 * anchors[an]!;
            const h = (at(v, p, 4 * a + 3) * 2) ** 2 * anchors[an + 1]!;
            candidates.pushCenter(cx, cy, w, h, score, cls);
          }
        }
      });
      return {
        task: 'detect',
        detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, classes)),
      };
    },
  };
}

export const fastestv2Head: VisionHead = headFor({});
