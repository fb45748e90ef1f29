/**
 * The Mann–Whitney U test (Wilcoxon rank-sum), two-sided: are values of one sample systematically
 * larger than the other's? It is the test Google Benchmark's compare.py applies to repetition times
 * (through scipy), chosen because latency samples are skewed and heavy-tailed, which breaks the
 * normality a t-test assumes.
 *
 * Small samples without ties get the exact null distribution of U (the count of arrangements by U,
 * Mann & Whitney 1947, recursion 2.1); otherwise the normal approximation with the tie correction
 * of the variance and a continuity correction (Lehmann, "Nonparametrics", 1975, §1.4), which is
 * what scipy's mannwhitneyu does with method='auto'.
 */

export interface UTest {
  /** U of the first sample: the number of pairs (a, b) with a > b, ties counting one half. */
  u: number;
  /** Two-sided p-value. */
  pValue: number;
  method: 'exact' | 'normal';
  /** P(a > b) + P(a = b)/2 estimated as U / (n1 n2): 0.5 when neither sample tends to be larger. */
  effect: number;
}

/** Exact tables are used up to this many pairs (the DP is O(n1·n2·(n1+n2))). */
const EXACT_MAX_PAIRS = 400;

export function mannWhitneyU(a: ArrayLike<number>, b: ArrayLike<number>): UTest {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError(`mannWhitneyU: both samples need values (got ${n1} and ${n2})`);
  const all = new Float64Array(n1 + n2);
  for (let i = 0; i < n1; i++) all[i] = a[i] as number;
  for (let i = 0; i < n2; i++) all[n1 + i] = b[i] as number;
  for (const v of all) if (Number.isNaN(v)) throw new RangeError('mannWhitneyU: a sample holds NaN');
  const order = Array.from(all.keys()).sort((x, y) => (all[x] as number) - (all[y] as number));
  // Mid-ranks over ties; tieTerm accumulates Σ(t³ − t) for the variance correction.
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && all[order[j + 1] as number] === all[order[i] as number]) j++;
    const t = j - i + 1;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if ((order[k] as number) < n1) rankSumA += mid;
    if (t > 1) tieTerm += t * t * t - t;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const effect = u / (n1 * n2);
  if (tieTerm === 0 && n1 * n2 <= EXACT_MAX_PAIRS)
    return { u, pValue: exactPValue(u, n1, n2), method: 'exact', effect };
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, pValue: 1, method: 'normal', effect };
  const z = (Math.abs(u - mean) - 0.5) / Math.sqrt(variance);
  return { u, pValue: Math.min(1, 2 * normalSf(Math.max(0, z))), method: 'normal', effect };
}

/** Two-sided exact p-value: 2 · P(U' <= min(u, n1n2 − u)) under H0, capped at 1. */
function exactPValue(u: number, n1: number, n2: number): number {
  const counts = uDistribution(n1, n2);
  const total = counts.reduce((s, c) => s + c, 0);
  const lo = Math.min(u, n1 * n2 - u);
  let tail = 0;
  for (let k = 0; k <= Math.floor(lo); k++) tail += counts[k] ?? 0;
  return Math.min(1, (2 * tail) / total);
}

/** counts[k] = number of orderings of n1 a's and n2 b's with U = k (f(m, n) = f(m−1, n)·shift(n) + f(m, n−1)). */
function uDistribution(n1: number, n2: number): number[] {
  // table[m][n] as arrays over k, built for m <= n1, n <= n2.
  let prev: number[][] = Array.from({ length: n2 + 1 }, () => [1]); // m = 0: only U = 0
  for (let m = 1; m <= n1; m++) {
    const cur: number[][] = [[1]]; // n = 0: only U = 0
    for (let n = 1; n <= n2; n++) {
      const size = m * n + 1;
      const out = new Array<number>(size).fill(0);
      // The largest value is an a (it beats all n b's: U shifts by n) or a b.
      const withA = prev[n] as number[];
      for (let k = 0; k < withA.length; k++) out[k + n]! += withA[k] as number;
      const withB = cur[n - 1] as number[];
      for (let k = 0; k < withB.length; k++) out[k]! += withB[k] as number;
      cur.push(out);
    }
    prev = cur;
  }
  return prev[n2] as number[];
}

/**
 * Upper tail of the standard normal, 1 − Φ(z), via erfc (W. J. Cody's rational approximation as in
 * Numerical Recipes' erfcc, |error| < 1.2e-7).
 */
export function normalSf(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  const erfc = x >= 0 ? y : 2 - y;
  return erfc / 2;
}
