import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binomialCdf, binomialSf } from '../../src/stats/binomial.js';
import { quantileCiRanks } from '../../src/stats/quantile-ci.js';
import { mulberry32 } from './prng.js';

describe('quantileCiRanks', () => {
  it('gives the tabulated (40, 61) for the median of 100 at 95%', () => {
    // Hand check with exact fractions: P(Bin(100, 1/2) <= 39) = sum_{i<40} C(100,i) / 2^100
    // = 0.017600100108852407, and by symmetry P(B >= 61) is the same, so the coverage is
    // 1 - 2 * 0.017600100108852407 = 0.9647997997822951. Moving in either end breaks its 2.5% tail:
    // P(B <= 40) = 0.028443966820490395 > 0.025.
    const ci = quantileCiRanks(100, 0.5, 0.95);
    assert.ok(ci);
    assert.equal(ci.lower, 40);
    assert.equal(ci.upper, 61);
    assert.ok(Math.abs(ci.coverage - 0.9647997997822951) < 1e-12, `coverage ${ci.coverage}`);
  });

  it('returns the tightest equal-tailed pair for assorted n, q and confidence', () => {
    for (const [n, q, c] of [
      [50, 0.5, 0.95],
      [200, 0.9, 0.95],
      [1000, 0.99, 0.95],
      [5000, 0.95, 0.99],
      [100_000, 0.999, 0.95],
    ] as const) {
      const ci = quantileCiRanks(n, q, c);
      assert.ok(ci, `n=${n} q=${q}`);
      const half = (1 - c) / 2;
      assert.ok(binomialCdf(ci.lower - 1, n, q) <= half, 'lower tail within alpha/2');
      assert.ok(binomialCdf(ci.lower, n, q) > half, 'lower rank cannot move up');
      assert.ok(binomialSf(ci.upper - 1, n, q) <= half, 'upper tail within alpha/2');
      assert.ok(binomialSf(ci.upper - 2, n, q) > half, 'upper rank cannot move down');
      assert.ok(ci.coverage >= c && ci.lower < ci.upper);
    }
  });

  it('uses the extremes for a small sample and gives up below them', () => {
    // n = 6: P(B = 0) = P(B = 6) = 1/64 <= 0.025, so (X(1), X(6)) with coverage 62/64.
    assert.deepEqual(quantileCiRanks(6, 0.5, 0.95), { lower: 1, upper: 6, coverage: 62 / 64 });
    // n = 5: 1/32 > 0.025 on each side, and even (X(1), X(5)) covers only 30/32 < 0.95.
    assert.equal(quantileCiRanks(5, 0.5, 0.95), null);
    assert.equal(quantileCiRanks(1, 0.5, 0.95), null);
    assert.equal(quantileCiRanks(0, 0.5, 0.95), null);
  });

  it('pins a tail quantile to the maximum when the equal split is impossible', () => {
    // 0.99^300 = 0.049 > 0.025, but X(300) misses only that often, leaving 0.001 for the low side.
    const ci = quantileCiRanks(300, 0.99, 0.95);
    assert.ok(ci);
    assert.equal(ci.upper, 300);
    assert.ok(ci.coverage >= 0.95, `coverage ${ci.coverage}`);
    assert.ok(binomialCdf(ci.lower - 1, 300, 0.99) <= 0.05 - 0.99 ** 300);
    // 0.99^200 = 0.134: not even the maximum gives 95% on p99 from 200 samples.
    assert.equal(quantileCiRanks(200, 0.99, 0.95), null);
  });

  it('covers the true median and p90 of uniform samples at least 93% of the time', () => {
    const n = 200;
    const trials = 2000;
    const uniform = mulberry32(20240601);
    for (const q of [0.5, 0.9]) {
      const ci = quantileCiRanks(n, q, 0.95);
      assert.ok(ci);
      let covered = 0;
      const xs = new Float64Array(n);
      for (let t = 0; t < trials; t++) {
        for (let i = 0; i < n; i++) xs[i] = uniform();
        xs.sort();
        // The true q-quantile of U(0, 1) is q itself.
        if ((xs[ci.lower - 1] as number) <= q && q <= (xs[ci.upper - 1] as number)) covered++;
      }
      const empirical = covered / trials;
      assert.ok(empirical >= 0.93, `q=${q}: empirical coverage ${empirical}`);
      // And the reported coverage is the real one: within ~4 binomial standard errors.
      const se = Math.sqrt((ci.coverage * (1 - ci.coverage)) / trials);
      assert.ok(Math.abs(empirical - ci.coverage) < 4 * se, `q=${q}: ${empirical} vs ${ci.coverage}`);
    }
  });

  it('rejects invalid arguments', () => {
    assert.throws(() => quantileCiRanks(100, 0, 0.95), RangeError);
    assert.throws(() => quantileCiRanks(100, 1, 0.95), RangeError);
    assert.throws(() => quantileCiRanks(100, 0.5, 1), RangeError);
    assert.throws(() => quantileCiRanks(10.5, 0.5), RangeError);
  });
});
