/**
 * NanoDet-Plus (RangiLyu/nanodet, tools/export_onnx.py): one output [B, N, C + 4·(R+1)] over the
 * grid cells of strides 8, 16, 32, 64, finest first, N = Σ ceil(H/S)·ceil(W/S) (2125 at 320×320):
 * C class scores already sigmoided in the graph, then 4 sides × (R+1) bins of generalized-focal
 * (integral) box regression, R = reg_max 7. Decoding as NanoDet-Plus's head does:
 *   centre prior = (col · S, row · S) (no half-cell offset in NanoDet-Plus);
 *   side = expectation of softmax over the R+1 bins, × S; box = centre ∓ sides (l, t, r, b).
 * Preprocessing: BGR, mean [103.53, 116.28, 123.675], std [57.375, 57.12, 58.395] (in BGR order,
 * from its configs), plain resize (keep_ratio false). Thresholds: its demo's 0.35 score, 0.6 NMS.
 */
import { resolvePreprocessConfig } from '../config.js';
import { detectorLabels } from '../labels.js';
import type { TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections } from './candidates.js';
import { flatView, gridsFor, integral } from './grid.js';
import { expectRank, fixedDim, headMismatch, inputSize, outputEntries, type ModelMetadata, type VisionHead } from './head.js';

const STRIDES = [8, 16, 32, 64];
const BINS = 8; // reg_max 7 + 1
const candidates = new Candidates();

function cells(size: { width: number; height: number }): number {
  return gridsFor(size, STRIDES).reduce((n, g) => n + g.rows * g.cols, 0);
}

export const nanodetHead: VisionHead = {
  name: 'nanodet',
  task: 'detect',
  expects: 'one output [B, N, C+32] over the cells of strides 8/16/32/64 (NanoDet-Plus: sigmoided classes, then 4×8 integral box bins)',
  defaults: resolvePreprocessConfig({ width: 320, height: 320, resize: 'stretch', channelOrder: 'bgr', rescale: 1, mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395] }),
  decodeDefaults: { scoreThreshold: 0.35, iouThreshold: 0.6, maxDetections: 100 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    const s = outputs[0]?.shape;
    const size = inputSize(inputs);
    if (outputs.length !== 1 || s === undefined || s.length !== 3 || size === undefined) return false;
    const c = fixedDim(s, 2);
    return fixedDim(s, 1) === cells(size) && c !== undefined && c > 4 * BINS;
  },
  decode(outputs, transform, options) {
    const [name, t] = outputEntries(outputs)[0] ?? headMismatch('nanodet', 'the model returned no outputs');
    const dims = expectRank('nanodet', name, t, 3);
    const n = cells(transform.input);
    if (dims[1] !== n) headMismatch('nanodet', `output '${name}' has ${dims[1]} rows, strides 8/16/32/64 at ${transform.input.width}x${transform.input.height} give ${n}`);
    const classes = dims[2]! - 4 * BINS;
    const keep = classFilter(options.classes);
    candidates.reset();
    let offset = 0;
    for (const g of gridsFor(transform.input, STRIDES)) {
      const count = g.rows * g.cols;
      // The level is rows offset..offset+count of the one output: a view with its base moved.
      const whole = flatView('nanodet', name, t, options.batchIndex, { rows: n, cols: 1, anchors: 1, stride: g.stride });
      const v = { ...whole, base: whole.base + offset * whole.posStep, rows: g.rows, cols: g.cols };
      const thr = options.scoreThreshold;
      const d = v.data;
      for (let p = 0; p < count; p++) {
        // Position-major rows of C scores: only a score over the threshold starts the argmax.
        const o = v.base + p * v.posStep;
        let best = -1;
        let cls = 0;
        for (let c = 0; c < classes; c++) {
          const s = d[o + c]!;
          if (s < thr || s <= best || (keep !== undefined && keep[c] !== 1)) continue;
          best = s;
          cls = c;
        }
        if (best < thr) continue;
        const cx = (p % g.cols) * g.stride;
        const cy = Math.floor(p / g.cols) * g.stride;
        const l = integral(v, p, classes, BINS) * g.stride;
        const tp = integral(v, p, classes + BINS, BINS) * g.stride;
        const r = integral(v, p, classes + 2 * BINS, BINS) * g.stride;
        const b = integral(v, p, classes + 3 * BINS, BINS) * g.stride;
        candidates.push(cx - l, cy - tp, cx + r, cy + b, best, cls);
      }
      offset += count;
    }
    return { task: 'detect', detections: finishDetections(candidates, transform, options, detectorLabels(options.labels, classes)) };
  },
};
