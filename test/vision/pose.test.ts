import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawDetections, overlaySvg } from '../../src/vision/draw.js';
import { openVisionModel } from '../../src/vision/open-model.js';
import { sharedModel } from '../helpers/models.js';
import { assertBoxClose } from './helpers.js';
import { blankFrame, constantModel, levelValues, openConstant } from './constant-model.js';

const POSE_META = { author: 'Ultralytics', task: 'pose', names: "{0: 'face'}", kpt_shape: '[2, 3]', imgsz: '[64, 64]' };

/** One-hot-like DFL bins: logit 20 at bin `d` makes the expectation d (within 1e-6). */
function setSide(set: (c: number, pos: number, v: number) => void, side: number, pos: number, d: number): void {
  set(side * 16 + d, pos, 20);
}

/** Raw YOLOv8 pose levels at strides 8 and 16 for a 64×64 input: C = 64 + 1 class + 2 keypoints × 3. */
function rawPoseModel(meta: Record<string, string>): Uint8Array {
  const C = 64 + 1 + 6;
  const l0 = levelValues(C, 64, 0, 'chw');
  for (let p = 0; p < 64; p++) l0.set(64, p, -10);
  const p0 = 2 * 8 + 3; // row 2, col 3
  l0.set(64, p0, 2);
  [1, 2, 3, 1].forEach((d, side) => setSide(l0.set, side, p0, d));
  l0.set(65, p0, 0.25); // keypoint 0 x: (0.25·2 + 3)·8 = 28
  l0.set(66, p0, -0.5); // y: (−0.5·2 + 2)·8 = 8
  l0.set(67, p0, 3); // visibility logit
  l0.set(70, p0, -3); // keypoint 1 visibility logit (x = y = 0 → (0 + 3)·8, (0 + 2)·8)
  const l1 = levelValues(C, 16, 0, 'chw');
  for (let p = 0; p < 16; p++) l1.set(64, p, -10);
  const p1 = 1 * 4 + 1;
  l1.set(64, p1, 1);
  [2, 2, 2, 2].forEach((d, side) => setSide(l1.set, side, p1, d));
  return constantModel(
    { name: 'images', shape: [1, 3, 64, 64] },
    [
      { name: 'output0', dims: [1, C, 8, 8], values: l0.values },
      { name: '884', dims: [1, C, 4, 4], values: l1.values },
    ],
    meta,
  );
}

test('pose, raw per-stride outputs with the DFL outside the graph: boxes and keypoints decode exactly, no flags', async () => {
  const { pipeline, close } = await openConstant(rawPoseModel(POSE_META), POSE_META);
  try {
    assert.equal(pipeline.head.name, 'pose');
    assert.match(pipeline.headReason, /metadata task=pose, kpt_shape \[2, 3\]/);
    const r = await pipeline.predict(blankFrame(64, 64));
    assert.equal(r.task, 'detect');
    if (r.task !== 'detect') return;
    assert.equal(r.detections.length, 2, JSON.stringify(r.detections));
    const [a, b] = r.detections;
    assert.equal(a!.label, 'face');
    assert.ok(Math.abs(a!.score - 1 / (1 + Math.exp(-2))) < 1e-6);
    assertBoxClose(a!.box, [20, 4, 52, 28], 1e-3);
    assert.equal(a!.keypoints?.length, 2);
    assert.ok(
      Math.abs(a!.keypoints![0]!.x - 28) < 1e-4 && Math.abs(a!.keypoints![0]!.y - 8) < 1e-4,
      JSON.stringify(a!.keypoints),
    );
    assert.ok(Math.abs(a!.keypoints![0]!.score! - 1 / (1 + Math.exp(-3))) < 1e-6);
    assert.ok(Math.abs(a!.keypoints![1]!.x - 24) < 1e-4 && Math.abs(a!.keypoints![1]!.y - 16) < 1e-4);
    assert.ok(a!.keypoints![1]!.score! < 0.1);
    // Level 1 (stride 16): cell (1, 1), every side 2 cells: [−8, −8, 56, 56] clipped to the image.
    assertBoxClose(b!.box, [0, 0, 56, 56], 1e-3);
    assert.ok(Math.abs(b!.score - 1 / (1 + Math.exp(-1))) < 1e-6);
    // A higher threshold keeps only the first.
    const strict = await pipeline.predict(blankFrame(64, 64), { scoreThreshold: 0.8 });
    assert.equal(strict.task === 'detect' ? strict.detections.length : -1, 1);
  } finally {
    await close();
  }
});

test('without kpt_shape the same outputs are a plain YOLOv8 raw detector (yolov8-raw), classes from the channels', async () => {
  const meta = {};
  const bytes = rawPoseModel(meta);
  const { pipeline, close } = await openConstant(bytes, meta);
  try {
    assert.equal(pipeline.head.name, 'yolov8-raw');
    const r = await pipeline.predict(blankFrame(64, 64), { scoreThreshold: 0.5 });
    // 7 classes (1 + the 6 keypoint channels read as classes): the best per cell wins.
    assert.ok(r.task === 'detect' && r.detections.length >= 1);
    assert.equal(r.task === 'detect' ? r.detections[0]!.keypoints : 'x', undefined);
  } finally {
    await close();
  }
});

test('pose, decoded export [B, 4+C+K·3, N]: keypoints in input pixels, visibility as given', async () => {
  const rows = 4 + 1 + 6;
  const n = 20;
  const v = levelValues(rows, n, 0, 'chw');
  // Candidate at column 7: centre (32, 16), 20×10, score 0.9, keypoints (30, 14, 0.95) and (34, 18, 0.2).
  [32, 16, 20, 10, 0.9, 30, 14, 0.95, 34, 18, 0.2].forEach((x, r) => v.set(r, 7, x));
  // A near duplicate NMS removes.
  [33, 16, 20, 10, 0.6, 0, 0, 0, 0, 0, 0].forEach((x, r) => v.set(r, 8, x));
  const bytes = constantModel(
    { name: 'images', shape: [1, 3, 64, 64] },
    [{ name: 'output0', dims: [1, rows, n], values: v.values }],
    POSE_META,
  );
  const { pipeline, close } = await openConstant(bytes, POSE_META);
  try {
    assert.equal(pipeline.head.name, 'pose');
    // A 128×64 image letterboxed into 64×64 at scale 0.5, padded 16 rows at the top.
    const r = await pipeline.predict(blankFrame(128, 64));
    assert.ok(r.task === 'detect');
    if (r.task !== 'detect') return;
    assert.equal(r.detections.length, 1);
    const d = r.detections[0]!;
    assertBoxClose(d.box, [44, 0, 84, 10], 1e-3);
    assert.deepEqual(
      d.keypoints?.map((k) => [k.x, k.y, Math.round(k.score! * 100) / 100]),
      [
        [60, -4, 0.95],
        [68, 4, 0.2],
      ],
    );
    // Drawn: the visible keypoint only.
    const svg = overlaySvg(128, 64, r.detections);
    assert.equal(svg.match(/<circle/g)?.length, 1);
  } finally {
    await close();
  }
});

test('the real yolov8-lite-t face pose model finds faces with five landmarks in place on both sample images, no flags', async (t) => {
  const path = sharedModel(t, 'yolov8-lite-t.onnx');
  if (path === undefined) return;
  const model = await openVisionModel(path);
  try {
    assert.equal(model.head.name, 'pose');
    for (const image of ['faces-lm1.jpg', 'faces-lm2.jpg']) {
      const r = await model.predict(path.replace('yolov8-lite-t.onnx', image));
      assert.ok(r.task === 'detect');
      if (r.task !== 'detect') return;
      assert.ok(r.detections.length >= 1, `${image}: no face`);
      const face = r.detections[0]!;
      assert.ok(face.score > 0.6, `${image}: score ${face.score}`);
      assert.equal(face.keypoints?.length, 5);
      const [eyeA, eyeB, nose, mouthA, mouthB] = face.keypoints!;
      const [x1, y1, x2, y2] = face.box;
      for (const k of face.keypoints!)
        assert.ok(
          k.x > x1 && k.x < x2 && k.y > y1 && k.y < y2 && k.score! > 0.5,
          `${image}: keypoint ${JSON.stringify(k)} outside ${face.box}`,
        );
      // Eyes above the nose above the mouth; left-right order kept.
      assert.ok(
        Math.max(eyeA!.y, eyeB!.y) < nose!.y && nose!.y < Math.min(mouthA!.y, mouthB!.y),
        `${image}: ${JSON.stringify(face.keypoints)}`,
      );
      assert.ok(eyeA!.x < eyeB!.x && mouthA!.x < mouthB!.x);
      const png = await drawDetections(path.replace('yolov8-lite-t.onnx', image), r.detections, { format: 'png' });
      assert.ok(png.length > 1000);
    }
  } finally {
    await model.close();
  }
});
