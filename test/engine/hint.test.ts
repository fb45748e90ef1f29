/**
 * Performance hints on a real model: 'latency' and 'throughput' lay the engine out without
 * measuring, 'auto' measures both layouts loaded and keeps one (saying why), and explicit instances
 * or threads win over any hint.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { createEngine } from '../../src/engine/engine.js';
import { hintLayout } from '../../src/engine/hint.js';
import { OCR_CLS } from '../helpers/models.js';

const cores = os.availableParallelism();
const base = { model: OCR_CLS, warmupShapes: { x: [1, 3, 48, 192] } };

test('latency and throughput hints lay the model out without measuring', async () => {
  assert.deepEqual(hintLayout('latency', 4), { instances: 1, threads: 4 });
  assert.deepEqual(hintLayout('throughput', 4), { instances: 4, threads: 1 });
  for (const hint of ['latency', 'throughput'] as const) {
    const engine = await createEngine({ ...base, hint });
    try {
      const want = hintLayout(hint, cores);
      assert.equal(engine.config.instances, want.instances);
      assert.equal(engine.config.threadsPerInstance, want.threads);
      assert.equal(engine.config.hint, hint);
      assert.equal(engine.config.calibration, undefined);
      assert.equal(engine.health().live, want.instances);
    } finally {
      await engine.close();
    }
  }
});

test('the auto hint measures both layouts loaded, keeps the one it names, and closes the other', async (t) => {
  if (cores < 2) return t.skip('one core: nothing to choose');
  const engine = await createEngine({ ...base, hint: 'auto' });
  try {
    const c = engine.config.calibration;
    assert.ok(c);
    assert.equal(c.measured.length, 2);
    for (const m of c.measured) assert.ok(m.qps > 0 && m.runs > 0 && m.p50Ms > 0, JSON.stringify(m));
    assert.deepEqual({ instances: engine.config.instances, threads: engine.config.threadsPerInstance }, c.chosen);
    assert.match(c.reason, /^auto: \d+ instances? × \d+ threads? serve \d+\/s loaded, against \d+\/s for/);
    const [latency, throughput] = c.measured;
    const wantThroughput = (throughput?.qps ?? 0) >= (latency?.qps ?? 0) * 1.15;
    assert.equal(engine.config.instances, wantThroughput ? cores : 1);
    assert.ok(c.ms < 15_000, `calibration took ${c.ms} ms`);
    const out = await engine.infer({
      x: { type: 'float32', dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) },
    });
    assert.deepEqual(out['softmax_0.tmp_0']?.dims ?? Object.values(out)[0]?.dims, [1, 2]);
  } finally {
    await engine.close();
  }
});

test('explicit instances or threads win over a hint', async () => {
  const engine = await createEngine({ ...base, hint: 'auto', instances: 1, threads: 1 });
  try {
    assert.equal(engine.config.instances, 1);
    assert.equal(engine.config.threadsPerInstance, 1);
    assert.equal(engine.config.hint, undefined);
    assert.equal(engine.config.calibration, undefined);
  } finally {
    await engine.close();
  }
});
