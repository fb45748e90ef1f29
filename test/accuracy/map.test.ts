import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  averagePrecision,
  boxIou,
  meanAveragePrecision,
  type PredictedBox,
  type TruthBox,
} from '../../src/accuracy/map.js';
import type { Box } from '../../src/vision/types.js';

const IOU = { iou: 0.5 };
const truth = (label: string, ...box: Box): TruthBox => ({ label, box });
const pred = (label: string, score: number, ...box: Box): PredictedBox => ({ label, score, box });

test('a perfect match scores 1', () => {
  const gt = [[truth('tv', 0, 0, 10, 10), truth('person', 20, 20, 40, 60)], [truth('tv', 5, 5, 15, 15)]];
  const p = [[pred('tv', 0.9, 0, 0, 10, 10), pred('person', 0.8, 20, 20, 40, 60)], [pred('tv', 0.7, 5, 5, 15, 15)]];
  const r = meanAveragePrecision(p, gt, IOU);
  assert.equal(r.map, 1);
  assert.deepEqual(
    r.classes.map((c) => [c.label, c.ap, c.truths, c.truePositives]),
    [
      ['person', 1, 1, 1],
      ['tv', 1, 2, 2],
    ],
  );
});

test('a missed box caps recall at 1/2: precision 1 on recall points 0..0.50 only, AP = 51/101', () => {
  const gt = [[truth('a', 0, 0, 10, 10), truth('a', 50, 50, 60, 60)]];
  const r = meanAveragePrecision([[pred('a', 0.9, 0, 0, 10, 10)]], gt, IOU);
  assert.ok(Math.abs(r.map - 51 / 101) < 1e-12, String(r.map));
});

test('a false positive ranked above the true one halves precision everywhere: AP = 0.5; ranked below, it costs nothing', () => {
  const gt = [[truth('a', 0, 0, 10, 10)]];
  const fp = pred('a', 0.9, 100, 100, 110, 110);
  const tp = pred('a', 0.8, 0, 0, 10, 10);
  assert.equal(meanAveragePrecision([[fp, tp]], gt, IOU).map, 0.5);
  const below = { ...fp, score: 0.7 };
  assert.equal(meanAveragePrecision([[below, tp]], gt, IOU).map, 1);
});

test('a duplicate of a matched box is a false positive (two truths, dup ranked second: recall 1/2 at precision 1/2 then 1 at 2/3)', () => {
  const gt = [[truth('a', 0, 0, 10, 10), truth('a', 50, 50, 60, 60)]];
  const p = [[pred('a', 0.9, 0, 0, 10, 10), pred('a', 0.8, 0, 0, 10, 10), pred('a', 0.7, 50, 50, 60, 60)]];
  // ranked: TP (r .5, p 1), FP (r .5, p .5), TP (r 1, p 2/3); envelope 1 up to recall .5, 2/3 after.
  const expected = (51 * 1 + 50 * (2 / 3)) / 101;
  assert.ok(Math.abs(meanAveragePrecision(p, gt, IOU).map - expected) < 1e-12);
});

test('the wrong class is a miss for the true class; the predicted class has no ground truth and is skipped', () => {
  const r = meanAveragePrecision([[pred('cat', 0.9, 0, 0, 10, 10)]], [[truth('dog', 0, 0, 10, 10)]], IOU);
  assert.equal(r.map, 0);
  assert.deepEqual(
    r.classes.map((c) => c.label),
    ['dog'],
  );
});

test('IoU exactly at the threshold matches (COCO: iou >= t), just below does not', () => {
  const gt = [[truth('a', 0, 0, 10, 10)]];
  assert.equal(boxIou([0, 0, 10, 5], [0, 0, 10, 10]), 0.5);
  assert.equal(meanAveragePrecision([[pred('a', 0.9, 0, 0, 10, 5)]], gt, IOU).map, 1);
  assert.equal(meanAveragePrecision([[pred('a', 0.9, 0, 0, 10, 5.1)]], gt, IOU).map, 1);
  assert.equal(meanAveragePrecision([[pred('a', 0.9, 0, 0, 10, 4.9)]], gt, IOU).map, 0);
});

test('a prediction takes the unmatched truth it overlaps most, so a later prediction can still match the other', () => {
  const gt = [[truth('a', 0, 0, 10, 10), truth('a', 4, 0, 14, 10)]];
  // First prediction overlaps the second truth more (IoU 0.82 vs 0.54): it must take that one.
  const p = [[pred('a', 0.9, 3, 0, 13, 10), pred('a', 0.8, 0, 0, 10, 10)]];
  assert.equal(meanAveragePrecision(p, gt, IOU).map, 1);
});

test('predictions match only truths of their own image', () => {
  const gt = [[truth('a', 0, 0, 10, 10)], []];
  const r = meanAveragePrecision([[], [pred('a', 0.9, 0, 0, 10, 10)]], gt, IOU);
  assert.equal(r.map, 0);
  assert.equal(r.classes[0]!.predictions, 1);
});

test('mAP is the mean over classes with ground truth', () => {
  const gt = [[truth('a', 0, 0, 10, 10), truth('b', 20, 20, 30, 30)]];
  assert.equal(meanAveragePrecision([[pred('a', 0.9, 0, 0, 10, 10)]], gt, IOU).map, 0.5);
});

test('empty sets: no truth and no predictions is 1, predictions without truth 0, truth without predictions 0', () => {
  assert.deepEqual(meanAveragePrecision([[], []], [[], []], IOU), { map: 1, classes: [] });
  assert.equal(meanAveragePrecision([[pred('a', 0.5, 0, 0, 1, 1)]], [[]], IOU).map, 0);
  assert.equal(meanAveragePrecision([[]], [[truth('a', 0, 0, 1, 1)]], IOU).map, 0);
  assert.equal(meanAveragePrecision([], [], IOU).map, 1);
});

test('averagePrecision samples the precision envelope at 101 recall points', () => {
  // 4 truths; ranked T F T T: recall .25 .25 .5 .75, precision 1 .5 .667 .75 → envelope 1 .75 .75 .75.
  const ap = averagePrecision([true, false, true, true], 4);
  assert.ok(Math.abs(ap - (26 * 1 + 50 * 0.75) / 101) < 1e-12, String(ap));
});

test('BAD CALL - lists of different lengths or an IoU outside (0, 1] are one-line errors', () => {
  assert.throws(
    () => meanAveragePrecision([[]], [], IOU),
    /one prediction list per image: 1 prediction lists for 0 images/,
  );
  assert.throws(() => meanAveragePrecision([], [], { iou: 0 }), /invalid iou 0/);
});
