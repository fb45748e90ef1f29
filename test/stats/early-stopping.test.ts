import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binomialCdf } from '../../src/stats/binomial.js';
import { earlyStoppingMinQueries, earlyStoppingRank } from '../../src/stats/early-stopping.js';
import { quantileSorted, sortSamples } from '../../src/stats/sorted.js';
import { mulberry32, shuffled } from './prng.js';

describe('earlyStoppingRank', () => {
  it('needs 44 queries for p90 and 459 for p99 at 99% confidence', () => {
    // ln(0.01)/ln(0.9) = 43.71 and ln(0.01)/ln(0.99) = 458.21, rounded up.
    assert.equal(earlyStoppingMinQueries(0.9, 0.99), 44);
    assert.equal(earlyStoppingMinQueries(0.99, 0.99), 459);
    assert.equal(earlyStoppingRank(43, 0.9).satisfied, false);
    assert.deepEqual(earlyStoppingRank(44, 0.9), { satisfied: true, overLatencyAllowed: 0, rank: 44, minQueries: 44 });
    assert.deepEqual(earlyStoppingRank(458, 0.99), {
      satisfied: false,
      overLatencyAllowed: 0,
      rank: null,
      minQueries: 459,
    });
    assert.equal(earlyStoppingRank(459, 0.99).rank, 459);
  });

  it('allows the largest h whose binomial CDF is still within 1 - c', () => {
    for (const n of [100, 2048, 10_000, 1_000_000]) {
      const es = earlyStoppingRank(n, 0.9, 0.99);
      const h = es.overLatencyAllowed;
      assert.ok(binomialCdf(h, n, 0.1) <= 0.01, `n=${n}`);
      assert.ok(binomialCdf(h + 1, n, 0.1) > 0.01, `n=${n}`);
      assert.equal(es.rank, n - h);
    }
  });

  it('agrees with MLPerf LoadGen on 2048 single-stream queries at p90', () => {
    // LoadGen's summary for 2048 queries reads "Would discard 172 highest latency queries": its
    // overlatency count t = 173 passes the same binomial test, and it discards t - 1 of them.
    assert.equal(earlyStoppingRank(2048, 0.9, 0.99).overLatencyAllowed, 173);
  });

  it('reports the (n - h)-th smallest latency, above the plain p90', () => {
    const latencies = shuffled(
      Array.from({ length: 2048 }, (_, i) => i + 1),
      mulberry32(7),
    );
    const sorted = sortSamples(latencies);
    const es = earlyStoppingRank(sorted.length, 0.9);
    assert.equal(es.rank, 1875);
    assert.equal(sorted[(es.rank ?? 0) - 1], 1875);
    assert.equal(quantileSorted(sorted, 0.9), 1844);
  });

  it('bounds the true p90 from above at least 99% of the time', () => {
    const n = 300;
    const es = earlyStoppingRank(n, 0.9, 0.99);
    assert.ok(es.rank !== null);
    const uniform = mulberry32(99);
    const xs = new Float64Array(n);
    let below = 0;
    const trials = 3000;
    for (let t = 0; t < trials; t++) {
      for (let i = 0; i < n; i++) xs[i] = uniform();
      xs.sort();
      if ((xs[es.rank - 1] as number) < 0.9) below++;
    }
    // Expected miss rate is P(Bin(300, 0.1) <= h) <= 0.01; allow sampling noise up to 2%.
    assert.ok(below / trials <= 0.02, `missed ${below} of ${trials}`);
  });

  it('is unsatisfied with no queries and rejects invalid arguments', () => {
    assert.deepEqual(earlyStoppingRank(0, 0.9), {
      satisfied: false,
      overLatencyAllowed: 0,
      rank: null,
      minQueries: 44,
    });
    assert.throws(() => earlyStoppingRank(-1, 0.9), RangeError);
    assert.throws(() => earlyStoppingRank(100, 1), RangeError);
    assert.throws(() => earlyStoppingRank(100, 0.9, 0), RangeError);
  });
});
