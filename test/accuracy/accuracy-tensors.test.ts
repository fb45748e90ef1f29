import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { measureAccuracy, pickReference } from '../../src/accuracy/accuracy.js';
import {
  TensorErrorAccumulator,
  numericValues,
  tensorErrorScore,
  top1Agreement,
} from '../../src/accuracy/agreement.js';
import { toFloat16Bits } from '../../src/runtime/float16.js';
import { dtypeCode } from '../../src/runtime/model-info.js';
import { buildModel, node } from '../fixtures/onnx-builder.js';
import { rejectsWith, throwsWith } from '../vision/helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rtinfer-accuracy-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** y = x · k for x float [1, n]; fp16 models take and give float16. */
function scaleModel(
  file: string,
  k: number,
  o: { dtype?: 'float32' | 'float16'; n?: number; output?: string } = {},
): string {
  const dtype = o.dtype ?? 'float32';
  const raw =
    dtype === 'float16'
      ? new Uint8Array(Uint16Array.of(toFloat16Bits(k)).buffer)
      : new Uint8Array(Float32Array.of(k).buffer);
  const shape = [1, o.n ?? 64];
  const bytes = buildModel({
    nodes: [node('Mul', ['x', 'k'], [o.output ?? 'y'])],
    inputs: [{ name: 'x', dtype, shape }],
    outputs: [{ name: o.output ?? 'y', dtype, shape }],
    initializers: [{ name: 'k', dims: [], data_type: dtypeCode(dtype)!, raw_data: raw }],
  });
  const p = path.join(dir, file);
  writeFileSync(p, bytes);
  return p;
}

test('top-1 agreement is the fraction of items with the same class', () => {
  assert.equal(top1Agreement([1, 2, 3, 4], [1, 2, 3, 4]), 1);
  assert.equal(top1Agreement([1, 0, 3, 0], [1, 2, 3, 4]), 0.5);
  assert.equal(top1Agreement([], []), 1);
  assert.throws(() => top1Agreement([1], []), RangeError);
});

test('tensor error: max and mean |a − b|, score 1 − mean|a − b| / mean|ref| clamped to [0, 1]', () => {
  const acc = new TensorErrorAccumulator();
  acc.add([1, -2, 3], [1.5, -2, 2]);
  acc.add([4], [4]);
  const r = acc.result();
  assert.equal(r.maxAbsError, 1);
  assert.equal(r.meanAbsError, 1.5 / 4);
  assert.equal(r.meanAbsReference, 10 / 4);
  assert.equal(r.score, 1 - 1.5 / 10);
  assert.equal(r.elements, 4);
  assert.equal(tensorErrorScore(5, 1), 0);
  assert.equal(tensorErrorScore(0, 0), 1);
  assert.equal(tensorErrorScore(0.1, 0), 0);
});

test('tensor error: NaN against NaN agrees, NaN against a number costs everything', () => {
  const same = new TensorErrorAccumulator();
  same.add([NaN, Infinity, 1], [NaN, Infinity, 1]);
  assert.equal(same.result().score, 1);
  const broken = new TensorErrorAccumulator();
  broken.add([1, 2], [NaN, 2]);
  assert.equal(broken.result().maxAbsError, Infinity);
  assert.equal(broken.result().score, 0);
});

test('numericValues decodes float16 bits and int64, and gives up on strings', () => {
  assert.deepEqual(
    Array.from(
      numericValues({ dims: [2], type: 'float16', data: Uint16Array.of(toFloat16Bits(1.5), toFloat16Bits(-2)) })!,
    ),
    [1.5, -2],
  );
  assert.deepEqual(Array.from(numericValues({ dims: [2], type: 'int64', data: BigInt64Array.of(3n, -4n) })!), [3, -4]);
  assert.equal(numericValues({ dims: [1], type: 'string', data: ['a'] }), undefined);
});

test('raw tensors: a model scaled by 2.2 against one scaled by 2 loses exactly a tenth of the mean magnitude', async () => {
  const ref = scaleModel('x2.onnx', 2);
  const cand = scaleModel('x2.2.onnx', 2.2);
  const r = await measureAccuracy({ model: cand, reference: ref, samples: 4 });
  assert.equal(r.metric, 'tensor-error');
  assert.equal(r.images, 4);
  // |2.2x − 2x| / |2x| = 0.1 for every element (float32 rounding aside); x is uniform in [0, 1).
  assert.ok(Math.abs(r.score - 0.9) < 1e-5, String(r.score));
  assert.ok(Math.abs(r.drop - 0.1) < 1e-5);
  assert.ok(r.maxAbsError! > 0.15 && r.maxAbsError! < 0.2 + 1e-6, String(r.maxAbsError));
  assert.ok(r.meanAbsError! > 0.05 && r.meanAbsError! < 0.15, String(r.meanAbsError));
  const self = await measureAccuracy({ model: ref, reference: ref, samples: 2 });
  assert.deepEqual([self.score, self.drop, self.maxAbsError, self.meanAbsError], [1, 0, 0, 0]);
});

test('raw tensors: an fp16 variant is fed the same inputs converted, and its rounding shows as a small error', async () => {
  const ref = scaleModel('f32.onnx', 3);
  const half = scaleModel('f16.onnx', 3, { dtype: 'float16' });
  const r = await measureAccuracy({ model: half, reference: ref, samples: 2 });
  // float16 keeps 11 significant bits: relative error at most 2^-11 per rounding, two roundings.
  assert.ok(r.score < 1 && r.score > 1 - 2 * 2 ** -11, String(r.score));
  assert.ok(r.maxAbsError! > 0 && r.maxAbsError! < 3 * 2 * 2 ** -11, String(r.maxAbsError));
});

test('raw tensors: renamed outputs are paired by position; other shapes are a mismatch', async () => {
  const ref = scaleModel('ref.onnx', 2);
  const renamed = scaleModel('renamed.onnx', 2, { output: 'out' });
  assert.equal((await measureAccuracy({ model: renamed, reference: ref, samples: 1 })).score, 1);
  const wider = scaleModel('wider.onnx', 2, { n: 32 });
  await rejectsWith(
    () => measureAccuracy({ model: wider, reference: ref }),
    'RTI_ERR_ACCURACY_MISMATCH',
    /input 'x' is 1x32 for .* but 1x64 for the reference/,
  );
});

test('pickReference names the largest file, the first of equals', () => {
  const small = scaleModel('small.onnx', 2, { n: 4 });
  const big = path.join(dir, 'big.onnx');
  writeFileSync(big, new Uint8Array(10_000));
  const twin = path.join(dir, 'twin.onnx');
  writeFileSync(twin, new Uint8Array(10_000));
  assert.equal(pickReference([small, big, twin]), big);
  assert.equal(pickReference([small]), small);
  throwsWith(() => pickReference([]), 'RTI_ERR_ARG_MISSING', /at least one model/);
  throwsWith(() => pickReference([small, path.join(dir, 'nope.onnx')]), 'RTI_ERR_MODEL_NOT_FOUND', /nope\.onnx/);
});
