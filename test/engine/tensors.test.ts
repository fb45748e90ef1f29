/**
 * Input validation and the engine's buffer pool, without workers (the engine-level behaviour on
 * real models is in engine.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import type { TensorSpec } from '../../src/runtime/session.js';
import { BufferPool, validateInputs } from '../../src/engine/tensors.js';

const MiB = 1024 * 1024;

describe('validateInputs', () => {
  const specs: TensorSpec[] = [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 'h', 'w'] }];
  const input = (dims: number[]) => ({
    x: { type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) },
  });
  const refusal = (pattern: RegExp) => (e: unknown) =>
    e instanceof RtinferError && e.code === 'RTI_ERR_SHAPE_MISMATCH' && pattern.test(e.message);

  it('refuses a zero-size dimension, which onnxruntime would only fail on inside the graph', () => {
    assert.throws(
      () => validateInputs(specs, input([1, 3, 0, 320]), true),
      refusal(/^input 'x' has a zero-size dimension \[1,3,0,320\]$/),
    );
    assert.throws(
      () => validateInputs(specs, input([1, 3, 32, 0]), false),
      refusal(/^input 'x' has a zero-size dimension \[1,3,32,0\]$/),
    );
    assert.throws(
      () => validateInputs(specs, input([0, 3, 32, 32]), true),
      refusal(/^input 'x' has a zero-size dimension \[0,3,32,32\] \(batch size 0\)$/),
    );
    assert.equal(validateInputs(specs, input([2, 3, 32, 32]), true).rows, 2);
  });
});

describe('BufferPool', () => {
  it('keeps a returned buffer only if take() asked for its size, so a big request body is not kept', () => {
    const pool = new BufferPool();
    const body = new ArrayBuffer(50 * 1000 * 1000); // a whole request body the server transferred
    pool.give([body, new ArrayBuffer(1024)]);
    assert.equal(pool.pooledBytes, 0);
    const a = pool.take(1024);
    pool.give([a, new ArrayBuffer(50 * 1000 * 1000)]);
    assert.equal(pool.pooledBytes, 1024);
    assert.equal(pool.take(1024), a, 'a taken size is reused');
    assert.equal(pool.pooledBytes, 0);
  });

  it('holds at most 64 MiB by default, and at most PER_SIZE buffers of a size', () => {
    const pool = new BufferPool();
    const big = Array.from({ length: BufferPool.PER_SIZE }, () => pool.take(9 * MiB));
    pool.give(big);
    assert.equal(pool.pooledBytes, 7 * 9 * MiB, 'the eighth 9 MiB buffer would pass 64 MiB');
    const small = new BufferPool(1 * MiB);
    const many = Array.from({ length: BufferPool.PER_SIZE + 4 }, () => small.take(1000));
    small.give(many);
    assert.equal(small.pooledBytes, BufferPool.PER_SIZE * 1000);
  });

  it('remembers only the last MAX_SIZES sizes taken, and drops the buffers of a size it forgets', () => {
    const pool = new BufferPool();
    const first = pool.take(1);
    pool.give([first]);
    assert.equal(pool.pooledBytes, 1);
    for (let n = 2; n <= BufferPool.MAX_SIZES; n++) pool.take(n);
    pool.give([new ArrayBuffer(1)]);
    assert.equal(pool.pooledBytes, 2, 'size 1 is still among the last MAX_SIZES taken');
    // Touch size 1 again: now size 2 is the least recently taken, and one more size forgets it.
    pool.take(1);
    pool.give([new ArrayBuffer(2)]);
    assert.equal(pool.pooledBytes, 1 + 2);
    pool.take(BufferPool.MAX_SIZES + 1);
    assert.equal(pool.pooledBytes, 1, "size 2's buffer was dropped with it");
    pool.give([new ArrayBuffer(2)]);
    assert.equal(pool.pooledBytes, 1, 'a forgotten size is not kept');
  });

  it("never keeps a slab of Node's Buffer pool, and clear() lets every buffer go", () => {
    const pool = new BufferPool();
    pool.take(Buffer.poolSize);
    const small = Buffer.from('a small Buffer lives on a shared slab');
    assert.equal(small.buffer.byteLength, Buffer.poolSize);
    pool.give([small.buffer as ArrayBuffer]);
    assert.equal(pool.pooledBytes, 0, 'a slab other live Buffers use is not free memory');
    pool.give([pool.take(1000), pool.take(2000)]);
    assert.equal(pool.pooledBytes, 3000);
    pool.clear();
    assert.equal(pool.pooledBytes, 0);
    assert.notEqual(pool.take(1000).byteLength, 0);
  });
});
