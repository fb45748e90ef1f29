/**
 * bench/serve-ab's verdict (bench/support/paired.ts): a difference between two servers is claimed
 * only when the median per-round ratio's 95 % interval excludes 1.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paired } from '../../bench/support/paired.js';

test('a B that serves more in every round is called so, with the exact sign test', () => {
  const a = [100, 220, 150, 90, 300, 180, 120, 260, 140, 200];
  // 1.1× to 1.3× A in every round, while A itself swings threefold between rounds.
  const b = a.map((x, i) => x * (1.1 + (i % 3) * 0.1));
  const r = paired(a, b);
  assert.equal(r.verdict, 'B more');
  assert.equal(r.more, 10);
  assert.equal(r.less, 0);
  assert.ok(Math.abs(r.p - 2 / 1024) < 1e-12, `p ${r.p}`);
  // n = 10: the median's 95 % interval is the 2nd and 9th of the sorted ratios.
  const sorted = [...r.ratios].sort((x, y) => x - y);
  assert.deepEqual(r.ci, [sorted[1], sorted[8]]);
  assert.ok(r.median > 1.1 && r.median < 1.3);
});

test('B at half of A is "B less"; a mixed record shows no difference', () => {
  const a = [10, 20, 30, 40, 50, 60, 70, 80];
  const half = paired(
    a,
    a.map((x) => x / 2),
  );
  assert.equal(half.verdict, 'B less');
  assert.equal(half.median, 0.5);
  assert.deepEqual(half.ci, [0.5, 0.5]);
  const mixed = paired(a, [12, 18, 33, 37, 55, 58, 72, 79]);
  assert.equal(mixed.verdict, 'no difference shown');
  assert.equal(mixed.more + mixed.less, 8);
  assert.ok(mixed.p > 0.5);
});

test('too few rounds for an interval claim nothing; a round where only B served counts as B more', () => {
  const few = paired([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]);
  assert.equal(few.ci, null);
  assert.equal(few.verdict, 'no difference shown');
  const zero = paired([0, 0, 5, 5, 5, 5, 5, 5], [0, 3, 6, 6, 6, 6, 6, 6]);
  assert.equal(zero.ratios.length, 7, 'the round where neither served has no ratio');
  assert.equal(zero.ratios.filter((r) => r === Number.POSITIVE_INFINITY).length, 1);
  assert.equal(zero.more, 7);
  assert.equal(zero.verdict, 'B more');
  // A server that collapses (the naive one past its peak) against one that does not.
  const collapse = paired([0, 0, 0, 1, 0, 0], [300, 280, 310, 290, 305, 299]);
  assert.equal(collapse.verdict, 'B more');
  assert.equal(collapse.median, Number.POSITIVE_INFINITY);
  assert.throws(() => paired([1, 2], [1]), /2 rounds of A against 1 of B/);
});
