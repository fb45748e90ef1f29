import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mannWhitneyU, normalSf } from '../../src/stats/mann-whitney.js';
import { mulberry32, normalFrom } from './prng.js';

/** Two-sided p by enumerating every split of the pooled values (small samples only). */
function bruteForceP(a: number[], b: number[]): number {
  const all = [...a, ...b];
  const n1 = a.length;
  const uOf = (x: number[], y: number[]): number =>
    x.reduce((s, v) => s + y.reduce((t, w) => t + (v > w ? 1 : v === w ? 0.5 : 0), 0), 0);
  const observed = uOf(a, b);
  const mean = (a.length * b.length) / 2;
  let extreme = 0;
  let total = 0;
  for (let mask = 0; mask < 1 << all.length; mask++) {
    let bits = 0;
    for (let i = 0; i < all.length; i++) if (mask & (1 << i)) bits++;
    if (bits !== n1) continue;
    const x = all.filter((_v, i) => mask & (1 << i));
    const y = all.filter((_v, i) => !(mask & (1 << i)));
    total++;
    if (Math.abs(uOf(x, y) - mean) >= Math.abs(observed - mean) - 1e-9) extreme++;
  }
  return extreme / total;
}

test('the exact p-value equals enumerating every arrangement', () => {
  assert.equal(mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).pValue, bruteForceP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]));
  const a = [1.5, 3, 5.2, 7, 9.1, 11];
  const b = [2, 4, 6, 8, 10];
  const r = mannWhitneyU(a, b);
  assert.equal(r.method, 'exact');
  assert.ok(Math.abs(r.pValue - bruteForceP(a, b)) < 1e-12, `${r.pValue} vs ${bruteForceP(a, b)}`);
  assert.equal(mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).u, 0);
});

test('with ties the normal approximation is used and stays close to the permutation p-value', () => {
  const a = [1, 1, 2, 2, 3, 3, 4];
  const b = [2, 3, 3, 4, 4, 5, 5];
  const r = mannWhitneyU(a, b);
  assert.equal(r.method, 'normal');
  assert.ok(Math.abs(r.pValue - bruteForceP(a, b)) < 0.03, `${r.pValue} vs ${bruteForceP(a, b)}`);
});

test('normalSf matches known values of the normal tail', () => {
  assert.ok(Math.abs(normalSf(1.959964) - 0.025) < 1e-6);
  assert.ok(Math.abs(normalSf(0) - 0.5) < 1e-6);
  assert.ok(Math.abs(normalSf(-1) - 0.8413447) < 1e-6);
});

test('samples from one distribution are rejected at about the 5 % rate, a shift almost always', () => {
  const rng = mulberry32(7);
  const z = normalFrom(rng);
  const draw = (n: number, scale: number): number[] => Array.from({ length: n }, () => scale * Math.exp(0.3 * z()));
  let falseAlarms = 0;
  let detected = 0;
  for (let i = 0; i < 200; i++) {
    if (mannWhitneyU(draw(100, 1), draw(100, 1)).pValue < 0.05) falseAlarms++;
    if (mannWhitneyU(draw(100, 1), draw(100, 1.15)).pValue < 0.05) detected++;
  }
  assert.ok(falseAlarms >= 2 && falseAlarms <= 20, `false alarms ${falseAlarms}/200`);
  assert.ok(detected >= 160, `detected ${detected}/200`);
});

test('BAD CALL - an empty sample or NaN is refused', () => {
  assert.throws(() => mannWhitneyU([], [1]), RangeError);
  assert.throws(() => mannWhitneyU([NaN, 1], [1]), RangeError);
});
