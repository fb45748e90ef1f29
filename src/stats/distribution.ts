/**
 * A compact latency distribution for reports that draw it (histogram and CDF) without shipping
 * every query: a quantile table at fine steps, and a histogram over log-spaced bins. Log bins keep
 * the same relative resolution from 50 µs to 5 s, so one outlier cannot squash the body of the
 * distribution into a single bar as equal-width bins would.
 */
import type { LatencyRecorder } from './latency-recorder.js';

/** 0, 0.01, ..., 0.99, then the tail: 0.995, 0.999, 0.9995, 0.9999, 1. */
export const DISTRIBUTION_QUANTILES: readonly number[] = [
  ...Array.from({ length: 100 }, (_v, i) => i / 100),
  0.995,
  0.999,
  0.9995,
  0.9999,
  1,
];

/** Eight bins per doubling: each bin spans 2^(1/8) ≈ 9 % of its lower edge. */
export const BINS_PER_OCTAVE = 8;

export interface LatencyDistribution {
  /** `ms[i]` is the nearest-rank `q[i]` quantile (the value read from the HDR histogram, as latencyMs). */
  quantiles: { q: number[]; ms: number[] };
  /**
   * `counts[i]` queries fell in [edgesMs[i], edgesMs[i + 1]); edges are 2^(k/8) µs, from the bin of the minimum to the
   * bin of the maximum.
   */
  histogram: { edgesMs: number[]; counts: number[] };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

export function quantileTable(recorder: LatencyRecorder): LatencyDistribution['quantiles'] {
  if (recorder.count === 0) return { q: [], ms: [] };
  return {
    q: [...DISTRIBUTION_QUANTILES],
    ms: DISTRIBUTION_QUANTILES.map((q) => round4(recorder.valueAtQuantileUs(q) / 1000)),
  };
}

/** Histogram of latencies (µs; values below 1 µs count in the 1 µs bin) over log-spaced bins. */
export function logHistogram(
  latenciesUs: ArrayLike<number>,
  binsPerOctave = BINS_PER_OCTAVE,
): LatencyDistribution['histogram'] {
  const n = latenciesUs.length;
  if (n === 0) return { edgesMs: [], counts: [] };
  const bin = (us: number): number => Math.floor(Math.log2(Math.max(1, us)) * binsPerOctave);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const b = bin(latenciesUs[i] as number);
    if (b < lo) lo = b;
    if (b > hi) hi = b;
  }
  const counts = new Array<number>(hi - lo + 1).fill(0);
  for (let i = 0; i < n; i++) counts[bin(latenciesUs[i] as number) - lo]!++;
  const edgesMs = Array.from({ length: counts.length + 1 }, (_v, k) => round4(2 ** ((lo + k) / binsPerOctave) / 1000));
  return { edgesMs, counts };
}

export function latencyDistribution(recorder: LatencyRecorder, latenciesUs: ArrayLike<number>): LatencyDistribution {
  return { quantiles: quantileTable(recorder), histogram: logHistogram(latenciesUs) };
}
