import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DISTRIBUTION_QUANTILES,
  latencyDistribution,
  logHistogram,
  quantileTable,
} from '../../src/stats/distribution.js';
import { LatencyRecorder } from '../../src/stats/latency-recorder.js';

test('the log histogram puts each latency in its 2^(1/8) bin and covers min to max without gaps', () => {
  // 1000 µs: log2 = 9.966 → bin floor(79.73) = 79; 1024 µs: exactly bin 80; 2000 µs: floor(87.73) = 87.
  const h = logHistogram([1000, 1024, 1024, 2000]);
  assert.equal(h.counts.length, 87 - 79 + 1);
  assert.equal(h.edgesMs.length, h.counts.length + 1);
  assert.deepEqual(h.counts, [1, 2, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(h.edgesMs[1], 1.024);
  assert.ok(h.edgesMs[0]! <= 1 && h.edgesMs.at(-1)! > 2, 'edges enclose the values');
  for (let i = 1; i < h.edgesMs.length; i++)
    assert.ok(Math.abs(h.edgesMs[i]! / h.edgesMs[i - 1]! - 2 ** (1 / 8)) < 1e-3);
  assert.equal(
    h.counts.reduce((a, b) => a + b, 0),
    4,
  );
});

test('an empty run has an empty distribution; sub-microsecond values count in the 1 µs bin', () => {
  assert.deepEqual(logHistogram([]), { edgesMs: [], counts: [] });
  assert.deepEqual(quantileTable(new LatencyRecorder()), { q: [], ms: [] });
  assert.deepEqual(logHistogram([0, 0.5, 1]).counts, [3]);
});

test('the quantile table agrees with the recorder (nearest rank) from the minimum to the maximum', () => {
  const r = new LatencyRecorder();
  const us = Array.from({ length: 1000 }, (_v, i) => 500 + i); // 500..1499 µs, exact in HDR below 2048
  for (const v of us) r.record(v);
  const d = latencyDistribution(r, us);
  assert.deepEqual(d.quantiles.q, DISTRIBUTION_QUANTILES);
  assert.equal(d.quantiles.ms[0], 0.5);
  assert.equal(d.quantiles.ms[d.quantiles.q.indexOf(0.5)], 0.999); // rank 500 → 999 µs
  assert.equal(d.quantiles.ms[d.quantiles.q.indexOf(0.99)], 1.489); // rank 990
  assert.equal(d.quantiles.ms.at(-1), 1.499);
  for (let i = 1; i < d.quantiles.ms.length; i++) assert.ok(d.quantiles.ms[i]! >= d.quantiles.ms[i - 1]!, 'monotone');
  assert.equal(
    d.histogram.counts.reduce((a, b) => a + b, 0),
    1000,
  );
});
