/** Accuracy agreement for the heads of issue #14: OKS on the real face pose model, read text on PP-OCRv4 rec. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { measureAccuracy } from '../../src/accuracy/accuracy.js';
import { textAgreement } from '../../src/accuracy/agreement.js';
import { OCR_REC, sharedModel, SHARED_MODELS } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-accuracy-heads-'));
after(() => rmSync(dir, { recursive: true, force: true }));

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

test('read-text agreement is 1 − edit distance / the longer reading, "[index]" tokens counting as one', () => {
  assert.equal(textAgreement('rtinfer', 'rtinfer'), 1);
  assert.equal(textAgreement('', ''), 1);
  assert.equal(textAgreement('rtinfer', ''), 0);
  assert.equal(textAgreement('rtinfe', 'rtinfer'), 1 - 1 / 7);
  assert.equal(textAgreement('kitten', 'sitting'), 1 - 3 / 7);
  assert.equal(textAgreement('[12][7]', '[12][8]'), 0.5);
});

test('a text-line recogniser against itself agrees on the text it reads (1)', async () => {
  const images: string[] = [];
  for (const [i, words] of ['rtinfer 2026', 'REAL TIME'].entries()) {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="360" height="64"><rect width="100%" height="100%" fill="white"/>' +
      `<text x="10" y="46" font-family="DejaVu Sans, sans-serif" font-size="40">${words}</text></svg>`;
    images.push(path.join(dir, `line${i}.png`));
    await sharp(Buffer.from(svg)).png().toFile(images[i]!);
  }
  const r = await measureAccuracy({ model: OCR_REC, reference: OCR_REC, images });
  assert.equal(r.metric, 'text-agreement');
  assert.deepEqual([r.score, r.images], [1, 2]);
});
