/** Accuracy agreement for the heads of issue #14: OKS for keypoints on the real face pose model. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureAccuracy } from '../../src/accuracy/accuracy.js';
import { sharedModel, SHARED_MODELS } from '../helpers/models.js';

test('a pose model against itself agrees by OKS (1), with the box agreement in the note', async (t) => {
  const model = sharedModel(t, 'yolov8-lite-t.onnx');
  if (model === undefined) return;
  const r = await measureAccuracy({
    model,
    reference: model,
    images: [`${SHARED_MODELS}faces-lm1.jpg`, `${SHARED_MODELS}faces-lm2.jpg`],
  });
  assert.equal(r.metric, 'oks-agreement');
  assert.equal(r.images, 2);
  assert.ok(Math.abs(r.score - 1) < 1e-9, `score ${r.score}`);
  assert.match(r.note ?? '', /boxes: mAP@0.5 agreement 1\.000/);
});
