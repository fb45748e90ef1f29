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

/**
 * The best class and its score at each of `n` columns of a channel-major block of `classes` rows
 * starting at `rowStart` (row c at rowStart + c · n), counting only scores >= thr (others stay
 * -Infinity). Class-major, eight columns at a time against the threshold, as yolo.ts scans: the
 * rows are read once, in order (a column-at-a-time argmax strides through memory and is several
 * times slower on [1, 116, 8400]). The arrays are reused: read them before the next call.
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
  const best = scanBest;
  const cls = scanClass;
  best.fill(-Infinity, 0, n);
  const blocked = n - (n % 8);
  for (let c = 0; c < classes; c++) {
    if (keep !== undefined && keep[c] !== 1) continue;
    const row = rowStart + c * n;
    let i = 0;
    for (; i < blocked; i += 8) {
      const q = row + i;
      if (
        data[q]! < thr &&
        data[q + 1]! < thr &&
        data[q + 2]! < thr &&
        data[q + 3]! < thr &&
        data[q + 4]! < thr &&
        data[q + 5]! < thr &&
        data[q + 6]! < thr &&
        data[q + 7]! < thr
      )
        continue;
      for (let k = i; k < i + 8; k++) {
        const v = data[row + k]!;
        if (v >= thr && v > best[k]!) {
          best[k] = v;
          cls[k] = c;
        }
      }
    }
    for (; i < n; i++) {
      const v = data[row + i]!;
      if (v >= thr && v > best[i]!) {
        best[i] = v;
        cls[i] = c;
      }
    }
  }
  return { best, cls };
}
