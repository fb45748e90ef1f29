/**
 * The class-score scan of candidates.ts (`scanClasses`), with the eight-at-a-time threshold test
 * done on the scores' bit patterns: for a threshold > 0, a float32 is below it exactly when its
 * bits, read as an int32, are below those of the smallest float32 >= the threshold (positive
 * floats order as their bits; negative ones, -0 included, read as negative ints). An int compare
 * is one branch where a float compare is a load, a conversion and two branches (the NaN test).
 * The test only filters: a block that passes is read as floats, as `scanClasses` does, so the
 * result is the same (NaN is never taken either way).
 *
 * A/B in one run on the segment head's [116, 8400] (80 classes): 0.29–0.32 ms against 0.34–0.36
 * for `scanClasses`, about 0.86×. Thresholds ≤ 0 or not finite take `scanClasses`.
 */
import { scanClasses } from './candidates.js';

let best = new Float32Array(0);
let cls = new Int32Array(0);
const one = new Float32Array(1);
const oneBits = new Int32Array(one.buffer);

/** The int32 bits of the smallest float32 >= thr (thr > 0, finite). */
function thresholdBits(thr: number): number {
  one[0] = thr;
  const bits = oneBits[0]!;
  return one[0]! < thr ? bits + 1 : bits;
}

/**
 * As `scanClasses`: the best class and its score (>= thr, others -Infinity) at each of `n` columns
 * of a channel-major block of `classes` rows from `rowStart`. The arrays are reused: read them
 * before the next call.
 */
export function scanClassesBits(
  data: Float32Array,
  rowStart: number,
  n: number,
  classes: number,
  thr: number,
  keep: Uint8Array | undefined,
): { best: Float32Array; cls: Int32Array } {
  if (!(thr > 0) || thr === Infinity) return scanClasses(data, rowStart, n, classes, thr, keep);
  if (best.length < n) {
    best = new Float32Array(n);
    cls = new Int32Array(n);
  }
  const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
  const t = thresholdBits(thr);
  best.fill(-Infinity, 0, n);
  const blocked = n - (n % 8);
  for (let c = 0; c < classes; c++) {
    if (keep !== undefined && keep[c] !== 1) continue;
    const row = rowStart + c * n;
    let i = 0;
    for (; i < blocked; i += 8) {
      const q = row + i;
      if (
        bits[q]! < t &&
        bits[q + 1]! < t &&
        bits[q + 2]! < t &&
        bits[q + 3]! < t &&
        bits[q + 4]! < t &&
        bits[q + 5]! < t &&
        bits[q + 6]! < t &&
        bits[q + 7]! < t
      )
        continue;
      take(data, row, i, i + 8, thr, c);
    }
    take(data, row, i, n, thr, c);
  }
  return { best, cls };
}

function take(data: Float32Array, row: number, from: number, to: number, thr: number, c: number): void {
  for (let k = from; k < to; k++) {
    const v = data[row + k]!;
    if (v >= thr && v > best[k]!) {
      best[k] = v;
      cls[k] = c;
    }
  }
}
