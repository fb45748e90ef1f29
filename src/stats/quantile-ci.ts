/**
 * Distribution-free confidence interval for a population quantile from order statistics
 * (W. J. Conover, "Practical Nonparametric Statistics", 3rd ed., §3.2; Hahn & Meeker,
 * "Statistical Intervals", §5.2). If ξ is the true q-quantile of a continuous distribution and
 * B = #{samples below ξ} ~ Bin(n, q), then
 *   X(l) > ξ  exactly when B <= l − 1, and  X(u) < ξ  exactly when B >= u,
 * so P(X(l) <= ξ <= X(u)) = 1 − P(B <= l − 1) − P(B >= u), whatever the latency distribution is.
 */
import { binomialCdf, binomialSf } from './binomial.js';
import { firstTrue, lastTrue } from './monotone-search.js';

export interface QuantileCiRanks {
  /** 1-indexed rank of the lower order statistic X(l). */
  lower: number;
  /** 1-indexed rank of the upper order statistic X(u); always > lower. */
  upper: number;
  /** The exact coverage P(X(l) <= ξ <= X(u)); >= the requested confidence (ranks are discrete). */
  coverage: number;
}

/**
 * Ranks (l, u) for a two-sided interval on the q-quantile with coverage >= `confidence`.
 *
 * The split is equal-tailed, as in Conover's tables: l is the largest rank whose miss probability
 * P(B <= l − 1) stays within α/2 and u the smallest whose P(B >= u) does, so each side is as tight
 * as it can be while neither side carries more than half the risk (n = 100, median, 95% gives
 * (40, 61), coverage 0.9648). The equal-tailed pair is not always the narrowest (here (40, 60) also
 * reaches 0.954), but it is the one that is symmetric in probability, and it matches published
 * tables.
 *
 * For a tail quantile one side can be infeasible even though an interval exists: with q = 0.99 and
 * n = 300, P(B >= n) = 0.99^300 ≈ 0.049 > α/2, yet X(n), the maximum, still bounds ξ with only
 * that miss. Then the infeasible side is pinned to the extreme order statistic and the rest of α
 * goes to the other side. Returns null when even (X(1), X(n)) cannot reach the confidence, i.e.
 * n is too small for it.
 */
export function quantileCiRanks(n: number, q: number, confidence = 0.95): QuantileCiRanks | null {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`quantileCiRanks: n must be an integer >= 0, got ${n}`);
  if (!(q > 0 && q < 1)) throw new RangeError(`quantileCiRanks: q must be in (0, 1), got ${q}`);
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`quantileCiRanks: confidence must be in (0, 1), got ${confidence}`);
  }
  if (n < 2) return null;

  const alpha = 1 - confidence;
  // P(X(l) > ξ): increasing in l.   P(X(u) < ξ): decreasing in u.
  const missBelow = (l: number): number => binomialCdf(l - 1, n, q);
  const missAbove = (u: number): number => binomialSf(u - 1, n, q);
  const largestLower = (budget: number): number | null => lastTrue(1, n, (l) => missBelow(l) <= budget);
  const smallestUpper = (budget: number): number | null => firstTrue(1, n, (u) => missAbove(u) <= budget);

  let lower = largestLower(alpha / 2);
  let upper = smallestUpper(alpha / 2);
  if (lower === null && upper === null) return null;
  if (upper === null) {
    upper = n;
    lower = largestLower(alpha - missAbove(n));
  } else if (lower === null) {
    lower = 1;
    upper = smallestUpper(alpha - missBelow(1));
  }
  if (lower === null || upper === null || lower >= upper) return null;

  return { lower, upper, coverage: 1 - missBelow(lower) - missAbove(upper) };
}
