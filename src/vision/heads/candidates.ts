/**
 * What detection heads share: a growable, reused buffer of candidates (flat typed arrays, boxes in
 * tensor pixels) and the last step from candidates to `Detection`s: NMS, the way back to
 * original-image pixels, clipping and labels. Objects are created only for the kept few.
 */
import { toOriginal, toOriginalPoint, type ImageTransform } from '../geometry.js';
import { labelOf } from '../labels.js';
import { nms, sortByScore } from '../nms.js';
import type { Detection, Keypoint } from '../types.js';
import type { DecodeOptions } from './head.js';

export class Candidates {
  boxes = new Float32Array(4 * 256);
  scores = new Float32Array(256);
  classes = new Int32Array(256);
  /** Keypoints per candidate, `keypoints` × (x, y, score) in tensor pixels; score NaN when the model has none. */
  kpts = new Float32Array(0);
  keypoints = 0;
  count = 0;

  /** Empties the buffer; `keypoints` per candidate from now on (0: none). */
  reset(keypoints = 0): this {
    this.count = 0;
    this.keypoints = keypoints;
    if (this.kpts.length < this.scores.length * keypoints * 3)
      this.kpts = new Float32Array(this.scores.length * keypoints * 3);
    return this;
  }

  /** Sets keypoint `k` of the candidate pushed last. */
  setKeypoint(k: number, x: number, y: number, score: number): void {
    const o = ((this.count - 1) * this.keypoints + k) * 3;
    this.kpts[o] = x;
    this.kpts[o + 1] = y;
    this.kpts[o + 2] = score;
  }

  #grow(): void {
    const cap = this.scores.length * 2;
    const boxes = new Float32Array(4 * cap);
    boxes.set(this.boxes);
    const scores = new Float32Array(cap);
    scores.set(this.scores);
    const classes = new Int32Array(cap);
    classes.set(this.classes);
    if (this.keypoints > 0) {
      const kpts = new Float32Array(cap * this.keypoints * 3);
      kpts.set(this.kpts.subarray(0, this.scores.length * this.keypoints * 3));
      this.kpts = kpts;
    }
    this.boxes = boxes;
    this.scores = scores;
    this.classes = classes;
  }

  /** Adds a corner-form box. */
  push(x1: number, y1: number, x2: number, y2: number, score: number, cls: number): void {
    if (this.count === this.scores.length) this.#grow();
    const i = this.count++;
    const b = i * 4;
    this.boxes[b] = x1;
    this.boxes[b + 1] = y1;
    this.boxes[b + 2] = x2;
    this.boxes[b + 3] = y2;
    this.scores[i] = score;
    this.classes[i] = cls;
  }

  /** Adds a centre-form box (cx, cy, w, h). */
  pushCenter(cx: number, cy: number, w: number, h: number, score: number, cls: number): void {
    this.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, cls);
  }

  /** Adds the centre-form box of column i of a channel-major [4+…, n] block at `base` (Ultralytics' [B, 4+C, N]). */
  pushCenterColumn(data: Float32Array, base: number, n: number, i: number, score: number, cls: number): void {
    this.pushCenter(data[base + i]!, data[base + n + i]!, data[base + 2 * n + i]!, data[base + 3 * n + i]!, score, cls);
  }
}

/** A class filter as a lookup: undefined keeps every class. */
export function classFilter(classes: readonly number[]): Uint8Array | undefined {
  if (classes.length === 0) return undefined;
  const max = Math.max(...classes);
  const keep = new Uint8Array(max + 1);
  for (const c of classes) if (c >= 0) keep[c] = 1;
  return keep;
}

/**
 * Candidates → detections in original-image pixels: NMS (skipped for end-to-end models whose
 * outputs are already suppressed), then each kept box mapped back and clipped; boxes that clip to
 * nothing are dropped.
 */
export function finishDetections(
  c: Candidates,
  transform: ImageTransform,
  options: DecodeOptions,
  labels: readonly string[] | undefined,
  suppress = true,
): Detection[] {
  let kept: Uint32Array;
  if (suppress) {
    kept = nms(c, {
      iouThreshold: options.iouThreshold,
      scoreThreshold: options.scoreThreshold,
      maxDetections: options.maxDetections,
      topK: options.topK,
      agnostic: options.agnostic,
    });
  } else {
    kept = sortByScore(c.scores, c.count, options.scoreThreshold);
    if (kept.length > options.maxDetections) kept = kept.subarray(0, options.maxDetections);
  }
  const out: Detection[] = [];
  for (const i of kept) {
    const b = i * 4;
    const box = toOriginal(transform, [c.boxes[b]!, c.boxes[b + 1]!, c.boxes[b + 2]!, c.boxes[b + 3]!]);
    if (box[2] <= box[0] || box[3] <= box[1]) continue;
    const classId = c.classes[i]!;
    const det: Detection = { label: labelOf(labels, classId), classId, score: c.scores[i]!, box };
    if (c.keypoints > 0) det.keypoints = keypointsOf(c, i, transform);
    out.push(det);
  }
  return out;
}

function keypointsOf(c: Candidates, i: number, transform: ImageTransform): Keypoint[] {
  const out: Keypoint[] = [];
  for (let k = 0; k < c.keypoints; k++) {
    const o = (i * c.keypoints + k) * 3;
    const [x, y] = toOriginalPoint(transform, c.kpts[o]!, c.kpts[o + 1]!);
    const s = c.kpts[o + 2]!;
    out.push(Number.isNaN(s) ? { x, y } : { x, y, score: s });
  }
  return out;
}

let scanBest = new Float32Array(0);
let scanClass = new Int32Array(0);
const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);

/**
 * The int32 bits of f, thr as a float32 (0 as -0, which reaches 0): every float32 below f is below
 * thr (f is thr rounded to nearest: a float32 in [thr, f) would be nearer). Read as int32, float32
 * bits run +0 … +Infinity, +NaNs as 0 … 2^31 - 1, and -0 … -Infinity, -NaNs as -2^31 … -1.
 */
function thresholdBits(thr: number): number {
  f32[0] = thr === 0 ? -0 : thr;
  return f32Bits[0]!;
}

/**
 * The best class and its score at each of `n` columns of a channel-major block of `classes` rows
 * starting at `rowStart` (row c at rowStart + c · n), counting only scores >= thr (others stay
 * -Infinity). Class-major, as yolo.ts scans: the rows are read once, in order (a column-at-a-time
 * argmax strides through memory and is several times slower on [1, 116, 8400]). The arrays are
 * reused: read them before the next call.
 *
 * Eight scores at a time are tested against the threshold on their bits, and only a block that may
 * have a hit is read as floats: an integer compare is one instruction where a float compare is a
 * conversion and two branches (NaN). With t the bits of thr as a float32 f, the scores below f are,
 * for t >= 0 (thr > 0), the bits below t as int32 (every negative is), and for t < 0 (thr <= 0), the
 * bits above t's as uint32 (only negatives are). -NaNs count as below; f and +NaNs go to the float
 * test. A/B in one run, the scan alone, against the float test: 0.82–0.84× on [1, 84, 8400] at 0.25
 * and on 80 logit rows of 6400 at logit(0.25); against one form for both signs (an integer
 * subtraction, then an unsigned range test) 0.87–0.88×; against the int32 test inlined in one loop
 * per row (the segment head's scan-bits.ts, thr > 0 only) 0.92× on [1, 116, 8400]. Then indexes
 * as (q + j) | 0 (nextBlockInt): 0.82–0.91×. Tried and slower: the AND of the eight (x − t) for one
 * sign test (1.2×), Math.max of the eight (6×), blocks of 16 (1.0×), eight views one score apart
 * indexed alike (1.5×).
 */
export function scanClasses(
  data: Float32Array,
  rowStart: number,
  n: number,
  classes: number,
  thr: number,
  keep: Uint8Array | undefined,
): { best: Float32Array; cls: Int32Array } {
  if (scanBest.length < n) {
    scanBest = new Float32Array(n);
    scanClass = new Int32Array(n);
  }
  scanBest.fill(-Infinity, 0, n);
  const t = thresholdBits(thr);
  const ints = t >= 0 ? new Int32Array(data.buffer, data.byteOffset, data.length) : undefined;
  const uints = ints === undefined ? new Uint32Array(data.buffer, data.byteOffset, data.length) : undefined;
  const blocked = n - (n % 8);
  // The block tests index with `| 0` (no overflow check), which needs every index to fit an int32.
  const wide = rowStart + classes * n > 0x7fffffff;
  for (let c = 0; c < classes; c++) {
    if (keep !== undefined && keep[c] !== 1) continue;
    const row = rowStart + c * n;
    const end = row + blocked;
    for (let q = row; !wide; q += 8) {
      q = ints !== undefined ? nextBlockInt(ints, q, end, t) : nextBlockUint(uints!, q, end, t);
      if (q === end) break;
      takeBest(data, row, q - row, q - row + 8, thr, c);
    }
    takeBest(data, row, wide ? 0 : blocked, n, thr, c);
  }
  return { best: scanBest, cls: scanClass };
}

/**
 * From index q on (a row's, q < end in steps of eight), the first block of eight with an int32 >= t
 * (t >= 0), else `end`. The indexes as `(q + j) | 0`: without an overflow check each, and the loop on
 * the index itself rather than a column plus the row's start, 0.8–0.9× the time of the scan.
 */
function nextBlockInt(bits: Int32Array, q: number, end: number, t: number): number {
  for (; q < end; q = (q + 8) | 0) {
    if (
      bits[q]! >= t ||
      bits[(q + 1) | 0]! >= t ||
      bits[(q + 2) | 0]! >= t ||
      bits[(q + 3) | 0]! >= t ||
      bits[(q + 4) | 0]! >= t ||
      bits[(q + 5) | 0]! >= t ||
      bits[(q + 6) | 0]! >= t ||
      bits[(q + 7) | 0]! >= t
    )
      return q;
  }
  return end;
}

/** As nextBlockInt, for a uint32 <= t's (t < 0). */
function nextBlockUint(bits: Uint32Array, q: number, end: number, t: number): number {
  const u = t >>> 0; // here, so that it is typed uint32 even where this is not inlined
  for (; q < end; q = (q + 8) | 0) {
    if (
      bits[q]! <= u ||
      bits[(q + 1) | 0]! <= u ||
      bits[(q + 2) | 0]! <= u ||
      bits[(q + 3) | 0]! <= u ||
      bits[(q + 4) | 0]! <= u ||
      bits[(q + 5) | 0]! <= u ||
      bits[(q + 6) | 0]! <= u ||
      bits[(q + 7) | 0]! <= u
    )
      return q;
  }
  return end;
}

/** Columns from..to of one class row into the scan's best scores and classes. */
function takeBest(data: Float32Array, row: number, from: number, to: number, thr: number, c: number): void {
  for (let k = from; k < to; k++) {
    const v = data[row + k]!;
    if (v >= thr && v > scanBest[k]!) {
      scanBest[k] = v;
      scanClass[k] = c;
    }
  }
}
