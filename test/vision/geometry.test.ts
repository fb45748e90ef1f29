import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { resolvePreprocessConfig } from '../../src/vision/config.js';
import { planTransform, roundHalfEven, toOriginal, toOriginalPoint, toTensor } from '../../src/vision/geometry.js';
import { loadLabels } from '../../src/vision/labels.js';
import { assertBoxClose, rejectsWith } from './helpers.js';

test('letterbox plans: centred pads split the remainder with the extra pixel right/bottom, top-left pads none', () => {
  const t = planTransform(1920, 1080, resolvePreprocessConfig({ width: 640, height: 640 }));
  assert.deepEqual([t.resized.width, t.resized.height, t.padX, t.padY], [640, 360, 0, 140]);
  assert.deepEqual(t.content, { x: 0, y: 140, width: 640, height: 360 });
  const odd = planTransform(100, 161, resolvePreprocessConfig({ width: 160, height: 160 }));
  // 100 · 160/161 = 99.4 → 99 wide; 61 columns of padding: 30 left, 31 right.
  assert.deepEqual([odd.resized.width, odd.padX, odd.padY], [99, 30, 0]);
  const tl = planTransform(640, 426, resolvePreprocessConfig({ width: 416, height: 416, anchor: 'top-left' }));
  assert.deepEqual([tl.resized.width, tl.resized.height, tl.padX, tl.padY], [416, 277, 0, 0]);
  const small = planTransform(100, 50, resolvePreprocessConfig({ width: 640, height: 640, scaleUp: false }));
  assert.deepEqual([small.resized.width, small.resized.height, small.padX, small.padY], [100, 50, 270, 295]);
});

test('crop plans follow torchvision: shorter side to shortestEdge (longer truncated), centre crop rounded half to even', () => {
  const t = planTransform(
    500,
    375,
    resolvePreprocessConfig({ width: 224, height: 224, resize: 'crop', shortestEdge: 256 }),
  );
  // 375 → 256, 500 → floor(256 · 500 / 375) = 341; crop at (round(58.5) = 58, 16).
  assert.deepEqual([t.resized.width, t.resized.height, t.cropX, t.cropY], [341, 256, 58, 16]);
  assert.deepEqual(t.content, { x: 0, y: 0, width: 224, height: 224 });
  assert.deepEqual(
    [roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(-0.5), roundHalfEven(2.4)],
    [0, 2, 2, -0, 2],
  );
});

test('toOriginal inverts toTensor in every mode, and clips to the image unless told not to', () => {
  const configs = [
    { width: 640, height: 640 },
    { width: 416, height: 416, anchor: 'top-left' as const },
    { width: 320, height: 240, resize: 'stretch' as const },
    { width: 224, height: 224, resize: 'crop' as const, shortestEdge: 256 },
    { width: null, height: null, resize: 'stretch' as const, maxSide: 960 },
  ];
  for (const c of configs) {
    const t = planTransform(1280, 720, resolvePreprocessConfig(c));
    const box: [number, number, number, number] = [400, 200, 900, 650];
    assertBoxClose(toOriginal(t, toTensor(t, box)), box, 1e-9, JSON.stringify(c));
    const [x, y] = toOriginalPoint(t, ...(toTensor(t, box).slice(0, 2) as [number, number]));
    assert.ok(Math.abs(x - 400) < 1e-9 && Math.abs(y - 200) < 1e-9);
  }
  const t = planTransform(1280, 720, resolvePreprocessConfig({ width: 640, height: 640 }));
  assert.deepEqual(toOriginal(t, [-10, 100, 700, 700]), [0, 0, 1280, 720]);
  assert.ok(toOriginal(t, [-10, 100, 700, 700], false)[0] < 0);
});

test('labels load from a text file (one per line), a JSON list or a JSON object; a missing file is an input error', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-labels-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'a.txt'), 'tench\ngoldfish\r\ngreat white shark\n');
  writeFileSync(path.join(dir, 'b.json'), '["cat", "dog"]');
  writeFileSync(path.join(dir, 'c.json'), '{"0": "cat", "2": "bird"}');
  assert.deepEqual(await loadLabels(path.join(dir, 'a.txt')), ['tench', 'goldfish', 'great white shark']);
  assert.deepEqual(await loadLabels(path.join(dir, 'b.json')), ['cat', 'dog']);
  assert.deepEqual(await loadLabels(path.join(dir, 'c.json')), ['cat', 'class 1', 'bird']);
  await rejectsWith(
    () => loadLabels(path.join(dir, 'none.txt')),
    'RTI_ERR_INPUT_DATA',
    /cannot read labels file .*none\.txt/,
  );
});

test('a text line (fixed height, dynamic width) follows PaddleOCR resize_norm_img: height 48, width ceil(48·w/h), tensor at least 320', () => {
  const line = resolvePreprocessConfig({ width: null, height: 48, minWidth: 320, multipleOf: 1, anchor: 'top-left' });
  // 200x40: 48·5 = 240 wide, padded on the right to 320.
  const short = planTransform(200, 40, line);
  assert.deepEqual(
    [short.input.width, short.input.height, short.resized.width, short.resized.height],
    [320, 48, 240, 48],
  );
  assert.deepEqual([short.padX, short.padY], [0, 0]);
  // 1000x30: 48·1000/30 = 1600 exactly; 1001x30: 1601.6 → tensor int() = 1601, resized capped to it.
  assert.deepEqual(
    [planTransform(1000, 30, line).input.width, planTransform(1000, 30, line).resized.width],
    [1600, 1600],
  );
  assert.deepEqual(
    [planTransform(1001, 30, line).input.width, planTransform(1001, 30, line).resized.width],
    [1601, 1601],
  );
  // 101x31: 156.38 → resized ceil = 157 (PaddleOCR's math.ceil), tensor 320.
  assert.equal(planTransform(101, 31, line).resized.width, 157);
  // Stretch: the tensor is the resized line, rounded to the multiple.
  const s = planTransform(
    200,
    40,
    resolvePreprocessConfig({ width: null, height: 48, resize: 'stretch', multipleOf: 8 }),
  );
  assert.deepEqual([s.input.width, s.input.height, s.resized.width], [240, 48, 240]);
  const back = toOriginal(short, [0, 0, 240, 48]);
  assertBoxClose(back, [0, 0, 200, 40], 1e-6);
});
