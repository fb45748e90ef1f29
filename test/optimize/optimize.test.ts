import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { InferenceSession } from 'onnxruntime-node';
import { encodeNpy } from '../../src/runtime/npy.js';
import { inspectModel } from '../../src/runtime/model-info.js';
import { optimizeModel } from '../../src/optimize/optimize.js';
import { renderOptimizeHtml, renderOptimizeText } from '../../src/optimize/optimize-text.js';
import { randomFeeds, smallCnn } from './fixtures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-optimize-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const model = path.join(dir, 'cnn.onnx');
writeFileSync(model, smallCnn());
const calib = path.join(dir, 'calib');
mkdirSync(calib);
randomFeeds(9).forEach((f, i) =>
  writeFileSync(path.join(calib, `s${i}.npy`), encodeNpy('float32', [1, 3, 8, 8], f['x']!.data as Float32Array)),
);
const FAST = { blocks: 2, runsPerBlock: 3 };

function leftovers(folder: string): string[] {
  return readdirSync(folder).filter((f) => f.endsWith('.tmp'));
}

test('int8 from .npy calibration writes the model and reports size, op counts, A/B latency and accuracy', async () => {
  const out = path.join(dir, 'cnn.int8.onnx');
  const r = await optimizeModel({ model, out, int8: { calibrate: [calib], method: 'percentile' }, ...FAST });
  assert.equal(r.schema, 'rtinfer.optimize/1');
  assert.deepEqual(r.transforms, ['int8-percentile']);
  assert.equal(r.size.after, readFileSync(out).length);
  assert.equal(r.quantization?.calibrationFiles, 6, 'every third file held out');
  assert.equal(r.quantization?.evaluationFiles, 3);
  assert.equal(r.ops.find((o) => o.opType === 'QuantizeLinear')?.before, 0);
  assert.ok(r.ops.find((o) => o.opType === 'QuantizeLinear')!.after > 0);
  assert.ok(r.latency && 'speedup' in r.latency && r.latency.original.runs === 6 && r.latency.optimized.runs === 6);
  // .npy data: the accuracy check compares raw outputs.
  assert.ok(
    r.accuracy && 'metric' in r.accuracy && r.accuracy.metric === 'tensor-error' && r.accuracy.score > 0.8,
    JSON.stringify(r.accuracy),
  );
  const text = renderOptimizeText(r);
  assert.match(text, /int8: percentile calibration on 6 file\(s\), 3 held out/);
  assert.match(text, /speedup \(p50\): \d+\.\d\d×/);
  // Held-out .npy tensors are not images: the check ran on synthetic inputs, and the report says so.
  assert.match(text, /warning: accuracy was measured on \d+ synthetic input\(s\), not on images: the held-out/);
  assert.match(
    renderOptimizeHtml(r),
    /<script type="application\/json" id="rtinfer-data">\{"schema":"rtinfer.optimize\/1"/,
  );
  assert.deepEqual(leftovers(dir), []);
});

test('auto-exclude reports the sensitivity ranking and stops at the first step within the bound', async () => {
  const out = path.join(dir, 'cnn.auto.onnx');
  const r = await optimizeModel({ model, out, int8: { calibrate: [calib], maxAccuracyDrop: 0.5 }, measure: false });
  assert.equal(r.sensitivity?.nodes.length, 3);
  assert.equal(r.autoExclude?.met, true);
  assert.deepEqual(
    r.autoExclude?.steps.map((s) => s.excluded),
    [0],
    'the fully quantized model already meets a 50 % bound',
  );
  assert.equal(r.autoExclude?.checkedOn, 'synthetic inputs (tensor error)');
  assert.match(
    renderOptimizeText(r),
    /auto-exclude \(bound 50\.0% on synthetic inputs \(tensor error\)\): 0 block\(s\) float → drop \d+\.\d% ; met|auto-exclude \(bound 50\.0% on synthetic inputs \(tensor error\)\): 0 block\(s\) float → drop \d+\.\d%; met with 0 node\(s\) in float/,
  );
});

test('fp16 keeps the float32 interface, keeps ops without a CPU float16 kernel in float32, and stays close', async () => {
  const out = path.join(dir, 'cnn.fp16.onnx');
  const r = await optimizeModel({ model, out, fp16: true, measure: false });
  assert.deepEqual(r.transforms, ['fp16']);
  const s = await InferenceSession.create(out);
  try {
    assert.deepEqual(
      s.inputMetadata.map((m) => m.isTensor && m.type),
      ['float32'],
    );
    assert.deepEqual(
      s.outputMetadata.map((m) => m.isTensor && m.type),
      ['float32'],
    );
  } finally {
    await s.release();
  }
  const info = inspectModel(readFileSync(out), out);
  assert.ok(info.operators.some((o) => o.opType === 'Cast'));
  assert.ok(info.parameters.bytes < inspectModel(smallCnn(), 'cnn').parameters.bytes, 'some weights stored as float16');
});

test("fixed shapes bind the symbolic batch dimension; graph-opt saves onnxruntime's graph and reports the cold start", async () => {
  const out = path.join(dir, 'cnn.fixed.onnx');
  const r = await optimizeModel({ model, out, shapes: [{ name: 'x', dims: [2, 3, 8, 8] }], graphOpt: true, ...FAST });
  assert.deepEqual(r.fixedShapes, { N: 2 });
  assert.deepEqual(r.transforms, ['fixed-shapes', 'graph-opt']);
  assert.deepEqual(inspectModel(readFileSync(out), out).inputs[0]!.shape, [2, 3, 8, 8]);
  assert.ok(
    r.coldStart && 'saving' in r.coldStart && r.coldStart.originalMs > 0 && r.coldStart.optimizedMs > 0,
    JSON.stringify(r.coldStart),
  );
});

test('BAD CALL - --out equal to the input, an empty calibration folder, data that does not fit: one line, nothing written', async () => {
  await assert.rejects(optimizeModel({ model, out: model, graphOpt: true }), {
    code: 'RTI_ERR_ARG_INVALID',
    message: /^invalid --out '.*cnn\.onnx': it is the input model/,
  });
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  const out = path.join(dir, 'never.onnx');
  await assert.rejects(optimizeModel({ model, out, int8: { calibrate: [empty] } }), {
    code: 'RTI_ERR_ACCURACY_NO_IMAGES',
    message: /no calibration files \(images or \.npy\) in folder .*empty$/,
  });
  const wrong = path.join(dir, 'wrong');
  mkdirSync(wrong);
  writeFileSync(path.join(wrong, 'a.npy'), encodeNpy('float32', [1, 3, 4, 4], new Float32Array(48)));
  await assert.rejects(optimizeModel({ model, out, int8: { calibrate: [wrong] } }), {
    code: 'RTI_ERR_INPUT_DATA',
    message: /^calibration data a\.npy is float32 \[1,3,4,4\] but input 'x' of .* is float32 \[N,3,8,8\]$/,
  });
  await assert.rejects(optimizeModel({ model, out, int8: { calibrate: [path.join(dir, 'nope', '*.npy')] } }), {
    code: 'RTI_ERR_IMAGE_NOT_FOUND',
  });
  await assert.rejects(optimizeModel({ model, out, int8: { calibrate: [calib] }, fp16: true }), {
    code: 'RTI_ERR_ARG_INVALID',
  });
  assert.equal(existsSync(out), false);
  assert.deepEqual(leftovers(dir), []);
});
