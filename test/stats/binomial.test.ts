import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binomialCdf, binomialLogPmf, binomialPmf, binomialSf } from '../../src/stats/binomial.js';

/** Exact P(Bin(n, num/den) <= k) as a double, by BigInt arithmetic: an oracle independent of the code. */
function exactCdf(k: number, n: number, num: bigint, den: bigint): number {
  let sum = 0n;
  let choose = 1n; // C(n, i)
  for (let i = 0; i <= k; i++) {
    sum += choose * num ** BigInt(i) * (den - num) ** BigInt(n - i);
    choose = (choose * BigInt(n - i)) / BigInt(i + 1);
  }
  return ratio(sum, den ** BigInt(n));
}

function ratio(a: bigint, b: bigint): number {
  if (a === 0n) return 0;
  const shift = b.toString(2).length - a.toString(2).length + 64;
  return Number((a << BigInt(shift)) / b) * 2 ** -shift;
}

function assertClose(actual: number, expected: number, relTol: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(err <= relTol, `${what}: got ${actual}, expected ${expected} (relative error ${err})`);
}

describe('binomialCdf', () => {
  it('matches hand-computed Bin(4, 1/2) values 1, 5, 11, 15, 16 sixteenths', () => {
    [1, 5, 11, 15, 16].forEach((sixteenths, k) => {
      assertClose(binomialCdf(k, 4, 0.5), sixteenths / 16, 1e-14, `k=${k}`);
    });
    assertClose(binomialPmf(2, 4, 0.5), 6 / 16, 1e-14, 'pmf(2)');
  });

  it('matches the hand sum for Bin(10, 0.3) at k = 3', () => {
    // 0.0282475249 + 0.121060821 + 0.2334744405 + 0.266827932 = 406006699 / 625000000
    assertClose(binomialCdf(3, 10, 0.3), 406006699 / 625000000, 1e-13, 'Bin(10,0.3) k=3');
  });

  it('agrees with exact rational arithmetic in both tails to 1e-12 relative', () => {
    for (let k = 0; k < 100; k++) {
      assertClose(binomialCdf(k, 100, 0.5), exactCdf(k, 100, 1n, 2n), 1e-12, `Bin(100,1/2) k=${k}`);
    }
    for (let k = 0; k < 60; k++) {
      assertClose(binomialCdf(k, 60, 0.3), exactCdf(k, 60, 3n, 10n), 1e-12, `Bin(60,3/10) k=${k}`);
      // The survival function keeps relative precision in the upper tail, where 1 - CDF cannot:
      // P(X > k) for Bin(60, 3/10) is P(Y <= 59 - k) for Y ~ Bin(60, 7/10).
      assertClose(binomialSf(k, 60, 0.3), exactCdf(59 - k, 60, 7n, 10n), 1e-12, `Sf Bin(60,3/10) k=${k}`);
    }
  });

  it('satisfies CDF + SF = 1 and the reflection CDF(k; n, p) = SF(n-k-1; n, 1-p)', () => {
    for (const [n, p] of [
      [37, 0.13],
      [1000, 0.9],
      [1_000_000, 0.01],
    ] as const) {
      for (const frac of [0.001, 0.3, 0.5, 0.9, 0.999]) {
        const k = Math.floor(frac * n);
        const cdf = binomialCdf(k, n, p);
        assertClose(cdf + binomialSf(k, n, p), 1, 1e-12, `n=${n} k=${k}`);
        assertClose(binomialSf(n - k - 1, n, 1 - p), cdf, 1e-9, `reflection n=${n} k=${k}`);
      }
    }
  });

  it('stays finite and accurate at n = 10^6', () => {
    const n = 1_000_000;
    // Central term of Bin(n, 1/2): sqrt(2/(pi n)) (1 - 1/(4n) + ...), and by symmetry
    // P(X <= n/2) = 1/2 + P(X = n/2)/2.
    const centre = Math.sqrt(2 / (Math.PI * n)) * (1 - 1 / (4 * n));
    assertClose(binomialPmf(n / 2, n, 0.5), centre, 1e-10, 'central pmf');
    assertClose(binomialCdf(n / 2, n, 0.5), 0.5 + centre / 2, 1e-12, 'median cdf');
    // Poisson limit: (1 - 1e-6)^(1e6) = exp(1e6 * log1p(-1e-6)).
    assertClose(binomialCdf(0, n, 1e-6), Math.exp(n * Math.log1p(-1e-6)), 1e-12, 'Poisson-limit p0');
    assertClose(binomialLogPmf(0, n, 0.5), -n * Math.LN2, 1e-14, 'log pmf of 2^-n');
    assert.equal(binomialCdf(0, n, 0.5), 0); // 2^-1e6 underflows: a correct 0, not NaN
    assert.equal(binomialCdf(n - 1, n, 0.5), 1);
  });

  it('sums the pmf to 1 over the support', () => {
    let total = 0;
    for (let k = 0; k <= 10_000; k++) total += binomialPmf(k, 10_000, 0.37);
    assertClose(total, 1, 1e-12, 'sum of pmf');
  });

  it('handles degenerate parameters and floors a fractional k', () => {
    assert.equal(binomialCdf(-1, 10, 0.5), 0);
    assert.equal(binomialCdf(10, 10, 0.5), 1);
    assert.equal(binomialCdf(0, 10, 0), 1);
    assert.equal(binomialCdf(9, 10, 1), 0);
    assert.equal(binomialSf(9, 10, 1), 1);
    assert.equal(binomialCdf(2.9, 4, 0.5), binomialCdf(2, 4, 0.5));
    assert.equal(binomialPmf(1.5, 4, 0.5), 0);
  });

  it('rejects invalid n, p and k', () => {
    assert.throws(() => binomialCdf(1, -1, 0.5), RangeError);
    assert.throws(() => binomialCdf(1, 2.5, 0.5), RangeError);
    assert.throws(() => binomialCdf(1, 10, 1.5), RangeError);
    assert.throws(() => binomialCdf(Number.NaN, 10, 0.5), RangeError);
  });

  it('evaluates a central n = 10^5 CDF in well under 50 ms', () => {
    const start = performance.now();
    const v = binomialCdf(50_000, 100_000, 0.5);
    const elapsed = performance.now() - start;
    assert.ok(v > 0.5 && v < 0.51);
    assert.ok(elapsed < 50, `took ${elapsed} ms`);
  });
});
