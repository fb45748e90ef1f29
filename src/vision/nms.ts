/**
 * Non-maximum suppression over typed arrays: candidates stay in flat arrays (boxes as x1,y1,x2,y2
 * quadruples), ordering is one native Float64Array sort of packed (score, index) keys, suppression
 * marks a Uint8Array. No object per candidate, no comparator callback.
 *
 * Greedy, as torchvision.ops.nms / batched_nms: take the best remaining box, drop every later box of
 * the same class (any class when agnostic) whose IoU with it is above the threshold.
 */

export interface NmsOptions {
  /** Boxes overlapping a kept box by more than this IoU are suppressed. */
  iouThreshold: number;
  /** Candidates below this score are ignored (default: none ignored). */
  scoreThreshold?: number;
  /** Stop after this many kept boxes (default: no limit). */
  maxDetections?: number;
  /** Before suppression, keep only the best topK candidates (default: all). */
  topK?: number;
  /** Suppress across classes (default false: boxes of different classes never suppress each other). */
  agnostic?: boolean;
}

export interface NmsCandidates {
  /** x1, y1, x2, y2 per candidate. */
  boxes: Float32Array;
  scores: Float32Array;
  /** Class per candidate; null means one class (as agnostic). */
  classes: Int32Array | null;
  /** How many candidates the arrays hold (they may be longer, as reused scratch space). */
  count: number;
}

// Keys pack a float32 score's bit pattern (made order-preserving as an unsigned integer) above a
// 20-bit index, so an ascending numeric sort orders by score and then by index: 32 + 20 = 52 bits,
// exact in a float64 mantissa. Beyond 2^20 candidates a comparator sort takes over.
const INDEX_BITS = 20;
const INDEX_SPAN = 2 ** INDEX_BITS;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function sortableBits(score: number): number {
  f32[0] = score;
  const b = u32[0]!;
  // Positive floats order as their bits; negative ones in reverse, below all positives.
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

let keyScratch = new Float64Array(1024);
let suppressScratch = new Uint8Array(1024);
let areaScratch = new Float32Array(1024);
let orderScratch = new Uint32Array(1024);

/** Indices of candidates with score >= threshold, best first (ties: lower index first). */
export function sortByScore(scores: Float32Array, count: number, scoreThreshold = -Infinity): Uint32Array {
  if (count > INDEX_SPAN) {
    const idx: number[] = [];
    for (let i = 0; i < count; i++) if (scores[i]! >= scoreThreshold) idx.push(i);
    idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
    return Uint32Array.from(idx);
  }
  if (keyScratch.length < count) keyScratch = new Float64Array(count);
  let n = 0;
  for (let i = 0; i < count; i++) {
    const s = scores[i]!;
    if (s >= scoreThreshold) keyScratch[n++] = sortableBits(s) * INDEX_SPAN + (INDEX_SPAN - 1 - i);
  }
  const keys = keyScratch.subarray(0, n).sort();
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = INDEX_SPAN - 1 - (keys[n - 1 - k]! % INDEX_SPAN);
  return order;
}

/** IoU of boxes i and j of a flat x1,y1,x2,y2 array. */
export function iouAt(boxes: Float32Array, i: number, j: number): number {
  const a = i * 4;
  const b = j * 4;
  const w = Math.min(boxes[a + 2]!, boxes[b + 2]!) - Math.max(boxes[a]!, boxes[b]!);
  const h = Math.min(boxes[a + 3]!, boxes[b + 3]!) - Math.max(boxes[a + 1]!, boxes[b + 1]!);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const areaA = Math.max(0, boxes[a + 2]! - boxes[a]!) * Math.max(0, boxes[a + 3]! - boxes[a + 1]!);
  const areaB = Math.max(0, boxes[b + 2]! - boxes[b]!) * Math.max(0, boxes[b + 3]! - boxes[b + 1]!);
  const union = areaA + areaB - inter;
  return union > 0 ? inter / union : 0;
}

/** Kept candidate indices, best first. */
export function nms(c: NmsCandidates, options: NmsOptions): Uint32Array {
  const { boxes, scores, classes } = c;
  const iouThr = options.iouThreshold;
  const maxDet = options.maxDetections ?? Infinity;
  let order = sortByScore(scores, c.count, options.scoreThreshold);
  if (options.topK !== undefined && order.length > options.topK) order = order.subarray(0, options.topK);
  const n = order.length;
  if (suppressScratch.length < n) {
    suppressScratch = new Uint8Array(n);
    areaScratch = new Float32Array(n);
    orderScratch = new Uint32Array(n);
  }
  const suppressed = suppressScratch;
  suppressed.fill(0, 0, n);
  // Areas and coordinates in sorted order, so the inner loop reads memory forward.
  const area = areaScratch;
  for (let k = 0; k < n; k++) {
    const b = order[k]! * 4;
    area[k] = Math.max(0, boxes[b + 2]! - boxes[b]!) * Math.max(0, boxes[b + 3]! - boxes[b + 1]!);
  }
  const agnostic = options.agnostic === true || classes === null;
  const kept = orderScratch;
  let nKept = 0;
  for (let k = 0; k < n && nKept < maxDet; k++) {
    if (suppressed[k] === 1) continue;
    const i = order[k]!;
    kept[nKept++] = i;
    const bi = i * 4;
    const x1 = boxes[bi]!,
      y1 = boxes[bi + 1]!,
      x2 = boxes[bi + 2]!,
      y2 = boxes[bi + 3]!;
    const ai = area[k]!;
    const cls = agnostic ? 0 : classes[i]!;
    for (let m = k + 1; m < n; m++) {
      if (suppressed[m] === 1) continue;
      const j = order[m]!;
      if (!agnostic && classes[j] !== cls) continue;
      const bj = j * 4;
      const w = Math.min(x2, boxes[bj + 2]!) - Math.max(x1, boxes[bj]!);
      if (w <= 0) continue;
      const h = Math.min(y2, boxes[bj + 3]!) - Math.max(y1, boxes[bj + 1]!);
      if (h <= 0) continue;
      const inter = w * h;
      const union = ai + area[m]! - inter;
      if (union > 0 && inter > iouThr * union) suppressed[m] = 1;
    }
  }
  return kept.slice(0, nKept);
}
