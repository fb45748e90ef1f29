/**
 * WorkerPool's 'shared' transport (shared-channel.ts) on real models in real worker threads: the
 * same answers as the 'message' transport, region growth, the message fallbacks, crashes, inference
 * errors, and pools side by side.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import type { Transport, WorkerInit } from '../../src/engine/protocol.js';
import type { SharedTuning } from '../../src/engine/shared-channel.js';
import type { WireFeeds } from '../../src/engine/tensors.js';
import { WorkerPool } from '../../src/engine/worker-pool.js';
import { createRng } from '../../src/runtime/synthetic.js';
import { buildModel, identityModel, intAttribute, node } from '../fixtures/onnx-builder.js';
import { OCR_CLS, SILERO } from '../helpers/models.js';

const rng = createRng(7);
const CLS = new Uint8Array(readFileSync(OCR_CLS));
const VAD = new Uint8Array(readFileSync(SILERO));
const CLS_OUT = 'softmax_0.tmp_0';
/** Lets the classifier's 110 KB input take the shared path (the default limit sends it by message). */
const ROOMY: SharedTuning = { maxInputBytes: 1 << 20, maxOutputBytes: 1 << 20 };

const pools: WorkerPool[] = [];
after(() => Promise.all(pools.map((p) => p.close())));

async function open(
  modelBytes: Uint8Array,
  transport: Transport,
  sharedTuning?: SharedTuning,
  onCrash: (i: number, e: Error) => void = () => {},
): Promise<WorkerPool> {
  const init: WorkerInit = {
    modelBytes,
    label: 'test',
    settings: { intraOpThreads: 1 },
    transport,
    ...(sharedTuning ? { sharedTuning } : {}),
  };
  const pool = new WorkerPool(1, init, onCrash);
  pools.push(pool);
  await pool.start();
  return pool;
}

const clsFeeds = (): WireFeeds => ({
  x: { type: 'float32', dims: [1, 3, 48, 192], data: Float32Array.from({ length: 3 * 48 * 192 }, rng) },
});
const vadFeeds = (): WireFeeds => ({
  input: { type: 'float32', dims: [1, 512], data: Float32Array.from({ length: 512 }, () => rng() * 2 - 1) },
  state: { type: 'float32', dims: [2, 1, 128], data: Float32Array.from({ length: 256 }, () => rng() * 0.1) },
  sr: { type: 'int64', dims: [], data: BigInt64Array.of(16000n) },
});
/** A copy, since the message transport detaches what it sends. */
const copy = (f: WireFeeds): WireFeeds =>
  Object.fromEntries(
    Object.entries(f).map(([k, t]) => [k, { ...t, dims: [...t.dims], data: t.data.slice() as typeof t.data }]),
  );

function assertSameOutputs(got: WireFeeds, want: WireFeeds): void {
  assert.deepEqual(Object.keys(got), Object.keys(want));
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    assert.equal(g.type, w.type);
    assert.deepEqual(g.dims, w.dims);
    // One intra-op thread each side: onnxruntime gives the same bits.
    assert.deepEqual(Array.from(g.data as Float32Array), Array.from(w.data as Float32Array), `output ${name}`);
    assert.ok(
      !(g.data as Float32Array).buffer.constructor.name.includes('Shared'),
      'outputs are not views on shared memory',
    );
  }
}

const crashed = (e: unknown): boolean =>
  e instanceof RtinferError &&
  e.code === 'RTI_ERR_ENGINE_WORKER_CRASHED' &&
  /worker 0 died \(exit code 70\)/.test(e.message);

test('shared and message transports answer the same on the PP-OCR classifier and Silero VAD', async () => {
  for (const [model, feeds, tuning] of [
    [CLS, clsFeeds, ROOMY],
    [VAD, vadFeeds, undefined],
  ] as const) {
    const message = await open(model, 'message');
    const shared = await open(model, 'shared', tuning);
    for (let i = 0; i < 5; i++) {
      const f = feeds();
      const want = await message.run(0, copy(f));
      const got = await shared.run(0, f);
      assertSameOutputs(got.outputs, want.outputs);
      assert.ok(got.inferenceMs > 0);
    }
    assert.deepEqual(shared.hops, { message: 0, shared: 5, sharedAnsweredByMessage: 0 });
    assert.deepEqual(message.hops, { message: 5, shared: 0, sharedAnsweredByMessage: 0 });
  }
});

test('a request sent by message reports its two hand-offs; one through the channel has none', async () => {
  const message = await open(CLS, 'message');
  const shared = await open(VAD, 'shared');
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = await message.run(0, clsFeeds());
    const roundTripMs = performance.now() - t0;
    const legs = r.legs;
    assert.ok(legs, 'a message-path run carries its legs');
    // Both stamps are on the process-wide monotonic clock: each leg is a real interval, and the
    // legs with the run inside the worker fit in the round trip the caller saw.
    assert.ok(legs.toWorkerMs >= 0 && legs.backMs >= 0, JSON.stringify(legs));
    assert.ok(
      legs.toWorkerMs + r.inferenceMs + legs.backMs <= roundTripMs + 0.05,
      `${JSON.stringify(legs)} ${roundTripMs}`,
    );
    assert.equal((await shared.run(0, vadFeeds())).legs, undefined);
  }
});

test('with a main-thread spin the answers are the same, caught in the spin or after it', async () => {
  const model = identityModel([{ name: 'x', dtype: 'float32', shape: [1, 64] }]);
  // 5 ms: every reply after the first comes within it; 1 µs: none does, waitAsync takes over.
  for (const spinUs of [5000, 1]) {
    const pool = await open(model, 'shared', { spinUs });
    for (let i = 0; i < 20; i++) {
      const x = Float32Array.from({ length: 64 }, rng);
      const { outputs } = await pool.run(0, { x: { type: 'float32', dims: [1, 64], data: x } });
      assert.deepEqual(Array.from(outputs['x_out']!.data as Float32Array), Array.from(x));
    }
    assert.equal(pool.hops.shared, 20);
  }
});

test('the input buffers go back through onBuffers, not detached, once the answer is in', async () => {
  const pool = await open(VAD, 'shared');
  const handed: ArrayBuffer[] = [];
  pool.onBuffers = (b) => handed.push(...b);
  const f = vadFeeds();
  const mine = Object.values(f).map((t) => (t.data as Float32Array).buffer);
  const run = pool.run(0, f);
  assert.equal(handed.length, 0);
  await run;
  assert.deepEqual(new Set(handed), new Set(mine));
  assert.ok(mine.every((b) => b.byteLength > 0));
});

test('inputs larger than the data region make it grow, and each size still answers right', async () => {
  const reference = await open(CLS, 'message');
  const pool = await open(CLS, 'shared', { ...ROOMY, initialBytes: 1024 });
  // Growing from 1 KiB, then another shape, then back: every request on the shared path.
  for (const width of [192, 320, 96, 192]) {
    const f: WireFeeds = {
      x: { type: 'float32', dims: [1, 3, 48, width], data: Float32Array.from({ length: 3 * 48 * width }, rng) },
    };
    assertSameOutputs((await pool.run(0, f)).outputs, (await reference.run(0, copy(f))).outputs);
  }
  assert.equal(pool.hops.shared, 4);
  assert.equal(pool.hops.message, 0);
  // Above the input limit: by message, same answer.
  const small = await open(CLS, 'shared', { maxInputBytes: 4096 });
  const f = clsFeeds();
  const want = (await reference.run(0, copy(f))).outputs;
  assertSameOutputs((await small.run(0, f)).outputs, want);
  assert.deepEqual(small.hops, { message: 1, shared: 0, sharedAnsweredByMessage: 0 });
});

test('outputs that do not fit come back by message, and the region grows for the next request', async () => {
  // y = Concat(x, x): the reply is twice the request.
  const model = buildModel({
    nodes: [node('Concat', ['x', 'x'], ['y'], [intAttribute('axis', 1)])],
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 'n'] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, 'm'] }],
  });
  const pool = await open(model, 'shared', { initialBytes: 4096, maxInputBytes: 64 * 1024, maxOutputBytes: 64 * 1024 });
  const x = Float32Array.from({ length: 1024 }, rng); // 4 KiB in, 8 KiB out
  const expect = [...x, ...x];
  for (let i = 0; i < 3; i++) {
    const out = (await pool.run(0, { x: { type: 'float32', dims: [1, 1024], data: x.slice() } })).outputs['y']!;
    assert.deepEqual(out.dims, [1, 2048]);
    assert.deepEqual(Array.from(out.data as Float32Array), expect);
  }
  assert.deepEqual(pool.hops, { message: 0, shared: 3, sharedAnsweredByMessage: 1 });
  // Beyond maxOutputBytes replies always travel by message.
  const capped = await open(model, 'shared', { maxOutputBytes: 4096 });
  for (let i = 0; i < 2; i++)
    assert.deepEqual(
      Array.from(
        (await capped.run(0, { x: { type: 'float32', dims: [1, 1024], data: x.slice() } })).outputs['y']!
          .data as Float32Array,
      ),
      expect,
    );
  assert.deepEqual(capped.hops, { message: 0, shared: 2, sharedAnsweredByMessage: 2 });
});

test('every numeric dtype crosses the shared channel intact; strings take the message path', async () => {
  const numeric = [
    { name: 'f16', dtype: 'float16', data: Uint16Array.of(0x3c00, 0xc000, 0x7bff) },
    { name: 'f64', dtype: 'float64', data: Float64Array.of(Math.PI, -0, 1e300) },
    { name: 'i8', dtype: 'int8', data: Int8Array.of(-128, 0, 127) },
    { name: 'i64', dtype: 'int64', data: BigInt64Array.of(-(2n ** 63n), 0n, 2n ** 62n) },
    { name: 'u64', dtype: 'uint64', data: BigUint64Array.of(0n, 1n, 2n ** 64n - 1n) },
    { name: 'b', dtype: 'bool', data: Uint8Array.of(1, 0, 1) },
    { name: 'u16', dtype: 'uint16', data: Uint16Array.of(0, 1, 65535) },
  ] as const;
  const model = identityModel(numeric.map((t) => ({ name: t.name, dtype: t.dtype, shape: [3] })));
  const pool = await open(model, 'shared');
  const feeds: WireFeeds = Object.fromEntries(
    numeric.map((t) => [t.name, { type: t.dtype, dims: [3], data: t.data.slice() }]),
  );
  const { outputs } = await pool.run(0, feeds);
  for (const t of numeric) {
    const o = outputs[`${t.name}_out`]!;
    assert.equal(o.type, t.dtype);
    assert.deepEqual(o.dims, [3]);
    assert.deepEqual(Array.from(o.data as Uint8Array), Array.from(t.data as Uint8Array), t.name);
  }
  assert.deepEqual(pool.hops, { message: 0, shared: 1, sharedAnsweredByMessage: 0 });

  // Empty tensors (the pool does not validate; the engine refuses them before): zero bytes each way.
  const empty = await open(identityModel([{ name: 'e', dtype: 'float32', shape: ['n'] }]), 'shared');
  const none = await empty.run(0, { e: { type: 'float32', dims: [0], data: new Float32Array(0) } });
  assert.deepEqual(none.outputs['e_out']?.dims, [0]);
  assert.equal((none.outputs['e_out']?.data as Float32Array).length, 0);
  assert.deepEqual(empty.hops, { message: 0, shared: 1, sharedAnsweredByMessage: 0 });

  const strings = await open(identityModel([{ name: 's', dtype: 'string', shape: [2] }]), 'shared');
  const out = await strings.run(0, { s: { type: 'string', dims: [2], data: ['héllo', ''] } });
  assert.deepEqual(out.outputs['s_out']?.data, ['héllo', '']);
  assert.deepEqual(strings.hops, { message: 1, shared: 0, sharedAnsweredByMessage: 0 });
});

test('a worker that crashes fails its request with WORKER_CRASHED, and a replacement answers on the shared path', async () => {
  const crashes: string[] = [];
  const pool = await open(VAD, 'shared', undefined, (i, e) => crashes.push(`${i}: ${e.message}`));
  await pool.run(0, vadFeeds());
  // Idle worker: it wakes to the crash at once, before taking the request.
  pool.crash(0);
  await assert.rejects(pool.run(0, vadFeeds()), crashed);
  assert.equal(crashes.length, 1);
  await assert.rejects(pool.run(0, vadFeeds()), /worker 0 is not running/);
  await pool.replace(0);
  // Crash during a run in flight.
  const inflight = pool.run(0, vadFeeds());
  pool.crash(0);
  await assert.rejects(inflight, crashed);
  assert.equal(crashes.length, 2);
  await pool.replace(0);
  const ok = await pool.run(0, vadFeeds());
  assert.deepEqual(ok.outputs['output']?.dims, [1, 1]);
  assert.equal(pool.restarts, 2);
  assert.ok(pool.hops.shared >= 4);
});

test('an inference error keeps its onnxruntime text as the cause, as on the message transport, and the worker goes on', async () => {
  const bad = (): WireFeeds => ({
    x: { type: 'float32', dims: [1, 2, 48, 192], data: new Float32Array(2 * 48 * 192) },
  });
  const errors: RtinferError[] = [];
  for (const transport of ['message', 'shared'] as const) {
    const pool = await open(CLS, transport, ROOMY);
    const error = await pool.run(0, bad()).then(
      () => assert.fail('a 2-channel input ran'),
      (e: unknown) => e as RtinferError,
    );
    assert.ok(error instanceof RtinferError);
    assert.equal(error.code, 'RTI_ERR_INFERENCE_FAILED');
    assert.match(error.message, /^inference failed in onnxruntime: /);
    assert.ok(
      error.cause instanceof Error &&
        error.cause.message.length >= error.message.length - 'inference failed in onnxruntime: '.length,
    );
    errors.push(error);
    assert.deepEqual((await pool.run(0, clsFeeds())).outputs[CLS_OUT]?.dims, [1, 2]);
    if (transport === 'shared') assert.deepEqual(pool.hops, { message: 0, shared: 2, sharedAnsweredByMessage: 1 });
  }
  assert.equal(errors[1]!.message, errors[0]!.message);
  assert.equal((errors[1]!.cause as Error).message, (errors[0]!.cause as Error).message);
});

test('pools side by side do not see each other', async () => {
  const a = await open(CLS, 'shared', ROOMY);
  const b = await open(CLS, 'shared', ROOMY);
  const c = await open(VAD, 'shared');
  const reference = await open(CLS, 'message');
  const vadReference = await open(VAD, 'message');
  for (let round = 0; round < 4; round++) {
    const fa = clsFeeds();
    const fb = clsFeeds();
    const fc = vadFeeds();
    const [ra, rb, rc] = await Promise.all([a.run(0, copy(fa)), b.run(0, copy(fb)), c.run(0, copy(fc))]);
    assertSameOutputs(ra.outputs, (await reference.run(0, fa)).outputs);
    assertSameOutputs(rb.outputs, (await reference.run(0, fb)).outputs);
    assertSameOutputs(rc.outputs, (await vadReference.run(0, fc)).outputs);
  }
  for (const p of [a, b, c]) assert.deepEqual(p.hops, { message: 0, shared: 4, sharedAnsweredByMessage: 0 });
});

test('a closed shared pool refuses requests', async () => {
  const pool = new WorkerPool(
    1,
    { modelBytes: CLS, label: 'test', settings: { intraOpThreads: 1 }, transport: 'shared', sharedTuning: ROOMY },
    () => {},
  );
  await pool.start();
  // (Not while a run is in flight: terminating a worker inside onnxruntime aborts the process.)
  await pool.run(0, clsFeeds());
  await pool.close();
  await assert.rejects(pool.run(0, clsFeeds()), /worker 0 is not running/);
});
