import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { RtinferError } from '../../src/errors.js';
import { resolvePreprocessConfig } from '../../src/vision/config.js';
import { preprocess } from '../../src/vision/preprocess.js';
import { PreprocessPool } from '../../src/vision/preprocess-pool.js';

test('a preprocessing worker packs exactly what the calling thread would, and keeps error codes', async () => {
  const image = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 30, b: 90 } } })
    .jpeg()
    .toBuffer();
  const config = resolvePreprocessConfig({ width: 128, height: 128, resize: 'letterbox', padValue: 114 });
  const pool = new PreprocessPool(1);
  try {
    const here = await preprocess(image, config);
    const there = await pool.run(image, config);
    assert.deepEqual(there.tensor.dims, here.tensor.dims);
    assert.deepEqual(Array.from(there.tensor.data), Array.from(here.tensor.data));
    assert.deepEqual(there.transform, here.transform);
    assert.ok(there.timing.decodeMs > 0);
    assert.equal(image.length > 0, true, 'the caller keeps its image');
    await assert.rejects(
      pool.run(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]), config),
      (e: unknown) => e instanceof RtinferError && e.code.startsWith('RTI_ERR_IMAGE_'),
    );
  } finally {
    await pool.close();
  }
  await assert.rejects(
    pool.run(image, config),
    (e: unknown) => e instanceof RtinferError && e.code === 'RTI_ERR_ENGINE_CLOSED',
  );
});
