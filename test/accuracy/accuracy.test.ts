import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { createReferenceCache, measureAccuracy } from '../../src/accuracy/accuracy.js';
import { listImages } from '../../src/accuracy/image-list.js';
import { loadLabelledSet, parseLabelledSet } from '../../src/accuracy/labels.js';
import { openVisionModel } from '../../src/vision/open-model.js';
import { OCR_CLS, OCR_DET, sharedModel } from '../helpers/models.js';
import { noisePng, rejectsWith, throwsWith } from '../vision/helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rtinfer-accuracy-img-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A page of printed text, large lines down to fine print (which a 320x320 input cannot resolve). */
async function textImage(): Promise<string> {
  const lines = [
    [60, 40, 'Hello rtinfer accuracy'],
    [140, 28, 'The quick brown fox jumps'],
    [200, 18, 'over the lazy dog 0123456789'],
    [240, 12, 'small print that a low resolution loses'],
    [270, 10, 'even smaller print, line two of the fine print'],
  ] as const;
  const text = lines
    .map(([y, size, s]) => `<text x="20" y="${y}" font-size="${size}" font-family="sans-serif">${s}</text>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect width="100%" height="100%" fill="white"/>${text}<text x="300" y="400" font-size="56" font-family="serif">BIG</text></svg>`;
  const file = path.join(dir, 'text.png');
  await sharp(Buffer.from(svg)).png().toFile(file);
  return file;
}

test('a detector against itself agrees fully (yolox_nano on coco139: mAP@0.5 agreement 1)', async (t) => {
  const model = sharedModel(t, 'yolox_nano.onnx');
  const image = sharedModel(t, 'coco139.jpg');
  if (model === undefined || image === undefined) return;
  const r = await measureAccuracy({ model, reference: model, images: [image] });
  assert.deepEqual(r, { metric: 'map50-agreement', score: 1, drop: 0, images: 1 });
});

test('PP-OCR det at 320x320 against 640x640 finds some of the text: agreement between 0 and 1', async (t) => {
  const image = await textImage();
  const at640 = [{ name: 'x', dims: [1, 3, 640, 640] }];
  const self = await measureAccuracy({
    model: OCR_DET,
    reference: OCR_DET,
    images: [image],
    shapes: at640,
    referenceShapes: at640,
  });
  if (self.note?.includes('detects nothing')) {
    t.skip('no font rendered the SVG text on this machine: nothing to compare');
    return;
  }
  assert.equal(self.score, 1);
  const r = await measureAccuracy({
    model: OCR_DET,
    reference: OCR_DET,
    images: [image],
    shapes: [{ name: 'x', dims: [1, 3, 320, 320] }],
    referenceShapes: at640,
  });
  t.diagnostic(`PP-OCR det 320 vs 640: map50-agreement ${r.score.toFixed(3)}`);
  assert.equal(r.metric, 'map50-agreement');
  assert.ok(r.score > 0 && r.score < 1, String(r.score));
  assert.equal(r.drop, 1 - r.score);
});

test('a classifier against itself: top-1 agreement 1 on every image', async () => {
  const images = [await textImage(), path.join(dir, 'noise.png')];
  writeFileSync(images[1]!, await noisePng(200, 100));
  const r = await measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, images });
  assert.deepEqual(r, { metric: 'top1-agreement', score: 1, drop: 0, images: 2 });
});

test('a labelled detection set gives real mAP@0.5 of both models (yolox_nano on coco139 with hand-drawn tv and person boxes)', async (t) => {
  const model = sharedModel(t, 'yolox_nano.onnx');
  const image = sharedModel(t, 'coco139.jpg');
  if (model === undefined || image === undefined) return;
  const labels = path.join(dir, 'coco139-labels.json');
  // Drawn by eye on the 640x426 image, not taken from any model's output.
  const boxes = [
    { box: [5, 167, 155, 262], label: 'tv' },
    { box: [412, 157, 466, 296], label: 'person' },
    { box: [383, 172, 405, 213], label: 'person' },
  ];
  writeFileSync(labels, JSON.stringify({ images: [{ file: image, boxes }] }));
  const r = await measureAccuracy({ model, reference: model, labels });
  t.diagnostic(`yolox_nano map50 on the hand-labelled coco139: ${r.score.toFixed(3)}`);
  assert.equal(r.metric, 'map50');
  assert.ok(r.score > 0 && r.score <= 1, String(r.score));
  assert.equal(r.referenceScore, r.score);
  assert.equal(r.drop, 0);
  // A box nobody could find lowers the score: the metric sees the labels, not the reference.
  writeFileSync(
    labels,
    JSON.stringify({ images: [{ file: image, boxes: [...boxes, { box: [600, 400, 630, 420], label: 'tv' }] }] }),
  );
  const harder = await measureAccuracy({ model, reference: model, labels });
  assert.ok(harder.score < r.score, `${harder.score} < ${r.score}`);
  assert.equal(r.note, undefined);
  // A label spelt unlike the model's class names is pointed out, as it can only score 0.
  writeFileSync(
    labels,
    JSON.stringify({ images: [{ file: image, boxes: [...boxes, { box: [5, 167, 155, 262], label: 'tvmonitor' }] }] }),
  );
  const misspelt = await measureAccuracy({ model, reference: model, labels });
  assert.match(misspelt.note ?? '', /label\(s\) neither model gives: 'tvmonitor'/);
});

test('a labelled classification set gives top-1 accuracy of both models, images found by name among the given ones', async () => {
  const text = await textImage();
  const noise = path.join(dir, 'noise.png');
  writeFileSync(noise, await noisePng(200, 100));
  const m = await openVisionModel(OCR_CLS);
  const first = await m.predict(text);
  await m.close();
  assert.equal(first.task, 'classify');
  const label = first.task === 'classify' ? first.classes[0]!.label : '';
  const sub = path.join(dir, 'labels-elsewhere');
  mkdirSync(sub, { recursive: true });
  const labels = path.join(sub, 'labels.json');
  // text.png is not next to the labels file: it is taken from `images` by name.
  writeFileSync(
    labels,
    JSON.stringify({
      images: [
        { file: 'text.png', label },
        { file: noise, label: 'no such class' },
      ],
    }),
  );
  const r = await measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, labels, images: [dir] });
  assert.deepEqual(r, {
    metric: 'top1',
    score: 0.5,
    referenceScore: 0.5,
    drop: 0,
    images: 2,
    note: "label(s) neither model gives: 'no such class' (do they match the model's class names?)",
  });
});

test('a reference cache runs the reference once per image set, and misses when an image changes', async () => {
  const images = [await textImage()];
  const cache = createReferenceCache();
  const at = (size: number) => [{ name: 'x', dims: [1, 3, size, size] }];
  const first = await measureAccuracy({
    model: OCR_DET,
    reference: OCR_DET,
    images,
    shapes: at(320),
    referenceShapes: at(640),
    cache,
  });
  const again = await measureAccuracy({
    model: OCR_DET,
    reference: OCR_DET,
    images,
    shapes: at(320),
    referenceShapes: at(640),
    cache,
  });
  assert.deepEqual([cache.hits, cache.size], [1, 1]);
  assert.deepEqual(again, first);
  // Another candidate against the cached reference: still checked for its kind.
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_DET, images, referenceShapes: at(640), cache }),
    'RTI_ERR_ACCURACY_MISMATCH',
    /is a classify model .* but the reference .* is a text model/,
  );
  assert.equal(cache.hits, 2);
  const later = new Date(Date.now() + 5000);
  utimesSync(images[0]!, later, later);
  await measureAccuracy({
    model: OCR_DET,
    reference: OCR_DET,
    images,
    shapes: at(320),
    referenceShapes: at(640),
    cache,
  });
  assert.deepEqual([cache.hits, cache.size], [2, 2]);
});

test('a corrupt image is skipped, counted and named; when every image fails it is an error', async () => {
  const good = await textImage();
  const bad = path.join(dir, 'corrupt.jpg');
  writeFileSync(bad, Buffer.from('not a jpeg at all'));
  const r = await measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, images: [good, bad] });
  assert.equal(r.images, 1);
  assert.match(r.note ?? '', /^1 of 2 image\(s\) skipped \(corrupt\.jpg: /);
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, images: [bad] }),
    'RTI_ERR_ACCURACY_NO_IMAGES',
    /none of the 1 image\(s\) could be used: corrupt\.jpg/,
  );
});

test('BAD CALL - a missing image, an empty folder, a classifier against a detector, a fixed-size model at another size', async (t) => {
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, images: [path.join(dir, 'missing.jpg')] }),
    'RTI_ERR_IMAGE_NOT_FOUND',
    /image or folder not found: .*missing\.jpg/,
  );
  const empty = path.join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  await rejectsWith(() => listImages([empty]), 'RTI_ERR_ACCURACY_NO_IMAGES', /no image files .* in folder .*empty/);
  const image = await textImage();
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_DET, images: [image] }),
    'RTI_ERR_ACCURACY_MISMATCH',
    /is a classify model \('classify' head\) but the reference .* is a text model/,
  );
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, shapes: [{ name: 'x', dims: [1, 3, 48] }] }),
    'RTI_ERR_SHAPE_MISMATCH',
    /gives input 'x' 3 dimensions \[1,3,48\], but the model declares 4/,
  );
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, shapes: [{ name: 'y', dims: [1, 3, 48, 192] }] }),
    'RTI_ERR_MODEL_INPUT_UNKNOWN',
    /names input 'y'/,
  );
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, samples: 0 }),
    'RTI_ERR_ARG_INVALID',
    /invalid samples 0/,
  );
  const labels = path.join(dir, 'boxes.json');
  writeFileSync(labels, JSON.stringify({ images: [{ file: image, boxes: [{ box: [1, 1, 5, 5], label: 'a' }] }] }));
  await rejectsWith(
    () => measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, labels }),
    'RTI_ERR_ACCURACY_LABELS',
    /holds boxes, but the models are classify models/,
  );
  const model = sharedModel(t, 'yolox_nano.onnx');
  if (model !== undefined)
    await rejectsWith(
      () => measureAccuracy({ model, reference: model, shapes: [{ dims: [1, 3, 320, 320] }] }),
      'RTI_ERR_SHAPE_MISMATCH',
      /fixes it at 416/,
    );
});

test('an aborted signal stops the check', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(measureAccuracy({ model: OCR_CLS, reference: OCR_CLS, signal: ac.signal }), {
    name: 'AbortError',
  });
});

test('BAD CALL - a malformed labels file names the field at fault', async () => {
  const f = path.join(dir, 'l.json');
  const bad = (value: unknown, pattern: RegExp): void =>
    throwsWith(() => parseLabelledSet(value, f), 'RTI_ERR_ACCURACY_LABELS', pattern);
  bad([], /the top level must be an object/);
  bad({ images: {} }, /: images must be an array/);
  bad({ images: [] }, /: images is empty/);
  bad({ images: [{ boxes: [] }] }, /images\[0\]\.file must be a non-empty string/);
  bad({ images: [{ file: 'a.jpg' }] }, /images\[0\] must have either "boxes" \(detection\) or "label"/);
  bad({ images: [{ file: 'a.jpg', label: 'x', boxes: [] }] }, /not both or neither/);
  bad(
    { images: [{ file: 'a.jpg', boxes: [{ box: [0, 0, 1], label: 'x' }] }] },
    /images\[0\]\.boxes\[0\]\.box must be \[x1, y1, x2, y2\]/,
  );
  bad(
    { images: [{ file: 'a.jpg', boxes: [{ box: [5, 0, 1, 1], label: 'x' }] }] },
    /images\[0\]\.boxes\[0\]\.box \[5, 0, 1, 1\] must have x2 > x1/,
  );
  bad(
    { images: [{ file: 'a.jpg', boxes: [{ box: [0, 0, 1, 1], label: 3 }] }] },
    /images\[0\]\.boxes\[0\]\.label must be a non-empty string/,
  );
  bad(
    {
      images: [
        { file: 'a.jpg', boxes: [] },
        { file: 'b.jpg', label: 'cat' },
      ],
    },
    /images\[1\] has "label", but images\[0\] has "boxes"/,
  );
  bad({ images: [{ file: 'a.jpg', boxes: [] }] }, /have no boxes at all/);
  const ok = parseLabelledSet({ images: [{ file: 'a.jpg', boxes: [{ box: [0, 0, 2, 2] }] }] }, f);
  assert.deepEqual(ok, {
    kind: 'detect',
    images: [{ file: path.join(dir, 'a.jpg'), boxes: [{ box: [0, 0, 2, 2], label: 'text' }] }],
  });
  await rejectsWith(
    () => loadLabelledSet(path.join(dir, 'none.json')),
    'RTI_ERR_ACCURACY_LABELS',
    /labels file not found: .*none\.json/,
  );
  writeFileSync(f, '{ "images": [');
  await rejectsWith(() => loadLabelledSet(f), 'RTI_ERR_ACCURACY_LABELS', /l\.json is not valid JSON/);
});
