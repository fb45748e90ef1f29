import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { earlyStoppingRank } from '../../src/stats/early-stopping.js';
import { LatencyRecorder } from '../../src/stats/latency-recorder.js';
import { quantileCiRanks } from '../../src/stats/quantile-ci.js';
import { summarizeLatency } from '../../src/stats/summary.js';

/** Every number anywhere in a JSON-like value. */
function numbersIn(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(numbersIn);
  return [];
}

/** A recorder holding 1 ms, 2 ms, ..., n ms, so rank r is r ms (to histogram precision). */
function rampRecorder(n: number): LatencyRecorder {
  const rec = new LatencyRecorder();
  for (let i = 1; i <= n; i++) rec.record(i * 1000);
  return rec;
}

function assertNearMs(actual: number | null | undefined, expected: number, what: string): void {
  assert.ok(typeof actual === 'number', `${what} is missing`);
  assert.ok(actual >= expected && (actual - expected) / expected <= 0.001, `${what}: ${actual} vs ${expected}`);
}

describe('summarizeLatency', () => {
  it('summarizes an empty recorder with zeros, nulls and unsatisfied early stopping', () => {
    const s = summarizeLatency(new LatencyRecorder());
    assert.equal(s.count, 0);
    assert.equal(s.p99Ms, 0);
    assert.equal(s.maxMs, 0);
    assert.deepEqual(s.ci, { p50: null, p90: null, p99: null });
    assert.equal(s.earlyStopping.p90.satisfied, false);
    assert.equal(s.earlyStopping.p90.estimateMs, null);
    assert.equal(s.earlyStopping.p90.minQueries, 44);
    assert.equal(s.earlyStopping.p99.minQueries, 459);
    assert.ok(numbersIn(s).every(Number.isFinite), 'no NaN or Infinity anywhere');
  });

  it('reports percentiles, intervals and early stopping in milliseconds', () => {
    const n = 1000;
    const s = summarizeLatency(rampRecorder(n));
    assert.equal(s.count, n);
    assert.equal(s.minMs, 1);
    assert.equal(s.maxMs, 1000);
    assert.ok(Math.abs(s.meanMs - 500.5) / 500.5 < 0.001);
    assertNearMs(s.p50Ms, 500, 'p50');
    assertNearMs(s.p90Ms, 900, 'p90');
    assertNearMs(s.p95Ms, 950, 'p95');
    assertNearMs(s.p99Ms, 990, 'p99');
    assertNearMs(s.p999Ms, 999, 'p99.9');

    const ranks = quantileCiRanks(n, 0.5, 0.95);
    assert.ok(ranks && s.ci.p50);
    assertNearMs(s.ci.p50.lowerMs, ranks.lower, 'p50 CI lower');
    assertNearMs(s.ci.p50.upperMs, ranks.upper, 'p50 CI upper');
    assert.equal(s.ci.p50.confidence, 0.95);
    assert.equal(s.ci.p50.coverage, ranks.coverage);
    assert.ok(s.ci.p90 && s.ci.p90.lowerMs <= s.p90Ms && s.p90Ms <= s.ci.p90.upperMs);
    assert.ok(s.ci.p99 && s.ci.p99.lowerMs <= s.p99Ms && s.p99Ms <= s.ci.p99.upperMs);

    const es90 = earlyStoppingRank(n, 0.9, 0.99);
    assert.equal(s.earlyStopping.p90.percentile, 90);
    assert.equal(s.earlyStopping.p90.queries, n);
    assert.equal(s.earlyStopping.p90.satisfied, true);
    assert.equal(s.earlyStopping.p90.overLatencyAllowed, es90.overLatencyAllowed);
    assertNearMs(s.earlyStopping.p90.estimateMs, n - es90.overLatencyAllowed, 'p90 early-stopping estimate');
    assert.equal(s.earlyStopping.p99.percentile, 99);
    assert.equal(s.earlyStopping.p99.satisfied, true);
  });

  it('withholds what a short run cannot support', () => {
    const s = summarizeLatency(rampRecorder(30));
    assert.ok(s.ci.p50, 'the median is estimable from 30 samples');
    assert.equal(s.ci.p99, null);
    assert.equal(s.earlyStopping.p90.satisfied, false);
    assert.equal(s.earlyStopping.p90.estimateMs, null);
    assert.equal(s.earlyStopping.p90.minQueries, 44);
  });

  it('passes the requested confidences through', () => {
    const rec = rampRecorder(1000);
    const loose = summarizeLatency(rec);
    const strict = summarizeLatency(rec, { ciConfidence: 0.99, esConfidence: 0.999 });
    assert.ok(loose.ci.p50 && strict.ci.p50);
    assert.equal(strict.ci.p50.confidence, 0.99);
    assert.ok(strict.ci.p50.upperMs - strict.ci.p50.lowerMs > loose.ci.p50.upperMs - loose.ci.p50.lowerMs);
    assert.equal(strict.earlyStopping.p90.confidence, 0.999);
    assert.ok(strict.earlyStopping.p90.overLatencyAllowed < loose.earlyStopping.p90.overLatencyAllowed);
  });
});
