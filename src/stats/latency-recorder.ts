/**
 * Latency recording over an HdrHistogram (G. Tene, HdrHistogram; the hdr-histogram-js port, pure JS
 * build). Fixed memory (~190 KB) and O(1) recording whatever the run length, mergeable across
 * workers and processes through HDR's standard compressed encoding.
 *
 * Precision: 3 significant digits. Values below 2048 µs are stored exactly; above that a value
 * shares a bucket with neighbours spanning at most 1/1024 of it, so any reported order statistic
 * is at or above the true one and within ~0.1% of it.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, JsHistogram } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { nearestRank } from './sorted.js';

/** Lowest trackable value: 1 µs. */
export const MIN_TRACKABLE_US = 1;
/** Highest trackable value: one hour, in µs. */
export const MAX_TRACKABLE_US = 3_600_000_000;
const SIGNIFICANT_DIGITS = 3;

function newHistogram(): JsHistogram {
  return asJsHistogram(
    build({
      // 64-bit (Float64Array) counts: a 32-bit bucket would wrap silently after 2^31 hits.
      bitBucketSize: 64,
      // Out-of-range values are clamped by `record`, so the histogram never has to grow (and its
      // layout stays identical across recorders, which keeps `merge` on HDR's fast path).
      autoResize: false,
      lowestDiscernibleValue: MIN_TRACKABLE_US,
      highestTrackableValue: MAX_TRACKABLE_US,
      numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
      useWebAssembly: false,
    }),
  );
}

function asJsHistogram(h: Histogram): JsHistogram {
  if (!(h instanceof JsHistogram)) throw new TypeError('LatencyRecorder: expected the pure-JS HdrHistogram');
  return h;
}

export class LatencyRecorder {
  #h: JsHistogram;
  #clamped = 0;

  constructor() {
    this.#h = newHistogram();
  }

  /**
   * Records one latency in µs (hot path: a rounding, two compares and HDR's O(1) bucket increment).
   * It is rounded to an integer µs; a value outside [1 µs, 1 h] (including 0, negatives, NaN and
   * Infinity) is clamped to the nearest end (NaN to 1 µs) and counted in `clampedCount`, never
   * thrown: a measurement loop must not die on one odd timer reading.
   */
  record(us: number): void {
    const v = Math.round(us);
    if (v >= MIN_TRACKABLE_US && v <= MAX_TRACKABLE_US) {
      this.#h.recordValue(v);
      return;
    }
    this.#clamped++;
    this.#h.recordValue(v > MAX_TRACKABLE_US ? MAX_TRACKABLE_US : MIN_TRACKABLE_US);
  }

  get count(): number {
    return this.#h.totalCount;
  }

  /**
   * Values clamped into range by `record` here or in recorders merged in. HDR's encoding has no
   * field for it, so `decode` starts at 0: ship it alongside the encoded string if it matters.
   */
  get clampedCount(): number {
    return this.#clamped;
  }

  /** Smallest value; exact for values recorded here, bucket-low after decode. 0 when empty. */
  get minUs(): number {
    return this.count === 0 ? 0 : this.#h.minNonZeroValue;
  }

  /** Largest value; exact for values recorded here, bucket-high after decode. 0 when empty. */
  get maxUs(): number {
    return this.count === 0 ? 0 : this.#h.maxValue;
  }

  /** Mean over bucket midpoints (HDR's definition), so within ~0.05% of the exact mean. */
  get meanUs(): number {
    return this.#h.mean;
  }

  /**
   * Sample standard deviation (n − 1), to agree with `stddevOf`; HDR's own `stdDeviation` divides
   * by n, so it is rescaled by √(n / (n − 1)). 0 for fewer than two values.
   */
  get stddevUs(): number {
    const n = this.count;
    if (n < 2) return 0;
    return this.#h.stdDeviation * Math.sqrt(n / (n - 1));
  }

  /**
   * The q-quantile (q in [0, 1]) by the nearest-rank method, rank ceil(q·n), which is also what
   * HDR's getValueAtPercentile(100·q) computes; the rank is taken from `nearestRank` rather than
   * HDR's percentile so q·100·n/100 rounding cannot move it. 0 when empty.
   */
  valueAtQuantileUs(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`valueAtQuantileUs: q must be in [0, 1], got ${q}`);
    const n = this.count;
    if (n === 0) return 0;
    return this.valueAtRankUs(nearestRank(n, q));
  }

  /**
   * The 1-indexed order statistic X(rank), read from the histogram: the top of the bucket that holds
   * it (as HDR reports percentiles), capped at `maxUs`, so it is >= the true value and within ~0.1%
   * (1/1024) of it; rank 1 is `minUs` and rank n is `maxUs`. O(buckets) ≈ 23k steps per call.
   */
  valueAtRankUs(rank1: number): number {
    const n = this.count;
    if (!Number.isInteger(rank1) || rank1 < 1 || rank1 > n) {
      throw new RangeError(`valueAtRankUs: rank must be an integer in [1, ${n}], got ${rank1}`);
    }
    if (rank1 === 1) return this.minUs;
    const h = this.#h;
    let seen = 0;
    for (let i = 0; i < h.countsArrayLength; i++) {
      seen += h.getCountAtIndex(i);
      if (seen >= rank1) return Math.min(h.highestEquivalentValue(h.valueFromIndex(i)), this.maxUs);
    }
    return this.maxUs;
  }

  /**
   * Every recorded value, ascending, as its bucket's median-equivalent value (exact below 2048 µs,
   * within ~0.05% above): the sample that rank tests and bootstraps over a stored histogram work on.
   */
  values(): Float64Array {
    const h = this.#h;
    const out = new Float64Array(this.count);
    let k = 0;
    for (let i = 0; i < h.countsArrayLength && k < out.length; i++) {
      const c = h.getCountAtIndex(i);
      if (c === 0) continue;
      const v = h.medianEquivalentValue(h.valueFromIndex(i));
      out.fill(v, k, Math.min(out.length, k + c));
      k += c;
    }
    return out;
  }

  /** Adds another recorder's values (and clamp count) into this one; `other` is unchanged. */
  merge(other: LatencyRecorder): void {
    this.#h.add(other.#h);
    this.#clamped += other.#clamped;
  }

  /** HDR's V2 compressed base64 encoding, readable by any HdrHistogram implementation. */
  encode(): string {
    return encodeIntoCompressedBase64(this.#h);
  }

  /**
   * Rebuilds a recorder from `encode()` output (e.g. sent by a worker), ready to `merge`. Rejects
   * histograms with another range or precision, whose buckets would not line up with ours.
   */
  static decode(s: string): LatencyRecorder {
    let h: JsHistogram;
    try {
      h = asJsHistogram(decodeFromCompressedBase64(s, 64, false));
    } catch (cause) {
      throw new RangeError('LatencyRecorder.decode: not an HdrHistogram compressed encoding', { cause });
    }
    if (
      h.lowestDiscernibleValue !== MIN_TRACKABLE_US ||
      h.highestTrackableValue !== MAX_TRACKABLE_US ||
      h.numberOfSignificantValueDigits !== SIGNIFICANT_DIGITS
    ) {
      throw new RangeError(
        `LatencyRecorder.decode: histogram covers [${h.lowestDiscernibleValue}, ${h.highestTrackableValue}] ` +
          `at ${h.numberOfSignificantValueDigits} digits, expected [${MIN_TRACKABLE_US}, ${MAX_TRACKABLE_US}] ` +
          `at ${SIGNIFICANT_DIGITS}`,
      );
    }
    const rec = new LatencyRecorder();
    rec.#h = h;
    return rec;
  }

  /** Forgets every value and the clamp count. */
  reset(): void {
    this.#h.reset();
    this.#clamped = 0;
  }
}
