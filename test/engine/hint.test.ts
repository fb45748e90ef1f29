/**
 * Performance hints on a real model: 'throughput' lays the engine out without measuring, 'latency'
 * measures one request at a time with every core and with one thread and keeps the faster, 'auto'
 * measures both layouts loaded and keeps one (saying why), and explicit instances or threads win
 * over any hint.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { createEngine } from '../../src/engine/engine.js';
import { chooseLayout, hintLayout, type Layout } from '../../src/engine/hint.js';
import { startPool, type StartedPool } from '../../src/engine/start-pool.js';
import { readModel } from '../../src/runtime/session.js';
import { realClock } from '../../src/util/clock.js';
import { OCR_CLS } from '../helpers/models.js';

const cores = os.availableParallelism();
const base = { model: OCR_CLS, warmupShapes: { x: [1, 3, 48, 192] } };

test('the throughput hint lays the model out without measuring', async () => {
  assert.deepEqual(hintLayout('latency', 4), { instances: 1, threads: 4 });
  assert.deepEqual(hintLayout('throughput', 4), { instances: 4, threads: 1 });
  const engine = await createEngine({ ...base, hint: 'throughput' });
  try {
    const want = hintLayout('throughput', cores);
    assert.equal(engine.config.instances, want.instances);
    assert.equal(engine.config.threadsPerInstance, want.threads);
    assert.equal(engine.config.hint, 'throughput');
    assert.equal(engine.config.calibration, undefined);
    assert.equal(engine.health().live, want.instances);
  } finally {
    await engine.close();
  }
});

test('the latency hint measures one request at a time with every core and with one thread, and keeps the faster', async (t) => {
  if (cores < 2) return t.skip('one core: nothing to choose');
  const engine = await createEngine({ ...base, hint: 'latency' });
  try {
    const c = engine.config.calibration;
    assert.ok(c);
    assert.equal(engine.config.hint, 'latency');
    assert.deepEqual(
      c.measured.map((m) => [m.instances, m.threads]),
      [
        [1, cores],
        [1, 1],
      ],
    );
    for (const m of c.measured) assert.ok(m.runs > 0 && m.p50Ms > 0, JSON.stringify(m));
    const [all, one] = c.measured as [(typeof c.measured)[0], (typeof c.measured)[0]];
    // Every core only when clearly faster (10 %): more threads cost the cores other work needs.
    const want = all.p50Ms * 1.1 <= one.p50Ms ? cores : 1;
    assert.deepEqual(c.chosen, { instances: 1, threads: want });
    assert.equal(engine.config.instances, 1);
    assert.equal(engine.config.threadsPerInstance, want);
    assert.equal(engine.health().live, 1, 'the other layout was closed');
    assert.match(
      c.reason,
      /^latency: 1 instance × \d+ threads? answers one request in [\d.]+ ms \(p50\), against [\d.]+ ms for 1 instance × \d+ threads? \(at x=1x3x48x192\)$/,
    );
  } finally {
    await engine.close();
  }
});

test('the auto hint measures both layouts loaded, keeps the one it names, and closes the other', async (t) => {
  if (cores < 2) return t.skip('one core: nothing to choose');
  const engine = await createEngine({ ...base, hint: 'auto' });
  try {
    const c = engine.config.calibration;
    assert.ok(c);
    for (const m of c.measured) assert.ok(m.qps > 0 && m.runs > 0 && m.p50Ms > 0, JSON.stringify(m));
    assert.deepEqual({ instances: engine.config.instances, threads: engine.config.threadsPerInstance }, c.chosen);
    assert.match(c.reason, /^auto: \d+ instances? × \d+ threads? serve \d+\/s loaded, against \d+\/s for/);
    const [latency, throughput, one] = c.measured;
    const wantThroughput = (throughput?.qps ?? 0) >= (latency?.qps ?? 0) * 1.15;
    assert.equal(engine.config.instances, wantThroughput ? cores : 1);
    // The latency layout, when it wins, is also measured against one thread (as the latency hint is).
    assert.equal(c.measured.length, wantThroughput ? 2 : 3);
    if (!wantThroughput && latency && one)
      assert.equal(engine.config.threadsPerInstance, latency.p50Ms * 1.1 <= one.p50Ms ? cores : 1);
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

test('a candidate layout that cannot start leaves the measured one serving, the others closed', async () => {
  const model = await readModel(OCR_CLS);
  const pools: StartedPool[] = [];
  // Two cores whatever the machine: the throughput layout (2 × 1) and one thread (1 × 1) fail to start.
  const start = async (layout: Layout): Promise<StartedPool> => {
    if (layout.threads === 1) throw new Error('out of memory');
    const p = await startPool(layout, model, { allowSpinning: false }, realClock);
    pools.push(p);
    return p;
  };
  for (const hint of ['auto', 'latency'] as const) {
    pools.length = 0;
    const chosen = await chooseLayout(hint, 2, start, base.warmupShapes, realClock).catch(async (error: unknown) => {
      // A failed choice must still not leave workers behind (they would keep this test's process alive).
      for (const p of pools) await p.pool.close();
      throw error;
    });
    const { started, calibration } = chosen;
    try {
      assert.deepEqual(started.layout, { instances: 1, threads: 2 });
      assert.equal(pools.length, 1, 'no other pool was started and left open');
      assert.deepEqual(
        calibration?.measured.map((m) => [m.instances, m.threads]),
        [[1, 2]],
      );
      assert.match(
        calibration?.reason ?? '',
        hint === 'auto'
          ? /^auto: 2 instances × 1 thread not measured \(out of memory\): 1 instance × 2 threads$/
          : /^latency: 1 instance × 2 threads$/,
      );
    } finally {
      await started.pool.close();
    }
  }
});
