/** runBench end to end on a real model for each scenario, and against a KServe v2 HTTP server. */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, test } from 'node:test';
import { runBench } from '../../src/loadgen/bench.js';
import { createHttpTarget, parseModelUrl } from '../../src/loadgen/http-target.js';
import { RtinferError } from '../../src/errors.js';
import { OCR_CLS } from '../helpers/models.js';
import { startV2Server, type TestV2Server } from '../helpers/v2-server.js';

const BASE = {
  model: OCR_CLS,
  shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
  warmup: { minQueries: 5, minDurationMs: 0 },
};
let server: TestV2Server;
before(async () => {
  server = await startV2Server(OCR_CLS, 'cls');
});
after(async () => server.close());

test('server scenario: Poisson load through the engine, p99 headline, bound verdict and generator slip', async () => {
  const { report } = await runBench({
    ...BASE,
    scenario: 'server',
    qps: 150,
    latencyBoundMs: 500,
    durationMs: 1500,
    minQueries: 100,
  });
  assert.equal(report.scenario, 'server');
  assert.equal(report.headline.metric, 'p99');
  assert.ok(report.server && Math.abs(report.server.achievedQps - 150) < 40, `achieved ${report.server?.achievedQps}`);
  assert.equal(report.server?.latencyBoundMs, 500);
  assert.equal(typeof report.server?.pass, 'boolean');
  assert.ok(report.generator && report.generator.slipMs.p50 < 5);
  assert.ok(report.engine && report.engine.counts.ok >= 100);
  // No layout given: the auto hint's, as rtinfer serve's, with its reason.
  assert.equal(report.engine.layout?.hint, 'auto');
  assert.match(report.engine.layout?.reason ?? '', /^auto: /);
  assert.ok([1, os.availableParallelism()].includes(report.engine.instances), `${report.engine.instances} instances`);
  assert.deepEqual(report.settings.scenario, { qps: 150, arrivalSeed: 1, latencyBoundMs: 500, engine: {} });
});

test('multi-stream, offline and concurrency report their headline and the engine split', async () => {
  const multi = await runBench({
    ...BASE,
    scenario: 'multi-stream',
    samplesPerQuery: 4,
    durationMs: 300,
    minQueries: 20,
  });
  assert.equal(multi.report.headline.metric, 'p99');
  assert.ok(
    Math.abs(multi.report.throughput.samplesPerSecond - multi.report.throughput.qps * 4) < 0.05,
    'samples/s = 4 × queries/s',
  );
  assert.ok((multi.report.engine?.meanBatchRequests ?? 0) > 1, 'samples of a query were batched');
  const off = await runBench({ ...BASE, scenario: 'offline', offlineWave: 64, durationMs: 300, minQueries: 64 });
  assert.equal(off.report.headline.metric, 'throughput');
  assert.ok(off.report.headline.samplesPerSecond > 0 && off.report.throughput.issued >= 64);
  const conc = await runBench({
    ...BASE,
    scenario: 'concurrency',
    concurrency: 3,
    durationMs: 300,
    minQueries: 30,
    engine: { batching: false },
  });
  assert.equal(conc.report.engine?.batching.mode, 'none');
  assert.ok(conc.report.engine!.queueMs.p50 >= 0 && conc.report.engine!.inferenceMs.p50 > 0);
  assert.equal(conc.report.stability.windows.length, 3);
});

test('BAD CALL - scenario settings are validated', async () => {
  await assert.rejects(
    runBench({ ...BASE, scenario: 'server' }),
    (e: unknown) => e instanceof RtinferError && /needs --qps/.test(e.message),
  );
  await assert.rejects(
    runBench({ ...BASE, scenario: 'bursty' as never }),
    (e: unknown) => e instanceof RtinferError && /invalid scenario 'bursty'/.test(e.message),
  );
  const invalid: Array<[Parameters<typeof runBench>[0], RegExp]> = [
    [{ scenario: 'concurrency', concurrency: 0 }, /invalid concurrency 0/],
    [{ scenario: 'multi-stream', samplesPerQuery: 1.5 }, /invalid samplesPerQuery 1.5/],
    [{ scenario: 'server', qps: 10, latencyBoundMs: -1 }, /invalid latencyBoundMs -1/],
    [{ findPeak: { p99Ms: 20 } }, /--find-peak needs --scenario server/],
    [{ scenario: 'server', findPeak: { p99Ms: 0 } }, /needs --p99 MS/],
    [{ scenario: 'offline', images: '.' }, /--images runs the single-stream scenario/],
  ];
  for (const [o, pattern] of invalid)
    await assert.rejects(
      runBench({ ...BASE, ...o }),
      (e: unknown) => e instanceof RtinferError && e.code === 'RTI_ERR_ARG_INVALID' && pattern.test(e.message),
      pattern.source,
    );
  assert.throws(() => parseModelUrl('ftp://x/v2/models/a'), /only http/);
  assert.throws(() => parseModelUrl('http://127.0.0.1:1/models/a'), /path must be \/v2\/models\/NAME/);
});

test('the HTTP target reads inputs from model metadata and runs scenarios over binary and JSON tensors', async () => {
  const t = await createHttpTarget(server.url);
  assert.deepEqual(t.inputs, [{ name: 'x', dtype: 'float32', shape: ['', 3, '', ''] }]);
  const x = { x: { type: 'float32', dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) } };
  const outs = await t.infer(x);
  assert.deepEqual(outs[0]?.dims, [1, 2], 'decoded by default');
  assert.deepEqual(await t.infer(x, false), [], 'status only when asked');
  t.close();
  const before = server.requests;
  const bin = await runBench({
    target: server.url,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    scenario: 'concurrency',
    concurrency: 2,
    durationMs: 300,
    minQueries: 20,
    warmup: { minQueries: 2, minDurationMs: 0 },
  });
  assert.equal(bin.report.model.target, server.url);
  assert.equal(bin.report.coldStart.readMs, null);
  assert.ok(bin.report.throughput.queries >= 20);
  assert.ok(server.requests - before >= bin.report.throughput.issued);
  const json = await runBench({
    target: server.url,
    targetJson: true,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    durationMs: 200,
    minQueries: 10,
    warmup: { minQueries: 1, minDurationMs: 0 },
  });
  assert.ok(json.report.latencyMs.p50 > 0);
  assert.equal(json.report.scenario, 'single-stream');
});

test('HTTP 429 answers are counted as refusals, and an unreachable target is a clear error', async () => {
  server.refuseEvery = 4;
  try {
    const { report } = await runBench({
      target: server.url,
      shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
      scenario: 'concurrency',
      concurrency: 2,
      durationMs: 200,
      minQueries: 40,
      warmup: { minQueries: 0, minDurationMs: 0 },
    });
    assert.ok((report.refused['RTI_ERR_ENGINE_QUEUE_FULL'] ?? 0) >= 5, JSON.stringify(report.refused));
    assert.match(report.validity.warnings.join(), /queries refused/);
  } finally {
    server.refuseEvery = 0;
  }
  await assert.rejects(
    createHttpTarget('http://127.0.0.1:9/v2/models/none'),
    (e: unknown) => e instanceof RtinferError && e.code === 'RTI_ERR_TARGET_UNREACHABLE',
  );
  await assert.rejects(
    createHttpTarget(server.url.replace('/cls', '/nope')),
    (e: unknown) => e instanceof RtinferError && e.code === 'RTI_ERR_TARGET_HTTP' && /404/.test(e.message),
  );
});
