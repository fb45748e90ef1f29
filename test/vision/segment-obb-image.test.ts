import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { classMapIou, imageAgreement, maskIou, matchedAgreement, oks } from '../../src/accuracy/vision-agreement.js';
import { detectHead } from '../../src/vision/heads/registry.js';
import { maskToPolygons, maskToRle } from '../../src/vision/masks.js';
import { planVision } from '../../src/vision/plan.js';
import { composeImage, renderResult } from '../../src/vision/render.js';
import { resultJson } from '../../src/vision/result-json.js';
import { rotatedCorners, rotatedIou } from '../../src/vision/rotated.js';
import type { Detection, Mask, TensorMeta } from '../../src/vision/types.js';
import { assertBoxClose } from './helpers.js';
import { blankFrame, constantModel, levelValues, openConstant } from './constant-model.js';

const out = (name: string, ...shape: number[]): TensorMeta => ({ name, shape });

test('segment: mask coefficients × prototypes, cropped to the box and thresholded, in original pixels; RLE and polygons', async () => {
  const meta = { task: 'segment', names: "{0: 'thing'}", imgsz: '[64, 64]' };
  const det = levelValues(4 + 1 + 2, 10, 0, 'chw');
  [28, 24, 32, 24, 0.9, 1, 0].forEach((v, r) => det.set(r, 3, v)); // box [12, 12, 44, 36], coefficients [1, 0]
  const protos = new Float32Array(2 * 16 * 16).fill(-1);
  for (let v = 4; v <= 7; v++) for (let u = 4; u <= 9; u++) protos[v * 16 + u] = 1; // prototype 0: +1 over cells (4..9, 4..7)
  const bytes = constantModel(
    { name: 'images', shape: [1, 3, 64, 64] },
    [
      { name: 'output0', dims: [1, 7, 10], values: det.values },
      { name: 'output1', dims: [1, 2, 16, 16], values: protos },
    ],
    meta,
  );
  const { pipeline, close } = await openConstant(bytes, meta);
  try {
    assert.equal(pipeline.head.name, 'segment');
    const r = await pipeline.predict(blankFrame(64, 64));
    assert.ok(r.task === 'detect');
    if (r.task !== 'detect') return;
    assert.equal(r.detections.length, 1);
    const d = r.detections[0]!;
    assertBoxClose(d.box, [12, 12, 44, 36], 1e-3);
    const m = d.mask!;
    // Logits cross 0 half-way between cells 3 and 4 (pixel 15.5) and 9 and 10 (39.5), rows 3/4 and 7/8 (15.5, 31.5).
    let area = 0;
    for (let y = 0; y < m.height; y++)
      for (let x = 0; x < m.width; x++)
        if (m.data[y * m.width + x] === 1) {
          area++;
          assert.ok(
            m.left + x >= 16 && m.left + x <= 39 && m.top + y >= 16 && m.top + y <= 31,
            `pixel ${m.left + x},${m.top + y}`,
          );
        }
    // The 24×16 block less its four corner pixels, which bilinear interpolation rounds off.
    assert.equal(area, 24 * 16 - 4);
    const json = resultJson(r, 64, 64, 'polygon') as { detections: Array<{ mask: { polygons: number[][] } }> };
    assert.deepEqual(json.detections[0]!.mask.polygons, [
      [17.5, 16.5, 38.5, 16.5, 39.5, 17.5, 39.5, 30.5, 38.5, 31.5, 17.5, 31.5, 16.5, 30.5, 16.5, 17.5],
    ]);
    const rle = (
      resultJson(r, 64, 64) as { detections: Array<{ mask: { rle: { size: number[]; counts: number[] } } }> }
    ).detections[0]!.mask.rle;
    assert.deepEqual(rle.size, [64, 64]);
    assert.equal(
      rle.counts.reduce((a, b) => a + b, 0),
      64 * 64,
    );
    assert.equal(
      rle.counts.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0),
      380,
    );
    // Drawn: the mask tints its pixels.
    const png = await renderResult(blankFrame(64, 64), r, { format: 'png', labels: false, lineWidth: 1 });
    const { data } = await sharp(png!).raw().toBuffer({ resolveWithObject: true });
    assert.notDeepEqual([...data.subarray((24 * 64 + 28) * 3, (24 * 64 + 28) * 3 + 3)], [128, 128, 128]);
    assert.deepEqual([...data.subarray((50 * 64 + 50) * 3, (50 * 64 + 50) * 3 + 3)], [128, 128, 128]);
  } finally {
    await close();
  }
});

test('masks: COCO RLE is column-major from background; polygons trace each part, spurs kept', () => {
  assert.deepEqual(maskToRle({ left: 1, top: 1, width: 2, height: 1, data: new Uint8Array([1, 1]) }, 3, 3), {
    size: [3, 3],
    counts: [4, 1, 2, 1, 1],
  });
  const l: Mask = { left: 0, top: 0, width: 3, height: 3, data: new Uint8Array([1, 1, 1, 1, 0, 0, 1, 1, 0]) };
  assert.deepEqual(maskToPolygons(l), [[0.5, 0.5, 2.5, 0.5, 1.5, 0.5, 0.5, 1.5, 1.5, 2.5, 0.5, 2.5]]);
  // Two parts, and a part below the minimum size dropped.
  const two: Mask = { left: 10, top: 0, width: 5, height: 2, data: new Uint8Array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0]) };
  assert.equal(maskToPolygons(two).length, 1);
  assert.equal(maskToPolygons(two, 1).length, 2);
});

test('obb: rotated IoU is exact, rotated NMS keeps crossing boxes that axis-aligned NMS would merge', async () => {
  assert.ok(Math.abs(rotatedIou(rotatedCorners(0, 0, 2, 2, 0), rotatedCorners(0, 0, 2, 2, 0)) - 1) < 1e-9);
  assert.ok(
    Math.abs(rotatedIou(rotatedCorners(0, 0, 2, 2, 0), rotatedCorners(0, 0, 2, 2, Math.PI / 4)) - Math.SQRT1_2) < 1e-9,
  );
  assert.deepEqual(
    rotatedCorners(32, 32, 20, 10, Math.PI / 2).map((v) => Math.round(v * 1e6) / 1e6),
    [27, 42, 37, 42, 37, 22, 27, 22],
  );
  const meta = { task: 'obb', names: "{0: 'plane', 1: 'ship'}" };
  const v = levelValues(4 + 2 + 1, 12, 0, 'chw');
  [32, 32, 40, 6, 0.9, 0, 0].forEach((x, r) => v.set(r, 0, x)); // a thin box, angle 0
  [32, 32, 40, 6, 0.8, 0, Math.PI / 2].forEach((x, r) => v.set(r, 1, x)); // the same box crossing it: AABB IoU high, rotated IoU low
  [32, 32, 40, 6, 0.7, 0, 0.02].forEach((x, r) => v.set(r, 2, x)); // nearly the first: suppressed
  [16, 16, 8, 4, 0, 0.6, 0.3].forEach((x, r) => v.set(r, 3, x)); // class 1
  assert.equal(detectHead([out('output0', 1, 7, 12)], meta).head.name, 'obb');
  const bytes = constantModel(
    { name: 'images', shape: [1, 3, 64, 64] },
    [{ name: 'output0', dims: [1, 7, 12], values: v.values }],
    meta,
  );
  const { pipeline, close } = await openConstant(bytes, meta);
  try {
    const r = await pipeline.predict(blankFrame(64, 64));
    assert.ok(r.task === 'detect');
    if (r.task !== 'detect') return;
    assert.deepEqual(
      r.detections.map((d) => [d.label, Math.round(d.score * 10) / 10]),
      [
        ['plane', 0.9],
        ['plane', 0.8],
        ['ship', 0.6],
      ],
    );
    const crossing = r.detections[1]!;
    assert.ok(Math.abs(crossing.angle! - Math.PI / 2) < 1e-6);
    assertBoxClose(crossing.box, [29, 12, 35, 52], 1e-3);
    assert.equal(crossing.polygon?.length, 4);
    const json = resultJson(r, 64, 64) as { detections: Array<{ polygon: number[][] }> };
    assert.equal(json.detections[0]!.polygon.length, 4);
  } finally {
    await close();
  }
});

test('image: a ×2 output is an image (range and scale detected); a grey super-resolution model is not a text model', async () => {
  const image = (c: number, s: number): TensorMeta[] => [{ name: 'input', shape: [1, c, s, s], dtype: 'float32' }];
  assert.equal(detectHead([out('output', 1, 1, 672, 672)], {}, image(1, 224)).head.name, 'image');
  assert.equal(detectHead([out('output', 1, 3, 512, 512)], {}, image(3, 128)).head.name, 'image');
  // A 3-class map at the input's size reads as an image; asking for the task 'semantic' takes the semantic head.
  assert.equal(planVision({ inputs: image(3, 64), outputs: [out('logits', 1, 3, 64, 64)] }).choice.head.name, 'image');
  assert.equal(
    planVision({ inputs: image(3, 64), outputs: [out('logits', 1, 3, 64, 64)], task: 'semantic' }).choice.head.name,
    'semantic',
  );
  // A one-channel map from a colour input stays the text head's (PP-OCR det).
  assert.equal(detectHead([out('sigmoid', 1, 1, 640, 640)], {}, image(3, 640)).head.name, 'text');
  const values = new Float32Array(3 * 128 * 128).fill(0.5);
  const bytes = constantModel({ name: 'input', shape: [1, 3, 64, 64] }, [
    { name: 'output', dims: [1, 3, 128, 128], values },
  ]);
  const { pipeline, close } = await openConstant(bytes);
  try {
    const r = await pipeline.predict(blankFrame(64, 64));
    assert.ok(r.task === 'image');
    if (r.task !== 'image') return;
    assert.deepEqual(
      [r.image.width, r.image.height, r.image.channels, r.image.range, r.image.scale, r.image.luminance],
      [128, 128, 3, '0..1', 2, false],
    );
    assert.equal(r.image.data[0], 128);
    const png = await renderResult(blankFrame(64, 64), r);
    assert.deepEqual([(await sharp(png!).metadata()).width, (await sharp(png!).metadata()).height], [128, 128]);
  } finally {
    await close();
  }
});

test('image: a luminance output gets the input chroma back (YCbCr), so a red input stays red', async () => {
  const red = {
    data: new Uint8Array(4 * 4 * 3).map((_, i) => (i % 3 === 0 ? 255 : 0)),
    width: 4,
    height: 4,
    channels: 3 as const,
  };
  const y = Math.round(0.299 * 255);
  const png = await composeImage(red, {
    width: 8,
    height: 8,
    channels: 1,
    data: new Uint8Array(64).fill(y),
    range: '0..1',
    luminance: true,
    scale: 2,
  });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [8, 8, 3]);
  assert.ok(data[0]! > 250 && data[1]! < 5 && data[2]! < 5, `got ${[...data.subarray(0, 3)]}`);
});

test('semantic: argmax per cell, sampled back to every original pixel; segments with RLE', async () => {
  const k = 4;
  const values = new Float32Array(k * 16 * 16);
  for (let yy = 0; yy < 16; yy++) for (let xx = 0; xx < 16; xx++) values[(xx < 8 ? 2 : 0) * 256 + yy * 16 + xx] = 5;
  const bytes = constantModel({ name: 'input', shape: [1, 3, 64, 64] }, [
    { name: 'logits', dims: [1, k, 16, 16], values },
  ]);
  const { pipeline, close } = await openConstant(bytes);
  try {
    assert.equal(pipeline.head.name, 'semantic');
    const r = await pipeline.predict(blankFrame(128, 64));
    assert.ok(r.task === 'semantic');
    if (r.task !== 'semantic') return;
    assert.deepEqual(
      r.segments.map((s) => [s.classId, s.pixels]),
      [
        [0, 4096],
        [2, 4096],
      ],
    );
    assert.equal(r.map.data[10 * 128 + 5], 2);
    assert.equal(r.map.data[10 * 128 + 100], 0);
    const json = resultJson(r, 128, 64) as { segments: Array<{ rle: { counts: number[] } }> };
    assert.equal(json.segments.length, 2);
    assert.ok(await renderResult(blankFrame(128, 64), r));
  } finally {
    await close();
  }
});

test('accuracy agreement beyond boxes: OKS for keypoints, mask IoU, class-map mean IoU, image pixels', () => {
  const det = (x: number, kx: number, mask?: Mask): Detection => ({
    label: 'a',
    classId: 0,
    score: 0.9,
    box: [x, 0, x + 10, 10],
    keypoints: [
      { x: kx, y: 5, score: 0.9 },
      { x: kx + 2, y: 5, score: 0.1 },
    ],
    ...(mask ? { mask } : {}),
  });
  assert.equal(oks(det(0, 5).keypoints!, det(0, 5).keypoints!, 100), 1);
  const shifted = oks(det(0, 7).keypoints!, det(0, 5).keypoints!, 100);
  assert.ok(shifted > 0 && shifted < 1);
  // The invisible reference keypoint does not count.
  assert.equal(
    oks(
      [
        { x: 5, y: 5 },
        { x: 99, y: 99 },
      ],
      det(0, 5).keypoints!,
      100,
    ),
    1,
  );
  const full: Mask = { left: 0, top: 0, width: 4, height: 1, data: new Uint8Array([1, 1, 1, 1]) };
  const half: Mask = { left: 2, top: 0, width: 2, height: 1, data: new Uint8Array([1, 1]) };
  assert.equal(maskIou(full, half), 0.5);
  assert.equal(
    matchedAgreement([det(0, 5, half)], [det(0, 5, full)], (a, b) => maskIou(a.mask!, b.mask!)),
    0.5,
  );
  assert.equal(
    matchedAgreement([det(50, 5)], [det(0, 5)], () => 1),
    0,
  ); // no overlap: unmatched
  assert.equal(
    matchedAgreement([], [], () => 1),
    1,
  );
  const map = (d: number[]) => ({ width: 2, height: 2, data: Uint8Array.from(d) });
  assert.equal(classMapIou(map([0, 0, 1, 1]), map([0, 0, 1, 1])), 1);
  assert.ok(Math.abs(classMapIou(map([0, 0, 0, 1]), map([0, 0, 1, 1])) - (2 / 3 + 1 / 2) / 2) < 1e-9);
  const img = (v: number) => ({
    width: 1,
    height: 1,
    channels: 1 as const,
    data: Uint8Array.of(v),
    range: '0..1' as const,
    luminance: false,
    scale: 1,
  });
  assert.equal(imageAgreement(img(10), img(10)), 1);
  assert.ok(Math.abs(imageAgreement(img(0), img(255))) < 1e-9);
});
