/**
 * scanClasses (candidates.ts), the class scan of the yolo, yolov8-raw, segment, obb and pose heads,
 * tests eight scores at a time on their bits (as int32 or uint32). Here it is checked against a
 * plain float scan on scores that stress the bit test: negatives, -0, NaNs of both signs,
 * ±Infinity, denormals, the float32 neighbours of the threshold, thresholds float32 cannot hold
 * (0.7, logit(0.25), 1e-46 that rounds to 0, 1e39 past the largest float32), thresholds <= 0,
 * ±Infinity and NaN, a row length that is not a multiple of eight, and a class filter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/runtime/synthetic.js';
import { classFilter, scanClasses } from '../../src/vision/heads/candidates.js';

const THRESHOLDS = [
  0.25,
  0.7,
  0.5000001,
  1e-40,
  1e-46,
  0,
  -0,
  -1e-50,
  -1e-40,
  -0.5,
  Math.log(1 / 3),
  -3.4028234e38,
  1e39,
  -1e39,
  Infinity,
  -Infinity,
  NaN,
];

/** A float32 from its int32 bits. */
function fromBits(b: number): number {
  return new Float32Array(new Int32Array([b]).buffer)[0]!;
}

/** The float32 just below, at and just above x (by bits: for a negative x, "below" is nearer 0). */
function neighbours(x: number): number[] {
  const b = new Int32Array(new Float32Array([x]).buffer)[0]!;
  return [b - 1, b, b + 1].map(fromBits);
}

/** The largest float32 below x, NaN where none is. */
function largestBelow(x: number): number {
  const f = Math.fround(x);
  if (f < x) return f;
  if (!(f > -Infinity)) return NaN;
  if (f === 0) return -1e-45;
  const [down, , up] = neighbours(f);
  return f > 0 ? down! : up!;
}

const SPECIAL = [
  -1,
  -0,
  0,
  NaN,
  fromBits(0x7f800001), // +NaN with a payload
  fromBits(-1), // -NaN, bits 0xffffffff
  fromBits(0xffc00000 | 0), // -NaN, quiet
  Infinity,
  -Infinity,
  1e-45,
  -1e-45,
  3e-39,
  -3e-39,
  1,
  0.7,
  0.25,
  -1.0986123,
  3.4028234e38,
  -3.4028234e38,
];

/** The scan as plain float compares, column by column. */
function reference(data: Float32Array, rowStart: number, n: number, classes: number, thr: number, keep?: Uint8Array) {
  const best = new Float32Array(n).fill(-Infinity);
  const cls = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < classes; c++) {
      if (keep !== undefined && keep[c] !== 1) continue;
      const v = data[rowStart + c * n + i]!;
      if (v >= thr && v > best[i]!) {
        best[i] = v;
        cls[i] = c;
      }
    }
  return { best, cls };
}

function assertSame(data: Float32Array, rowStart: number, n: number, classes: number, thr: number, keep?: Uint8Array) {
  const want = reference(data, rowStart, n, classes, thr, keep);
  const got = scanClasses(data, rowStart, n, classes, thr, keep);
  // Strict deepEqual compares float arrays byte by byte: -0 is not 0.
  assert.deepEqual(got.best.subarray(0, n), want.best, `best at thr ${thr}, n ${n}`);
  for (let i = 0; i < n; i++)
    if (want.best[i] !== -Infinity) assert.equal(got.cls[i], want.cls[i], `class at ${i}, thr ${thr}`);
}

/** Rows of specials (at a per-row rate, some rows almost none) over a per-row background. */
function scores(rng: () => number, rowStart: number, rows: number, n: number, thr: number): Float32Array {
  const special = [...SPECIAL, ...neighbours(thr), ...neighbours(-thr)];
  const d = new Float32Array(rowStart + rows * n);
  for (let c = 0; c < rows; c++) {
    const rate = [0.3, 0.03, 0.003][c % 3]!;
    const kind = Math.floor(rng() * 3);
    for (let i = 0; i < n; i++) {
      const r = rng();
      const background = kind === 0 ? rng() * 0.05 : kind === 1 ? -8 + rng() * 6 : rng() * 2 - 1;
      d[rowStart + c * n + i] = r < rate ? special[Math.floor(rng() * special.length)]! : background;
    }
  }
  return d;
}

test('class scan: the int32-bit threshold test finds the same best class and score as a plain float scan', () => {
  const rng = createRng(2024);
  for (const thr of THRESHOLDS) {
    for (const [n, classes] of [
      [8400, 6],
      [37, 5],
      [5, 4],
    ] as const) {
      for (const keep of [undefined, classFilter([1, 3])]) {
        const rowStart = 4 * n + 3;
        assertSame(scores(rng, rowStart, classes, n, thr), rowStart, n, classes, thr, keep);
      }
    }
  }
});

test('class scan: each value alone in a block of eight is taken exactly when it reaches the threshold', () => {
  for (const thr of THRESHOLDS) {
    // The other seven: the largest float32 below thr (NaN where none is), so only the value decides.
    const filler = largestBelow(thr);
    const values = [...SPECIAL, ...neighbours(thr), ...neighbours(-thr)].map(Math.fround);
    for (let at = 0; at < 8; at += 7) {
      const data = new Float32Array(values.length * 8).fill(filler);
      values.forEach((v, j) => (data[j * 8 + at] = v));
      assertSame(data, 0, data.length, 1, thr);
      const { best } = scanClasses(data, 0, data.length, 1, thr, undefined);
      values.forEach((v, j) => assert.ok(Object.is(best[j * 8 + at], v >= thr ? v : -Infinity), `${v} at ${thr}`));
    }
  }
});
