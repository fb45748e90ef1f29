import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Histogram,
  MinMax,
  clipToThreshold,
  entropyThreshold,
  mseRange,
  percentileRange,
} from '../../src/optimize/ranges.js';
import { activationParams, quantizeWeights } from '../../src/optimize/qdq-rewrite.js';

/** Deterministic pseudo-random numbers (mulberry32), so the tests do not flake. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('min-max skips NaN and infinities', () => {
  const m = new MinMax();
  m.add([1, NaN, -2, Infinity, 3, -Infinity]);
  assert.deepEqual(m.range(), [-2, 3]);
  assert.deepEqual(new MinMax().range(), [0, 0]);
});

test('the percentile range cuts the same share from both tails and ignores a rare outlier', () => {
  const r = rng(1);
  const values = Float32Array.from({ length: 100_000 }, () => r() * 2 - 1);
  values[0] = 50;
  const h = new Histogram(-1, 50, false);
  h.add(values);
  const [lo, hi] = percentileRange(h, 99.9);
  assert.ok(lo < -0.95 && lo > -1.01, `lo ${lo}`);
  assert.ok(hi > 0.95 && hi < 1.1, `hi ${hi}: the single outlier at 50 is cut`);
  // 100 % keeps everything.
  const [lo2, hi2] = percentileRange(h, 100);
  assert.ok(lo2 <= -0.99 && hi2 >= 49.9);
});

test('entropy clips a long-tailed (ReLU-like) distribution well inside its maximum, and keeps a uniform one whole', () => {
  const r = rng(2);
  // Exponential mass near 0 with a tail out to ~20: the KL threshold sits far below the max.
  const tail = Float32Array.from({ length: 200_000 }, () => -Math.log(1 - r()));
  const mm = new MinMax();
  mm.add(tail);
  const h = new Histogram(0, mm.max, true);
  h.add(tail);
  const t = entropyThreshold(h, 1);
  assert.ok(t > 2 && t < mm.max * 0.85, `threshold ${t} of max ${mm.max}`);
  // Uniform on [0, 1]: clipping only loses mass, so the threshold stays near the top.
  const uniform = Float32Array.from({ length: 200_000 }, () => r());
  const hu = new Histogram(0, 1, true);
  hu.add(uniform);
  assert.ok(entropyThreshold(hu, 1) > 0.9, `uniform threshold ${entropyThreshold(hu, 1)}`);
  assert.deepEqual(clipToThreshold([-3, 10], 4), [-3, 4]);
});

test('mse clips a value whose clipping costs less than the coarser step would, and keeps a uniform range whole', () => {
  const r = rng(3);
  const values = Float32Array.from({ length: 1_000_000 }, (_, i) => (i === 0 ? 30 : -0.2 + r() * 4));
  const h = new Histogram(-0.2, 30, false);
  h.add(values);
  const [lo, hi] = mseRange(h);
  assert.ok(lo <= -0.1 && hi > 3.5 && hi < 20, `range ${lo} ${hi}`);
  const u = new Histogram(0, 1, false);
  u.add(Float32Array.from({ length: 100_000 }, () => r()));
  const [ulo, uhi] = mseRange(u);
  assert.ok(ulo === 0 && uhi > 0.98, `uniform ${ulo} ${uhi}`);
});

test('activation parameters keep 0 exact and cover the range; weights are symmetric int8 per channel', () => {
  const p = activationParams([-1, 3], 'uint8');
  assert.equal(p.zeroPoint, Math.round(1 / p.scale));
  assert.ok(Math.abs(p.scale - 4 / 255) < 1e-9);
  // A range that does not contain 0 is widened to it.
  assert.deepEqual(activationParams([2, 4], 'uint8'), { scale: 4 / 255, zeroPoint: 0 });
  assert.deepEqual(activationParams([-2, 1], 'int8'), { scale: 2 / 127, zeroPoint: 0 });
  const { q, scales } = quantizeWeights(Float32Array.of(1, -0.5, 0.25, 0, 0.03, -0.04), [2, 3], 0);
  assert.deepEqual(
    [...scales].map((s) => +s.toFixed(6)),
    [+(1 / 127).toFixed(6), +(0.04 / 127).toFixed(6)],
  );
  assert.deepEqual([...q], [127, -64, 32, 0, 95, -127]);
  // An all-zero channel gets scale 1, not 0 (a zero scale would divide by zero in onnxruntime).
  assert.deepEqual([...quantizeWeights(new Float32Array(4), [2, 2], 0).scales], [1, 1]);
});
