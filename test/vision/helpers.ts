/** Test images, seeded noise and assertion helpers shared by the vision tests. */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { RtinferError } from '../../src/errors.js';
import { createRng } from '../../src/runtime/synthetic.js';
import type { Box } from '../../src/vision/types.js';

/** RGB pixels: a diagonal gradient with seeded noise, so that any misplaced pixel shows. */
export function noiseRgb(width: number, height: number, seed = 1, channels = 3): Buffer {
  const rng = createRng(seed);
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * channels;
      const g = ((x + y) * 255) / (width + height);
      data[p] = Math.min(255, Math.floor(g * 0.8 + rng() * 50));
      data[p + 1] = Math.floor((x * 255) / width);
      data[p + 2] = Math.floor(rng() * 256);
      if (channels === 4) data[p + 3] = x < width / 4 ? 0 : x < width / 2 ? 128 : 255;
    }
  }
  return data;
}

export async function noisePng(width: number, height: number, seed = 1): Promise<Buffer> {
  return sharp(noiseRgb(width, height, seed), { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

export async function noiseJpeg(width: number, height: number, seed = 1, orientation?: number): Promise<Buffer> {
  const img = sharp(noiseRgb(width, height, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 });
  return (orientation === undefined ? img : img.withMetadata({ orientation })).toBuffer();
}

/** Asserts that `fn` rejects with an RtinferError of `code` whose one-line message matches `pattern`. */
export async function rejectsWith(fn: () => Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof RtinferError, `expected RtinferError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'error message must be one line');
    return true;
  });
}

export function throwsWith(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RtinferError, `expected RtinferError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'error message must be one line');
    return true;
  });
}

export function assertBoxClose(actual: Readonly<Box>, expected: Readonly<Box>, tolerance: number, what = 'box'): void {
  const diff = Math.max(...actual.map((v, i) => Math.abs(v - expected[i]!)));
  assert.ok(
    diff <= tolerance,
    `${what}: [${actual.map((v) => v.toFixed(2))}] vs expected [${expected.map((v) => v.toFixed(2))}] (max diff ${diff.toFixed(3)} > ${tolerance})`,
  );
}

export function iou(a: Readonly<Box>, b: Readonly<Box>): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}
