/**
 * Ultralytics YOLOv8 / YOLO11 exports with the head's decoding left out of the graph: one output
 * per stride, [B, 4·16 + C + K·D, H, W] (64 box-distribution bins, C class logits, then K keypoints
 * of D = 2 or 3 values for pose models). Decoding, as Ultralytics' Detect and Pose heads do it:
 *   box sides l, t, r, b = expectation of softmax over 16 bins (DFL), in cells from the cell centre
 *   (col + 0.5, row + 0.5); × stride gives tensor pixels;
 *   score = sigmoid(class logit);
 *   keypoint x = (v · 2 + col) · stride, y = (v · 2 + row) · stride, visibility = sigmoid(v).
 * C comes from `names` metadata (else all channels after the box are classes), K and D from
 * `kpt_shape` ("[5, 3]"). Levels are told apart by their grid size, strides from the input size.
 */
import type { ImageTransform } from '../geometry.js';
import { detectorLabels, parseNames } from '../labels.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections, scanClasses } from './candidates.js';
import { chwView, integral, logit, parseInts, sigmoid, type LevelView } from './grid.js';
import {
  fixedDim,
  headMismatch,
  outputEntries,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';
import { ULTRALYTICS_PREPROCESS } from './yolo.js';

const REG_MAX = 16;
const BOX = 4 * REG_MAX;
const candidates = new Candidates();

export interface RawLayout {
  classes: number;
  keypoints: number;
  /** Values per keypoint: 3 (x, y, visibility) or 2 (x, y). */
  kdim: number;
}

/** K and D from `kpt_shape` metadata ("[17, 3]"), or none. */
export function keypointShape(metadata: ModelMetadata): { keypoints: number; kdim: number } {
  const k = parseInts(metadata['kpt_shape']);
  return k !== undefined && k.length === 2 && (k[1] === 2 || k[1] === 3)
    ? { keypoints: k[0]!, kdim: k[1]! }
    : { keypoints: 0, kdim: 3 };
}

/** The split of C channels into box bins, classes and keypoints, or undefined when it does not add up. */
export function rawLayout(
  channels: number,
  metadata: ModelMetadata,
  labels?: readonly string[],
): RawLayout | undefined {
  const { keypoints, kdim } = keypointShape(metadata);
  const rest = channels - BOX - keypoints * kdim;
  if (rest < 1) return undefined;
  const named = labels?.length ?? parseNames(metadata['names'])?.length;
  if (named !== undefined && named !== rest) return undefined;
  return { classes: rest, keypoints, kdim };
}

/** Whether the outputs are 2..5 rank-4 levels with one channel count and halving grids. */
export function rawLevels(
  outputs: ReadonlyArray<{ shape: ReadonlyArray<number | string> }>,
): { channels: number } | undefined {
  if (outputs.length < 2 || outputs.length > 5) return undefined;
  if (!outputs.every((o) => o.shape.length === 4)) return undefined;
  const channels = fixedDim(outputs[0]!.shape, 1);
  if (channels === undefined || channels <= BOX) return undefined;
  if (!outputs.every((o) => fixedDim(o.shape, 1) === channels)) return undefined;
  const heights = outputs
    .map((o) => fixedDim(o.shape, 2))
    .filter((h): h is number => h !== undefined)
    .sort((a, b) => b - a);
  for (let i = 1; i < heights.length; i++) if (Math.abs(heights[i - 1]! / heights[i]! - 2) > 0.2) return undefined;
  return { channels };
}

function decodeLevel(v: LevelView, layout: RawLayout, thr: number, keep: Uint8Array | undefined): void {
  const cells = v.rows * v.cols;
  // Class-major over the NCHW level (chwView: each class row is a contiguous run of H·W logits).
  const { best, cls } = scanClasses(v.data, v.base + BOX * v.chStep, cells, layout.classes, thr, keep);
  const k0 = BOX + layout.classes;
  for (let p = 0; p < cells; p++) {
    if (best[p] === -Infinity) continue;
    const col = p % v.cols;
    const row = (p - col) / v.cols;
    const l = integral(v, p, 0, REG_MAX);
    const t = integral(v, p, REG_MAX, REG_MAX);
    const r = integral(v, p, 2 * REG_MAX, REG_MAX);
    const b = integral(v, p, 3 * REG_MAX, REG_MAX);
    const cx = col + 0.5;
    const cy = row + 0.5;
    candidates.push(
      (cx - l) * v.strideX,
      (cy - t) * v.strideY,
      (cx + r) * v.strideX,
      (cy + b) * v.strideY,
      sigmoid(best[p]!),
      cls[p]!,
    );
    for (let k = 0; k < layout.keypoints; k++) {
      const o = v.base + p + (k0 + k * layout.kdim) * v.chStep;
      const x = (v.data[o]! * 2 + col) * v.strideX;
      const y = (v.data[o + v.chStep]! * 2 + row) * v.strideY;
      candidates.setKeypoint(k, x, y, layout.kdim === 3 ? sigmoid(v.data[o + 2 * v.chStep]!) : NaN);
    }
  }
}

/** Decodes raw per-stride outputs; shared by the yolov8-raw and pose heads. */
export function decodeRaw(
  head: string,
  outputs: ModelOutputs,
  transform: ImageTransform,
  options: DecodeOptions,
  metadataLayout: (channels: number, labels: readonly string[] | undefined) => RawLayout | undefined,
): HeadResult {
  const entries = outputEntries(outputs);
  const levels = rawLevels(entries.map(([, t]) => ({ shape: t.dims })));
  if (levels === undefined)
    headMismatch(
      head,
      `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not ` +
        `2 to 5 levels [B, C, H, W] with one C and halving grids`,
    );
  const layout = metadataLayout(levels.channels, options.labels);
  if (layout === undefined)
    headMismatch(head, `${levels.channels} channels do not split into 64 box bins, the classes and the keypoints`);
  const views = entries
    .map(([n, t]) => chwView(head, n, t, options.batchIndex, transform.input))
    .sort((a, b) => b.rows - a.rows);
  candidates.reset(layout.keypoints);
  const thr = logit(options.scoreThreshold);
  const keep = classFilter(options.classes);
  for (const v of views) decodeLevel(v, layout, thr, keep);
  return {
    task: 'detect',
    detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, layout.classes)),
  };
}

/** The layout for these labels, else for the metadata's names, else every channel after box and keypoints a class. */
export function layoutFor(
  channels: number,
  metadata: ModelMetadata,
  labels: readonly string[] | undefined,
): RawLayout | undefined {
  return (
    rawLayout(channels, metadata, labels) ??
    rawLayout(channels, metadata) ??
    rawLayout(channels, { ...(metadata['kpt_shape'] !== undefined ? { kpt_shape: metadata['kpt_shape'] } : {}) })
  );
}

function rawHead(metadata: ModelMetadata): VisionHead {
  return {
    name: 'yolov8-raw',
    task: 'detect',
    expects:
      '2 to 5 outputs [B, 64+C(+K·3), H, W], one per stride (Ultralytics YOLOv8/YOLO11 with DFL outside the graph)',
    defaults: ULTRALYTICS_PREPROCESS,
    // Ultralytics predict defaults: conf 0.25, iou 0.7, max_det 300.
    decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.7, maxDetections: 300 },
    matches(outputs: readonly TensorMeta[], meta: ModelMetadata): boolean {
      const levels = rawLevels(outputs);
      return levels !== undefined && rawLayout(levels.channels, meta) !== undefined;
    },
    withMetadata: rawHead,
    decode(outputs, transform, options) {
      return decodeRaw('yolov8-raw', outputs, transform, options, (c, labels) => layoutFor(c, metadata, labels));
    },
  };
}

export const yolov8RawHead: VisionHead = rawHead({});
