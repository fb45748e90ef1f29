/**
 * The segment head's masks (instanceMask) against a plain per-pixel reference: for every pixel of
 * the box in the original image, its centre mapped to prototype coordinates, the four neighbouring
 * cells' logits (coefficients · prototypes, in float64) interpolated bilinearly (align_corners =
 * False: clamped at the edges), inside when > 0. The fast path (quads of one sign filled as runs,
 * rows copied within a prototype row, scratch reused across calls) may differ only where the
 * reference's logit is within rounding of 0.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/runtime/synthetic.js';
import { resolvePreprocessConfig } from '../../src/vision/config.js';
import { planTransform, type ImageTransform } from '../../src/vision/geometry.js';
import { instanceMask } from '../../src/vision/heads/segment.js';
import { ULTRALYTICS_PREPROCESS } from '../../src/vision/heads/yolo.js';

const EPS = 1e-6;

interface Reference {
  left: number;
  top: number;
  width: number;
  height: number;
  logit: Float64Array;
}

function reference(
  protos: Float32Array,
  m: number,
  ph: number,
  pw: number,
  coeffs: Float32Array,
  box: readonly number[],
  t: ImageTransform,
): Reference {
  const left = Math.max(0, Math.floor(box[0]!));
  const top = Math.max(0, Math.floor(box[1]!));
  const width = Math.max(0, Math.min(t.original.width, Math.ceil(box[2]!)) - left);
  const height = Math.max(0, Math.min(t.original.height, Math.ceil(box[3]!)) - top);
  const cell = (i: number, j: number): number => {
    let s = 0;
    for (let k = 0; k < m; k++) s += coeffs[k]! * protos[k * ph * pw + j * pw + i]!;
    return s;
  };
  const logit = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    // Original pixel centre → resized → tensor → prototype cell coordinates.
    const ty = (top + y + 0.5) * t.scaleY + t.padY - t.cropY;
    const py = Math.min(Math.max((ty * ph) / t.input.height - 0.5, 0), ph - 1);
    const j0 = Math.floor(py),
      j1 = Math.min(j0 + 1, ph - 1),
      wy = py - j0;
    for (let x = 0; x < width; x++) {
      const tx = (left + x + 0.5) * t.scaleX + t.padX - t.cropX;
      const px = Math.min(Math.max((tx * pw) / t.input.width - 0.5, 0), pw - 1);
      const i0 = Math.floor(px),
        i1 = Math.min(i0 + 1, pw - 1),
        wx = px - i0;
      const a = cell(i0, j0) * (1 - wx) + cell(i1, j0) * wx;
      const b = cell(i0, j1) * (1 - wx) + cell(i1, j1) * wx;
      logit[y * width + x] = a * (1 - wy) + b * wy;
    }
  }
  return { left, top, width, height, logit };
}

/** Smooth fields (as a real model's prototypes) or per-cell noise (many sign changes between neighbours). */
function prototypes(rng: () => number, m: number, ph: number, pw: number, smooth: boolean): Float32Array {
  const d = new Float32Array(m * ph * pw);
  for (let k = 0; k < m; k++) {
    const fx = 0.02 + rng() * 0.15,
      fy = 0.02 + rng() * 0.15,
      ax = rng() * 6,
      ay = rng() * 6;
    for (let y = 0; y < ph; y++)
      for (let x = 0; x < pw; x++)
        d[k * ph * pw + y * pw + x] = smooth ? Math.sin(x * fx + ax) * Math.cos(y * fy + ay) : rng() * 2 - 1;
  }
  return d;
}

function randomBox(rng: () => number, t: ImageTransform): number[] {
  const W = t.original.width,
    H = t.original.height;
  const kind = rng();
  // Mostly inside; some past the image's edges; some a pixel or two wide.
  const w = kind < 0.15 ? 0.2 + rng() * 2 : 4 + rng() * W * 0.6;
  const h = kind < 0.15 ? 0.2 + rng() * 2 : 4 + rng() * H * 0.6;
  const x = -0.1 * W + rng() * W * 1.1,
    y = -0.1 * H + rng() * H * 1.1;
  return [x, y, Math.min(x + w, W + 5), Math.min(y + h, H + 5)];
}

const cases: Array<{ name: string; t: ImageTransform; ph: number; pw: number }> = [
  {
    name: '1280×720 letterboxed to 640, 160² prototypes',
    t: planTransform(1280, 720, resolvePreprocessConfig(ULTRALYTICS_PREPROCESS, { width: 640, height: 640 })),
    ph: 160,
    pw: 160,
  },
  {
    name: '200×150 letterboxed up to 640 (a prototype cell under a pixel)',
    t: planTransform(200, 150, resolvePreprocessConfig(ULTRALYTICS_PREPROCESS, { width: 640, height: 640 })),
    ph: 160,
    pw: 160,
  },
  {
    name: '333×517 stretched to 320×256, 80×64 prototypes',
    t: planTransform(
      333,
      517,
      resolvePreprocessConfig(ULTRALYTICS_PREPROCESS, { width: 320, height: 256, resize: 'stretch' }),
    ),
    ph: 64,
    pw: 80,
  },
  {
    name: '900×500 centre-cropped to 256², 64² prototypes',
    t: planTransform(
      900,
      500,
      resolvePreprocessConfig(ULTRALYTICS_PREPROCESS, { width: 256, height: 256, resize: 'crop' }),
    ),
    ph: 64,
    pw: 64,
  },
];

test('segment masks: every pixel as the per-pixel bilinear reference, except within rounding of logit 0', () => {
  const rng = createRng(1414);
  let pixels = 0,
    inside = 0,
    near = 0;
  for (const c of cases) {
    for (const m of [32, 12, 3]) {
      for (const smooth of [true, false]) {
        const protos = prototypes(rng, m, c.ph, c.pw, smooth);
        const earlier: Array<{ data: Uint8Array; copy: Uint8Array }> = [];
        for (let b = 0; b < 12; b++) {
          const coeffs = Float32Array.from({ length: m }, () => rng() - 0.5);
          const box = randomBox(rng, c.t);
          const got = instanceMask(protos, 0, m, c.ph, c.pw, coeffs, box, c.t);
          const ref = reference(protos, m, c.ph, c.pw, coeffs, box, c.t);
          const where = `${c.name}, m=${m}, ${smooth ? 'smooth' : 'noise'}, box ${box.map((v) => v.toFixed(2)).join(',')}`;
          assert.deepEqual(
            [got.left, got.top, got.width, got.height],
            [ref.left, ref.top, ref.width, ref.height],
            where,
          );
          assert.equal(got.data.length, ref.width * ref.height, where);
          // The mask is built on unzeroed memory: every byte must have been written (0 or 1), and the
          // array is a plain Uint8Array owning exactly its bytes.
          assert.ok(
            got.data.every((v) => v <= 1),
            where,
          );
          assert.equal(Object.getPrototypeOf(got.data), Uint8Array.prototype, where);
          assert.equal(got.data.buffer.byteLength, got.data.length, where);
          for (let i = 0; i < got.data.length; i++) {
            const l = ref.logit[i]!;
            const want = l > 0 ? 1 : 0;
            pixels++;
            inside += want;
            if (got.data[i] !== want) {
              near++;
              assert.ok(
                Math.abs(l) < EPS,
                `${where}: pixel ${i % ref.width},${Math.floor(i / ref.width)} is ${got.data[i]}, reference logit ${l}`,
              );
            }
          }
          earlier.push({ data: got.data, copy: got.data.slice() });
        }
        // Each mask owns its pixels: later masks (reusing the scratch buffers) leave earlier ones as they were.
        for (const e of earlier) assert.deepEqual(e.data, e.copy);
      }
    }
  }
  // The cases exercise both sides of the threshold, and disagreements stay rare.
  assert.ok(inside > pixels * 0.1 && inside < pixels * 0.9, `${inside} of ${pixels} inside`);
  assert.ok(near <= pixels * 1e-4, `${near} of ${pixels} pixels differ`);
});

test('segment masks: a box outside the image, or of zero area, is an empty mask', () => {
  const t = cases[0]!.t;
  const protos = new Float32Array(32 * 160 * 160).fill(1);
  const coeffs = new Float32Array(32).fill(1);
  for (const box of [
    [1300, 10, 1400, 50],
    [10, 730, 50, 800],
    [100, 100, 100, 140],
  ]) {
    const mk = instanceMask(protos, 0, 32, 160, 160, coeffs, box, t);
    assert.equal(mk.width * mk.height, 0, String(box));
    assert.equal(mk.data.length, 0);
  }
  // All-positive logits: every pixel of the box.
  const full = instanceMask(protos, 0, 32, 160, 160, coeffs, [10.5, 20.5, 110.2, 70.9], t);
  assert.deepEqual([full.left, full.top, full.width, full.height], [10, 20, 101, 51]);
  assert.ok(full.data.every((v) => v === 1));
});
