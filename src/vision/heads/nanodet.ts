/**
 * NanoDet-Plus (RangiLyu/nanodet, tools/export_onnx.py): one output [B, N, C + 4·(R+1)] over the
 * grid cells of strides 8, 16, 32, 64, finest first, N = Σ ceil(H/S)·ceil(W/S) (2125 at 320×320):
 * C class scores already sigmoided in the graph, then 4 sides × (R+1) bins of generalized-focal
 * (integral) box regression, R = reg_max 7. Decoding as NanoDet-Plus's head does:
 *   centre prior = (col · S, row · S) (no half-cell offset in NanoDet-Plus);
 *   side = expectation of softmax over the R+1 bins, × S; box = centre ∓ sides (l, t, r, b).
 * The original NanoDet exports one pair per stride 8/16/32 instead, cls_pred_stride_S [B, N, C]
 * (sigmoided) and dis_pred_stride_S [B, N, 32], with priors at the cell centres ((cell + 0.5) · S,
 * as its demos decode them); told apart by those names.
 * Preprocessing: BGR, mean [103.53, 116.28, 123.675], std [57.375, 57.12, 58.395] (in BGR order,
 * from its configs), plain resize (keep_ratio false). Thresholds: its demo's 0.35 score, 0.6 NMS.
 */
import { resolvePreprocessConfig } from '../config.js';
import { detectorLabels } from '../labels.js';
import type { TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections } from './candidates.js';
import { flatView, gridsFor, integral, type LevelView } from './grid.js';
import {
  expectRank,
  fixedDim,
  headMismatch,
  inputSize,
  outputEntries,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

const STRIDES = [8, 16, 32, 64];
const BINS = 8; // reg_max 7 + 1
const candidates = new Candidates();

function cells(size: { width: number; height: number }): number {
  return gridsFor(size, STRIDES).reduce((n, g) => n + g.rows * g.cols, 0);
}

const PER_STRIDE = /^(cls|dis)_pred_stride_(\d+)$/;

/**
 * The original NanoDet's per-stride outputs (cls_pred_stride_S [B,N,C], dis_pred_stride_S [B,N,32]),
 * strides ascending; undefined otherwise.
 */
export function perStrideOutputs(names: readonly string[]): number[] | undefined {
  const roles = new Map<number, Set<string>>();
  for (const n of names) {
    const m = PER_STRIDE.exec(n);
    if (m === null) return undefined;
    const stride = Number(m[2]);
    if (!roles.has(stride)) roles.set(stride, new Set());
    roles.get(stride)!.add(m[1]!);
  }
  const strides = [...roles.keys()].sort((a, b) => a - b);
  return strides.length > 0 && strides.every((st) => roles.get(st)!.size === 2) ? strides : undefined;
}

/**
 * One level: scores in `cls` (C per cell, position-major, sigmoided) and 4 × 8 bins in `dis`;
 * priors at (cell + offset) · stride (NanoDet-Plus 0, the original NanoDet 0.5, as their demos).
 */
function decodeLevel(
  cls: LevelView,
  clsStart: number,
  classes: number,
  dis: LevelView,
  disStart: number,
  stride: number,
  offset: number,
  keep: Uint8Array | undefined,
  thr: number,
): void {
  const count = cls.rows * cls.cols;
  const d = cls.data;
  for (let p = 0; p < count; p++) {
    // Position-major rows of C scores: only a score over the threshold starts the argmax.
    const o = cls.base + p * cls.posStep + clsStart;
    let best = -1;
    let c0 = 0;
    for (let c = 0; c < classes; c++) {
      const sc = d[o + c]!;
      if (sc < thr || sc <= best || (keep !== undefined && keep[c] !== 1)) continue;
      best = sc;
      c0 = c;
    }
    if (best < thr) continue;
    const cx = ((p % cls.cols) + offset) * stride;
    const cy = (Math.floor(p / cls.cols) + offset) * stride;
    const l = integral(dis, p, disStart, BINS) * stride;
    const tp = integral(dis, p, disStart + BINS, BINS) * stride;
    const r = integral(dis, p, disStart + 2 * BINS, BINS) * stride;
    const b = integral(dis, p, disStart + 3 * BINS, BINS) * stride;
    candidates.push(cx - l, cy - tp, cx + r, cy + b, best, c0);
  }
}

export const nanodetHead: VisionHead = {
  name: 'nanodet',
  task: 'detect',
  expects:
    'NanoDet-Plus: one output [B, N, C+32] over the cells of strides 8/16/32/64; or NanoDet: ' +
    'cls_pred_stride_S [B,N,C] and dis_pred_stride_S [B,N,32] per stride',
  defaults: resolvePreprocessConfig({
    width: 320,
    height: 320,
    resize: 'stretch',
    channelOrder: 'bgr',
    rescale: 1,
    mean: [103.53, 116.28, 123.675],
    std: [57.375, 57.12, 58.395],
  }),
  decodeDefaults: { scoreThreshold: 0.35, iouThreshold: 0.6, maxDetections: 100 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    if (perStrideOutputs(outputs.map((o) => o.name)) !== undefined) return true;
    const s = outputs[0]?.shape;
    const size = inputSize(inputs);
    if (outputs.length !== 1 || s === undefined || s.length !== 3 || size === undefined) return false;
    const c = fixedDim(s, 2);
    return fixedDim(s, 1) === cells(size) && c !== undefined && c > 4 * BINS;
  },
  decode(outputs, transform, options) {
    const keep = classFilter(options.classes);
    const thr = options.scoreThreshold;
    candidates.reset();
    const entries = outputEntries(outputs);
    const strides = perStrideOutputs(entries.map(([n]) => n));
    let classes: number;
    if (strides !== undefined) {
      const map = new Map(entries);
      classes = 0;
      for (const stride of strides) {
        const level = {
          rows: Math.ceil(transform.input.height / stride),
          cols: Math.ceil(transform.input.width / stride),
          anchors: 1,
          stride,
        };
        const cls = flatView(
          'nanodet',
          `cls_pred_stride_${stride}`,
          map.get(`cls_pred_stride_${stride}`)!,
          options.batchIndex,
          level,
        );
        const dis = flatView(
          'nanodet',
          `dis_pred_stride_${stride}`,
          map.get(`dis_pred_stride_${stride}`)!,
          options.batchIndex,
          level,
        );
        if (dis.channels !== 4 * BINS)
          headMismatch(
            'nanodet',
            `output 'dis_pred_stride_${stride}' has ${dis.channels} values per cell, expected ${4 * BINS}`,
          );
        classes = cls.channels;
        decodeLevel(cls, 0, classes, dis, 0, stride, 0.5, keep, thr);
      }
    } else {
      const [name, t] = entries[0] ?? headMismatch('nanodet', 'the model returned no outputs');
      const dims = expectRank('nanodet', name, t, 3);
      const n = cells(transform.input);
      if (dims[1] !== n)
        headMismatch(
          'nanodet',
          `output '${name}' has ${dims[1]} rows, strides 8/16/32/64 ` +
            `at ${transform.input.width}x${transform.input.height} give ${n}`,
        );
      classes = dims[2]! - 4 * BINS;
      let offset = 0;
      for (const g of gridsFor(transform.input, STRIDES)) {
        // The level is rows offset..offset+count of the one output: a view with its base moved.
        const whole = flatView('nanodet', name, t, options.batchIndex, {
          rows: n,
          cols: 1,
          anchors: 1,
          stride: g.stride,
        });
        const v = { ...whole, base: whole.base + offset * whole.posStep, rows: g.rows, cols: g.cols };
        decodeLevel(v, 0, classes, v, classes, g.stride, 0, keep, thr);
        offset += g.rows * g.cols;
      }
    }
    return {
      task: 'detect',
      detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, classes)),
    };
  },
};
