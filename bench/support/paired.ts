/**
 * Paired comparison of two servers measured round by round (bench/serve-ab.ts): in each round both
 * served the same arrival schedule back to back, so the ratio of their figures in that round cancels
 * what the machine was doing then; across rounds a shared VM swings far more (the PP-OCR classifier's
 * goodput at one rate read 88 to 340/s for the same server within ten minutes).
 *
 * Distribution-free: the median of the per-round ratios B/A with its 95 % confidence interval from
 * order statistics (src/stats/quantile-ci.ts), and the sign test (in how many rounds B served more;
 * exact binomial p, two-sided). A difference is claimed only when the interval excludes 1.
 */
import { binomialCdf, binomialSf } from '../../src/stats/binomial.js';
import { quantileCiRanks } from '../../src/stats/quantile-ci.js';

export interface Paired {
  /** B/A per round: Infinity where only B served anything; rounds where neither did are left out. */
  ratios: number[];
  median: number;
  /** 95 % interval of the median ratio; null with too few rounds for one (fewer than 6). */
  ci: [number, number] | null;
  /** Rounds in which B served more, and in which less (ties count in neither). */
  more: number;
  less: number;
  /** Sign test, two-sided, exact. */
  p: number;
  verdict: 'B more' | 'B less' | 'no difference shown';
}

export function paired(a: readonly number[], b: readonly number[]): Paired {
  if (a.length !== b.length) throw new RangeError(`paired: ${a.length} rounds of A against ${b.length} of B`);
  const ratios: number[] = [];
  let more = 0;
  let less = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (y > x) more++;
    else if (y < x) less++;
    if (x > 0) ratios.push(y / x);
    else if (y > 0) ratios.push(Number.POSITIVE_INFINITY);
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const n = sorted.length;
  const median = n === 0 ? Number.NaN : n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  const ranks = quantileCiRanks(n, 0.5, 0.95);
  const ci: [number, number] | null = ranks ? [sorted[ranks.lower - 1]!, sorted[ranks.upper - 1]!] : null;
  const m = more + less;
  const k = Math.min(more, less);
  const p = m === 0 ? 1 : Math.min(1, 2 * Math.min(binomialCdf(k, m, 0.5), binomialSf(m - k - 1, m, 0.5)));
  const verdict = ci && ci[0] > 1 ? 'B more' : ci && ci[1] < 1 ? 'B less' : 'no difference shown';
  return { ratios, median, ci, more, less, p, verdict };
}
