/**
 * Ultralytics oriented boxes (`task = obb`, DOTA models): one output [B, 4 + C + 1, N],
 * channel-major: cx, cy, w, h in input pixels, C class scores (sigmoided), then the angle in
 * radians. Suppression is by the rotated boxes' IoU (rotated.ts); each kept box is reported with
 * its four corners mapped to original pixels (`polygon`), their bounds as `box`, and `angle`.
 */
import { toOriginalPoint, type ImageTransform } from '../geometry.js';
import { detectorLabels, labelOf, parseNames } from '../labels.js';
import { rotatedCorners, rotatedNms } from '../rotated.js';
import type { Detection, HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { classFilter, scanClasses } from './candidates.js';
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
import { ULTRALYTICS_PREPROCESS } from './yolo.js';

let rects = new Float32Array(5 * 256);
let scores = new Float32Array(256);
let classes = new Int32Array(256);

function headFor(metadata: ModelMetadata): VisionHead {
  return {
    name: 'obb',
    task: 'detect',
    expects: 'one output [B, 4+C+1, N] (Ultralytics obb: cx, cy, w, h, C class scores, angle) with metadata task=obb',
    defaults: ULTRALYTICS_PREPROCESS,
    decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.7, maxDetections: 300 },
    matches(outputs: readonly TensorMeta[], meta: ModelMetadata): boolean {
      if (meta['task'] !== 'obb') return false;
      const s = outputs[0]?.shape;
      if (outputs.length !== 1 || s === undefined || s.length !== 3) return false;
      const rows = fixedDim(s, 1);
      const names = parseNames(meta['names']);
      return rows !== undefined && rows >= 6 && (names === undefined || names.length === rows - 5);
    },
    withMetadata: headFor,
    decode: (outputs, transform, options) => decodeObb(outputs, transform, options, metadata),
  };
}

function decodeObb(
  outputs: ModelOutputs,
  transform: ImageTransform,
  options: DecodeOptions,
  metadata: ModelMetadata,
): HeadResult {
  const [name, t] = firstOutput('obb', outputs);
  const dims = expectRank('obb', name, t, 3);
  const rows = dims[1]!;
  const n = dims[2]!;
  const nc = rows - 5;
  if (nc < 1) headMismatch('obb', `output '${name}' has ${rows} rows, expected 4 + C + 1`);
  const { data, base } = batchData('obb', name, t, options.batchIndex);
  const count = collectCandidates(data, base, rows, n, options);
  const kept = rotatedNms(
    { rects, scores, classes, count },
    {
      iouThreshold: options.iouThreshold,
      scoreThreshold: options.scoreThreshold,
      maxDetections: options.maxDetections,
      topK: options.topK,
      agnostic: options.agnostic,
    },
  );
  const labels = detectorLabels(options.labels ?? parseNames(metadata['names']), nc);
  return { task: 'detect', detections: keptDetections(kept, transform, labels) };
}

/**
 * The boxes whose best kept class is over the threshold into the module's buffers (rects as cx, cy,
 * w, h, angle; grown as needed); returns how many.
 */
function collectCandidates(data: Float32Array, base: number, rows: number, n: number, options: DecodeOptions): number {
  const keep = classFilter(options.classes);
  let count = 0;
  const { best, cls: bestClass } = scanClasses(data, base + 4 * n, n, rows - 5, options.scoreThreshold, keep);
  for (let i = 0; i < n; i++) {
    const s = best[i]!;
    if (s === -Infinity) continue;
    const cls = bestClass[i]!;
    if (count === scores.length) grow();
    for (let k = 0; k < 4; k++) rects[5 * count + k] = data[base + k * n + i]!;
    rects[5 * count + 4] = data[base + (rows - 1) * n + i]!;
    scores[count] = s;
    classes[count] = cls;
    count++;
  }
  return count;
}

function grow(): void {
  const r2 = new Float32Array(rects.length * 2);
  r2.set(rects);
  rects = r2;
  const s2 = new Float32Array(scores.length * 2);
  s2.set(scores);
  scores = s2;
  const c2 = new Int32Array(classes.length * 2);
  c2.set(classes);
  classes = c2;
}

/** The kept boxes' corners in original pixels, their clipped bounds, and the angle. */
function keptDetections(
  kept: readonly number[],
  transform: ImageTransform,
  labels: readonly string[] | undefined,
): Detection[] {
  const { width: W, height: H } = transform.original;
  const detections: Detection[] = [];
  for (const i of kept) {
    const c = rotatedCorners(rects[5 * i]!, rects[5 * i + 1]!, rects[5 * i + 2]!, rects[5 * i + 3]!, rects[5 * i + 4]!);
    const polygon: Array<[number, number]> = [];
    for (let k = 0; k < 4; k++) polygon.push(toOriginalPoint(transform, c[2 * k]!, c[2 * k + 1]!));
    const xs = polygon.map((p) => p[0]);
    const ys = polygon.map((p) => p[1]);
    const box: Detection['box'] = [
      Math.max(0, Math.min(...xs)),
      Math.max(0, Math.min(...ys)),
      Math.min(W, Math.max(...xs)),
      Math.min(H, Math.max(...ys)),
    ];
    if (box[2] <= box[0] || box[3] <= box[1]) continue;
    const classId = classes[i]!;
    detections.push({
      label: labelOf(labels, classId),
      classId,
      score: scores[i]!,
      box,
      polygon,
      angle: rects[5 * i + 4]!,
    });
  }
  return detections;
}

export const obbHead: VisionHead = headFor({});
