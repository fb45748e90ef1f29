import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { LatencyRecorder, MAX_TRACKABLE_US } from '../../src/stats/latency-recorder.js';
import { quantileSorted, sortSamples, stddevOf } from '../../src/stats/sorted.js';
import { mulberry32, normalFrom } from './prng.js';

const QUANTILES = [0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999];

/** Log-normal latencies around 2 ms (sigma 0.6), as integer µs: what the recorder itself keeps. */
function logNormalUs(count: number, seed: number): number[] {
  const normal = normalFrom(mulberry32(seed));
  return Array.from({ length: count }, () => Math.round(Math.exp(Math.log(2000) + 0.6 * normal())));
}

function recorderOf(values: readonly number[]): LatencyRecorder {
  const rec = new LatencyRecorder();
  for (const v of values) rec.record(v);
  return rec;
}

describe('LatencyRecorder', () => {
  it('keeps percentiles of 100k log-normal samples within 0.1% of the exact nearest-rank values', () => {
    const values = logNormalUs(100_000, 42);
    const rec = recorderOf(values);
    const sorted = sortSamples(values);
    assert.equal(rec.count, 100_000);
    for (const q of QUANTILES) {
      const exact = quantileSorted(sorted, q);
      const approx = rec.valueAtQuantileUs(q);
      assert.ok(approx >= exact, `q=${q}: ${approx} below exact ${exact}`);
      assert.ok((approx - exact) / exact <= 0.001, `q=${q}: ${approx} vs exact ${exact}`);
    }
    assert.equal(rec.minUs, sorted[0]);
    assert.equal(rec.maxUs, sorted[sorted.length - 1]);
    assert.ok(Math.abs(rec.meanUs / (values.reduce((a, b) => a + b, 0) / values.length) - 1) < 0.001);
    assert.ok(Math.abs(rec.stddevUs / stddevOf(values) - 1) < 0.001);
  });

  it('is exact below 2048 µs, including min, max, mean and n-1 stddev', () => {
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    const rec = recorderOf(values);
    assert.equal(rec.valueAtQuantileUs(0.5), 500);
    assert.equal(rec.valueAtQuantileUs(0.9), 900);
    assert.equal(rec.valueAtQuantileUs(0), 1);
    assert.equal(rec.valueAtQuantileUs(1), 1000);
    assert.equal(rec.minUs, 1);
    assert.equal(rec.maxUs, 1000);
    assert.equal(rec.meanUs, 500.5);
    assert.ok(Math.abs(rec.stddevUs - stddevOf(values)) < 1e-9);
  });

  it('reads order statistics by 1-indexed rank', () => {
    const rec = recorderOf([30, 10, 20, 40]);
    assert.deepEqual(
      [1, 2, 3, 4].map((r) => rec.valueAtRankUs(r)),
      [10, 20, 30, 40],
    );
    assert.throws(() => rec.valueAtRankUs(0), RangeError);
    assert.throws(() => rec.valueAtRankUs(5), RangeError);
    assert.throws(() => rec.valueAtRankUs(1.5), RangeError);
  });

  it('rounds to whole microseconds', () => {
    const rec = recorderOf([1.4, 1.6, 2.5]);
    assert.deepEqual(
      [1, 2, 3].map((r) => rec.valueAtRankUs(r)),
      [1, 2, 3],
    );
    assert.equal(rec.clampedCount, 0);
  });

  it('clamps and counts out-of-range values instead of throwing', () => {
    const rec = new LatencyRecorder();
    for (const v of [0, 0.4, -5, Number.NaN, 1e12, Number.POSITIVE_INFINITY]) rec.record(v);
    assert.equal(rec.clampedCount, 6);
    assert.equal(rec.count, 6);
    assert.equal(rec.minUs, 1);
    assert.equal(rec.maxUs, MAX_TRACKABLE_US);
    assert.equal(rec.valueAtRankUs(4), 1);
    assert.equal(rec.valueAtRankUs(5), MAX_TRACKABLE_US);
    rec.record(1);
    rec.record(MAX_TRACKABLE_US);
    assert.equal(rec.clampedCount, 6, 'the range ends themselves are in range');
  });

  it('round-trips through encode/decode with count and percentiles intact', () => {
    const rec = recorderOf(logNormalUs(20_000, 3));
    const copy = LatencyRecorder.decode(rec.encode());
    assert.equal(copy.count, rec.count);
    for (const q of QUANTILES) assert.equal(copy.valueAtQuantileUs(q), rec.valueAtQuantileUs(q), `q=${q}`);
    // After decoding, min and max are known to bucket precision only.
    assert.ok(Math.abs(copy.minUs - rec.minUs) / rec.minUs <= 0.001);
    assert.ok(Math.abs(copy.maxUs - rec.maxUs) / rec.maxUs <= 0.001);
    assert.equal(LatencyRecorder.decode(new LatencyRecorder().encode()).count, 0);
  });

  it('merges encoded worker histograms exactly as it merges live ones', () => {
    const a = logNormalUs(30_000, 11);
    const b = logNormalUs(30_000, 12).map((v) => v * 3);
    const direct = recorderOf(a);
    direct.merge(recorderOf(b));
    const viaWire = LatencyRecorder.decode(recorderOf(a).encode());
    viaWire.merge(LatencyRecorder.decode(recorderOf(b).encode()));
    const exact = sortSamples([...a, ...b]);
    assert.equal(direct.count, 60_000);
    assert.equal(viaWire.count, 60_000);
    for (const q of QUANTILES) {
      assert.equal(viaWire.valueAtQuantileUs(q), direct.valueAtQuantileUs(q), `q=${q}`);
      const e = quantileSorted(exact, q);
      assert.ok((direct.valueAtQuantileUs(q) - e) / e <= 0.001, `q=${q}`);
    }
  });

  it('carries the clamp count through merge and forgets everything on reset', () => {
    const a = recorderOf([5, -1]);
    const b = recorderOf([7, 1e13]);
    a.merge(b);
    assert.equal(a.count, 4);
    assert.equal(a.clampedCount, 2);
    assert.equal(b.count, 2, 'merge leaves the source alone');
    a.reset();
    assert.equal(a.count, 0);
    assert.equal(a.clampedCount, 0);
    assert.equal(a.minUs, 0);
    assert.equal(a.maxUs, 0);
    assert.equal(a.valueAtQuantileUs(0.99), 0);
    assert.equal(a.meanUs, 0);
    assert.equal(a.stddevUs, 0);
  });

  it('rejects strings that are not its own HDR encoding', () => {
    assert.throws(() => LatencyRecorder.decode('not base64 at all'), RangeError);
    const foreign = build({ highestTrackableValue: 1000, numberOfSignificantValueDigits: 2, autoResize: false });
    foreign.recordValue(5);
    assert.throws(() => LatencyRecorder.decode(encodeIntoCompressedBase64(foreign)), /expected \[1, 3600000000\]/);
  });

  it('records in well under a microsecond per value', () => {
    const rec = new LatencyRecorder();
    const values = logNormalUs(1000, 5);
    for (let i = 0; i < 100_000; i++) rec.record(values[i % 1000] as number); // warm up the JIT
    const n = 1_000_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) rec.record(values[i % 1000] as number);
    const nsPerRecord = Number(process.hrtime.bigint() - start) / n;
    assert.ok(nsPerRecord < 1000, `${nsPerRecord} ns per record`);
  });
});
