/** `rtinfer predict` end to end: the built command on real models and images. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { CLI, rtinfer } from '../helpers/cli.js';
import { OCR_DET, OCR_REC, sharedModel, SHARED_MODELS } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-predict-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('yolox_nano on coco139.jpg with no flags: a tv and a person, boxes in image pixels, the speed split, --save', async (t) => {
  const model = sharedModel(t, 'yolox_nano.onnx');
  if (!model) return;
  const out = path.join(dir, 'saved');
  const r = await rtinfer('predict', model, `${SHARED_MODELS}coco139.jpg`, '--json', '--save', out);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'rtinfer.predict/1');
  assert.equal(j.head, 'yolox');
  const res = j.results[0];
  assert.deepEqual([res.width, res.height], [640, 426]);
  const tv = res.detections.find((d: { label: string }) => d.label === 'tv');
  assert.ok(tv && tv.score > 0.85, JSON.stringify(res.detections.slice(0, 3)));
  assert.ok(res.detections.some((d: { label: string; score: number }) => d.label === 'person' && d.score > 0.6));
  for (const d of res.detections) assert.ok(d.box[0] >= 0 && d.box[2] <= 640 && d.box[3] <= 426 && d.box[0] < d.box[2]);
  for (const k of ['decode', 'preprocess', 'inference', 'postprocess']) assert.ok(res.speedMs[k] >= 0, k);
  assert.ok(res.speedMs.inference > 0);
  assert.deepEqual(readdirSync(out), ['coco139.png']);
  const meta = await sharp(path.join(out, 'coco139.png')).metadata();
  assert.deepEqual([meta.width, meta.height], [640, 426]);
});

test('the bundled PP-OCR detector finds the lines of a rendered text image; a bad image fails only its own item', async () => {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="240"><rect width="100%" height="100%" fill="white"/><text x="40" y="90" font-size="56" font-family="sans-serif">REAL TIME</text><text x="40" y="190" font-size="56" font-family="sans-serif">INFERENCE</text></svg>`;
  const img = path.join(dir, 'text.png');
  await sharp(Buffer.from(svg)).png().toFile(img);
  const broken = path.join(dir, 'broken.jpg');
  writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  const tooBig = await rtinfer('predict', OCR_DET, img, '--max-pixels', '1000', '--json');
  assert.equal(tooBig.code, 2);
  assert.match(JSON.parse(tooBig.stdout).results[0].error.code, /RTI_ERR_IMAGE_TOO_LARGE/);
  const r = await rtinfer('predict', OCR_DET, img, broken, '--json');
  assert.equal(r.code, 2, 'a usage error for the bad image');
  const j = JSON.parse(r.stdout);
  assert.equal(j.head, 'text');
  const texts = j.results[0].texts as Array<{ box: number[] }>;
  assert.ok(texts.length >= 2, JSON.stringify(texts));
  const ys = texts.map((t) => (t.box[1]! + t.box[3]!) / 2).sort((a, b) => a - b);
  assert.ok(ys[0]! > 40 && ys[0]! < 110 && ys[ys.length - 1]! > 140 && ys[ys.length - 1]! < 210, `line centres ${ys}`);
  assert.equal(j.results[1].image, broken);
  assert.match(j.results[1].error.code, /RTI_ERR_IMAGE_/);
  assert.match(j.results[1].error.message, /broken\.jpg/);
});

test('PP-OCRv4 rec with no flags: info names the ctc head, its height 48 and the dictionary beside it; predict reads the line; --labels replaces the dictionary', async () => {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="360" height="64"><rect width="100%" height="100%" fill="white"/>' +
    '<text x="10" y="46" font-family="DejaVu Sans, sans-serif" font-size="40">rtinfer 2026</text></svg>';
  const img = path.join(dir, 'line.png');
  await sharp(Buffer.from(svg)).png().toFile(img);
  const info = await rtinfer('info', OCR_REC, '--skip-flops');
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /predict would use the ctc head \(text\)/);
  assert.match(info.stdout, /resize height 48, width following the aspect ratio \(at least 320\), letterbox top-left/);
  assert.match(
    info.stdout,
    /dictionary .*ppocr_keys_v1\.txt: 6623 lines \+ the blank \+ a space = the model's 6625 classes/,
  );
  const r = await rtinfer('predict', OCR_REC, img, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual([j.head, j.task], ['ctc', 'text']);
  const line = j.results[0].texts[0];
  assert.equal(line.text, 'rtinfer 2026');
  assert.ok(line.score > 0.9, String(line.score));
  assert.deepEqual(line.box, [0, 0, 360, 64]);
  // Your labels win over the file beside the model: here the same characters in upper case.
  const upper = path.join(dir, 'upper.txt');
  const dictionary = readFileSync(OCR_REC.replace(/[^/]+$/, 'ppocr_keys_v1.txt'), 'utf8');
  writeFileSync(upper, dictionary.toUpperCase());
  const printed = await rtinfer('predict', OCR_REC, img, '--labels', upper);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /dictionary: your labels \(6623 entries, 6625 classes\)/);
  assert.match(
    printed.stdout,
    /line\.png \(360x64\): text line read\n\s+"RTINFER 2026"\s+0\.9\d\d\s+\[0, 0, 360, 64\]/,
  );
});

test('BAD CALL - predict without images, with a bad threshold or task is a usage error', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['predict', OCR_DET], /needs a model and at least one image/],
    [['predict', OCR_DET, 'a.jpg', '--conf', '2'], /invalid --conf '2'/],
    // Number('') is 0: an empty value must not become a threshold of 0.
    [['predict', OCR_DET, 'a.jpg', '--conf='], /invalid --conf '' \(expected a number from 0 to 1\)/],
    [['predict', OCR_DET, 'a.jpg', '--iou', ''], /invalid --iou ''/],
    [['predict', OCR_DET, 'a.jpg', '--conf', '-1'], /invalid --conf '-1' \(expected a number from 0 to 1\)/],
    [['predict', OCR_DET, 'a.jpg', '--task', 'depth'], /invalid --task 'depth'/],
    [['predict', OCR_DET, 'a.jpg', '--imgsz', 'big'], /invalid --imgsz 'big'/],
    [['predict', OCR_DET, 'a.jpg', '--masks', 'bitmap'], /invalid --masks 'bitmap' \(expected rle or polygon\)/],
  ];
  for (const [args, pattern] of cases) {
    const r = await rtinfer(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, pattern);
  }
  assert.ok(existsSync(CLI));
});

test('BAD CALL - bench --images with a corrupt image among good ones is refused up front, naming the file', async () => {
  const imgs = path.join(dir, 'imgs-bad');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(imgs, { recursive: true });
  await sharp({ create: { width: 64, height: 64, channels: 3, background: 'white' } })
    .jpeg()
    .toFile(path.join(imgs, 'a-good.jpg'));
  // A JPEG that ends after its first marker: it read as one query and a report of zeros.
  writeFileSync(path.join(imgs, 'b-broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  const r = await rtinfer('bench', OCR_DET, '--images', imgs, '--duration', '0.5s', '--json');
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '', 'no report');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^rtinfer bench: --images: .*b-broken\.jpg: /);
});

test('bench --images runs the whole pipeline over real images and reports each stage and end to end', async () => {
  const imgs = path.join(dir, 'imgs');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(imgs, { recursive: true });
  for (const [i, word] of ['LATENCY', 'BUDGET'].entries()) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="160"><rect width="100%" height="100%" fill="white"/><text x="20" y="90" font-size="48" font-family="sans-serif">${word}</text></svg>`;
    await sharp(Buffer.from(svg))
      .jpeg()
      .toFile(path.join(imgs, `t${i}.jpg`));
  }
  writeFileSync(path.join(imgs, 'notes.txt'), 'not an image');
  const r = await rtinfer(
    'bench',
    OCR_DET,
    '--images',
    imgs,
    '--duration',
    '0.5s',
    '--min-queries',
    '10',
    '--warmup',
    '2',
    '--json',
  );
  const j = JSON.parse(r.stdout);
  assert.equal(r.code, j.validity.valid ? 0 : 3, `exit 3 for an INVALID (short) run: ${r.stderr}`);
  assert.equal(j.pipeline.head, 'text');
  assert.equal(j.pipeline.images, 2, 'only image files are used');
  for (const s of ['decode', 'preprocess', 'inference', 'postprocess'])
    assert.ok(j.pipeline.stagesMs[s].p50 > 0 && j.pipeline.stagesMs[s].p99 >= j.pipeline.stagesMs[s].p50, s);
  const sum = ['decode', 'preprocess', 'inference', 'postprocess'].reduce((a, s) => a + j.pipeline.stagesMs[s].mean, 0);
  assert.ok(j.latencyMs.mean >= sum * 0.9, `end to end (${j.latencyMs.mean}) covers the stages (${sum})`);
  // The text report names the images without an empty shapes field before them.
  const text = await rtinfer(
    'bench',
    OCR_DET,
    '--images',
    imgs,
    '--duration',
    '0.3s',
    '--min-queries',
    '5',
    '--warmup',
    '1',
    '--no-store',
  );
  assert.match(text.stdout, /\n {2}inputs {4}2 image\(s\), whole pipeline with the text head\n/, text.stdout);
  const bad = await rtinfer('bench', OCR_DET, '--images', path.join(dir, 'nowhere'));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--images .*nowhere: no such file or directory/);
});

test('the face pose model with no flags: info and predict say which head and preprocessing, and why; --json has the keypoints; --save draws them', async (t) => {
  const model = sharedModel(t, 'yolov8-lite-t.onnx');
  if (!model) return;
  const info = await rtinfer('info', model, '--skip-flops');
  assert.equal(info.code, 0, info.stderr);
  assert.match(
    info.stdout,
    /vision {6}predict would use the pose head \(detect\), and why:\n {2}head pose \(detect\): metadata task=pose, kpt_shape \[5, 3\]/,
  );
  assert.match(info.stdout, /layout NCHW, 3 channels: input 'images' \[1,3,640,640\]/);
  const text = await rtinfer('predict', model, `${SHARED_MODELS}faces-lm2.jpg`, '--warmup', '0');
  assert.equal(text.code, 0, text.stderr);
  // The plan comes first, before the results.
  assert.ok(
    text.stdout.indexOf('resize 640x640, letterbox centred, pad 114') < text.stdout.indexOf('faces-lm2.jpg ('),
    text.stdout,
  );
  const out = path.join(dir, 'pose');
  const r = await rtinfer('predict', model, `${SHARED_MODELS}faces-lm2.jpg`, '--json', '--save', out, '--warmup', '0');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.head, 'pose');
  assert.ok(Array.isArray(j.plan) && j.plan.length >= 5);
  const face = j.results[0].detections[0];
  assert.equal(face.keypoints.length, 5);
  assert.ok(face.keypoints.every((k: { score: number }) => k.score > 0.5));
  assert.deepEqual(readdirSync(out), ['faces-lm2.png']);
});

test('text output counts in the singular for one detection and says where --save wrote the pictures', async (t) => {
  const model = sharedModel(t, 'version-RFB-320.onnx');
  if (!model) return;
  const out = path.join(dir, 'one-face');
  const r = await rtinfer('predict', model, `${SHARED_MODELS}1face.png`, '--warmup', '0', '--save', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1face\.png \(\d+x\d+\): 1 detection\n/);
  assert.ok(r.stdout.trimEnd().endsWith(`1 annotated image saved to ${path.resolve(out)}`), r.stdout);
  assert.deepEqual(readdirSync(out), ['1face.png']);
});

/** The built command with `input` on its stdin. */
async function withStdin(input: Buffer, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  child.stdin.end(input);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, stdout, stderr };
}

test('BAD CALL - predict - with an empty or garbled stdin: the error alone, one line, exit 2', async () => {
  for (const [input, message] of [
    [Buffer.alloc(0), /^rtinfer predict: stdin: no image on it/],
    [Buffer.from('garbage\n'), /^rtinfer predict: stdin: no JPEG in it/],
  ] as const) {
    const r = await withStdin(input, 'predict', OCR_DET, '-');
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '', 'no zero table');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});
