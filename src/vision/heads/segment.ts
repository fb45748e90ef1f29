/**
 * Ultralytics instance segmentation (`task = segment`): output0 [B, 4 + C + M, N] (boxes as the
 * detect head's, C class scores, M = 32 mask coefficients) and output1 [B, M, Hp, Wp] prototypes
 * at 1/4 of the input (160×160 at 640). For each kept box, as Ultralytics' process_mask does:
 * mask logits = coefficients · prototypes, upsampled to the input, cropped to the box, and
 * thresholded at sigmoid 0.5 (logit 0). Here the three steps are one pass over the box's pixels
 * in the ORIGINAL image: each pixel centre is mapped to prototype coordinates and the logits are
 * interpolated bilinearly there (the logits, not the sigmoids: the same 0.5 boundary to within
 * interpolation), so the cost is the box's area, not the input's.
 */
import type { ImageTransform } from '../geometry.js';
import { detectorLabels, parseNames } from '../labels.js';
import { nms } from '../nms.js';
import type { Detection, HeadResult, Mask, ModelOutputs, TensorMeta } from '../types.js';
import { labelOf } from '../labels.js';
import { toOriginal } from '../geometry.js';
import { Candidates, classFilter, scanClasses } from './candidates.js';
import { batchOffset, fixedDim, floatData, headMismatch, outputEntries, type DecodeOptions, type ModelMetadata, type VisionHead } from './head.js';
import { ULTRALYTICS_PREPROCESS } from './yolo.js';

const candidates = new Candidates();
let column = new Int32Array(256);

/** Which output is which: the [B, 4+C+M, N] one and the [B, M, Hp, Wp] prototypes. */
function roles(shapes: ReadonlyArray<ReadonlyArray<number | string>>): { det: number; proto: number; m: number } | undefined {
  if (shapes.length !== 2) return undefined;
  const det = shapes.findIndex((s) => s.length === 3);
  const proto = shapes.findIndex((s) => s.length === 4);
  if (det < 0 || proto < 0) return undefined;
  const m = fixedDim(shapes[proto]!, 1);
  const rows = fixedDim(shapes[det]!, 1);
  if (m === undefined || rows === undefined || rows <= 4 + m) return undefined;
  const n = fixedDim(shapes[det]!, 2);
  if (n !== undefined && n <= rows) return undefined;
  return { det, proto, m };
}

/** Mask logits for one detection, bilinear over the prototypes, thresholded at 0, over the box in original pixels. */
export function instanceMask(protos: Float32Array, pBase: number, m: number, ph: number, pw: number, coeffs: Float32Array, box: readonly number[], t: ImageTransform): Mask {
  const left = Math.max(0, Math.floor(box[0]!));
  const top = Math.max(0, Math.floor(box[1]!));
  const right = Math.min(t.original.width, Math.ceil(box[2]!));
  const bottom = Math.min(t.original.height, Math.ceil(box[3]!));
  const width = Math.max(0, right - left);
  const height = Math.max(0, bottom - top);
  const data = new Uint8Array(width * height);
  if (width === 0 || height === 0) return { left, top, width, height, data };
  // Original pixel centre → tensor → prototype coordinates (cell centres at +0.5, as align_corners=False).
  const fx = (t.scaleX * pw) / t.input.width;
  const fy = (t.scaleY * ph) / t.input.height;
  const ox = ((t.padX - t.cropX) * pw) / t.input.width - 0.5;
  const oy = ((t.padY - t.cropY) * ph) / t.input.height - 0.5;
  // The prototype cells the box touches, with a one-cell margin for interpolation.
  const u0 = Math.max(0, Math.floor((left + 0.5) * fx + ox));
  const u1 = Math.min(pw - 1, Math.ceil((right - 0.5) * fx + ox) + 1);
  const v0 = Math.max(0, Math.floor((top + 0.5) * fy + oy));
  const v1 = Math.min(ph - 1, Math.ceil((bottom - 0.5) * fy + oy) + 1);
  const cw = u1 - u0 + 1;
  const ch = v1 - v0 + 1;
  const logits = new Float32Array(cw * ch);
  const plane = ph * pw;
  for (let k = 0; k < m; k++) {
    const c = coeffs[k]!;
    if (c === 0) continue;
    const p = pBase + k * plane;
    for (let v = 0; v < ch; v++) {
      const row = p + (v0 + v) * pw + u0;
      const o = v * cw;
      for (let u = 0; u < cw; u++) logits[o + u] = logits[o + u]! + c * protos[row + u]!;
    }
  }
  // Where bilinear interpolation keeps a sign: a quad of four cells of one sign gives that sign
  // everywhere between them, so only quads that straddle 0 need per-pixel work. 1: all > 0,
  // 0: all <= 0, 2: mixed. Pixels are then filled a run per quad (8 pixels a cell at 2x).
  const quad = new Uint8Array(cw * ch);
  for (let v = 0; v < ch; v++) {
    const v2 = Math.min(v + 1, ch - 1);
    for (let u = 0; u < cw; u++) {
      const u2 = Math.min(u + 1, cw - 1);
      const a = logits[v * cw + u]! > 0, b = logits[v * cw + u2]! > 0, c = logits[v2 * cw + u]! > 0, d = logits[v2 * cw + u2]! > 0;
      quad[v * cw + u] = a && b && c && d ? 1 : !a && !b && !c && !d ? 0 : 2;
    }
  }
  // Per column: its quad column and weight; the runs of columns that share a quad column (the same
  // for every row, so found once).
  const xa = new Int32Array(width);
  const wxs = new Float32Array(width);
  const runs: number[] = [];
  for (let x = 0; x < width; x++) {
    const ux = Math.min(Math.max((left + x + 0.5) * fx + ox, u0), u1) - u0;
    xa[x] = Math.min(Math.floor(ux), cw - 1);
    wxs[x] = ux - xa[x]!;
    if (x === 0 || xa[x] !== xa[x - 1]) runs.push(x);
  }
  runs.push(width);
  for (let y = 0; y < height; y++) {
    const vy = Math.min(Math.max((top + y + 0.5) * fy + oy, v0), v1) - v0;
    const ya = Math.min(Math.floor(vy), ch - 1);
    const yb = Math.min(ya + 1, ch - 1);
    const wy = vy - ya;
    const rowOut = y * width;
    for (let r = 0; r < runs.length - 1; r++) {
      const x = runs[r]!;
      const end = runs[r + 1]!;
      const qa = xa[x]!;
      const state = quad[ya * cw + qa]!;
      // A plain loop: runs are a few pixels long, where fill()'s call costs more than the stores.
      if (state === 1) for (let k = rowOut + x; k < rowOut + end; k++) data[k] = 1;
      else if (state === 2) {
        const qb = Math.min(qa + 1, cw - 1);
        const l00 = logits[ya * cw + qa]!, l01 = logits[ya * cw + qb]!, l10 = logits[yb * cw + qa]!, l11 = logits[yb * cw + qb]!;
        for (let k = x; k < end; k++) {
          const wx = wxs[k]!;
          const top2 = l00 * (1 - wx) + l01 * wx;
          const bot2 = l10 * (1 - wx) + l11 * wx;
          if (top2 * (1 - wy) + bot2 * wy > 0) data[rowOut + k] = 1;
        }
      }
    }
  }
  return { left, top, width, height, data };
}

function headFor(metadata: ModelMetadata): VisionHead {
  return {
    name: 'segment',
    task: 'detect',
    expects: 'two outputs: [B, 4+C+M, N] (boxes, classes, mask coefficients) and prototypes [B, M, Hp, Wp] (Ultralytics segment)',
    defaults: ULTRALYTICS_PREPROCESS,
    decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.7, maxDetections: 300 },
    matches(outputs: readonly TensorMeta[], meta: ModelMetadata): boolean {
      const task = meta['task'];
      if (task !== undefined && task !== 'segment') return false;
      const r = roles(outputs.map((o) => o.shape));
      if (r === undefined) return false;
      const names = parseNames(meta['names']);
      return names === undefined || names.length === fixedDim(outputs[r.det]!.shape, 1)! - 4 - r.m;
    },
    withMetadata: headFor,
    decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
      const entries = outputEntries(outputs);
      const r = roles(entries.map(([, t]) => t.dims)) ?? headMismatch('segment', `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not [B,4+C+M,N] and [B,M,Hp,Wp]`);
      const [dName, dT] = entries[r.det]!;
      const [pName, pT] = entries[r.proto]!;
      const rows = dT.dims[1]!;
      const n = dT.dims[2]!;
      const named = options.labels?.length ?? parseNames(metadata['names'])?.length;
      const classes = named !== undefined && named === rows - 4 - r.m ? named : rows - 4 - r.m;
      const data = floatData('segment', dName, dT);
      const base = batchOffset('segment', dName, dT.dims, options.batchIndex);
      const protos = floatData('segment', pName, pT);
      const pBase = batchOffset('segment', pName, pT.dims, options.batchIndex);
      const keep = classFilter(options.classes);
      candidates.reset();
      const { best, cls } = scanClasses(data, base + 4 * n, n, classes, options.scoreThreshold, keep);
      for (let i = 0; i < n; i++) {
        const s = best[i]!;
        if (s === -Infinity) continue;
        if (column.length <= candidates.count) {
          const grown = new Int32Array(column.length * 2);
          grown.set(column);
          column = grown;
        }
        column[candidates.count] = i;
        candidates.pushCenter(data[base + i]!, data[base + n + i]!, data[base + 2 * n + i]!, data[base + 3 * n + i]!, s, cls[i]!);
      }
      const kept = nms(candidates, { iouThreshold: options.iouThreshold, scoreThreshold: options.scoreThreshold, maxDetections: options.maxDetections, topK: options.topK, agnostic: options.agnostic });
      const labels = detectorLabels(options.labels, classes);
      const coeffs = new Float32Array(r.m);
      const detections: Detection[] = [];
      for (const k of kept) {
        const b = k * 4;
        const box = toOriginal(transform, [candidates.boxes[b]!, candidates.boxes[b + 1]!, candidates.boxes[b + 2]!, candidates.boxes[b + 3]!]);
        if (box[2] <= box[0] || box[3] <= box[1]) continue;
        const col = column[k]!;
        for (let j = 0; j < r.m; j++) coeffs[j] = data[base + (4 + classes + j) * n + col]!;
        const classId = candidates.classes[k]!;
        const mask = instanceMask(protos, pBase, r.m, pT.dims[2]!, pT.dims[3]!, coeffs, box, transform);
        detections.push({ label: labelOf(labels, classId), classId, score: candidates.scores[k]!, box, mask });
      }
      return { task: 'detect', detections };
    },
  };
}

export const segmentHead: VisionHead = headFor({});
