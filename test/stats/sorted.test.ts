import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanOf, nearestRank, quantileSorted, sortSamples, stddevOf } from '../../src/stats/sorted.js';
import { mulberry32, shuffled } from './prng.js';

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

describe('sortSamples', () => {
  it('sorts numerically, not lexically, and leaves the input untouched', () => {
    const input = [10, 9, 100, 1, 2];
    assert.deepEqual([...sortSamples(input)], [1, 2, 9, 10, 100]);
    assert.deepEqual(input, [10, 9, 100, 1, 2]);
  });

  it('accepts typed arrays', () => {
    assert.deepEqual([...sortSamples(new Float64Array([3, -1, 2]))], [-1, 2, 3]);
  });

  it('rejects NaN samples', () => {
    assert.throws(() => sortSamples([1, Number.NaN]), RangeError);
  });
});

describe('quantileSorted', () => {
  const s = sortSamples(shuffled(oneToHundred, mulberry32(1)));

  it('returns the value at rank ceil(q*n) for 1..100', () => {
    assert.equal(quantileSorted(s, 0.5), 50);
    assert.equal(quantileSorted(s, 0.9), 90);
    assert.equal(quantileSorted(s, 0.95), 95);
    assert.equal(quantileSorted(s, 0.99), 99);
    assert.equal(quantileSorted(s, 0.999), 100);
    assert.equal(quantileSorted(s, 0.901), 91);
    assert.equal(quantileSorted(s, 0.005), 1);
  });

  it('maps q = 0 to the minimum and q = 1 to the maximum', () => {
    assert.equal(quantileSorted(s, 0), 1);
    assert.equal(quantileSorted(s, 1), 100);
  });

  it('picks an observed value instead of interpolating', () => {
    assert.equal(quantileSorted(sortSamples([3, 1, 2, 4]), 0.5), 2);
    assert.equal(quantileSorted(sortSamples([7]), 0.37), 7);
  });

  it('is not pushed up a rank by floating-point error in q*n', () => {
    // In IEEE doubles 0.07 * 100 === 7.000000000000001 and 0.14 * 100 === 14.000000000000002,
    // so a bare ceil would report the 8th and 15th values.
    assert.equal(quantileSorted(s, 0.07), 7);
    assert.equal(quantileSorted(s, 0.14), 14);
    assert.equal(nearestRank(100, 0.56), 56);
    // The slack is relative and tiny: a real fractional rank still rounds up.
    assert.equal(nearestRank(100, 0.0701), 8);
  });

  it('rejects an empty sample and q outside [0, 1]', () => {
    assert.throws(() => quantileSorted(sortSamples([]), 0.5), RangeError);
    assert.throws(() => quantileSorted(s, 1.01), RangeError);
    assert.throws(() => quantileSorted(s, -0.1), RangeError);
    assert.throws(() => quantileSorted(s, Number.NaN), RangeError);
  });
});

describe('meanOf and stddevOf', () => {
  it('give the textbook mean and n-1 standard deviation', () => {
    const xs = [2, 4, 4, 4, 5, 5, 7, 9];
    assert.equal(meanOf(xs), 5);
    assert.ok(Math.abs(stddevOf(xs) - Math.sqrt(32 / 7)) < 1e-12);
  });

  it('stay exact when the spread is tiny next to the values', () => {
    const xs = [1e9 + 1, 1e9 + 2, 1e9 + 3];
    assert.ok(Math.abs(stddevOf(xs) - 1) < 1e-9);
  });

  it('report no spread for fewer than two samples and refuse the mean of nothing', () => {
    assert.equal(stddevOf([42]), 0);
    assert.equal(stddevOf([]), 0);
    assert.throws(() => meanOf([]), RangeError);
  });
});
