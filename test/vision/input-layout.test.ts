import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { createVisionPipeline } from '../../src/vision/pipeline.js';
import { resolvePreprocessConfig } from '../../src/vision/config.js';
import { HEADS } from '../../src/vision/heads/registry.js';
import { inferInputLayout } from '../../src/vision/input-layout.js';
import { planVision } from '../../src/vision/plan.js';
import type { RawImage } from '../../src/vision/types.js';
import { buildModel, intAttribute, node } from '../fixtures/onnx-builder.js';
import { throwsWith } from './helpers.js';

const input = (shape: Array<number | string>, name = 'x', dtype = 'float32') => ({ name, shape, dtype });

test('layout and channels come from the input shape, with the reason', () => {
  const grey = inferInputLayout(input([1, 1, 28, 28]));
  assert.deepEqual(
    [grey.fields.layout, grey.fields.channels, grey.fields.width, grey.fields.height],
    ['nchw', 1, 28, 28],
  );
  assert.match(grey.notes[0]!, /layout NCHW, 1 channel \(grey\): input 'x' \[1,1,28,28\], dim 1 is 1/);
  const tf = inferInputLayout(input([1, 224, 224, 3]));
  assert.deepEqual([tf.fields.layout, tf.fields.channels, tf.fields.width], ['nhwc', 3, 224]);
  assert.deepEqual(
    [
      inferInputLayout(input(['N', 3, 'H', 'W'])).fields.layout,
      inferInputLayout(input(['N', 3, 'H', 'W'])).fields.width,
    ],
    ['nchw', undefined],
  );
  assert.equal(inferInputLayout(input(['N', 'H', 'W', 1])).fields.layout, 'nhwc');
  assert.equal(inferInputLayout(input(['N', 'H', 'W', 1])).fields.channels, 1);
  assert.equal(inferInputLayout(input([1, 4, 64, 64])).fields.channels, 4);
  assert.equal(inferInputLayout(input([1, 3, 4, 4])).fields.layout, 'nchw');
  assert.equal(inferInputLayout(input([1, 64, 64, 3], 'input_bgr')).fields.channelOrder, 'bgr');
  assert.equal(inferInputLayout(input([1, 64, 64, 3], 'x'), { channel_order: 'BGR' }).fields.channelOrder, 'bgr');
  const meta = inferInputLayout(input([1, 3, 64, 64]), {
    mean: '[123.675, 116.28, 103.53]',
    std: '[58.395, 57.12, 57.375]',
  });
  assert.deepEqual(
    [meta.fields.rescale, meta.fields.mean, meta.fields.std],
    [1, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]],
  );
  assert.equal(inferInputLayout(input([1, 3, 64, 64], 'x', 'uint8')).fields.dtype, 'uint8');
  throwsWith(
    () => inferInputLayout(input([1, 784])),
    'RTI_ERR_HEAD_MISMATCH',
    /needs an image input .* input 'x' is \[1,784\]/,
  );
  throwsWith(() => inferInputLayout(input([1, 3, 8, 8], 'x', 'int64')), 'RTI_ERR_HEAD_MISMATCH', /input 'x' is int64/);
});

test('a crop default given with 224 keeps its ratio at the model size: 320 reads 366, 352 reads 402 (the #14 error)', () => {
  const classify = HEADS.classify;
  assert.equal(resolvePreprocessConfig(classify.defaults, { width: 320, height: 320 }).shortestEdge, 366);
  assert.equal(resolvePreprocessConfig(classify.defaults, { width: 352, height: 352 }).shortestEdge, 402);
  assert.equal(resolvePreprocessConfig(classify.defaults, { width: 28, height: 28 }).shortestEdge, 32);
  // An explicit value that is too small is still the caller's mistake.
  throwsWith(
    () => resolvePreprocessConfig(classify.defaults, { width: 320, height: 320, shortestEdge: 256 }),
    'RTI_ERR_ARG_INVALID',
    /invalid preprocess.shortestEdge 256 \(expected at least the crop's shorter side 320\)/,
  );
  const plan = planVision({ inputs: [input([1, 3, 320, 320])], outputs: [{ name: 'logits', shape: [1, 1000] }] });
  assert.equal(plan.config.shortestEdge, 366);
  assert.match(plan.explanation.join('\n'), /head classify \(classify\): output shapes/);
  assert.match(
    plan.explanation.join('\n'),
    /resize 320x320, shorter side 366 then centre crop: the classify head's default; size from the input/,
  );
  assert.match(
    plan.explanation.join('\n'),
    /values \(x \/ 255 − ImageNet mean\) \/ ImageNet std: the classify head's default/,
  );
});

/** x → Flatten → [1, C·H·W]: a "classifier" whose top class is the index of the largest input value. */
function flattenModel(shape: number[]): Uint8Array {
  const flat = shape.slice(1).reduce((a, b) => a * b, 1);
  return buildModel({
    nodes: [node('Flatten', ['x'], ['y'], [intAttribute('axis', 1)])],
    inputs: [{ name: 'x', dtype: 'float32', shape }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, flat] }],
  });
}

async function topIndex(shape: number[], image: RawImage, preprocess = {}): Promise<{ index: number; dims: number[] }> {
  const session = await ort.InferenceSession.create(flattenModel(shape));
  let dims: number[] = [];
  try {
    const p = createVisionPipeline({
      run: async (feeds) => {
        dims = [...feeds['x']!.dims];
        return session.run(feeds);
      },
      inputs: [{ name: 'x', shape, dtype: 'float32' }],
      outputs: [{ name: 'y', shape: [1, shape.slice(1).reduce((a, b) => a * b, 1)] }],
      preprocess: { resize: 'stretch', ...preprocess },
    });
    const r = await p.predict(image);
    assert.equal(r.task, 'classify');
    return { index: r.task === 'classify' ? r.classes[0]!.index : -1, dims };
  } finally {
    await session.release();
  }
}

function frame(width: number, height: number, channels: 1 | 3, at: [number, number], value: number[]): RawImage {
  const data = new Uint8Array(width * height * channels).fill(10);
  value.forEach((v, c) => (data[(at[1] * width + at[0]) * channels + c] = v));
  return { data, width, height, channels };
}

test('a grey [1,1,28,28] model is fed one channel; NHWC and grey NHWC put each pixel where the model reads it', async () => {
  const grey = await topIndex([1, 1, 28, 28], frame(28, 28, 1, [5, 10], [250]));
  assert.deepEqual(grey.dims, [1, 1, 28, 28]);
  assert.equal(grey.index, 10 * 28 + 5);
  // A colour image to a grey model: the luma of a pure green pixel (0.587 · 250) still stands out.
  assert.equal((await topIndex([1, 1, 28, 28], frame(28, 28, 3, [7, 3], [0, 250, 0]))).index, 3 * 28 + 7);
  const nhwcGrey = await topIndex([1, 28, 28, 1], frame(28, 28, 1, [5, 10], [250]));
  assert.deepEqual(nhwcGrey.dims, [1, 28, 28, 1]);
  assert.equal(nhwcGrey.index, 10 * 28 + 5);
  // NHWC colour, blue pixel: channel 2 in RGB order, channel 0 in BGR.
  const rgb = await topIndex([1, 8, 8, 3], frame(8, 8, 3, [2, 5], [0, 0, 250]));
  assert.equal(rgb.index, (5 * 8 + 2) * 3 + 2);
  assert.equal(
    (await topIndex([1, 8, 8, 3], frame(8, 8, 3, [2, 5], [0, 0, 250]), { channelOrder: 'bgr' })).index,
    (5 * 8 + 2) * 3,
  );
  // Four channels: the alpha plane is 255 everywhere, so it wins over a dim pixel; NCHW plane 3.
  const rgba = await topIndex([1, 4, 8, 8], frame(8, 8, 3, [2, 5], [0, 0, 20]), { rescale: 1 / 255 });
  assert.deepEqual(rgba.dims, [1, 4, 8, 8]);
  assert.ok(rgba.index >= 3 * 64, `alpha plane expected, got ${rgba.index}`);
});

test('a grey model letterboxed pads with the grey value of the pad colour', async () => {
  const session = await ort.InferenceSession.create(flattenModel([1, 1, 4, 8]));
  try {
    let seen: Float32Array | undefined;
    const p = createVisionPipeline({
      run: async (feeds) => {
        seen = Float32Array.from(feeds['x']!.data as Float32Array);
        return session.run(feeds);
      },
      inputs: [{ name: 'x', shape: [1, 1, 4, 8], dtype: 'float32' }],
      outputs: [{ name: 'y', shape: [1, 32] }],
      preprocess: { resize: 'letterbox', padValue: 114, rescale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    });
    await p.predict({ data: new Uint8Array(16).fill(200), width: 4, height: 4, channels: 1 });
    assert.deepEqual([...seen!.subarray(0, 8)], [114, 114, 200, 200, 200, 200, 114, 114]);
  } finally {
    await session.release();
  }
});

test("a fixed input side wins over a head's default size: height 48 with yolox's 640x640 plans 640x48, and says so", () => {
  const inputs = [input(['N', 3, 48, 'W'])];
  const plan = planVision({ inputs, outputs: [{ name: 'y', shape: [1, 8400, 85] }], task: 'yolox' });
  assert.deepEqual([plan.config.width, plan.config.height], [640, 48]);
  assert.ok(plan.explanation.includes('height 48: fixed by the input shape (the width is dynamic)'));
  assert.match(
    plan.explanation.join('\n'),
    /resize 640x48, .*width from the yolox head's default, height from the input/,
  );
  // A head with dynamic defaults (DB text) keeps the width dynamic under the fixed height.
  const text = planVision({ inputs, outputs: [{ name: 'y', shape: ['N', 1, 'H', 'W'] }], task: 'text' });
  assert.deepEqual([text.config.width, text.config.height], [null, 48]);
  // Your size must fit the fixed side.
  throwsWith(
    () =>
      planVision({
        inputs,
        outputs: [{ name: 'y', shape: [1, 8400, 85] }],
        task: 'yolox',
        preprocess: { width: 640, height: 640 },
      }),
    'RTI_ERR_SHAPE_MISMATCH',
    /preprocess size 640x640 does not fit input 'x' \[N,3,48,W\]/,
  );
});
