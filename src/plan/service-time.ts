/**
 * One replica's service time: the time an engine instance spends on one request, as a
 * distribution the simulation draws from. Measured samples are drawn as they are (the empirical
 * distribution, tail included); a report that keeps only quantiles is rebuilt from them, linearly
 * between the points it has (approximate, and said so in the plan).
 */
import { RtinferError } from '../errors.js';
import { nearestRank } from '../stats/sorted.js';
import type { Rng } from './rng.js';

export interface ServiceTime {
  /** Where it came from, for the report: "bench run 12 (single-stream, 1000 samples)". */
  source: string;
  /** True when rebuilt from a few quantiles rather than drawn from samples. */
  approximate: boolean;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Draws one service time, ms. */
  draw(rng: Rng): number;
}

function quantileOf(sorted: Float64Array, q: number): number {
  return sorted[nearestRank(sorted.length, q) - 1] as number;
}

/** The empirical distribution of measured service times (ms, any order). */
export function empiricalServiceTime(samplesMs: ArrayLike<number>, source: string): ServiceTime {
  const sorted = Float64Array.from(samplesMs).sort();
  if (sorted.length === 0 || !((sorted[0] as number) > 0))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `${source}: no positive service times to plan from`);
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    source,
    approximate: false,
    meanMs: sum / sorted.length,
    p50Ms: quantileOf(sorted, 0.5),
    p99Ms: quantileOf(sorted, 0.99),
    draw: (rng) => sorted[Math.floor(rng.next() * sorted.length)] as number,
  };
}

/** A distribution through the given (quantile, ms) points, linear between them; the first point's value below it. */
export function quantileServiceTime(points: ReadonlyArray<readonly [number, number]>, source: string): ServiceTime {
  const pts = [...points].filter(([q, ms]) => q > 0 && q <= 1 && ms > 0).sort((a, b) => a[0] - b[0]);
  if (pts.length === 0) throw new RtinferError('RTI_ERR_ARG_INVALID', `${source}: no latency quantiles to plan from`);
  const at = (u: number): number => {
    const first = pts[0] as readonly [number, number];
    if (u <= first[0]) return first[1];
    for (let i = 1; i < pts.length; i++) {
      const [q1, v1] = pts[i] as readonly [number, number];
      const [q0, v0] = pts[i - 1] as readonly [number, number];
      if (u <= q1) return v0 + ((u - q0) / (q1 - q0)) * (v1 - v0);
    }
    return (pts[pts.length - 1] as readonly [number, number])[1];
  };
  let mean = 0;
  const steps = 10_000;
  for (let i = 0; i < steps; i++) mean += at((i + 0.5) / steps);
  return {
    source,
    approximate: true,
    meanMs: mean / steps,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    draw: (rng) => at(rng.next()),
  };
}

/** Fixed (M/D/c) and exponential (M/M/c) service: for tests against queueing theory. */
export function constantServiceTime(ms: number): ServiceTime {
  return { source: `constant ${ms} ms`, approximate: false, meanMs: ms, p50Ms: ms, p99Ms: ms, draw: () => ms };
}

export function exponentialServiceTime(meanMs: number): ServiceTime {
  return {
    source: `exponential, mean ${meanMs} ms`,
    approximate: false,
    meanMs,
    p50Ms: meanMs * Math.LN2,
    p99Ms: meanMs * Math.log(100),
    draw: (rng) => rng.exponential(meanMs),
  };
}
