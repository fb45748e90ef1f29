/**
 * Real models on real images, through onnxruntime-node sessions: the detectors in
 * ../shared/models (skipped, visibly, where that folder is absent) and the PP-OCR detector that
 * the npm dependency ships.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import sharp from 'sharp';
import { drawDetections } from '../../src/vision/draw.js';
import { openVisionModel } from '../../src/vision/open-model.js';
import type { Box, Detection, TextBox } from '../../src/vision/types.js';
import { OCR_DET, SHARED_MODELS, sharedModel } from '../helpers/models.js';
import { iou } from './helpers.js';

const SETTINGS = { intraOpThreads: 2 };

function detections(r: { task: string; detections?: Detection[] }): Detection[] {
  assert.equal(r.task, 'detect');
  return r.detections ?? [];
}

test('yolox_nano on coco139.jpg finds the tv (about 0.90) and a person, with no flags', async (t) => {
  const model = sharedModel(t, 'yolox_nano.onnx');
  if (!model) return;
  const p = await openVisionModel(model, { session: SETTINGS });
  t.after(() => p.close());
  assert.equal(p.head.name, 'yolox');
  assert.deepEqual(
    [p.config.channelOrder, p.config.rescale, p.config.anchor, p.config.padValue, p.config.width],
    ['bgr', 1, 'top-left', 114, 416],
  );
  const r = await p.predict(`${SHARED_MODELS}coco139.jpg`);
  const dets = detections(r);
  const tv = dets.find((d) => d.label === 'tv');
  assert.ok(tv !== undefined && Math.abs(tv.score - 0.9) < 0.03, `tv: ${JSON.stringify(tv)}`);
  // The tv on the left wall, in original 640x426 pixels.
  assert.ok(iou(tv.box, [7, 166, 155, 263]) > 0.9, `tv box ${tv.box.map(Math.round)}`);
  const person = dets.find((d) => d.label === 'person');
  assert.ok(person !== undefined && person.score > 0.6, `person: ${JSON.stringify(person)}`);
  assert.ok(dets.some((d) => d.label === 'clock') && dets.some((d) => d.label === 'chair'));
  assert.ok(dets.every((d) => d.box[0] >= 0 && d.box[2] <= 640 && d.box[3] <= 426));
  assert.ok(r.speedMs.inference > 0 && r.speedMs.decode > 0);
  // The annotated image is a JPEG of the same size with the tv box drawn in red-ish on its edge.
  const drawn = await drawDetections(`${SHARED_MODELS}coco139.jpg`, dets);
  const meta = await sharp(drawn).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 640, 426]);
});

test('version-RFB-320 on faces1.jpg finds faces with scores above 0.9', async (t) => {
  const model = sharedModel(t, 'version-RFB-320.onnx');
  if (!model) return;
  const p = await openVisionModel(model, { session: SETTINGS });
  t.after(() => p.close());
  assert.equal(p.head.name, 'ssd');
  assert.deepEqual(
    [p.config.width, p.config.height, p.config.resize, p.config.mean[0], p.config.std[0]],
    [320, 240, 'stretch', 127, 128],
  );
  const dets = detections(await p.predict(`${SHARED_MODELS}faces1.jpg`));
  const sure = dets.filter((d) => d.score > 0.9);
  assert.ok(sure.length >= 10, `${sure.length} faces above 0.9`);
  assert.ok(dets.every((d) => d.label === 'face' && d.box[2] - d.box[0] > 5 && d.box[2] - d.box[0] < 100));
});

test('blazeface_front_128 on 1face.png finds one face', async (t) => {
  const model = sharedModel(t, 'blazeface_front_128.onnx');
  if (!model) return;
  const p = await openVisionModel(model, { session: SETTINGS });
  t.after(() => p.close());
  assert.equal(p.head.name, 'blazeface');
  const dets = detections(await p.predict(readFileSync(`${SHARED_MODELS}1face.png`)));
  assert.equal(dets.length, 1);
  assert.ok(dets[0]!.score > 0.95);
});

/** Black text on white, and the bounding box of each line's ink, measured from the pixels. */
async function renderedText(): Promise<{ png: Buffer; lines: Box[] }> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="520" height="220"><rect width="100%" height="100%" fill="white"/>
    <text x="30" y="70" font-family="DejaVu Sans, sans-serif" font-size="40" fill="black">Hello rtinfer</text>
    <text x="80" y="170" font-family="DejaVu Sans, sans-serif" font-size="30" fill="black">fast inference 2025</text></svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  const lines: Box[] = [];
  for (const [y0, y1] of [
    [0, 110],
    [110, 220],
  ] as const) {
    let box: Box = [Infinity, Infinity, -Infinity, -Infinity];
    for (let y = y0; y < y1; y++) {
      for (let x = 0; x < info.width; x++) {
        if (data[y * info.width + x]! < 128)
          box = [Math.min(box[0], x), Math.min(box[1], y), Math.max(box[2], x + 1), Math.max(box[3], y + 1)];
      }
    }
    lines.push(box);
  }
  return { png, lines };
}

function covers(outer: Readonly<Box>, inner: Readonly<Box>, slack: number): boolean {
  return (
    outer[0] <= inner[0] + slack &&
    outer[1] <= inner[1] + slack &&
    outer[2] >= inner[2] - slack &&
    outer[3] >= inner[3] - slack
  );
}

test('the PP-OCR detector finds a box around each line of text rendered with sharp', async (t) => {
  const { png, lines } = await renderedText();
  const p = await openVisionModel(OCR_DET, { session: SETTINGS });
  t.after(() => p.close());
  assert.equal(p.head.name, 'text');
  const r = await p.predict(png);
  assert.equal(r.task, 'text');
  const texts: TextBox[] = r.task === 'text' ? r.texts : [];
  // 520x220 → multiples of 32: 512x224 (PaddleOCR rounds each side).
  assert.deepEqual(r.transform.input, { width: 512, height: 224 });
  assert.equal(texts.length, 2, JSON.stringify(texts));
  texts.forEach((tb, i) => {
    const ink = lines[i]!;
    assert.ok(tb.score > 0.8, `line ${i} score ${tb.score}`);
    assert.ok(covers(tb.box, ink, 3), `line ${i}: box ${tb.box.map(Math.round)} does not cover the ink ${ink}`);
    assert.ok(iou(tb.box, ink) > 0.5, `line ${i}: box ${tb.box.map(Math.round)} is far larger than the ink ${ink}`);
  });
  const rotated = await p.predict(png, { rotated: true });
  assert.ok(
    rotated.task === 'text' &&
      rotated.texts.length === 2 &&
      rotated.texts.every((x) => x.polygon?.length === 4 && Math.abs(x.angle!) < 3),
  );
});

test('a fixed size makes the PP-OCR detector batch: one run, the same boxes as one image at a time', async (t) => {
  const { png } = await renderedText();
  const p = await openVisionModel(OCR_DET, { session: SETTINGS, preprocess: { width: 320, height: 160 } });
  t.after(() => p.close());
  const single = await p.predict(png);
  const batch = await p.predictBatch([png, Buffer.from('broken'), png]);
  assert.deepEqual(
    batch.map((b) => b.ok),
    [true, false, true],
  );
  for (const b of [batch[0]!, batch[2]!]) {
    assert.ok(b.ok && b.task === 'text' && single.task === 'text');
    assert.equal(b.batchSize, 2);
    assert.equal(b.texts.length, single.texts.length);
    b.texts.forEach((x, i) => assert.ok(iou(x.box, single.texts[i]!.box) > 0.98));
  }
});
