import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Tensor } from 'onnxruntime-node';
import { planTransform, toTensor } from '../../src/vision/geometry.js';
import { createVisionPipeline } from '../../src/vision/pipeline.js';
import type { Box, ModelOutputs, TensorMeta } from '../../src/vision/types.js';
import { assertBoxClose, noiseJpeg, noisePng, throwsWith } from './helpers.js';

const INPUTS: TensorMeta[] = [{ name: 'images', shape: ['batch', 3, 320, 320], dtype: 'float32' }];
const OUTPUTS: TensorMeta[] = [{ name: 'output0', shape: ['batch', 6, 2100] }];
const METADATA = { task: 'detect', names: "{0: 'cat', 1: 'dog'}", imgsz: '[320, 320]', stride: '32' };
const N = 2100;

/**
 * A fake Ultralytics model: for each batch row it "detects" the box that covers the middle half of
 * the image that row holds (it is told the images' sizes), as class 1 with score 0.8.
 */
function fakeModel(sizes: Array<[number, number]>, delayMs: number) {
  const calls: Array<{ dims: readonly number[]; buffer: ArrayBufferLike; isTensor: boolean }> = [];
  const run = async (feeds: Record<string, Tensor>): Promise<ModelOutputs> => {
    const t = feeds['images']!;
    calls.push({ dims: t.dims, buffer: (t.data as Float32Array).buffer, isTensor: t instanceof Tensor });
    await sleep(delayMs);
    const b = t.dims[0]!;
    const data = new Float32Array(b * 6 * N);
    for (let row = 0; row < b; row++) {
      const [w, h] = sizes.shift() ?? [0, 0];
      const tr = planTransform(w, h, pipelineConfigForFake);
      const [x1, y1, x2, y2] = toTensor(tr, [w / 4, h / 4, (3 * w) / 4, (3 * h) / 4]);
      const base = row * 6 * N;
      const col = 500;
      data[base + col] = (x1 + x2) / 2;
      data[base + N + col] = (y1 + y2) / 2;
      data[base + 2 * N + col] = x2 - x1;
      data[base + 3 * N + col] = y2 - y1;
      data[base + 5 * N + col] = 0.8;
    }
    return { output0: { dims: [b, 6, N], data, type: 'float32' } };
  };
  return { run, calls };
}

// The geometry the fake uses to place its boxes: the pipeline's (asserted equal below).
const pipelineConfigForFake = createVisionPipeline({
  run: async () => ({}),
  inputs: INPUTS,
  outputs: OUTPUTS,
  metadata: METADATA,
}).config;

const middle = (w: number, h: number): Box => [w / 4, h / 4, (3 * w) / 4, (3 * h) / 4];

test('a pipeline over a plain run function: head from metadata, boxes in original pixels, stage times', async () => {
  const fake = fakeModel(
    [
      [300, 200],
      [300, 200],
    ],
    15,
  );
  const p = createVisionPipeline({ run: fake.run, inputs: INPUTS, outputs: OUTPUTS, metadata: METADATA });
  assert.deepEqual(p.config, pipelineConfigForFake);
  assert.equal(p.head.name, 'yolo');
  assert.equal(p.inputName, 'images');
  assert.deepEqual(
    [p.config.width, p.config.height, p.config.resize, p.config.anchor],
    [320, 320, 'letterbox', 'center'],
  );
  const png = await noisePng(300, 200);
  const r = await p.predict(png);
  assert.equal(r.task, 'detect');
  if (r.task !== 'detect') return;
  assert.equal(r.detections.length, 1);
  assert.equal(r.detections[0]!.label, 'dog');
  assertBoxClose(r.detections[0]!.box, middle(300, 200), 0.01);
  assert.ok(r.speedMs.inference >= 14, `inference ${r.speedMs.inference} ms is what the run function took`);
  assert.ok(r.speedMs.decode > 0 && r.speedMs.preprocess > 0 && r.speedMs.postprocess >= 0);
  assert.deepEqual(fake.calls[0]!.dims, [1, 3, 320, 320]);
  assert.ok(fake.calls[0]!.isTensor);
  // The second image reuses the first one's input buffer (released once the run settled).
  await p.predict(png);
  assert.equal(fake.calls[1]!.buffer, fake.calls[0]!.buffer);
});

test('predictBatch runs the good images as one batch and reports the bad one as an error item', async () => {
  const fake = fakeModel(
    [
      [300, 200],
      [150, 220],
    ],
    1,
  );
  const p = createVisionPipeline({ run: fake.run, inputs: INPUTS, outputs: OUTPUTS, metadata: METADATA });
  const results = await p.predictBatch([
    await noisePng(300, 200),
    Buffer.from([0xff, 0xd8, 0xff, 0x00]),
    await noiseJpeg(150, 220),
  ]);
  assert.equal(fake.calls.length, 1);
  assert.deepEqual(fake.calls[0]!.dims, [2, 3, 320, 320]);
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, false, true],
  );
  const [a, bad, b] = results;
  assert.ok(a?.ok && a.task === 'detect' && b?.ok && b.task === 'detect' && bad !== undefined && !bad.ok);
  assertBoxClose(a.detections[0]!.box, middle(300, 200), 0.01);
  assertBoxClose(b.detections[0]!.box, middle(150, 220), 0.01);
  assert.equal(a.batchSize, 2);
  assert.equal(bad.source, '<buffer>');
  assert.match(bad.error.code, /RTI_ERR_IMAGE_/);
});

test('an engine-like object works as the inference target; a model with batch 1 runs a batch image by image', async () => {
  const fake = fakeModel(
    [
      [300, 200],
      [300, 200],
    ],
    1,
  );
  const inputs: TensorMeta[] = [{ name: 'images', shape: [1, 3, 320, 320], dtype: 'float32' }];
  const engine = { infer: fake.run, inputs, outputs: OUTPUTS };
  const p = createVisionPipeline({ session: engine, metadata: METADATA });
  const png = await noisePng(300, 200);
  const results = await p.predictBatch([png, png]);
  assert.deepEqual(
    fake.calls.map((c) => c.dims[0]),
    [1, 1],
  );
  assert.ok(results.every((r) => r.ok && r.batchSize === 1));
});

test('a task or head that does not fit, and a size that does not fit the input, are refused at creation', () => {
  throwsWith(
    () =>
      createVisionPipeline({
        run: async () => ({}),
        inputs: INPUTS,
        outputs: OUTPUTS,
        metadata: METADATA,
        task: 'classify',
      }),
    'RTI_ERR_HEAD_MISMATCH',
    /task 'classify' asked for, but the model's outputs fit the 'yolo' head/,
  );
  throwsWith(
    () => createVisionPipeline({ run: async () => ({}), inputs: INPUTS, outputs: OUTPUTS, task: 'ssd' }),
    'RTI_ERR_HEAD_MISMATCH',
    /head 'ssd' does not fit/,
  );
  throwsWith(
    () =>
      createVisionPipeline({
        run: async () => ({}),
        inputs: INPUTS,
        outputs: OUTPUTS,
        preprocess: { width: 640, height: 640 },
      }),
    'RTI_ERR_SHAPE_MISMATCH',
    /640x640 does not fit input 'images'/,
  );
  throwsWith(
    () =>
      createVisionPipeline({
        run: async () => ({}),
        inputs: INPUTS,
        outputs: OUTPUTS,
        preprocess: { kernel: 'bogus' as never },
      }),
    'RTI_ERR_ARG_INVALID',
    /preprocess.kernel 'bogus'/,
  );
  throwsWith(
    () =>
      createVisionPipeline({ run: async () => ({}), inputs: INPUTS, outputs: OUTPUTS, decode: { iouThreshold: 2 } }),
    'RTI_ERR_ARG_INVALID',
    /decode.iouThreshold 2/,
  );
  throwsWith(
    () => createVisionPipeline({ inputs: INPUTS, outputs: OUTPUTS }),
    'RTI_ERR_ARG_MISSING',
    /needs `run` or `session`/,
  );
});

test('a float16 model input gets a float16 tensor, a run failure is an inference error', async () => {
  const seen: string[] = [];
  const inputs: TensorMeta[] = [{ name: 'images', shape: [1, 3, 320, 320], dtype: 'float16' }];
  const p = createVisionPipeline({
    run: async (feeds) => {
      seen.push(feeds['images']!.type);
      throw new Error('Non-zero status code returned while running Conv node\nsecond line');
    },
    inputs,
    outputs: OUTPUTS,
    metadata: METADATA,
  });
  assert.equal(p.config.dtype, 'float16');
  await assert.rejects(
    p.predict(await noisePng(64, 64)),
    (e: Error & { code?: string }) => e.code === 'RTI_ERR_INFERENCE_FAILED' && !e.message.includes('\n'),
  );
  assert.deepEqual(seen, ['float16']);
});

test('a pipeline spread into a larger object, or its predict taken unbound, still predicts (as openVisionModel does)', async () => {
  const fake = fakeModel(
    [
      [300, 200],
      [300, 200],
    ],
    1,
  );
  const p = createVisionPipeline({ run: fake.run, inputs: INPUTS, outputs: OUTPUTS, metadata: METADATA });
  const wrapped = { ...p, close: async () => {} };
  assert.deepEqual(Object.keys(wrapped), [
    'head',
    'headReason',
    'explanation',
    'config',
    'decodeOptions',
    'inputName',
    'predict',
    'predictBatch',
    'close',
  ]);
  const png = await noisePng(300, 200);
  const [one] = await wrapped.predictBatch([png]);
  assert.ok(one?.ok && one.task === 'detect');
  const { predict } = p;
  const r = await predict(png);
  assert.ok(r.task === 'detect' && r.detections.length === 1);
});
