import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstTrue, lastTrue } from '../../src/stats/monotone-search.js';

describe('monotone search', () => {
  it('finds the last index where a true-then-false predicate holds', () => {
    for (let cut = 0; cut <= 20; cut++) {
      assert.equal(
        lastTrue(0, 20, (i) => i <= cut),
        cut,
      );
    }
    assert.equal(
      lastTrue(0, 20, () => false),
      null,
    );
    assert.equal(
      lastTrue(5, 4, () => true),
      null,
    );
  });

  it('finds the first index where a false-then-true predicate holds', () => {
    for (let cut = 1; cut <= 20; cut++) {
      assert.equal(
        firstTrue(1, 20, (i) => i >= cut),
        cut,
      );
    }
    assert.equal(
      firstTrue(1, 20, () => false),
      null,
    );
  });
});
