/**
 * Activation ranges from calibration data, as pure functions over histograms: min-max, percentile
 * and entropy (KL divergence, the method TensorRT introduced for int8 calibration and onnxruntime's
 * quantizer implements as CalibrationMethod.Entropy).
 *
 * The collector takes two passes over the data: the first finds each tensor's min and max, the
 * second fills a fixed-range histogram between them, so no rebinning is ever needed.
 */

export const CALIBRATION_METHODS = ['minmax', 'percentile', 'entropy', 'mse'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** Bins of the calibration histograms (onnxruntime's HistogramCalibrater uses 2048 too). */
export const HISTOGRAM_BINS = 2048;
/** Default percentile: onnxruntime's quantize_static default (99.999). */
export const DEFAULT_PERCENTILE = 99.999;
/** Quantized bins the entropy method compares against: 128, as TensorRT and onnxruntime. */
const ENTROPY_QUANT_BINS = 128;

export type Range = readonly [min: number, max: number];

/** Running min and max of one tensor. */
export class MinMax {
  min = Infinity;
  max = -Infinity;

  add(values: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      // NaN fails both tests and is skipped; ±Infinity would make every scale useless, so skip it too.
      if (v < lo && v !== -Infinity) lo = v;
      if (v > hi && v !== Infinity) hi = v;
    }
    this.min = lo;
    this.max = hi;
  }

  range(): Range {
    return this.min <= this.max ? [this.min, this.max] : [0, 0];
  }
}

/** A histogram over [lo, hi] with HISTOGRAM_BINS bins; values outside go to the end bins. */
export class Histogram {
  readonly counts: Float64Array;
  readonly lo: number;
  readonly hi: number;
  /** Whether values are binned by magnitude (|v| over [0, hi]) rather than signed. */
  readonly absolute: boolean;

  constructor(lo: number, hi: number, absolute: boolean, bins = HISTOGRAM_BINS) {
    this.counts = new Float64Array(bins);
    this.lo = absolute ? 0 : lo;
    this.hi = hi > this.lo ? hi : this.lo + 1e-12;
    this.absolute = absolute;
  }

  add(values: ArrayLike<number>): void {
    const bins = this.counts.length;
    const scale = bins / (this.hi - this.lo);
    const lo = this.lo;
    const counts = this.counts;
    for (let i = 0; i < values.length; i++) {
      let v = values[i]!;
      if (Number.isNaN(v)) continue;
      if (this.absolute) {
        // Exact zeros (half of a ReLU's output) are skipped: 0 is always exact, the zero point
        // holds it, so they say nothing about where to clip; left in, their spike in bin 0 makes
        // the KL search spread it over a merged group and pick thresholds near the mean.
        if (v === 0) continue;
        if (v < 0) v = -v;
      }
      let b = Math.floor((v - lo) * scale);
      if (b < 0) b = 0;
      else if (b >= bins) b = bins - 1;
      counts[b]! += 1;
    }
  }

  binWidth(): number {
    return (this.hi - this.lo) / this.counts.length;
  }
}

/**
 * The range that keeps `percentile` % of the values, cutting the same share from each tail of a
 * signed histogram; never wider than the histogram's own range.
 */
export function percentileRange(h: Histogram, percentile: number): Range {
  const total = h.counts.reduce((s, c) => s + c, 0);
  if (total === 0) return [h.lo, h.hi];
  const cut = ((100 - percentile) / 200) * total;
  const width = h.binWidth();
  let acc = 0;
  let left = 0;
  for (; left < h.counts.length - 1; left++) {
    acc += h.counts[left]!;
    if (acc > cut) break;
  }
  acc = 0;
  let right = h.counts.length - 1;
  for (; right > 0; right--) {
    acc += h.counts[right]!;
    if (acc > cut) break;
  }
  return [h.lo + left * width, h.lo + (right + 1) * width];
}

/**
 * The clipping threshold that minimises the KL divergence between the histogram of |x| and its
 * ENTROPY_QUANT_BINS-level quantization (values beyond the threshold clipped into the last bin).
 * Candidate thresholds are tried every `step` bins, from ENTROPY_QUANT_BINS up to all of them.
 */
export function entropyThreshold(h: Histogram, step = 4): number {
  const counts = h.counts;
  const n = counts.length;
  const total = counts.reduce((s, c) => s + c, 0);
  if (total === 0 || n <= ENTROPY_QUANT_BINS) return h.hi;
  // Suffix sums, so the mass clipped into the last bin costs nothing per candidate.
  const suffix = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + counts[i]!;
  let best = n;
  let bestKl = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  for (let i = ENTROPY_QUANT_BINS; i <= n; i += step) {
    for (let j = 0; j < i; j++) p[j] = counts[j]!;
    p[i - 1]! += suffix[i]!;
    // q: the first i bins *without* the clipped mass, merged into ENTROPY_QUANT_BINS groups and
    // each group's mass spread evenly over its non-empty bins. p carries the clipped mass in its
    // last bin and q does not, which is what makes clipping cost divergence.
    const per = i / ENTROPY_QUANT_BINS;
    for (let g = 0; g < ENTROPY_QUANT_BINS; g++) {
      const start = Math.floor(g * per);
      const end = g === ENTROPY_QUANT_BINS - 1 ? i : Math.floor((g + 1) * per);
      let sum = 0;
      let nonEmpty = 0;
      for (let j = start; j < end; j++) {
        sum += counts[j]!;
        if (counts[j]! > 0) nonEmpty++;
      }
      for (let j = start; j < end; j++) q[j] = counts[j]! > 0 ? sum / nonEmpty : 0;
    }
    const kl = divergence(p, q, i);
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return h.lo + best * h.binWidth();
}

/** KL(p ‖ q) over the first n bins, both normalised; q's zeros where p has mass are smoothed. */
function divergence(p: Float64Array, q: Float64Array, n: number): number {
  let sp = 0;
  let sq = 0;
  for (let j = 0; j < n; j++) {
    sp += p[j]!;
    sq += q[j]!;
  }
  if (sp === 0 || sq === 0) return Infinity;
  const eps = 1e-4;
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const a = p[j]! / sp;
    if (a === 0) continue;
    const b = Math.max(q[j]! / sq, eps / n);
    kl += a * Math.log(a / b);
  }
  return kl;
}

/**
 * The range that minimises the expected squared error of 8-bit quantization over a signed
 * histogram: rounding (step² / 12 for every value inside) plus clipping (the distance to the
 * nearer end for every value outside). Ends are tried on a grid (the low end at `lowSteps`
 * fractions of the observed minimum, the high end at `highSteps` fractions of the maximum); prefix
 * sums of count, x and x² make each candidate O(1). A few huge activations (yolox_nano's first
 * SiLU: max 127 where channel means are near 2) no longer set a step that erases everything else.
 */
export function mseRange(h: Histogram, levels = 256, lowSteps = 64, highSteps = 256): Range {
  const n = h.counts.length;
  const w = h.binWidth();
  // Prefix sums over bins at their centres: c0 (count), c1 (Σx), c2 (Σx²).
  const c0 = new Float64Array(n + 1);
  const c1 = new Float64Array(n + 1);
  const c2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const x = h.lo + (i + 0.5) * w;
    const c = h.counts[i]!;
    c0[i + 1] = c0[i]! + c;
    c1[i + 1] = c1[i]! + c * x;
    c2[i + 1] = c2[i]! + c * x * x;
  }
  if (c0[n] === 0) return [h.lo, h.hi];
  const bin = (x: number): number => Math.min(n, Math.max(0, Math.round((x - h.lo) / w)));
  // Σ (x - t)² over bins [i, j): the clipping error of values beyond an end t.
  const spread = (i: number, j: number, t: number): number =>
    c2[j]! - c2[i]! - 2 * t * (c1[j]! - c1[i]!) + t * t * (c0[j]! - c0[i]!);
  const lo = Math.min(h.lo, 0);
  const hi = Math.max(h.hi, 0);
  let best: Range = [h.lo, h.hi];
  let bestErr = Infinity;
  for (let a = lowSteps; a >= (lo < 0 ? 1 : lowSteps); a--) {
    const low = (lo * a) / lowSteps;
    const ia = bin(low);
    for (let b = highSteps; b >= (hi > 0 ? 1 : highSteps); b--) {
      const high = (hi * b) / highSteps;
      if (high <= low) continue;
      const ib = bin(high);
      const step = (high - low) / (levels - 1);
      const err = spread(0, ia, low) + spread(ib, n, high) + ((c0[ib]! - c0[ia]!) * step * step) / 12;
      if (err < bestErr) {
        bestErr = err;
        best = [Math.max(low, h.lo), Math.min(high, h.hi)];
      }
    }
  }
  return best;
}

/** A range clipped to a symmetric threshold, never wider than the observed one. */
export function clipToThreshold(observed: Range, threshold: number): Range {
  return [Math.max(observed[0], -threshold), Math.min(observed[1], threshold)];
}
