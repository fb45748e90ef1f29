/**
 * The JSON codec worker's bounds: large JSON requests beyond MAX_PENDING are refused before they are
 * parsed; large JSON answers (whose runs are done) wait up to MAX_ENCODES, and past that a model
 * whose answers are large is refused before its next run, with a message that says what to ask for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodecPool, MAX_ENCODES } from '../../src/server/codec-pool.js';
import type { V2Tensor } from '../../src/protocol/kserve-v2.js';

const big = (): V2Tensor => ({ name: 'y', type: 'float32', dims: [1, 200_000], data: new Float32Array(200_000) });
const small = (): V2Tensor => ({ name: 'y', type: 'float32', dims: [1, 4], data: new Float32Array(4) });
const json = (): boolean => false;

test('large JSON answers queue up to MAX_ENCODES; beyond, the answer and the model’s next JSON request are refused', async () => {
  const codec = new CodecPool();
  try {
    assert.equal(codec.refusesJson('m', '1'), false);
    const held = Array.from({ length: MAX_ENCODES }, () => codec.encode('m', '1', [big()], json, undefined));
    assert.equal(codec.refusesJson('m', '1'), true, 'the encoder is full and m answers large');
    assert.equal(codec.refusesJson('other', '1'), false, 'a model whose answers are small is not refused');
    await assert.rejects(codec.encode('m', '1', [big()], json, undefined), /encoder is busy.*binary_data_output/);
    // Small answers never reach the worker, however busy it is.
    const quick = await codec.encode('m', '1', [small()], json, undefined);
    assert.ok(quick.parts.length > 0);
    assert.equal(codec.refusesJson('m', '1'), false, 'its last answer was small');
    const done = await Promise.all(held);
    assert.equal(done.length, MAX_ENCODES);
    for (const d of done) assert.match(JSON.parse(Buffer.concat(d.parts).toString()).model_name, /^m$/);
  } finally {
    await codec.close();
  }
});
