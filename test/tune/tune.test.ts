import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Tensor } from 'onnxruntime-node';
import { createEngine } from '../../src/engine/engine.js';
import { isRtinferError } from '../../src/errors.js';
import { createSession, readModel } from '../../src/runtime/session.js';
import { loadConfigFile } from '../../src/server/config.js';
import { createRtinferServer } from '../../src/server/server.js';
import { renderConfigFile, tunedConfig } from '../../src/tune/config-out.js';
import { lowerBoundRank } from '../../src/tune/measure.js';
import { parseAccuracyDrop, parseBudgetMs, parseResolutions, parseSlo } from '../../src/tune/slo.js';
import {
  autoResolutions,
  buildVariants,
  defaultAxes,
  defaultReference,
  enumerate,
  gridSize,
  type Candidate,
  type SearchSpace,
} from '../../src/tune/space.js';
import { runTune, TUNE_SCHEMA } from '../../src/tune/tune.js';
import { OCR_CLS, OCR_DET } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-tune-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function usageError(fn: () => unknown, message: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) =>
      isRtinferError(e) && e.code === 'RTI_ERR_ARG_INVALID' && message.test(e.message) && !e.message.includes('\n'),
  );
}

describe('tune arguments', () => {
  it('parses SLOs and refuses malformed ones in one line', () => {
    assert.deepEqual(parseSlo('p99<=50ms'), { text: 'p99<=50ms', quantile: 0.99, label: 'p99', boundMs: 50 });
    assert.equal(parseSlo('p90 <= 0.1s').boundMs, 100);
    // `<` is not read as `<=` behind the user's back.
    usageError(() => parseSlo('p99<50'), /written with <=/);
    assert.equal(parseSlo('p99.9<=200ms').quantile, 0.999);
    assert.equal(parseSlo('p95<=500us').boundMs, 0.5);
    for (const bad of ['p99', '50ms', 'p99>=50ms', 'p99<=', 'p100<=5ms', 'p99<=0ms', 'latency<=5ms'])
      usageError(() => parseSlo(bad), /^--slo: expected like "p99<=50ms"|^--slo: expected a/);
  });

  it('parses budgets, accuracy drops and resolutions', () => {
    assert.equal(parseBudgetMs('10m'), 600_000);
    assert.equal(parseBudgetMs('90s'), 90_000);
    assert.equal(parseBudgetMs('30'), 30_000);
    usageError(() => parseBudgetMs('10x'), /^--budget: expected a duration/);
    usageError(() => parseBudgetMs('10ms'), /from 1s to 24h/);
    assert.equal(parseAccuracyDrop('1%'), 0.01);
    assert.equal(parseAccuracyDrop('0.02'), 0.02);
    usageError(() => parseAccuracyDrop('150%'), /^--max-accuracy-drop/);
    assert.deepEqual(parseResolutions('640,480x320'), [
      [640, 640],
      [480, 320],
    ]);
    usageError(() => parseResolutions('640,abc'), /^--resolutions/);
  });

  it('a quantile lower bound: the 19th of 20 bounds p99 from below at 95 %, nothing bounds a median of 2', () => {
    assert.equal(lowerBoundRank(20, 0.99), 19);
    assert.equal(lowerBoundRank(5, 0.99), 5, '0.99^5 = 0.951: the maximum of 5 is below p99 with 95 %');
    assert.equal(lowerBoundRank(2, 0.5), null);
    assert.equal(lowerBoundRank(100, 0.5), 42);
  });
});

describe('tune search space', () => {
  it('respects the thread budget unless oversubscription is allowed, and counts the grid', () => {
    const variants = [{ id: 'm', model: 'm.onnx', bytes: 1, shapes: [], resolution: null, batchable: true }];
    const space: SearchSpace = {
      scenario: 'server',
      variants,
      axes: defaultAxes(4, 'server'),
      cores: 4,
      oversubscribe: false,
    };
    const all = [...enumerate(space)];
    assert.equal(all.length, gridSize(space));
    assert.ok(all.every((c: Candidate) => c.instances * Math.max(c.threads, c.interOpThreads) <= 4));
    assert.ok(all.every((c) => c.maxBatchSize > 1 || c.maxQueueDelayUs === 0));
    assert.ok(gridSize({ ...space, oversubscribe: true }) > all.length);
    assert.ok(gridSize({ ...space, variants: [{ ...variants[0]!, batchable: false }] }) < all.length);
    const single = gridSize({ ...space, scenario: 'single-stream', axes: defaultAxes(4, 'single-stream') });
    assert.ok(single < all.length / 5, 'single-stream: one instance, no batching');
  });

  it('makes resolution variants for a model with dynamic height and width, in multiples of 32', async () => {
    assert.deepEqual(autoResolutions([640, 640]), [
      [640, 640],
      [480, 480],
      [320, 320],
    ]);
    assert.deepEqual(autoResolutions([500, 300]), [
      [512, 288],
      [384, 224],
      [256, 160],
    ]);
    const rt = await createSession(await readModel(OCR_DET));
    const cls = await createSession(await readModel(OCR_CLS));
    const desc = [
      { path: OCR_DET, bytes: 4_700_000, inputs: rt.inputs },
      { path: OCR_CLS, bytes: 500_000, inputs: cls.inputs },
    ];
    await rt.release();
    await cls.release();
    const v = buildVariants(desc, {
      resolutions: [
        [320, 320],
        [256, 256],
      ],
      shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    });
    assert.deepEqual(
      v.map((x) => x.id),
      [
        'ch_PP-OCRv4_det_infer@320x320',
        'ch_PP-OCRv4_det_infer@256x256',
        'ch_ppocr_mobile_v2.0_cls_infer@320x320',
        'ch_ppocr_mobile_v2.0_cls_infer@256x256',
      ],
    );
    assert.deepEqual(v[0]?.shapes, [{ name: 'x', dims: [1, 3, 320, 320] }]);
    const plain = buildVariants(desc.slice(1), { shapes: [{ name: 'x', dims: [1, 3, 48, 192] }] });
    assert.deepEqual(
      plain.map((x) => [x.id, x.resolution, x.batchable]),
      [['ch_ppocr_mobile_v2.0_cls_infer', null, true]],
      'no --resolutions: one variant at the given shape',
    );
    // Same resolution: the larger file is the reference.
    assert.equal(defaultReference(v).id, 'ch_PP-OCRv4_det_infer@320x320');
  });
});

describe('tune output config', () => {
  const c: Candidate = {
    variant: 'cls',
    instances: 2,
    threads: 1,
    interOpThreads: 1,
    executionMode: 'parallel',
    graphOptimizationLevel: 'extended',
    maxBatchSize: 4,
    maxQueueDelayUs: 500,
  };
  const v = {
    id: 'cls',
    model: OCR_CLS,
    bytes: 1,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    resolution: null,
    batchable: true,
  };

  for (const ext of ['yaml', 'json']) {
    it(`round-trips through loadConfigFile as ${ext}, and an engine starts from it`, async () => {
      const file = path.join(dir, `serve.${ext}`);
      writeFileSync(file, renderConfigFile(tunedConfig(c, v, 'server'), file, ['made by a test']));
      const config = await loadConfigFile(file);
      const m = config.models[0];
      assert.ok(m);
      assert.equal(m.path, OCR_CLS);
      assert.equal(m.instances, 2);
      assert.equal(m.threads, 1);
      assert.deepEqual(m.batching, { maxBatchSize: 4, maxQueueDelayUs: 500 });
      assert.deepEqual(m.session, {
        executionMode: 'parallel',
        graphOptimizationLevel: 'extended',
        interOpThreads: 1,
        allowSpinning: false,
      });
      const engine = await createEngine({
        model: m.path,
        instances: m.instances ?? 1,
        threads: m.threads ?? 1,
        session: m.session ?? {},
        batching: m.batching ?? false,
        warmupShapes: m.warmupShapes ?? {},
      });
      try {
        assert.equal(engine.config.instances, 2);
        assert.equal(engine.config.batching.maxBatchSize, 4);
        const out = await engine.infer({ x: new Tensor('float32', new Float32Array(3 * 48 * 192), [1, 3, 48, 192]) });
        assert.ok(Object.keys(out).length > 0);
      } finally {
        await engine.close();
      }
    });
  }
});

describe('runTune on a real model', () => {
  it('tunes the PP-OCR classifier within a short budget, verifies the choice, and the config serves', async () => {
    const budgetMs = 12_000;
    const t0 = performance.now();
    const r = await runTune({
      models: [OCR_CLS],
      slo: 'p99<=100ms',
      budgetMs,
      shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    });
    const took = performance.now() - t0;
    assert.equal(r.schema, TUNE_SCHEMA);
    // The verification's full-length peak search may run past its reserve on a busy machine; not far.
    assert.ok(took < budgetMs * 2, `took ${took.toFixed(0)} ms for a ${budgetMs} ms budget`);
    assert.equal(r.space.variants.length, 1);
    assert.ok(r.search.measured >= 1 && r.search.measured < r.space.gridSize);
    assert.equal(r.search.gridSize, r.space.gridSize);
    assert.ok(r.chosen, r.verdict.text);
    assert.ok(r.chosen.search.meetsSlo);
    assert.ok(r.chosen.verification, 'the chosen configuration was re-measured');
    assert.equal(r.chosen.verification.status, 'ok');
    assert.ok(r.chosen.verification.throughput > 0);
    assert.equal(r.verdict.met, r.chosen.verification.meetsSlo);
    assert.ok(r.pareto.includes(r.chosen.key) || r.candidates.some((c) => c.pareto));
    assert.ok(r.candidates.every((c) => c.quick !== null || c.full !== null));
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(r)));

    // The written config starts a server as is.
    const file = path.join(dir, 'tuned.yaml');
    writeFileSync(file, renderConfigFile(r.chosen.config, file));
    const config = await loadConfigFile(file);
    const server = createRtinferServer({ ...config, port: 0 });
    try {
      const url = await server.listen();
      await server.ready();
      const res = await fetch(`${url}/v2/models/${config.models[0]?.name}/ready`);
      assert.equal(res.status, 200);
    } finally {
      await server.close();
    }
  });
});
