/**
 * Binary search over integer ranges for predicates that flip once. The order-statistic rules
 * (quantile CIs, early stopping) all ask "the largest/smallest rank whose binomial tail is still
 * within budget"; tails are monotone in the rank, so O(log n) CDF evaluations suffice where a
 * linear scan would cost O(n) of them.
 */

/** Largest i in [lo, hi] with pred(i) true, given pred is true…true false…false; null if none. */
export function lastTrue(lo: number, hi: number, pred: (i: number) => boolean): number | null {
  if (lo > hi || !pred(lo)) return null;
  let good = lo;
  let bad = hi + 1;
  while (bad - good > 1) {
    const mid = good + Math.floor((bad - good) / 2);
    if (pred(mid)) good = mid;
    else bad = mid;
  }
  return good;
}

/** Smallest i in [lo, hi] with pred(i) true, given pred is false…false true…true; null if none. */
export function firstTrue(lo: number, hi: number, pred: (i: number) => boolean): number | null {
  if (lo > hi || !pred(hi)) return null;
  let bad = lo - 1;
  let good = hi;
  while (good - bad > 1) {
    const mid = bad + Math.floor((good - bad) / 2);
    if (pred(mid)) good = mid;
    else bad = mid;
  }
  return good;
}
