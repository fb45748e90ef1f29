/**
 * Exact statistics over an in-memory sample. The brand on `SortedSamples` lets order-statistic
 * functions demand a sorted input at compile time instead of re-sorting defensively at runtime.
 */

export type SortedSamples = readonly number[] & { readonly __sorted: true };

/**
 * Copies and sorts ascending. Sorting goes through a Float64Array because its default sort is
 * numeric and several times faster than `Array.prototype.sort` with a comparator.
 * NaN is rejected: it has no place in an order and would silently land at the end.
 */
export function sortSamples(xs: ArrayLike<number>): SortedSamples {
  // Index loops, not Float64Array.from / Array.from: those go through the iterator protocol, one
  // result object per element (the scheduler's latency windows are sorted a few times a request).
  const n = xs.length;
  const buf = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    buf[i] = xs[i] as number;
    if (Number.isNaN(buf[i])) throw new RangeError(`sortSamples: sample ${i} is NaN`);
  }
  buf.sort();
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = buf[i] as number;
  return out as unknown as SortedSamples;
}

/**
 * Nearest-rank method (Hyndman & Fan 1996, definition 1 / the "inverted CDF"): the q-quantile of n
 * samples is the order statistic at 1-indexed rank ceil(q·n), clamped to [1, n] so q = 0 gives the
 * minimum. It always returns an observed value, which is what latency reporting (and HdrHistogram's
 * getValueAtPercentile) does, and it never interpolates between two queries that both happened.
 *
 * q·n is computed in floating point, so a product such as 0.7·10 = 7.000000000000001 would jump to
 * rank 8; a relative slack of 1e-12 absorbs that representation error (a genuine fractional part
 * that small is indistinguishable from it).
 */
export function nearestRank(n: number, q: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`nearestRank: n must be an integer >= 1, got ${n}`);
  checkQuantile(q);
  const x = q * n;
  const rank = Math.ceil(x - x * 1e-12);
  return Math.min(Math.max(rank, 1), n);
}

/** The q-quantile (q in [0, 1]) by the nearest-rank method; see `nearestRank`. */
export function quantileSorted(s: SortedSamples, q: number): number {
  if (s.length === 0) throw new RangeError('quantileSorted: no samples');
  const value = s[nearestRank(s.length, q) - 1];
  if (value === undefined) throw new RangeError('quantileSorted: rank out of range');
  return value;
}

/** Arithmetic mean; an empty sample has none, so it throws rather than returning NaN. */
export function meanOf(xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new RangeError('meanOf: no samples');
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += xs[i] as number;
  return sum / xs.length;
}

/**
 * Sample standard deviation (Bessel's n − 1 divisor), by the corrected two-pass algorithm
 * (Chan, Golub & LeVeque 1983): the second term cancels the rounding error of the first pass's
 * mean, which matters when the spread is tiny relative to the values (latencies of ~1e6 µs that
 * vary by a few µs). Fewer than two samples carry no spread, so the result is 0.
 */
export function stddevOf(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mean = meanOf(xs);
  let sumSq = 0;
  let sumDev = 0;
  for (let i = 0; i < n; i++) {
    const d = (xs[i] as number) - mean;
    sumSq += d * d;
    sumDev += d;
  }
  return Math.sqrt(Math.max(0, (sumSq - (sumDev * sumDev) / n) / (n - 1)));
}

function checkQuantile(q: number): void {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
}
