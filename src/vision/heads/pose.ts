/**
 * Ultralytics pose (`task = pose`, `kpt_shape = [K, D]` in metadata): boxes with K keypoints each.
 * Two export forms:
 * - decoded (the default export): one output [B, 4 + C + K·D, N], channel-major; rows 0..3 are
 *   cx, cy, w, h in input pixels, then C class scores (sigmoided), then per keypoint x, y in input
 *   pixels and, for D = 3, a visibility already sigmoided (Ultralytics Pose.kpts_decode);
 * - raw per-stride outputs with the DFL outside the graph (yolov8-raw.ts decodes those).
 */
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
  outputEntries,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';
import { ULTRALYTICS_PREPROCESS } from './yolo.js';
import { decodeRaw, keypointShape, layoutFor, rawLayout, rawLevels } from './yolov8-raw.js';

const candidates = new Candidates();

function decodedClasses(
  rows: number,
  metadata: ModelMetadata,
  labels: readonly string[] | undefined,
): { classes: number; keypoints: number; kdim: number } | undefined {
  const { keypoints, kdim } = keypointShape(metadata);
  if (keypoints === 0) return undefined;
  const classes = rows - 4 - keypoints * kdim;
  if (classes < 1) return undefined;
  const named = labels?.length ?? parseNames(metadata['names'])?.length;
  return named === undefined || named === classes ? { classes, keypoints, kdim } : undefined;
}

function decodeDecoded(
  outputs: ModelOutputs,
  transform: ImageTransform,
  options: DecodeOptions,
  metadata: ModelMetadata,
): HeadResult {
  const [name, t] = firstOutput('pose', outputs);
  const dims = expectRank('pose', name, t, 3);
  const rows = dims[1]!;
  const n = dims[2]!;
  const layout = decodedClasses(rows, metadata, options.labels) ?? decodedClasses(rows, metadata, undefined);
  if (layout === undefined)
    headMismatch(
      'pose',
      `output '${name}' has ${rows} rows, which do not split into 4 box rows, the classes and ` +
        `kpt_shape ${metadata['kpt_shape'] ?? '(missing)'}`,
    );
  const { data, base } = batchData('pose', name, t, options.batchIndex);
  const keep = classFilter(options.classes);
  const thr = options.scoreThreshold;
  const k0 = 4 + layout.classes;
  candidates.reset(layout.keypoints);
  const { best, cls } = scanClasses(data, base + 4 * n, n, layout.classes, thr, keep);
  for (let i = 0; i < n; i++) {
    const s = best[i]!;
    if (s === -Infinity) continue;
    candidates.pushCenterColumn(data, base, n, i, s, cls[i]!);
    for (let k = 0; k < layout.keypoints; k++) {
      const r = base + (k0 + k * layout.kdim) * n + i;
      candidates.setKeypoint(k, data[r]!, data[r + n]!, layout.kdim === 3 ? data[r + 2 * n]! : NaN);
    }
  }
  return {
    task: 'detect',
    detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, layout.classes)),
  };
}

function isDecoded(outputs: readonly TensorMeta[], metadata: ModelMetadata): boolean {
  const s = outputs[0]?.shape;
  if (s === undefined || s.length !== 3 || outputs.length !== 1) return false;
  const rows = fixedDim(s, 1);
  const n = fixedDim(s, 2);
  return rows !== undefined && (n === undefined || n > rows) && decodedClasses(rows, metadata, undefined) !== undefined;
}

function poseHeadFor(metadata: ModelMetadata): VisionHead {
  return {
    name: 'pose',
    task: 'detect',
    expects:
      'Ultralytics pose: one output [B, 4+C+K·D, N] or raw per-stride outputs [B, 64+C+K·D, H, W], with ' +
      'kpt_shape [K, D] in metadata',
    defaults: ULTRALYTICS_PREPROCESS,
    decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.7, maxDetections: 300 },
    matches(outputs: readonly TensorMeta[], meta: ModelMetadata): boolean {
      if (keypointShape(meta).keypoints === 0) return false;
      if (isDecoded(outputs, meta)) return true;
      const levels = rawLevels(outputs);
      return levels !== undefined && rawLayout(levels.channels, meta) !== undefined;
    },
    withMetadata: poseHeadFor,
    decode(outputs, transform, options) {
      const entries = outputEntries(outputs);
      if (entries.length === 1) return decodeDecoded(outputs, transform, options, metadata);
      return decodeRaw('pose', outputs, transform, options, (c, labels) => layoutFor(c, metadata, labels));
    },
  };
}

export const poseHead: VisionHead = poseHeadFor({});
