/**
 * Early stopping for a latency percentile, after MLPerf Inference LoadGen (loadgen/early_stopping.cc,
 * tolerance d = 0). Claim "the q-quantile ξ is at most X(r)" for the r-th smallest of n latencies.
 * X(r) < ξ exactly when at most n − r queries reach ξ, and that count is Bin(n, 1 − q), so
 *   P(X(n − h) < ξ) = P(Bin(n, 1 − q) <= h).
 * The largest h with that probability <= 1 − c makes X(n − h) an upper confidence bound on ξ at
 * level c: the h slowest queries may lie above it. It sits above the plain sample percentile and
 * approaches it as n grows.
 *
 * LoadGen finds the same h (its overlatency count t; "Would discard 172" for 2048 queries at p90 is
 * t − 1 with t = 173 here) but counts the estimate itself among the t, reporting X(n − t + 1), one
 * rank more conservative, and demanding t >= 1 (64 queries for p90). This module uses the exact
 * bound above, so h = 0 is allowed and X(n − h) is reported.
 */
import { binomialCdf } from './binomial.js';
import { lastTrue } from './monotone-search.js';

export interface EarlyStoppingRank {
  /** Whether n queries are enough to state any bound at this percentile and confidence. */
  satisfied: boolean;
  /** h: how many of the slowest queries may lie above the estimate (0 when not satisfied). */
  overLatencyAllowed: number;
  /** 1-indexed rank n − h of the order statistic to report; null when not satisfied. */
  rank: number | null;
  /** The fewest queries for which h = 0 passes, i.e. the smallest n with q^n <= 1 − c. */
  minQueries: number;
}

/**
 * Smallest n with q^n <= 1 − c, i.e. ceil(ln(1 − c) / ln q) (p90 at 99% → 44, p99 at 99% → 459).
 * The closed form is nudged by ±1 against the exact test so a quotient that lands a rounding error
 * off an integer cannot shift the answer.
 */
export function earlyStoppingMinQueries(q: number, confidence = 0.99): number {
  checkArgs(q, confidence);
  const passes = (n: number): boolean => binomialCdf(0, n, 1 - q) <= 1 - confidence;
  let n = Math.max(1, Math.ceil(Math.log(1 - confidence) / Math.log(q)));
  while (!passes(n)) n++;
  while (n > 1 && passes(n - 1)) n--;
  return n;
}

/** Early-stopping verdict for n processed queries, target quantile q in (0, 1), confidence c. */
export function earlyStoppingRank(n: number, q: number, confidence = 0.99): EarlyStoppingRank {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`earlyStoppingRank: n must be an integer >= 0, got ${n}`);
  const minQueries = earlyStoppingMinQueries(q, confidence);
  // The CDF is increasing in h and equals 1 at h = n, so the passing h form a prefix of [0, n − 1].
  const h = n === 0 ? null : lastTrue(0, n - 1, (k) => binomialCdf(k, n, 1 - q) <= 1 - confidence);
  if (h === null) return { satisfied: false, overLatencyAllowed: 0, rank: null, minQueries };
  return { satisfied: true, overLatencyAllowed: h, rank: n - h, minQueries };
}

function checkArgs(q: number, confidence: number): void {
  if (!(q > 0 && q < 1)) throw new RangeError(`early stopping: q must be in (0, 1), got ${q}`);
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`early stopping: confidence must be in (0, 1), got ${confidence}`);
  }
}
