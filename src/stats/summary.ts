/**
 * One latency report from a recorder: the usual percentiles, a distribution-free confidence interval
 * on the key ones (how much to trust them), and MLPerf-style early-stopping verdicts (whether the
 * run was long enough to state p90/p99 at all). Everything is in milliseconds and NaN-free, so it
 * can go straight into JSON.
 */
import { earlyStoppingRank } from './early-stopping.js';
import type { LatencyRecorder } from './latency-recorder.js';
import { quantileCiRanks } from './quantile-ci.js';

export interface QuantileCi {
  lowerMs: number;
  upperMs: number;
  /** The requested confidence. */
  confidence: number;
  /** The exact coverage of the chosen order statistics (>= confidence). */
  coverage: number;
}

export interface EarlyStoppingVerdict {
  /** The target percentile, e.g. 90. */
  percentile: number;
  confidence: number;
  queries: number;
  satisfied: boolean;
  overLatencyAllowed: number;
  estimateMs: number | null;
  minQueries: number;
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  stddevMs: number;
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  ci: { p50: QuantileCi | null; p90: QuantileCi | null; p99: QuantileCi | null };
  earlyStopping: { p90: EarlyStoppingVerdict; p99: EarlyStoppingVerdict };
}

export interface SummarizeOptions {
  /** Confidence of the quantile intervals; default 0.95. */
  ciConfidence?: number;
  /** Confidence of the early-stopping verdicts; default 0.99, as in MLPerf LoadGen. */
  esConfidence?: number;
}

const US_PER_MS = 1000;

function toMs(us: number): number {
  return us / US_PER_MS;
}

function quantileCi(rec: LatencyRecorder, q: number, confidence: number): QuantileCi | null {
  const ranks = quantileCiRanks(rec.count, q, confidence);
  if (ranks === null) return null;
  return {
    lowerMs: toMs(rec.valueAtRankUs(ranks.lower)),
    upperMs: toMs(rec.valueAtRankUs(ranks.upper)),
    confidence,
    coverage: ranks.coverage,
  };
}

function earlyStopping(rec: LatencyRecorder, q: number, confidence: number): EarlyStoppingVerdict {
  const es = earlyStoppingRank(rec.count, q, confidence);
  return {
    percentile: Math.round(q * 1000) / 10,
    confidence,
    queries: rec.count,
    satisfied: es.satisfied,
    overLatencyAllowed: es.overLatencyAllowed,
    estimateMs: es.rank === null ? null : toMs(rec.valueAtRankUs(es.rank)),
    minQueries: es.minQueries,
  };
}

export function summarizeLatency(rec: LatencyRecorder, opts: SummarizeOptions = {}): LatencySummary {
  const ciConfidence = opts.ciConfidence ?? 0.95;
  const esConfidence = opts.esConfidence ?? 0.99;
  const at = (q: number): number => toMs(rec.valueAtQuantileUs(q));
  return {
    count: rec.count,
    meanMs: toMs(rec.meanUs),
    stddevMs: toMs(rec.stddevUs),
    minMs: toMs(rec.minUs),
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    maxMs: toMs(rec.maxUs),
    ci: {
      p50: quantileCi(rec, 0.5, ciConfidence),
      p90: quantileCi(rec, 0.9, ciConfidence),
      p99: quantileCi(rec, 0.99, ciConfidence),
    },
    earlyStopping: {
      p90: earlyStopping(rec, 0.9, esConfidence),
      p99: earlyStopping(rec, 0.99, esConfidence),
    },
  };
}
