/** The CTC text-line head: which models it claims, its decoding, its dictionary, and PP-OCRv4 rec end to end. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { resolvePreprocessConfig } from '../../src/vision/config.js';
import { decodeDefaultsFor } from '../../src/vision/decode-options.js';
import { planTransform } from '../../src/vision/geometry.js';
import { ctcCharacters, ctcHead } from '../../src/vision/heads/ctc.js';
import { detectHead } from '../../src/vision/heads/registry.js';
import { openVisionModel } from '../../src/vision/open-model.js';
import { dictionaryLines, findDictionary } from '../../src/vision/sidecar.js';
import { OCR_REC } from '../helpers/models.js';
import { throwsWith } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-ctc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const input = (shape: Array<number | string>) => [{ name: 'x', shape }];
const output = (shape: Array<number | string>) => [{ name: 'y', shape }];

test('a [B,T,C] output from a short fixed-height, free-width input is a CTC recogniser; YOLO-like shapes keep their heads', () => {
  const rec = detectHead(output(['N', 'T', 6625]), {}, input(['N', 3, 48, 'W']));
  assert.equal(rec.head.name, 'ctc');
  assert.match(rec.reason, /CTC text-line recogniser/);
  assert.equal(detectHead(output([1, 40, 97]), {}, input([1, 3, 32, 320])).head.name, 'ctc');
  assert.equal(detectHead(output([1, 'T', 97]), {}, input([1, 32, 'W', 3])).head.name, 'ctc', 'NHWC');
  // yolox_nano's shapes, a YOLOv5-style 640, a small square YOLOX, an unknown input size: not lines.
  assert.equal(detectHead(output([1, 3549, 85]), {}, input([1, 3, 416, 416])).head.name, 'yolox');
  assert.equal(detectHead(output([1, 25200, 85]), {}, input([1, 3, 640, 640])).head.name, 'yolov5');
  assert.equal(ctcHead.matches(output([1, 84, 85]), {}, input([1, 3, 64, 64])), false);
  assert.equal(ctcHead.matches(output([1, 40, 97]), {}, input([1, 3, 'H', 'W'])), false);
  assert.equal(ctcHead.matches(output([1, 40, 97]), {}), false, 'no inputs: no way to tell');
  assert.equal(ctcHead.matches(output([1, 40, 97]), {}, input([1, 3, 96, 'W'])), false, 'taller than 64');
  assert.equal(ctcHead.matches(output([1, 40, 97]), {}, input([1, 3, 48, 64])), false, 'not twice as wide');
  assert.equal(ctcHead.matches(output([1, 40, 97]), { task: 'detect' }, input([1, 3, 48, 'W'])), false);
});

/** A [1, T, C] output whose step s puts `p` on class steps[s] and the rest evenly on the others. */
function stepsOutput(
  steps: number[],
  classes: number,
  p: number[],
): Record<string, { dims: number[]; data: Float32Array }> {
  const data = new Float32Array(steps.length * classes).fill(0);
  steps.forEach((c, s) => {
    for (let k = 0; k < classes; k++) data[s * classes + k] = k === c ? p[s]! : (1 - p[s]!) / (classes - 1);
  });
  return { y: { dims: [1, steps.length, classes], data } };
}

test('decoding is PaddleOCR CTCLabelDecode: argmax, repeats collapsed, blank 0 dropped, score the mean kept probability', () => {
  const t = planTransform(200, 40, resolvePreprocessConfig(ctcHead.defaults));
  const DEFAULTS = decodeDefaultsFor(ctcHead);
  // "a", "a" (repeat), blank, "a" (kept: a blank between), "b", blank, blank, space (class 4 = C − 1).
  const out = stepsOutput([1, 1, 0, 1, 2, 0, 0, 4], 5, [0.9, 0.5, 0.9, 0.7, 0.6, 0.9, 0.9, 0.8]);
  const labels = ['a', 'b', 'c'];
  const r = ctcHead.decode(out, t, { ...DEFAULTS, labels });
  assert.equal(r.task, 'text');
  if (r.task !== 'text') return;
  assert.equal(r.texts.length, 1);
  const line = r.texts[0]!;
  assert.equal(line.text, 'aab ');
  assert.ok(Math.abs(line.score - (0.9 + 0.7 + 0.6 + 0.8) / 4) < 1e-6, String(line.score));
  assert.deepEqual(line.box, [0, 0, 200, 40]);
  // Without a dictionary: class indices; logits (not distributions) go through softmax first.
  const logits = stepsOutput([3, 3, 0], 5, [5, 5, 5]);
  const raw = ctcHead.decode(logits, t, DEFAULTS);
  assert.ok(raw.task === 'text' && raw.texts[0]!.text === '[3]');
  // Step logits 5 and (1 − 5) / 4 = −1 for the other four classes.
  const p = Math.exp(5) / (Math.exp(5) + 4 * Math.exp(-1));
  assert.ok(raw.task === 'text' && Math.abs(raw.texts[0]!.score - p) < 1e-5);
  // An empty line scores 0 and is still reported at the default threshold; a threshold drops it.
  const blank = stepsOutput([0, 0], 5, [0.9, 0.9]);
  const empty = ctcHead.decode(blank, t, DEFAULTS);
  assert.ok(empty.task === 'text' && empty.texts[0]!.text === '' && empty.texts[0]!.score === 0);
  const dropped = ctcHead.decode(blank, t, { ...DEFAULTS, scoreThreshold: 0.5 });
  assert.ok(dropped.task === 'text' && dropped.texts.length === 0);
});

test('a dictionary of C − 2, C − 1 or C entries maps onto the classes; any other count is refused, naming both', () => {
  assert.deepEqual(ctcCharacters(['a', 'b', 'c'], 5), ['', 'a', 'b', 'c', ' ']);
  assert.deepEqual(ctcCharacters(['a', 'b', 'c'], 4), ['', 'a', 'b', 'c']);
  assert.deepEqual(ctcCharacters(['blank', 'a', 'b'], 3), ['', 'a', 'b']);
  throwsWith(
    () => ctcCharacters(['a'], 5),
    'RTI_ERR_ARG_INVALID',
    /invalid labels for the ctc head: 1 entries for 5 classes \(expected 3/,
  );
  // PaddleOCR strips only line ends: a space or an ideographic space is a character.
  assert.deepEqual(dictionaryLines('a\r\n \n\u3000\nb\n'), ['a', ' ', '\u3000', 'b']);
});

test('the dictionary beside a model: a .txt whose lines + 1 or + 2 make the classes, named like a dictionary first', async () => {
  const model = path.join(dir, 'rec.onnx');
  writeFileSync(path.join(dir, 'notes.txt'), 'x\ny\nz\n');
  writeFileSync(path.join(dir, 'readme.txt'), 'one line\n');
  assert.equal((await findDictionary(model, 5))?.file, path.join(dir, 'notes.txt'));
  writeFileSync(path.join(dir, 'my_dict.txt'), 'a\nb\nc');
  const found = await findDictionary(model, 5);
  assert.equal(found?.file, path.join(dir, 'my_dict.txt'));
  assert.deepEqual(found?.labels, ['a', 'b', 'c']);
  assert.equal(found?.why, "3 lines + the blank + a space = the model's 5 classes, named like a dictionary");
  assert.equal(
    (await findDictionary(model, 4))?.why,
    "3 lines + the blank = the model's 4 classes, named like a dictionary",
  );
  assert.equal(await findDictionary(model, 50), undefined);
});

test('PP-OCRv4 rec with no flags reads a rendered line, with its dictionary found beside it and the plan saying why', async () => {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="360" height="64"><rect width="100%" height="100%" fill="white"/>' +
    '<text x="10" y="46" font-family="DejaVu Sans, sans-serif" font-size="40">rtinfer 2026</text></svg>';
  const image = await sharp(Buffer.from(svg)).png().toBuffer();
  const model = await openVisionModel(OCR_REC);
  try {
    assert.equal(model.head.name, 'ctc');
    assert.deepEqual([model.config.width, model.config.height, model.config.minWidth], [null, 48, 320]);
    assert.deepEqual([model.config.channelOrder, model.config.anchor], ['bgr', 'top-left']);
    const plan = model.explanation.join('\n');
    assert.match(plan, /height 48: fixed by the input shape/);
    assert.match(
      plan,
      /dictionary .*ppocr_keys_v1\.txt: 6623 lines \+ the blank \+ a space = the model's 6625 classes/,
    );
    const r = await model.predict(image);
    // 48 / 64 · 360 = 270 wide, padded to 320.
    assert.deepEqual([r.transform.input.width, r.transform.input.height, r.transform.resized.width], [320, 48, 270]);
    assert.ok(r.task === 'text');
    if (r.task !== 'text') return;
    assert.equal(r.texts[0]?.text, 'rtinfer 2026');
    assert.ok(r.texts[0]!.score > 0.9, String(r.texts[0]!.score));
  } finally {
    await model.close();
  }
});
