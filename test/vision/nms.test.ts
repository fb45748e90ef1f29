import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng, type Rng } from '../../src/runtime/synthetic.js';
import { iouAt, nms, sortByScore, type NmsOptions } from '../../src/vision/nms.js';

interface Cand {
  box: [number, number, number, number];
  score: number;
  cls: number;
  index: number;
}

/** The textbook greedy NMS on an array of objects: sort, then keep whatever no kept box overlaps. */
function naiveNms(cands: Cand[], o: NmsOptions): number[] {
  const iou = (a: Cand, b: Cand): number => {
    const w = Math.min(a.box[2], b.box[2]) - Math.max(a.box[0], b.box[0]);
    const h = Math.min(a.box[3], b.box[3]) - Math.max(a.box[1], b.box[1]);
    if (w <= 0 || h <= 0) return 0;
    const area = (c: Cand): number => (c.box[2] - c.box[0]) * (c.box[3] - c.box[1]);
    return (w * h) / (area(a) + area(b) - w * h);
  };
  let sorted = cands
    .filter((c) => c.score >= (o.scoreThreshold ?? -Infinity))
    .sort((a, b) => b.score - a.score || a.index - b.index);
  if (o.topK !== undefined) sorted = sorted.slice(0, o.topK);
  const kept: Cand[] = [];
  for (const c of sorted) {
    if (kept.length >= (o.maxDetections ?? Infinity)) break;
    if (kept.some((k) => (o.agnostic || k.cls === c.cls) && iou(k, c) > o.iouThreshold)) continue;
    kept.push(c);
  }
  return kept.map((k) => k.index);
}

/** Clusters of overlapping boxes (as detectors produce) plus scattered ones, in float32 precision. */
function randomCandidates(rng: Rng, n: number, classes: number): Cand[] {
  const out: Cand[] = [];
  const centres = Array.from({ length: 12 }, () => [rng() * 600, rng() * 600, 20 + rng() * 150, 20 + rng() * 150]);
  for (let i = 0; i < n; i++) {
    const [cx, cy, w, h] =
      rng() < 0.8
        ? centres[Math.floor(rng() * centres.length)]!
        : [rng() * 600, rng() * 600, 10 + rng() * 100, 10 + rng() * 100];
    const j = (): number => (rng() - 0.5) * 0.3;
    const x1 = Math.fround(cx! - (w! / 2) * (1 + j()));
    const y1 = Math.fround(cy! - (h! / 2) * (1 + j()));
    const box: Cand['box'] = [x1, y1, Math.fround(x1 + w! * (1 + j())), Math.fround(y1 + h! * (1 + j()))];
    out.push({ box, score: Math.fround(rng()), cls: Math.floor(rng() * classes), index: i });
  }
  return out;
}

function arrays(cands: Cand[]): { boxes: Float32Array; scores: Float32Array; classes: Int32Array; count: number } {
  const boxes = new Float32Array(cands.length * 4);
  cands.forEach((c, i) => boxes.set(c.box, i * 4));
  return {
    boxes,
    scores: Float32Array.from(cands.map((c) => c.score)),
    classes: Int32Array.from(cands.map((c) => c.cls)),
    count: cands.length,
  };
}

test('NMS keeps exactly what a naive reference keeps on random clustered boxes (class-aware and agnostic)', () => {
  const rng = createRng(42);
  let total = 0;
  for (let trial = 0; trial < 40; trial++) {
    const cands = randomCandidates(rng, 50 + Math.floor(rng() * 400), 1 + Math.floor(rng() * 4));
    for (const options of [
      { iouThreshold: 0.5 },
      { iouThreshold: 0.45, scoreThreshold: 0.3, agnostic: true },
      { iouThreshold: 0.7, scoreThreshold: 0.1, maxDetections: 7 },
      { iouThreshold: 0.3, topK: 25 },
    ] satisfies NmsOptions[]) {
      const got = [...nms(arrays(cands), options)];
      const want = naiveNms(cands, options);
      assert.deepEqual(got, want, `trial ${trial} ${JSON.stringify(options)}`);
      total += want.length;
    }
  }
  assert.ok(total > 500, 'the trials kept enough boxes to mean something');
});

test('boxes of different classes do not suppress each other unless agnostic', () => {
  const c = {
    boxes: new Float32Array([0, 0, 10, 10, 0, 0, 10, 10, 1, 1, 11, 11]),
    scores: new Float32Array([0.9, 0.8, 0.7]),
    classes: new Int32Array([0, 1, 0]),
    count: 3,
  };
  assert.deepEqual([...nms(c, { iouThreshold: 0.5 })], [0, 1]);
  assert.deepEqual([...nms(c, { iouThreshold: 0.5, agnostic: true })], [0]);
  assert.deepEqual([...nms({ ...c, classes: null }, { iouThreshold: 0.5 })], [0]);
  assert.deepEqual([...nms(c, { iouThreshold: 0.99 })], [0, 1, 2]);
});

test('ordering by score is stable for ties, handles negative scores and respects the count', () => {
  const scores = new Float32Array([0.5, -1, 0.5, 2, 0, 9]);
  assert.deepEqual([...sortByScore(scores, 5)], [3, 0, 2, 4, 1]);
  assert.deepEqual([...sortByScore(scores, 5, 0.5)], [3, 0, 2]);
  const boxes = new Float32Array([0, 0, 2, 2, 1, 1, 3, 3]);
  assert.equal(iouAt(boxes, 0, 1), 1 / 7);
  assert.equal(nms({ boxes, scores: new Float32Array(2), classes: null, count: 0 }, { iouThreshold: 0.5 }).length, 0);
});
