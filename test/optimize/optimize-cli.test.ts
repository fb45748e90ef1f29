/**
 * `rtinfer optimize` end to end through the built command: bad input gives one line on stderr and
 * exit code 2, and nothing is written at --out. Needs `npm run build` first (npm test does it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encodeNpy } from '../../src/runtime/npy.js';
import { CLI, rtinfer, rtinferWith } from '../helpers/cli.js';
import { sharedModel, SHARED_MODELS } from '../helpers/models.js';
import { randomFeeds, smallCnn } from './fixtures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-optimize-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const model = path.join(dir, 'cnn.onnx');
const calib = path.join(dir, 'calib');
const out = path.join(dir, 'out.onnx');

before(() => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
  writeFileSync(model, smallCnn());
  mkdirSync(calib);
  randomFeeds(6).forEach((f, i) =>
    writeFileSync(path.join(calib, `s${i}.npy`), encodeNpy('float32', [1, 3, 8, 8], f['x']!.data as Float32Array)),
  );
});

async function oneLine(args: string[], pattern: RegExp): Promise<void> {
  const r = await rtinfer('optimize', ...args);
  assert.equal(r.code, 2, `exit code 2: ${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr.trim(), pattern);
  assert.equal(existsSync(out), false, 'nothing written at --out');
}

test('BAD CALL - optimize: unknown op type in --exclude, --out equal to the input, --int8 without --calibrate, an empty folder', async () => {
  await oneLine(
    [model, '--int8', '--calibrate', calib, '--exclude', 'Convv', '--out', out, '--no-measure'],
    /^rtinfer optimize: invalid --exclude 'Convv': no node or op type of that name in the model \(its op types: Conv, Flatten, Gemm, MaxPool, Mul, Relu, Sigmoid, Softmax\)$/,
  );
  await oneLine(
    [model, '--graph-opt', '--out', model],
    /^rtinfer optimize: invalid --out '.*cnn\.onnx': it is the input model/,
  );
  await oneLine([model, '--int8', '--out', out], /^rtinfer optimize: --int8 needs --calibrate/);
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  await oneLine(
    [model, '--int8', '--calibrate', empty, '--out', out],
    /^rtinfer optimize: no calibration files \(images or \.npy\) in folder /,
  );
  await oneLine(
    [model, '--out', out],
    /^rtinfer optimize: nothing to do: give --int8, --fp16, --shape or --graph-opt$/,
  );
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('optimize --int8 --json prints the rtinfer.optimize/1 report and writes the model', async () => {
  const file = path.join(dir, 'ok.onnx');
  const r = await rtinfer(
    'optimize',
    model,
    '--int8',
    '--calibrate',
    path.join(calib, '*.npy'),
    '--method',
    'entropy',
    '--out',
    file,
    '--json',
    '--blocks',
    '1',
  );
  assert.equal(r.code, 0, r.stderr);
  // --json keeps stderr to warnings (this tiny CNN's int8 may time slower; its check runs on synthetic inputs).
  for (const line of r.stderr.split('\n').filter((l) => l !== ''))
    assert.match(line, /^rtinfer optimize: warning: /, '--json keeps stderr clean of all but warnings');
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'rtinfer.optimize/1');
  assert.deepEqual(j.transforms, ['int8-entropy']);
  assert.equal(j.quantization.calibrationFiles, 4);
  assert.ok(existsSync(file));
});

test('optimize runs are recorded in the run store, with the written model and its transforms', async () => {
  const store = path.join(dir, 'runs.db');
  const file = path.join(dir, 'fp16.onnx');
  const r = await rtinferWith(
    { env: { RTINFER_STORE: store } },
    'optimize',
    model,
    '--fp16',
    '--out',
    file,
    '--json',
    '--blocks',
    '1',
    '--label',
    'half',
  );
  assert.equal(r.code, 0, r.stderr);
  const runs = await rtinferWith({ env: { RTINFER_STORE: store } }, 'runs', '--json');
  assert.equal(runs.code, 0, runs.stderr);
  const list = JSON.parse(runs.stdout) as Array<{
    kind: string;
    label: string | null;
    model: { path: string | null };
    setting: { text: string };
  }>;
  assert.equal(list.length, 1);
  assert.equal(list[0]!.kind, 'optimize');
  assert.equal(list[0]!.label, 'half');
  assert.equal(list[0]!.model.path, file);
  assert.match(list[0]!.setting.text, /fp16/);
});

test('optimize --int8 calibrated on one image says on stderr, with --json, that accuracy was checked on synthetic inputs', async (t) => {
  const face = sharedModel(t, 'blazeface_front_128.onnx');
  if (!face) return;
  const target = path.join(dir, 'face.int8.onnx');
  const r = await rtinfer(
    'optimize',
    face,
    '--int8',
    '--calibrate',
    `${SHARED_MODELS}coco139.jpg`,
    '--out',
    target,
    '--blocks',
    '2',
    '--json',
    '--no-store',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).accuracy.metric, 'tensor-error');
  assert.match(r.stderr, /rtinfer optimize: warning: accuracy was measured on 16 synthetic input\(s\), not on images/);
});
