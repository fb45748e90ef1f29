/**
 * Binomial distribution X ~ Bin(n, p), computed so that it stays accurate for n up to 10^6 and
 * beyond: probabilities are built in log space by Loader's saddle-point method (C. Loader, "Fast
 * and Accurate Computation of Binomial Probabilities", 2000; the algorithm behind R's dbinom),
 * and tail sums are accumulated relative to their largest term, so neither n! nor p^n is ever
 * formed and nothing overflows or underflows until the answer itself is below ~1e-308.
 */

const LN_2PI = Math.log(2 * Math.PI);

/**
 * Stirling's-series error term δ(m) = ln m! − [(m + ½) ln m − m + ½ ln 2π].
 * For m <= 15 the series is not yet accurate, so δ is taken from exact factorials (m! is exact in
 * a double up to 22!); beyond that the asymptotic series 1/12m − 1/360m³ + 1/1260m⁵ − … is used,
 * as in Loader (2000).
 */
const STIRLING_ERROR_SMALL: readonly number[] = (() => {
  const table = [0];
  let factorial = 1;
  for (let m = 1; m <= 15; m++) {
    factorial *= m;
    table.push(Math.log(factorial) - (m + 0.5) * Math.log(m) + m - 0.5 * LN_2PI);
  }
  return table;
})();

function stirlingError(m: number): number {
  if (m <= 15) return STIRLING_ERROR_SMALL[m] ?? 0;
  const m2 = m * m;
  return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / 1188 / m2) / m2) / m2) / m2) / m;
}

/**
 * Deviance term bd0(x, np) = x ln(x/np) + np − x. When x ≈ np the direct formula cancels
 * catastrophically, so Loader's series in v = (x − np)/(x + np) is used there instead.
 */
function deviance(x: number, np: number): number {
  if (Math.abs(x - np) < 0.1 * (x + np)) {
    let v = (x - np) / (x + np);
    let s = (x - np) * v;
    let ej = 2 * x * v;
    v *= v;
    for (let j = 1; j < 1000; j++) {
      ej *= v;
      const next = s + ej / (2 * j + 1);
      if (next === s) return next;
      s = next;
    }
    return s;
  }
  return x * Math.log(x / np) + np - x;
}

/** ln P(X = k) with q = 1 − p passed separately so callers can swap the roles of p and q exactly. */
function logPmfPQ(k: number, n: number, p: number, q: number): number {
  if (k < 0 || k > n) return -Infinity;
  if (p === 0) return k === 0 ? 0 : -Infinity;
  if (q === 0) return k === n ? 0 : -Infinity;
  if (k === 0) {
    if (n === 0) return 0;
    return p < 0.1 ? -deviance(n, n * q) - n * p : n * Math.log(q);
  }
  if (k === n) return q < 0.1 ? -deviance(n, n * p) - n * q : n * Math.log(p);
  const lc = stirlingError(n) - stirlingError(k) - stirlingError(n - k) - deviance(k, n * p) - deviance(n - k, n * q);
  const lf = LN_2PI + Math.log(k) + Math.log1p(-k / n);
  return lc - 0.5 * lf;
}

/**
 * P(X <= k) for k <= n·p. Below the mean the terms shrink monotonically as i falls (the ratio
 * P(i−1)/P(i) = i·q / ((n−i+1)·p) is < 1), so the sum is accumulated relative to the first term and
 * stopped once a term no longer changes a double; only O(√(npq)) terms are ever visited.
 */
function lowerTail(k: number, n: number, p: number, q: number): number {
  const logFirst = logPmfPQ(k, n, p, q);
  if (logFirst === -Infinity) return 0;
  const odds = q / p;
  let term = 1;
  let sum = 1;
  for (let i = k; i > 0; i--) {
    term *= (i / (n - i + 1)) * odds;
    sum += term;
    if (term <= sum * 1e-17) break;
  }
  return Math.min(1, Math.exp(logFirst + Math.log(sum)));
}

function checkParams(fn: string, k: number, n: number, p: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${fn}: n must be an integer >= 0, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${fn}: p must be in [0, 1], got ${p}`);
  if (Number.isNaN(k)) throw new RangeError(`${fn}: k is NaN`);
}

/** ln P(X = k). k that is not an integer in [0, n] has probability 0, i.e. −Infinity. */
export function binomialLogPmf(k: number, n: number, p: number): number {
  checkParams('binomialLogPmf', k, n, p);
  if (!Number.isInteger(k)) return -Infinity;
  return logPmfPQ(k, n, p, 1 - p);
}

/** P(X = k). */
export function binomialPmf(k: number, n: number, p: number): number {
  return Math.exp(binomialLogPmf(k, n, p));
}

/**
 * P(X <= k), the binomial CDF. A non-integer k is floored (the CDF is a step function).
 * Whichever tail is smaller is summed directly (lower tail below the mean, upper tail via the
 * reflection n − X ~ Bin(n, 1 − p) above it), so small tail probabilities keep full relative
 * precision and the complement is taken only when the result is at least ~0.5.
 */
export function binomialCdf(k: number, n: number, p: number): number {
  checkParams('binomialCdf', k, n, p);
  const kk = Math.floor(k);
  if (kk < 0) return 0;
  if (kk >= n) return 1;
  const q = 1 - p;
  if (kk <= n * p) return lowerTail(kk, n, p, q);
  return Math.max(0, 1 - lowerTail(n - kk - 1, n, q, p));
}

/**
 * P(X > k), the survival function, computed directly (not as 1 − CDF) so an upper tail of 1e-12
 * is returned as 1e-12 rather than as rounding noise.
 */
export function binomialSf(k: number, n: number, p: number): number {
  checkParams('binomialSf', k, n, p);
  const kk = Math.floor(k);
  if (kk < 0) return 1;
  if (kk >= n) return 0;
  const q = 1 - p;
  if (kk < n * p) return Math.max(0, 1 - lowerTail(kk, n, p, q));
  return lowerTail(n - kk - 1, n, q, p);
}
