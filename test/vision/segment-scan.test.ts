/**
 * The segment head's class scan (scanClassesBits: the threshold test on the scores' int32 bits)
 * against scanClasses (float compares), on scores that stress the bit test: negatives, -0, NaN,
 * ±Infinity, denormals, the float32 neighbours of the threshold, a threshold float32 cannot hold
 * (0.7: its nearest float32 is below it), a row length that is not a multiple of eight, a class
 * filter, and thresholds that fall back to the float scan (0, negative, Infinity).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/runtime/synthetic.js';
import { classFilter, scanClasses } from '../../src/vision/heads/candidates.js';
import { scanClassesBits } from '../../src/vision/heads/scan-bits.js';

/** The float32 just below and just above x. */
function neighbours(x: number): number[] {
  const f = new Float32Array([x]);
  const bits = new Int32Array(f.buffer);
  const b = bits[0]!;
  const out: number[] = [];
  for (const d of [-1, 0, 1]) {
    bits[0] = b + d;
    out.push(f[0]!);
  }
  return out;
}

function scores(rng: () => number, length: number, thr: number): Float32Array {
  const special = [-1, -0, 0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3e-39, 1, ...neighbours(thr), 0.7, 0.25];
  const d = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const r = rng();
    d[i] = r < 0.3 ? special[Math.floor(rng() * special.length)]! : r < 0.6 ? rng() * 0.05 : rng() * 2 - 1;
  }
  return d;
}

test('segment scan: the int32-bit threshold test finds the same best class and score as the float scan', () => {
  const rng = createRng(2024);
  for (const thr of [0.25, 0.7, 0.3, 1e-40, 0.5000001, 0, -0.5, Infinity]) {
    for (const [n, classes] of [
      [8400, 3],
      [37, 5],
      [5, 4],
    ] as const) {
      for (const keep of [undefined, classFilter([1, 3])]) {
        const rowStart = 4 * n;
        const data = scores(rng, rowStart + classes * n, thr);
        const want = scanClasses(data, rowStart, n, classes, thr, keep);
        const wantBest = want.best.slice(0, n);
        const wantCls = want.cls.slice(0, n);
        const got = scanClassesBits(data, rowStart, n, classes, thr, keep);
        assert.deepEqual(got.best.subarray(0, n), wantBest, `best at thr ${thr}, n ${n}`);
        for (let i = 0; i < n; i++)
          if (wantBest[i] !== -Infinity) assert.equal(got.cls[i], wantCls[i], `class at ${i}, thr ${thr}`);
      }
    }
  }
});

test('segment scan: a score equal to the threshold is taken, the float32 just below it is not', () => {
  for (const thr of [0.25, 0.7]) {
    const [below, at, above] = neighbours(thr);
    // 0.7 is not a float32: its nearest one (at) is below it, so only `above` reaches it.
    const reaches = (v: number): boolean => v >= thr;
    // Each in its own block of eight, so the block test alone decides whether it is read.
    const data = new Float32Array(24);
    [below!, at!, above!].forEach((v, i) => (data[i * 8] = v));
    const { best } = scanClassesBits(data, 0, 24, 1, thr, undefined);
    assert.deepEqual(
      [best[0], best[8], best[16]],
      [below!, at!, above!].map((v) => (reaches(v) ? v : -Infinity)),
    );
  }
});
