/**
 * SCRFD (InsightFace detection/scrfd, tools/scrfd2onnx.py): 6 or 9 outputs, for strides 8, 16, 32
 * in that order: scores [N, 1], then boxes [N, 4], then (the _KPS models) landmarks [N, 10], with or
 * without a batch dimension; output names are exporter numbers, so roles come from the last dim
 * and strides from N. N = (H/S)·(W/S)·A with A = 2 anchors per point (A is read from N and the
 * input size). Decoding as InsightFace's scrfd.py does:
 *   anchor centre = (col · S, row · S), the same centre for the A anchors of a cell;
 *   box = centre ∓ distances · S (left, top, right, bottom); landmark = centre + offset · S;
 *   scores are already sigmoided.
 * Preprocessing: RGB, (x − 127.5) / 128, the image scaled into the top-left of the 640×640 input on
 * black (scrfd.py's det_img). Thresholds: scrfd.py's 0.5 score, 0.4 NMS.
 */
import { resolvePreprocessConfig } from '../config.js';
import type { TensorMeta } from '../types.js';
import { Candidates, finishDetections } from './candidates.js';
import { at, flatView } from './grid.js';
import { fixedDim, headMismatch, outputEntries, type ModelMetadata, type VisionHead } from './head.js';

const candidates = new Candidates();

interface Levels {
  /** Output indices per level, finest (most rows) first: scores, boxes, landmarks (-1 when absent). */
  levels: Array<{ score: number; box: number; kps: number; n: number }>;
}

function lastDim(shape: ReadonlyArray<number | string>): number | undefined {
  return shape.length === 2 || shape.length === 3 ? fixedDim(shape, shape.length - 1) : undefined;
}

/**
 * The outputs as SCRFD levels, or undefined. Roles come from the last dim (1, 4, 10) and levels
 * from the row count, not from the output order: the exporter's names are numbers ("448", ...), and
 * a JavaScript object lists integer-like keys in numeric order, whatever order the graph gave.
 */
export function scrfdLevels(shapes: ReadonlyArray<ReadonlyArray<number | string>>): Levels | undefined {
  if (shapes.length !== 6 && shapes.length !== 9) return undefined;
  const byRole = new Map<number, Array<{ index: number; n: number }>>();
  for (let i = 0; i < shapes.length; i++) {
    const s = shapes[i]!;
    const c = lastDim(s);
    const n = fixedDim(s, s.length - 2);
    if (c === undefined || n === undefined || ![1, 4, 10].includes(c)) return undefined;
    if (!byRole.has(c)) byRole.set(c, []);
    byRole.get(c)!.push({ index: i, n });
  }
  const scores = byRole.get(1);
  const boxes = byRole.get(4);
  const kps = byRole.get(10);
  if (scores?.length !== 3 || boxes?.length !== 3 || (kps !== undefined && kps.length !== 3)) return undefined;
  for (const list of [scores, boxes, kps]) list?.sort((a, b) => b.n - a.n);
  // Strides 8, 16, 32: each level a quarter of the one before, the same counts for every role.
  const n = scores.map((x) => x.n);
  if (!(n[0] === 4 * n[1]! && n[1] === 4 * n[2]!)) return undefined;
  if (![boxes, kps].every((list) => list === undefined || list.every((x, i) => x.n === n[i]))) return undefined;
  return {
    levels: scores.map((x, i) => ({ score: x.index, box: boxes[i]!.index, kps: kps?.[i]?.index ?? -1, n: x.n })),
  };
}

export const scrfdHead: VisionHead = {
  name: 'scrfd',
  task: 'detect',
  expects: 'SCRFD outputs: scores [N,1] ×3, boxes [N,4] ×3 and optionally landmarks [N,10] ×3 for strides 8, 16, 32',
  defaults: resolvePreprocessConfig({
    width: 640,
    height: 640,
    resize: 'letterbox',
    anchor: 'top-left',
    padValue: 0,
    channelOrder: 'rgb',
    rescale: 1 / 128,
    mean: [127.5 / 128, 127.5 / 128, 127.5 / 128],
    std: [1, 1, 1],
  }),
  decodeDefaults: { scoreThreshold: 0.5, iouThreshold: 0.4 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata): boolean {
    return scrfdLevels(outputs.map((o) => o.shape)) !== undefined;
  },
  decode(outputs, transform, options) {
    const entries = outputEntries(outputs);
    const found =
      scrfdLevels(entries.map(([, t]) => t.dims)) ??
      headMismatch(
        'scrfd',
        `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not SCRFD's ` +
          `scores/boxes/landmarks per stride`,
      );
    const hasKps = found.levels[0]!.kps >= 0;
    candidates.reset(hasKps ? 5 : 0);
    found.levels.forEach((l, i) => {
      const stride = 8 << i;
      const rows = Math.ceil(transform.input.height / stride);
      const cols = Math.ceil(transform.input.width / stride);
      const anchors = Math.max(1, Math.round(l.n / (rows * cols)));
      const level = { rows, cols, anchors, stride };
      const [sn, st] = entries[l.score]!;
      const [bn, bt] = entries[l.box]!;
      const scores = flatView('scrfd', sn, st, options.batchIndex, level);
      const boxes = flatView('scrfd', bn, bt, options.batchIndex, level);
      const kps = hasKps
        ? flatView('scrfd', entries[l.kps]![0], entries[l.kps]![1], options.batchIndex, level)
        : undefined;
      const n = rows * cols * anchors;
      for (let p = 0; p < n; p++) {
        const score = at(scores, p, 0);
        if (score < options.scoreThreshold) continue;
        const cell = Math.floor(p / anchors);
        const cx = (cell % cols) * stride;
        const cy = Math.floor(cell / cols) * stride;
        candidates.push(
          cx - at(boxes, p, 0) * stride,
          cy - at(boxes, p, 1) * stride,
          cx + at(boxes, p, 2) * stride,
          cy + at(boxes, p, 3) * stride,
          score,
          0,
        );
        if (kps !== undefined)
          for (let k = 0; k < 5; k++)
            candidates.setKeypoint(k, cx + at(kps, p, 2 * k) * stride, cy + at(kps, p, 2 * k + 1) * stride, NaN);
      }
    });
    return { task: 'detect', detections: finishDetections(candidates, transform, options, options.labels ?? ['face']) };
  },
};
