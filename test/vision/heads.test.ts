import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toFloat16Bits } from '../../src/runtime/float16.js';
import { createRng } from '../../src/runtime/synthetic.js';
import { resolvePreprocessConfig, type PreprocessConfig } from '../../src/vision/config.js';
import { resolveDecodeOptions, decodeDefaultsFor } from '../../src/vision/decode-options.js';
import { planTransform, toTensor, type ImageTransform } from '../../src/vision/geometry.js';
import { blazefaceAnchors } from '../../src/vision/heads/blazeface.js';
import type { DecodeOptions, VisionHead } from '../../src/vision/heads/head.js';
import { HEADS } from '../../src/vision/heads/registry.js';
import { COCO80 } from '../../src/vision/labels.js';
import type { Box, Detection, HeadResult, ModelOutputs } from '../../src/vision/types.js';
import { assertBoxClose } from './helpers.js';

interface Truth {
  box: Box;
  cls: number;
  score: number;
}

// Boxes in ORIGINAL pixels of a 1280x720 image; the last one runs off the right edge.
const ORIGINAL = { width: 1280, height: 720 };
const TRUTH: Truth[] = [
  { box: [100, 120, 400, 500], cls: 0, score: 0.9 },
  { box: [700, 200, 900, 650], cls: 2, score: 0.85 },
  { box: [1000, 50, 1250, 300], cls: 1, score: 0.8 },
  { box: [380, 450, 600, 700], cls: 0, score: 0.7 },
];

function transformFor(head: VisionHead, size?: Partial<PreprocessConfig>): ImageTransform {
  return planTransform(ORIGINAL.width, ORIGINAL.height, resolvePreprocessConfig(head.defaults, size));
}

function options(head: VisionHead, extra: Partial<DecodeOptions> = {}): DecodeOptions {
  return resolveDecodeOptions(decodeDefaultsFor(head), extra);
}

/** Each truth box in tensor pixels, plus two near-duplicates with lower scores that NMS must remove. */
function withDuplicates(t: ImageTransform): Array<{ box: Box; cls: number; score: number }> {
  const out: Array<{ box: Box; cls: number; score: number }> = [];
  for (const truth of TRUTH) {
    const b = toTensor(t, truth.box);
    out.push({ box: b, cls: truth.cls, score: truth.score });
    out.push({ box: [b[0] + 2, b[1] - 1, b[2] + 1, b[3] + 2], cls: truth.cls, score: truth.score - 0.2 });
    out.push({ box: [b[0] - 1, b[1] + 2, b[2] - 2, b[3] + 1], cls: truth.cls, score: truth.score - 0.3 });
  }
  return out;
}

function checkDetections(
  result: HeadResult,
  labels: readonly string[] | undefined,
  scoreOf: (t: Truth) => number = (t) => t.score,
  tolerance = 0.05,
): Detection[] {
  assert.equal(result.task, 'detect');
  if (result.task !== 'detect') return [];
  const dets = result.detections;
  assert.equal(dets.length, TRUTH.length, `detections: ${JSON.stringify(dets)}`);
  const sorted = [...TRUTH].sort((a, b) => scoreOf(b) - scoreOf(a));
  sorted.forEach((truth, i) => {
    const d = dets[i]!;
    const clipped: Box = [
      truth.box[0],
      truth.box[1],
      Math.min(truth.box[2], ORIGINAL.width),
      Math.min(truth.box[3], ORIGINAL.height),
    ];
    assertBoxClose(d.box, clipped, tolerance, `detection ${i}`);
    assert.equal(d.classId, truth.cls);
    assert.ok(Math.abs(d.score - scoreOf(truth)) < 1e-4, `score ${d.score} vs ${scoreOf(truth)}`);
    if (labels !== undefined) assert.equal(d.label, labels[truth.cls]);
  });
  return dets;
}

test('yolo: channel-major [B,4+C,N] boxes come back in original pixels after NMS and un-letterboxing, per batch item', () => {
  const head = HEADS.yolo;
  const t = transformFor(head, { width: 320, height: 320 });
  const nc = 3;
  const n = 2100;
  const rng = createRng(1);
  const data = new Float32Array(2 * (4 + nc) * n);
  // Item 0: noise below the threshold everywhere, the candidates at scattered columns. Item 1 stays empty.
  for (let i = 0; i < (4 + nc) * n; i++) data[i] = i < 4 * n ? rng() * 320 : rng() * 0.2;
  withDuplicates(t).forEach((c, k) => {
    const col = 37 + k * 97;
    const [x1, y1, x2, y2] = c.box;
    [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1].forEach((v, r) => (data[r * n + col] = v));
    for (let cls = 0; cls < nc; cls++) data[(4 + cls) * n + col] = cls === c.cls ? c.score : 0.05;
  });
  const outputs: ModelOutputs = { output0: { dims: [2, 4 + nc, n], data, type: 'float32' } };
  const labels = ['person', 'bicycle', 'car'];
  checkDetections(head.decode(outputs, t, options(head, { labels })), labels);
  const empty = head.decode(outputs, t, options(head, { batchIndex: 1 }));
  assert.equal(empty.task === 'detect' && empty.detections.length, 0);
  // Only class 2 wanted.
  const only = head.decode(outputs, t, options(head, { classes: [2] }));
  assert.deepEqual(only.task === 'detect' && only.detections.map((d) => d.classId), [2]);
});

test('yolov5: row-major [B,N,5+C] with objectness: score = obj · cls', () => {
  const head = HEADS.yolov5;
  const t = transformFor(head, { width: 320, height: 320 });
  const nc = 3;
  const w = 5 + nc;
  const n = 6300;
  const data = new Float32Array(n * w);
  const rng = createRng(2);
  for (let i = 0; i < n; i++) {
    data.set([rng() * 320, rng() * 320, 10, 10, rng() * 0.2, 0.9, 0.1, 0.1], i * w);
  }
  withDuplicates(t).forEach((c, k) => {
    const r = (11 + k * 301) * w;
    const [x1, y1, x2, y2] = c.box;
    data.set([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.95], r);
    for (let cls = 0; cls < nc; cls++) data[r + 5 + cls] = cls === c.cls ? c.score : 0.02;
  });
  checkDetections(
    head.decode({ output0: { dims: [1, n, w], data } }, t, options(head)),
    undefined,
    (x) => 0.95 * x.score,
  );
});

test('yolox: grid-relative offsets and log sizes over strides 8/16/32 decode to the original boxes, with COCO labels', () => {
  const head = HEADS.yolox;
  const t = transformFor(head, { width: 416, height: 416 });
  // Top-left letterbox: 1280x720 → 416x234 at the origin.
  assert.deepEqual([t.padX, t.padY, t.resized.height], [0, 0, 234]);
  const w = 85;
  const starts = { 8: 0, 16: 52 * 52, 32: 52 * 52 + 26 * 26 } as const;
  const n = 3549;
  const data = new Float32Array(n * w);
  const used = new Set<number>();
  withDuplicates(t).forEach((c, k) => {
    const stride = ([8, 16, 32] as const)[k % 3]!;
    const g = 416 / stride;
    const [x1, y1, x2, y2] = c.box;
    const cx = (x1 + x2) / 2;
    const cy = (y1 + y2) / 2;
    const gx = Math.min(g - 1, Math.floor(cx / stride));
    const gy = Math.min(g - 1, Math.floor(cy / stride));
    const row = starts[stride] + gy * g + gx;
    assert.ok(!used.has(row), 'test boxes land in distinct cells');
    used.add(row);
    data.set(
      [cx / stride - gx, cy / stride - gy, Math.log((x2 - x1) / stride), Math.log((y2 - y1) / stride), 1],
      row * w,
    );
    data[row * w + 5 + c.cls] = c.score;
  });
  checkDetections(head.decode({ output: { dims: [1, n, w], data } }, t, options(head)), COCO80);
  assert.throws(
    () => head.decode({ output: { dims: [1, 3000, w], data: data.subarray(0, 3000 * w) } }, t, options(head)),
    /RTI_ERR|grid cells/,
  );
});

test('end2end: [B,K,6] rows are taken as they are (no NMS), zero padding rows dropped', () => {
  const head = HEADS.end2end;
  const t = transformFor(head);
  const data = new Float32Array(300 * 6);
  TRUTH.forEach((c, k) => data.set([...toTensor(t, c.box), c.score, c.cls], k * 6));
  const labels = ['a', 'b', 'c'];
  checkDetections(head.decode({ output0: { dims: [1, 300, 6], data } }, t, options(head, { labels })), labels);
  // The same output as float16 (bits in a Uint16Array, as onnxruntime-node returns it).
  const half = Uint16Array.from(data, (v) => toFloat16Bits(v));
  const r = head.decode({ output0: { dims: [1, 300, 6], data: half, type: 'float16' } }, t, options(head, { labels }));
  assert.equal(r.task === 'detect' && r.detections.length, TRUTH.length);
  if (r.task === 'detect')
    r.detections.forEach((d, i) =>
      assert.ok(Math.abs(d.box[0] - TRUTH[i]!.box[0]) < 2 && d.label === labels[TRUTH[i]!.cls]),
    );
});

test('ssd: softmaxed scores with background and normalised corner boxes (UltraFace layout)', () => {
  const head = HEADS.ssd;
  const t = transformFor(head);
  assert.deepEqual(t.input, { width: 320, height: 240 });
  const n = 4420;
  const nc = 4;
  const scores = new Float32Array(n * nc);
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) scores.set([0.97, 0.01, 0.01, 0.01], i * nc);
  withDuplicates(t).forEach((c, k) => {
    const i = 5 + k * 211;
    const [x1, y1, x2, y2] = c.box;
    // Boxes past the input edge are clipped to 0..1 first, as UltraFace does.
    boxes.set([x1 / 320, y1 / 240, Math.min(x2 / 320, 1.02), y2 / 240], i * 4);
    const row = [0, 0, 0, 0];
    row[c.cls + 1] = c.score;
    row[0] = 1 - c.score;
    scores.set(row, i * nc);
  });
  // Outputs named as UltraFace names them; the head tells them apart by shape.
  const out = { scores: { dims: [1, n, nc], data: scores }, boxes: { dims: [1, n, 4], data: boxes } };
  const dets = head.decode(out, t, options(head, { scoreThreshold: 0.6 }));
  // Classes come back 1-based (0 is background): compare against the truth shifted by one.
  assert.equal(dets.task, 'detect');
  if (dets.task !== 'detect') return;
  checkDetections(
    { task: 'detect', detections: dets.detections.map((d) => ({ ...d, classId: d.classId - 1 })) },
    undefined,
  );
});

test('blazeface: anchor-relative regressors and logits decode to the boxes', () => {
  const head = HEADS.blazeface;
  const t = transformFor(head);
  const anchors = blazefaceAnchors();
  assert.equal(anchors.length, 896 * 2);
  assert.deepEqual([anchors[0], anchors[1], anchors[2 * 512], anchors[2 * 512 + 1]], [1 / 32, 1 / 32, 1 / 16, 1 / 16]);
  const reg = new Float32Array(896 * 16);
  const logits = new Float32Array(896).fill(-8);
  withDuplicates(t).forEach((c, k) => {
    const i = 3 + k * 70;
    const [x1, y1, x2, y2] = c.box;
    reg.set(
      [
        ((x1 + x2) / 2 / 128 - anchors[2 * i]!) * 128,
        ((y1 + y2) / 2 / 128 - anchors[2 * i + 1]!) * 128,
        x2 - x1,
        y2 - y1,
      ],
      i * 16,
    );
    logits[i] = Math.log(c.score / (1 - c.score));
  });
  const res = head.decode(
    { output: { dims: [1, 896, 16], data: reg }, '519': { dims: [1, 896, 1], data: logits } },
    t,
    options(head, { scoreThreshold: 0.5, agnostic: false }),
  );
  assert.equal(res.task, 'detect');
  if (res.task !== 'detect') return;
  // One class only: all boxes are 'face' with class 0, so compare geometry and scores.
  assert.equal(res.detections.length, TRUTH.length);
  const sorted = [...TRUTH].sort((a, b) => b.score - a.score);
  res.detections.forEach((d, i) => {
    assertBoxClose(
      d.box,
      [sorted[i]!.box[0], sorted[i]!.box[1], Math.min(sorted[i]!.box[2], 1280), Math.min(sorted[i]!.box[3], 720)],
      0.05,
    );
    assert.ok(Math.abs(d.score - sorted[i]!.score) < 1e-5);
    assert.equal(d.label, 'face');
  });
});

test('classify: logits get a softmax, distributions are kept, top-k is ordered with labels', () => {
  const head = HEADS.classify;
  const t = transformFor(head);
  const logits = new Float32Array([1, 3, 0.5, 2, -1]);
  const r = head.decode(
    { logits: { dims: [1, 5], data: logits } },
    t,
    options(head, { k: 3, labels: ['a', 'b', 'c', 'd', 'e'] }),
  );
  assert.equal(r.task, 'classify');
  if (r.task !== 'classify') return;
  const z = [...logits].reduce((s, v) => s + Math.exp(v), 0);
  assert.deepEqual(
    r.classes.map((c) => [c.index, c.label]),
    [
      [1, 'b'],
      [3, 'd'],
      [0, 'a'],
    ],
  );
  assert.ok(Math.abs(r.classes[0]!.score - Math.exp(3) / z) < 1e-6);
  const probs = new Float32Array([0.1, 0.6, 0.3]);
  const p = head.decode({ probs: { dims: [1, 3, 1, 1], data: probs } }, t, options(head, { k: 5 }));
  assert.deepEqual(p.task === 'classify' && p.classes.map((c) => [c.index, c.label, Math.round(c.score * 10)]), [
    [1, 'class 1', 6],
    [2, 'class 2', 3],
    [0, 'class 0', 1],
  ]);
});

function textMap(w: number, h: number, paint: (x: number, y: number) => number): Float32Array {
  const m = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = paint(x, y);
  return m;
}

test('text: regions of the probability map become unclipped boxes in original pixels; weak and tiny regions are dropped', () => {
  const head = HEADS.text;
  // 1280x720 limited to 960 on the long side: 960x540 → rounded to multiples of 32: 960x544.
  const t = transformFor(head);
  assert.deepEqual(t.input, { width: 960, height: 544 });
  const map = textMap(960, 544, (x, y) => {
    if (x >= 100 && x <= 399 && y >= 50 && y <= 89) return 0.9; // a text line
    if (x >= 500 && x <= 700 && y >= 300 && y <= 340) return 0.45; // above 0.3 but mean below 0.6
    if (x >= 800 && x <= 801 && y >= 400 && y <= 401) return 0.99; // 2x2 speck
    if (x >= 120 && x <= 300 && y >= 200 && y <= 239) return 0.8; // second line
    return 0.01;
  });
  const r = head.decode({ sigmoid_0: { dims: [1, 1, 544, 960], data: map } }, t, options(head));
  assert.equal(r.task, 'text');
  if (r.task !== 'text') return;
  assert.equal(r.texts.length, 2);
  const expect = (x1: number, y1: number, x2: number, y2: number): Box => {
    const w = x2 - x1;
    const h = y2 - y1;
    const d = (w * h * 1.5) / (2 * (w + h));
    return [(x1 - d) / t.scaleX, (y1 - d) / t.scaleY, (x2 + d) / t.scaleX, (y2 + d) / t.scaleY];
  };
  assertBoxClose(r.texts[0]!.box, expect(100, 50, 399, 89), 1e-6, 'first line');
  assertBoxClose(r.texts[1]!.box, expect(120, 200, 300, 239), 1e-6, 'second line');
  assert.ok(Math.abs(r.texts[0]!.score - 0.9) < 1e-6);
});

test('text with rotated: true gives the minimum-area rectangle and its angle', () => {
  const head = HEADS.text;
  const t = planTransform(640, 320, resolvePreprocessConfig(head.defaults));
  const angle = (20 * Math.PI) / 180;
  const [cx, cy, hw, hh] = [320, 160, 120, 20];
  const map = textMap(640, 320, (x, y) => {
    const u = (x - cx) * Math.cos(angle) + (y - cy) * Math.sin(angle);
    const v = -(x - cx) * Math.sin(angle) + (y - cy) * Math.cos(angle);
    return Math.abs(u) <= hw && Math.abs(v) <= hh ? 0.95 : 0;
  });
  const r = head.decode(
    { out: { dims: [1, 1, 320, 640], data: map } },
    t,
    options(head, { rotated: true, unclipRatio: 0 }),
  );
  assert.equal(r.task, 'text');
  if (r.task !== 'text') return;
  assert.equal(r.texts.length, 1);
  const box = r.texts[0]!;
  assert.ok(Math.abs(box.angle! - 20) < 1.5, `angle ${box.angle}`);
  const poly = box.polygon!;
  const side = (a: number, b: number): number => Math.hypot(poly[a]![0] - poly[b]![0], poly[a]![1] - poly[b]![1]);
  assert.ok(
    Math.abs(side(0, 1) - 2 * hw) < 3 && Math.abs(side(1, 2) - 2 * hh) < 3,
    `sides ${side(0, 1)} x ${side(1, 2)}`,
  );
  // Clockwise from the top-left: the first corner is the upper-left one.
  assert.ok(poly[0]![0] < poly[1]![0] && poly[0]![1] < poly[3]![1]);
});
