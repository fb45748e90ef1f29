/**
 * The engine with placement 'main': one session on the calling thread, behind the same scheduler
 * (batching, deadlines, crash recovery, close) as worker threads, on real models.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../../src/errors.js';
import { crashWorkerForTesting, createEngine } from '../../src/engine/engine.js';
import { createRng } from '../../src/runtime/synthetic.js';
import { OCR_CLS, ROOT, SILERO } from '../helpers/models.js';

const rng = createRng(7);
const clsInput = (rows = 1): Tensor =>
  new Tensor('float32', Float32Array.from({ length: rows * 3 * 48 * 192 }, rng), [rows, 3, 48, 192]);
const CLS_OUT = 'softmax_0.tmp_0';
const hasCode = (code: string) => (e: unknown) => e instanceof RtinferError && e.code === code;

test("placement main answers as worker threads do, without moving or changing the caller's buffers", async () => {
  const main = await createEngine({
    model: OCR_CLS,
    placement: 'main',
    threads: 1,
    warmupShapes: { x: [1, 3, 48, 192] },
  });
  const worker = await createEngine({ model: OCR_CLS, instances: 1, threads: 1, warmupShapes: { x: [1, 3, 48, 192] } });
  try {
    assert.equal(main.config.placement, 'main');
    assert.equal(main.config.instances, 1);
    assert.equal(worker.config.placement, 'worker');
    const x = clsInput();
    const before = Float32Array.from(x.data as Float32Array);
    const a = await main.infer({ x }, { transferInputs: true });
    const b = await worker.infer({ x });
    assert.deepEqual([...(a[CLS_OUT]?.data as Float32Array)], [...(b[CLS_OUT]?.data as Float32Array)]);
    assert.equal((x.data as Float32Array).byteLength, before.byteLength, 'not detached');
    assert.deepEqual(x.data, before);
  } finally {
    await Promise.all([main.close(), worker.close()]);
  }
});

test('placement main batches concurrent requests and gives each its own rows', async () => {
  const engine = await createEngine({
    model: OCR_CLS,
    placement: 'main',
    threads: 1,
    batching: { maxBatchSize: 4, maxQueueDelayUs: 5000 },
    warmupShapes: { x: [1, 3, 48, 192] },
  });
  try {
    const inputs = Array.from({ length: 4 }, () => clsInput());
    const alone = await Promise.all(
      inputs.map(async (x) => [...((await engine.infer({ x }))[CLS_OUT]?.data as Float32Array)]),
    );
    const together = await Promise.all(inputs.map((x) => engine.inferWithTiming({ x })));
    together.forEach((r, i) => {
      const got = [...(r.outputs[CLS_OUT]?.data as Float32Array)];
      got.forEach((v, j) => assert.ok(Math.abs(v - alone[i]![j]!) < 1e-5, `request ${i} value ${j}`));
    });
    assert.ok(
      together.some((r) => r.timing.batchRequests > 1),
      'at least one batch held several requests',
    );
  } finally {
    await engine.close();
  }
});

test('placement main: an onnxruntime failure is one line and the next request runs; a dropped session is replaced', async () => {
  const engine = await createEngine({ model: SILERO, placement: 'main', warmup: false });
  try {
    const feeds = (samples: number) => ({
      input: new Tensor('float32', new Float32Array(samples), [1, samples]),
      state: new Tensor('float32', new Float32Array(256), [2, 1, 128]),
      sr: new Tensor('int64', BigInt64Array.of(16000n), []),
    });
    const error = await engine.infer(feeds(1)).then(
      () => assert.fail('expected the inference to fail'),
      (e: unknown) => e,
    );
    assert.ok(hasCode('RTI_ERR_INFERENCE_FAILED')(error), String(error));
    assert.ok(!(error as Error).message.includes('\n'));
    assert.deepEqual((await engine.infer(feeds(512)))['output']?.dims, [1, 1]);

    crashWorkerForTesting(engine, 0);
    const end = performance.now() + 15_000;
    while (!engine.health().ready || engine.health().restarts < 1) {
      if (performance.now() > end) assert.fail(`no replacement: ${JSON.stringify(engine.health())}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual((await engine.infer(feeds(512)))['output']?.dims, [1, 1]);
    assert.equal(engine.stats().workerRestarts, 1);
  } finally {
    await engine.close();
  }
});

test('BAD CALL - placement main takes one instance, and an unknown placement is refused', async () => {
  await assert.rejects(
    createEngine({ model: OCR_CLS, placement: 'main', instances: 2 }),
    (e: unknown) => hasCode('RTI_ERR_ARG_INVALID')(e) && /instances must be 1/.test((e as Error).message),
  );
  await assert.rejects(
    createEngine({ model: OCR_CLS, placement: 'gpu' as never }),
    (e: unknown) => hasCode('RTI_ERR_ARG_INVALID')(e) && /invalid placement 'gpu'/.test((e as Error).message),
  );
});

test('placement main: a request waiting for its batch keeps the process alive until it is answered', async () => {
  // No worker thread holds the event loop open here: only the scheduler's batching timer does.
  // A lone request waits the whole 300 ms delay for company, then runs; the script never closes
  // the engine, so it must also exit by itself once answered.
  const script = `
    import { createEngine } from ${JSON.stringify(path.join(ROOT, 'dist/index.js'))};
    const { Tensor } = await import('onnxruntime-node');
    const engine = await createEngine({ model: ${JSON.stringify(OCR_CLS)}, placement: 'main', threads: 1,
      batching: { maxBatchSize: 8, maxQueueDelayUs: 300000 }, warmup: false });
    const x = new Tensor('float32', new Float32Array(3 * 48 * 192), [1, 3, 48, 192]);
    const out = await engine.infer({ x });
    console.log('answered', out[${JSON.stringify(CLS_OUT)}].dims.join('x'));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    timeout: 60_000,
  });
  assert.equal(stdout.trim(), 'answered 1x2');
});

test('back-to-back runs on the calling thread let the event loop turn between them: what an answer queued for the next turn goes first', async () => {
  const engine = await createEngine({
    model: OCR_CLS,
    placement: 'main',
    threads: 1,
    warmupShapes: { x: [1, 3, 48, 192] },
  });
  try {
    const order: string[] = [];
    // As node:http2 sends a gRPC answer's trailers: from an immediate queued once the answer is out.
    const first = engine.infer({ x: clsInput() }).then(() => setImmediate(() => order.push('turn')));
    const second = engine.infer({ x: clsInput() }).then(() => order.push('second'));
    await Promise.all([first, second]);
    assert.deepEqual(order, ['turn', 'second']);
  } finally {
    await engine.close();
  }
});
