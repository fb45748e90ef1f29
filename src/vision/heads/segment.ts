/**
 * Ultralytics instance segmentation (`task = segment`): output0 [B, 4 + C + M, N] (boxes as the
 * detect head's, C class scores, M = 32 mask coefficients) and output1 [B, M, Hp, Wp] prototypes
 * at 1/4 of the input (160×160 at 640). For each kept box, as Ultralytics' process_mask does:
 * mask logits = coefficients · prototypes, upsampled to the input, cropped to the box, and
 * thresholded at sigmoid 0.5 (logit 0). Here the three steps are one pass over the box's pixels
 * in the ORIGINAL image: each pixel centre is mapped to prototype coordinates and the logits are
 * interpolated bilinearly there (the logits, not the sigmoids: the same 0.5 boundary to within
 * interpolation), so the cost is the box's area, not the input's.
 *
 * The mask is full resolution (a byte per original pixel of the box), but not computed pixel by
 * pixel: the logits are computed once per prototype cell of the box (8 prototypes a pass, in
 * float64), a cell quad whose four logits share a sign is that sign everywhere between them, so
 * only the quads that straddle 0 are interpolated per pixel (and there a run whose two ends agree
 * is filled without it); the rows that fall in one prototype row are copies of the first (at
 * 1280×720 from 640: 8 rows a cell). Scratch buffers are reused across calls; the result is the
 * per-pixel bilinear threshold except where the logit is within rounding of 0
 * (test/vision/segment-mask.test.ts checks this against a plain per-pixel reference). bench:heads,
 * 10 masks at 640 mapped to 1280×720: p50 2.35 ms before this, 1.04–1.10 ms now (the ≤ 1 ms goal
 * not met), of which the class scan (as the yolo head's) is about 0.5 ms and the logits about 0.3.
 */
import type { ImageTransform } from '../geometry.js';
import { detectorLabels, parseNames } from '../labels.js';
import { nms } from '../nms.js';
import type { Detection, HeadResult, Mask, ModelOutputs, TensorMeta } from '../types.js';
import { labelOf } from '../labels.js';
import { toOriginal } from '../geometry.js';
import { Candidates, classFilter, scanClasses } from './candidates.js';
import {
  batchOffset,
  fixedDim,
  floatData,
  headMismatch,
  outputEntries,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';
import { ULTRALYTICS_PREPROCESS } from './yolo.js';

const candidates = new Candidates();
let column = new Int32Array(256);

/** Which output is which: the [B, 4+C+M, N] one and the [B, M, Hp, Wp] prototypes. */
function roles(
  shapes: ReadonlyArray<ReadonlyArray<number | string>>,
): { det: number; proto: number; m: number } | undefined {
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

// Scratch reused across masks (grown on demand): only the mask's own data is allocated per call.
let logits = new Float64Array(4096);
let quad = new Uint8Array(4096);
let colCell = new Int32Array(1024);
let colWeight = new Float64Array(1024);
let runStart = new Int32Array(256);
let runCell = new Int32Array(256);
let mixed = new Int32Array(256);

/** Mask logits for one detection, bilinear over the prototypes, thresholded at 0, over the box in original pixels. */
export function instanceMask(
  protos: Float32Array,
  pBase: number,
  m: number,
  ph: number,
  pw: number,
  coeffs: Float32Array,
  box: readonly number[],
  t: ImageTransform,
): Mask {
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
  // (Pixels past the prototypes' edge, as a crop can leave, take the edge cells' values.)
  const u0 = Math.min(pw - 1, Math.max(0, Math.floor((left + 0.5) * fx + ox)));
  const u1 = Math.max(u0, Math.min(pw - 1, Math.floor((right - 0.5) * fx + ox) + 1));
  const v0 = Math.min(ph - 1, Math.max(0, Math.floor((top + 0.5) * fy + oy)));
  const v1 = Math.max(v0, Math.min(ph - 1, Math.floor((bottom - 0.5) * fy + oy) + 1));
  const cw = u1 - u0 + 1;
  const ch = v1 - v0 + 1;
  const cells = cw * ch;
  if (logits.length < cells) {
    logits = new Float64Array(cells * 2);
    quad = new Uint8Array(cells * 2);
  }
  const lg = logits;
  const plane = ph * pw;
  // Eight prototypes a pass: an eighth of the loads and stores of the logits (the first pass
  // writes them, the others add).
  if (m < 8) lg.fill(0, 0, cells);
  let k = 0;
  for (; k + 8 <= m; k += 8) {
    const c0 = coeffs[k]!,
      c1 = coeffs[k + 1]!,
      c2 = coeffs[k + 2]!,
      c3 = coeffs[k + 3]!,
      c4 = coeffs[k + 4]!,
      c5 = coeffs[k + 5]!,
      c6 = coeffs[k + 6]!,
      c7 = coeffs[k + 7]!;
    const p0 = pBase + k * plane,
      p1 = p0 + plane,
      p2 = p1 + plane,
      p3 = p2 + plane,
      p4 = p3 + plane,
      p5 = p4 + plane,
      p6 = p5 + plane,
      p7 = p6 + plane;
    for (let v = 0; v < ch; v++) {
      const row = (v0 + v) * pw + u0;
      const o = v * cw;
      for (let u = 0; u < cw; u++) {
        const i = row + u;
        lg[o + u] =
          (k === 0 ? 0 : lg[o + u]!) +
          (c0 * protos[p0 + i]! + c1 * protos[p1 + i]! + c2 * protos[p2 + i]! + c3 * protos[p3 + i]!) +
          (c4 * protos[p4 + i]! + c5 * protos[p5 + i]! + c6 * protos[p6 + i]! + c7 * protos[p7 + i]!);
      }
    }
  }
  for (; k < m; k++) {
    const c = coeffs[k]!;
    if (c === 0) continue;
    const p = pBase + k * plane;
    for (let v = 0; v < ch; v++) {
      const row = p + (v0 + v) * pw + u0;
      const o = v * cw;
      for (let u = 0; u < cw; u++) lg[o + u] = lg[o + u]! + c * protos[row + u]!;
    }
  }
  // Where bilinear interpolation keeps a sign: a quad of four cells of one sign gives that sign
  // everywhere between them, so only quads that straddle 0 need per-pixel work. 1: all > 0,
  // 0: all <= 0, 2: mixed.
  const q = quad;
  for (let v = 0; v < ch; v++) {
    const o = v * cw;
    const o2 = Math.min(v + 1, ch - 1) * cw;
    for (let u = 0; u < cw; u++) {
      const u2 = Math.min(u + 1, cw - 1);
      const n =
        (lg[o + u]! > 0 ? 1 : 0) + (lg[o + u2]! > 0 ? 1 : 0) + (lg[o2 + u]! > 0 ? 1 : 0) + (lg[o2 + u2]! > 0 ? 1 : 0);
      q[o + u] = n === 4 ? 1 : n === 0 ? 0 : 2;
    }
  }
  // Per column: its quad column and weight; the runs of columns that share a quad column (the same
  // for every row, so found once).
  if (colCell.length < width) {
    colCell = new Int32Array(width * 2);
    colWeight = new Float64Array(width * 2);
  }
  if (runStart.length < cw + 2) {
    runStart = new Int32Array(cw * 2 + 2);
    runCell = new Int32Array(cw * 2 + 2);
    mixed = new Int32Array(cw * 2 + 2);
  }
  const xa = colCell,
    wxs = colWeight;
  let runs = 0;
  for (let x = 0; x < width; x++) {
    const ux = Math.min(Math.max((left + x + 0.5) * fx + ox, u0), u1) - u0;
    const a = Math.min(Math.floor(ux), cw - 1);
    xa[x] = a;
    wxs[x] = ux - a;
    if (x === 0 || a !== xa[x - 1]) {
      runStart[runs] = x;
      runCell[runs++] = a;
    }
  }
  runStart[runs] = width;
  // Rows map to prototype rows in order, so the rows that share one (8 at 2× the input here) share
  // every quad state: the first row of such a group gets the runs of quads all > 0, the group's
  // other rows are copies of it (doubling: 3 copies for 8 rows), and only the quads that straddle 0
  // are then evaluated per row. Along a row, inside one quad, the bilinear logit is linear in x
  // (f0 at the quad's left cell, f1 at its right), so a run whose two ends agree is filled or left
  // without evaluating its pixels.
  let y = 0;
  while (y < height) {
    const y0 = y;
    const ya = Math.min(Math.floor(Math.min(Math.max((top + y0 + 0.5) * fy + oy, v0), v1) - v0), ch - 1);
    let y1 = y0 + 1;
    while (
      y1 < height &&
      Math.min(Math.floor(Math.min(Math.max((top + y1 + 0.5) * fy + oy, v0), v1) - v0), ch - 1) === ya
    )
      y1++;
    const qRow = ya * cw;
    const first = y0 * width;
    let nMixed = 0;
    let on = -1; // start of the pending span of runs inside the mask
    for (let r = 0; r < runs; r++) {
      const state = q[qRow + runCell[r]!]!;
      if (state === 1) {
        if (on < 0) on = runStart[r]!;
        continue;
      }
      if (on >= 0) {
        fillOnes(data, first + on, first + runStart[r]!);
        on = -1;
      }
      if (state === 2) mixed[nMixed++] = r;
    }
    if (on >= 0) fillOnes(data, first + on, first + width);
    const rowsInGroup = y1 - y0;
    for (let done = 1; done < rowsInGroup;) {
      const c = Math.min(done, rowsInGroup - done);
      data.copyWithin(first + done * width, first, first + c * width);
      done += c;
    }
    if (nMixed > 0) {
      const yb = Math.min(ya + 1, ch - 1) * cw;
      for (let yy = y0; yy < y1; yy++) {
        const wy = Math.min(Math.max((top + yy + 0.5) * fy + oy, v0), v1) - v0 - ya;
        const rowOut = yy * width;
        for (let i = 0; i < nMixed; i++) {
          const r = mixed[i]!;
          const qa = runCell[r]!;
          const qb = Math.min(qa + 1, cw - 1);
          const f0 = lg[qRow + qa]! * (1 - wy) + lg[yb + qa]! * wy;
          const f1 = lg[qRow + qb]! * (1 - wy) + lg[yb + qb]! * wy;
          const x0 = runStart[r]!;
          const end = runStart[r + 1]!;
          if (f0 > 0 && f1 > 0) for (let x = x0; x < end; x++) data[rowOut + x] = 1;
          else if (f0 > 0 || f1 > 0) {
            const d = f1 - f0;
            for (let x = x0; x < end; x++) if (f0 + d * wxs[x]! > 0) data[rowOut + x] = 1;
          }
        }
      }
    }
    y = y1;
  }
  return { left, top, width, height, data };
}

/** Ones over [from, to): a plain loop for the short spans, where fill()'s call costs more than the stores. */
function fillOnes(data: Uint8Array, from: number, to: number): void {
  if (to - from >= 32) data.fill(1, from, to);
  else for (let k = from; k < to; k++) data[k] = 1;
}

function headFor(metadata: ModelMetadata): VisionHead {
  return {
    name: 'segment',
    task: 'detect',
    expects:
      'two outputs: [B, 4+C+M, N] (boxes, classes, mask coefficients) and prototypes [B, M, Hp, Wp] (Ultralytics segment)',
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
      const r =
        roles(entries.map(([, t]) => t.dims)) ??
        headMismatch(
          'segment',
          `outputs ${entries.map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(', ')} are not [B,4+C+M,N] and [B,M,Hp,Wp]`,
        );
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
        candidates.pushCenter(
          data[base + i]!,
          data[base + n + i]!,
          data[base + 2 * n + i]!,
          data[base + 3 * n + i]!,
          s,
          cls[i]!,
        );
      }
      const kept = nms(candidates, {
        iouThreshold: options.iouThreshold,
        scoreThreshold: options.scoreThreshold,
        maxDetections: options.maxDetections,
        topK: options.topK,
        agnostic: options.agnostic,
      });
      const labels = detectorLabels(options.labels, classes);
      const coeffs = new Float32Array(r.m);
      const detections: Detection[] = [];
      for (const k of kept) {
        const b = k * 4;
        const box = toOriginal(transform, [
          candidates.boxes[b]!,
          candidates.boxes[b + 1]!,
          candidates.boxes[b + 2]!,
          candidates.boxes[b + 3]!,
        ]);
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
