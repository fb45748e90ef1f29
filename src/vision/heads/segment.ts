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
 * (test/vision/segment-mask.test.ts checks this against a plain per-pixel reference). Masks are
 * made only for the boxes NMS keeps.
 *
 * bench:heads, 10 masks at 640 mapped to 1280×720: p50 2.35 ms before the quad/run scheme,
 * 1.04–1.12 ms after it. Then, A/B in one run against a copy of the previous decode (alternating
 * blocks, outputs identical): the class scan on the scores' int32 bits (now in scanClasses, 0.9×
 * the float scan), the logits' first pass split from the others (0.8× the logits) and masks built
 * on unzeroed memory: 0.92–0.94× the decode alone, 0.97× with other work between decodes, and
 * 0.96–1.01× inside bench:heads, where every stage runs about twice as slow as alone (at 0.8 ms
 * alone: the scan 35 %, the logits 28 %, the mask rows 15 %).
 *
 * Next round (same A/B, outputs byte-identical): the scan's block test on (q + j) | 0 indexes (0.82–
 * 0.91× the scan), mixed quads run by run with their corners read once, quad counts from each
 * cell's sign read once: 0.90–0.95× the decode, alone or with a 24 MB flush between decodes. What
 * is left is mostly memory: with the flush the logits go from 0.16 to 0.3–0.4 ms (a TLB-only flush
 * adds 0.015: it is the prototypes' cache lines) and the mask rows from 0.14 to 0.29. Tried and
 * not kept: logits with (i + j·P) | 0 indexes (0.97–1.05×), two rows at once (1.06–1.09×), 4 or
 * 16 prototypes a pass (1.2–1.4×), one (3×), the window's lines touched ahead by loads (1.0–1.3×).
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
let rowWeight = new Float64Array(64);

/**
 * Where a mask's box falls on the prototypes: original pixel (x, y) maps to prototype coordinates
 * (x + 0.5) · fx + ox and (y + 0.5) · fy + oy; cells u0..u1 × v0..v1 (cw × ch) are those the box
 * touches, with a one-cell margin for interpolation.
 */
interface ProtoWindow {
  fx: number;
  fy: number;
  ox: number;
  oy: number;
  u0: number;
  u1: number;
  v0: number;
  v1: number;
  cw: number;
  ch: number;
}

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
  if (width === 0 || height === 0) return { left, top, width, height, data: new Uint8Array(0) };
  // Not zeroed: fillRows writes every byte (zeroing first, as new Uint8Array does, was 8 % of the decode).
  const raw = Buffer.allocUnsafeSlow(width * height); // its own ArrayBuffer of exactly these bytes, never pooled
  const data = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  const w = protoWindow(t, ph, pw, left, top, right, bottom);
  if (logits.length < w.cw * w.ch) {
    logits = new Float64Array(w.cw * w.ch * 2);
    quad = new Uint8Array(w.cw * w.ch * 2);
  }
  cellLogits(protos, pBase, m, ph * pw, pw, coeffs, w);
  quadCorners(w.cw, w.ch);
  const runs = columnRuns(w, left, width);
  fillRows(data, w, top, width, height, runs);
  return { left, top, width, height, data };
}

function protoWindow(
  t: ImageTransform,
  ph: number,
  pw: number,
  left: number,
  top: number,
  right: number,
  bottom: number,
): ProtoWindow {
  // Original pixel centre → tensor → prototype coordinates (cell centres at +0.5, as align_corners=False).
  const fx = (t.scaleX * pw) / t.input.width;
  const fy = (t.scaleY * ph) / t.input.height;
  const ox = ((t.padX - t.cropX) * pw) / t.input.width - 0.5;
  const oy = ((t.padY - t.cropY) * ph) / t.input.height - 0.5;
  // (Pixels past the prototypes' edge, as a crop can leave, take the edge cells' values.)
  const u0 = Math.min(pw - 1, Math.max(0, Math.floor((left + 0.5) * fx + ox)));
  const u1 = Math.max(u0, Math.min(pw - 1, Math.floor((right - 0.5) * fx + ox) + 1));
  const v0 = Math.min(ph - 1, Math.max(0, Math.floor((top + 0.5) * fy + oy)));
  const v1 = Math.max(v0, Math.min(ph - 1, Math.floor((bottom - 0.5) * fy + oy) + 1));
  return { fx, fy, ox, oy, u0, u1, v0, v1, cw: u1 - u0 + 1, ch: v1 - v0 + 1 };
}

/**
 * coefficients · prototypes at each cell of the window, into `logits` (float64). Eight prototypes a
 * pass: an eighth of the loads and stores of the logits; the first pass writes them, the others
 * add (two loops, not a test per cell: 0.85× the time of one loop with `k === 0 ? 0 : lg`).
 */
function cellLogits(
  protos: Float32Array,
  pBase: number,
  m: number,
  plane: number,
  pw: number,
  coeffs: Float32Array,
  w: ProtoWindow,
): void {
  const { u0, v0, cw, ch } = w;
  const lg = logits;
  const P = plane;
  if (m < 8) lg.fill(0, 0, cw * ch);
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
    for (let v = 0; v < ch; v++) {
      const row = pBase + k * P + (v0 + v) * pw + u0;
      const end = row + cw;
      const o = v * cw - row; // logits index = o + prototype index
      if (k === 0)
        for (let i = row; i < end; i++)
          lg[o + i] =
            0 +
            (c0 * protos[i]! + c1 * protos[i + P]! + c2 * protos[i + 2 * P]! + c3 * protos[i + 3 * P]!) +
            (c4 * protos[i + 4 * P]! + c5 * protos[i + 5 * P]! + c6 * protos[i + 6 * P]! + c7 * protos[i + 7 * P]!);
      else
        for (let i = row; i < end; i++)
          lg[o + i] =
            lg[o + i]! +
            (c0 * protos[i]! + c1 * protos[i + P]! + c2 * protos[i + 2 * P]! + c3 * protos[i + 3 * P]!) +
            (c4 * protos[i + 4 * P]! + c5 * protos[i + 5 * P]! + c6 * protos[i + 6 * P]! + c7 * protos[i + 7 * P]!);
    }
  }
  for (; k < m; k++) {
    const c = coeffs[k]!;
    if (c === 0) continue;
    const p = pBase + k * P;
    for (let v = 0; v < ch; v++) {
      const row = p + (v0 + v) * pw + u0;
      const o = v * cw;
      for (let u = 0; u < cw; u++) lg[o + u] = lg[o + u]! + c * protos[row + u]!;
    }
  }
}

/**
 * Where bilinear interpolation keeps a sign: a quad of four cells of one sign gives that sign
 * everywhere between them, so only quads that straddle 0 need per-pixel work. `quad` holds how
 * many of the quad's four corners are > 0 (4: inside everywhere, 0: outside, else mixed).
 */
function quadCorners(cw: number, ch: number): void {
  const lg = logits;
  const q = quad;
  // Each cell's sign read once: first each row's pairs (u, u + 1), then each row plus the next's.
  for (let v = 0; v < ch; v++) {
    const o = v * cw;
    let left = lg[o]! > 0 ? 1 : 0;
    for (let u = 0; u < cw - 1; u++) {
      const right = lg[o + u + 1]! > 0 ? 1 : 0;
      q[o + u] = left + right;
      left = right;
    }
    q[o + cw - 1] = 2 * left;
  }
  for (let v = 0; v < ch; v++) {
    const o = v * cw;
    const o2 = Math.min(v + 1, ch - 1) * cw; // not yet summed: rows are summed in order, the last with itself
    for (let u = 0; u < cw; u++) q[o + u] = q[o + u]! + q[o2 + u]!;
  }
}

/**
 * Per column of the box: its quad column and weight; and the runs of columns that share a quad
 * column (the same for every row, so found once). Returns how many runs; runStart[runs] = width.
 */
function columnRuns(w: ProtoWindow, left: number, width: number): number {
  const { fx, ox, u0, u1, cw } = w;
  if (colCell.length < width) {
    colCell = new Int32Array(width * 2);
    colWeight = new Float64Array(width * 2);
  }
  if (runStart.length < cw + 2) {
    runStart = new Int32Array(cw * 2 + 2);
    runCell = new Int32Array(cw * 2 + 2);
    mixed = new Int32Array(cw * 2 + 2);
  }
  const xa = colCell;
  let runs = 0;
  for (let x = 0; x < width; x++) {
    const ux = Math.min(Math.max((left + x + 0.5) * fx + ox, u0), u1) - u0;
    const a = Math.min(Math.floor(ux), cw - 1);
    xa[x] = a;
    colWeight[x] = ux - a;
    if (x === 0 || a !== xa[x - 1]) {
      runStart[runs] = x;
      runCell[runs++] = a;
    }
  }
  runStart[runs] = width;
  return runs;
}

/**
 * The mask's rows. Rows map to prototype rows in order, so the rows that share one (8 at 2× the
 * input here) share every quad state: the first row of such a group gets the runs of quads all > 0,
 * the group's other rows are copies of it (doubling: 3 copies for 8 rows), and only the quads that
 * straddle 0 are then evaluated per row (`mixedRows`).
 */
function fillRows(data: Uint8Array, w: ProtoWindow, top: number, width: number, height: number, runs: number): void {
  const { fy, oy, v0, v1, cw, ch } = w;
  let y = 0;
  while (y < height) {
    const y0 = y;
    // The prototype row of y0, and the rows after it in the same one (inline: a closure per mask cost 1.1×).
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
    // The first row, as spans of runs: 1 where all four corners are > 0, else 0 (mixed runs are
    // set per pixel below, over these zeros).
    let spanStart = 0;
    let spanValue = -1;
    for (let r = 0; r < runs; r++) {
      const corners = quad[qRow + runCell[r]!]!;
      const value = corners === 4 ? 1 : 0;
      if (value !== spanValue) {
        if (spanValue >= 0) fillSpan(data, first + spanStart, first + runStart[r]!, spanValue);
        spanStart = runStart[r]!;
        spanValue = value;
      }
      if (corners !== 0 && corners !== 4) mixed[nMixed++] = r;
    }
    fillSpan(data, first + spanStart, first + width, spanValue);
    const rowsInGroup = y1 - y0;
    for (let done = 1; done < rowsInGroup;) {
      const c = Math.min(done, rowsInGroup - done);
      data.copyWithin(first + done * width, first, first + c * width);
      done += c;
    }
    if (nMixed > 0) mixedRows(data, w, top, width, y0, y1, ya, nMixed);
    y = y1;
  }
}

/**
 * Rows y0..y1 (one prototype row, `ya`) over the runs listed in `mixed`. Along a row, inside one
 * quad, the bilinear logit is linear in x (f0 at the quad's left cell, f1 at its right), so a run
 * whose two ends agree is filled or left without evaluating its pixels.
 */
function mixedRows(
  data: Uint8Array,
  w: ProtoWindow,
  top: number,
  width: number,
  y0: number,
  y1: number,
  ya: number,
  nMixed: number,
): void {
  const { fy, oy, v0, v1, cw, ch } = w;
  const lg = logits;
  const qRow = ya * cw;
  const yb = Math.min(ya + 1, ch - 1) * cw;
  const rows = y1 - y0;
  if (rowWeight.length < rows) rowWeight = new Float64Array(rows * 2);
  for (let j = 0; j < rows; j++) rowWeight[j] = Math.min(Math.max((top + y0 + j + 0.5) * fy + oy, v0), v1) - v0 - ya;
  // Run by run, its four corners read once for the group's rows.
  for (let i = 0; i < nMixed; i++) {
    const r = mixed[i]!;
    const qa = runCell[r]!;
    const qb = Math.min(qa + 1, cw - 1);
    const a0 = lg[qRow + qa]!,
      a1 = lg[yb + qa]!,
      b0 = lg[qRow + qb]!,
      b1 = lg[yb + qb]!;
    const x0 = runStart[r]!;
    const end = runStart[r + 1]!;
    for (let j = 0, rowOut = y0 * width; j < rows; j++, rowOut += width) {
      const wy = rowWeight[j]!;
      const f0 = a0 * (1 - wy) + a1 * wy;
      const f1 = b0 * (1 - wy) + b1 * wy;
      if (f0 > 0 && f1 > 0) for (let x = x0; x < end; x++) data[rowOut + x] = 1;
      else if (f0 > 0 || f1 > 0) {
        const d = f1 - f0;
        for (let x = x0; x < end; x++) if (f0 + d * colWeight[x]! > 0) data[rowOut + x] = 1;
      }
    }
  }
}

/** `value` over [from, to): a plain loop for the short spans, where fill()'s call costs more than the stores. */
function fillSpan(data: Uint8Array, from: number, to: number, value: number): void {
  if (to - from >= 32) data.fill(value, from, to);
  else for (let k = from; k < to; k++) data[k] = value;
}

function headFor(metadata: ModelMetadata): VisionHead {
  return {
    name: 'segment',
    task: 'detect',
    expects:
      'two outputs: [B, 4+C+M, N] (boxes, classes, mask coefficients) and prototypes [B, M, Hp, Wp] ' +
      '(Ultralytics segment)',
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
    decode: (outputs, transform, options) => decodeSegment(metadata, outputs, transform, options),
  };
}

/** The [B, 4+C+M, N] and [B, M, Hp, Wp] outputs of one image: data, offsets and sizes. */
interface SegmentOutputs {
  data: Float32Array;
  base: number;
  n: number;
  classes: number;
  m: number;
  protos: Float32Array;
  pBase: number;
  ph: number;
  pw: number;
}

function segmentOutputs(metadata: ModelMetadata, outputs: ModelOutputs, options: DecodeOptions): SegmentOutputs {
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
  const named = options.labels?.length ?? parseNames(metadata['names'])?.length;
  return {
    data: floatData('segment', dName, dT),
    base: batchOffset('segment', dName, dT.dims, options.batchIndex),
    n: dT.dims[2]!,
    classes: named !== undefined && named === rows - 4 - r.m ? named : rows - 4 - r.m,
    m: r.m,
    protos: floatData('segment', pName, pT),
    pBase: batchOffset('segment', pName, pT.dims, options.batchIndex),
    ph: pT.dims[2]!,
    pw: pT.dims[3]!,
  };
}

function decodeSegment(
  metadata: ModelMetadata,
  outputs: ModelOutputs,
  transform: ImageTransform,
  options: DecodeOptions,
): HeadResult {
  const o = segmentOutputs(metadata, outputs, options);
  collectCandidates(o, options);
  const kept = nms(candidates, {
    iouThreshold: options.iouThreshold,
    scoreThreshold: options.scoreThreshold,
    maxDetections: options.maxDetections,
    topK: options.topK,
    agnostic: options.agnostic,
  });
  // Masks only for the boxes NMS keeps.
  const labels = detectorLabels(options.labels, o.classes);
  const coeffs = new Float32Array(o.m);
  const detections: Detection[] = [];
  for (const k of kept) {
    const b = k * 4;
    const c = candidates.boxes;
    const box = toOriginal(transform, [c[b]!, c[b + 1]!, c[b + 2]!, c[b + 3]!]);
    if (box[2] <= box[0] || box[3] <= box[1]) continue;
    const col = column[k]!;
    for (let j = 0; j < o.m; j++) coeffs[j] = o.data[o.base + (4 + o.classes + j) * o.n + col]!;
    const classId = candidates.classes[k]!;
    const mask = instanceMask(o.protos, o.pBase, o.m, o.ph, o.pw, coeffs, box, transform);
    detections.push({ label: labelOf(labels, classId), classId, score: candidates.scores[k]!, box, mask });
  }
  return { task: 'detect', detections };
}

/** Every column with a class score >= the threshold into `candidates`, its column into `column`. */
function collectCandidates(o: SegmentOutputs, options: DecodeOptions): void {
  const { data, base, n } = o;
  candidates.reset();
  const keep = classFilter(options.classes);
  const { best, cls } = scanClasses(data, base + 4 * n, n, o.classes, options.scoreThreshold, keep);
  for (let i = 0; i < n; i++) {
    const s = best[i]!;
    if (s === -Infinity) continue;
    if (column.length <= candidates.count) {
      const grown = new Int32Array(column.length * 2);
      grown.set(column);
      column = grown;
    }
    column[candidates.count] = i;
    candidates.pushCenterColumn(data, base, n, i, s, cls[i]!);
  }
}

export const segmentHead: VisionHead = headFor({});
