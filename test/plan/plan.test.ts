/** runPlan's answer (smallest N, checked with headroom), its report, and `rtinfer plan` from a saved bench report. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { planCommand } from '../../src/cli/plan.js';
import { isRtinferError } from '../../src/errors.js';
import { runPlan, type PlanReport } from '../../src/plan/plan.js';
import { renderPlanHtml, renderPlanText } from '../../src/plan/plan-text.js';
import { constantServiceTime, exponentialServiceTime } from '../../src/plan/service-time.js';
import { simulate } from '../../src/plan/simulate.js';
import { parseSlo } from '../../src/tune/slo.js';

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const stdout = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  return { code: await planCommand(argv, { stdout }), out };
}

test('the smallest N: N meets the SLO at rate x (1 + headroom) and N - 1 does not', () => {
  const slo = parseSlo('p99<=50ms');
  const service = exponentialServiceTime(10);
  const r = runPlan({ service, rateQps: 400, slo, headroom: 0.25, requests: 50_000, seed: 4 });
  assert.ok(r.chosen);
  const n = r.chosen.replicas;
  assert.equal(r.chosen.checkedAtQps, 500);
  const check = (replicas: number) =>
    simulate({
      replicas,
      instances: 1,
      service,
      rateQps: 500,
      requests: 50_000,
      seed: 4,
      boundMs: 50,
      sloQuantile: 0.99,
    });
  assert.ok(check(n).sloMs <= 50);
  assert.ok(check(n - 1).sloMs > 50, `N - 1 = ${n - 1} also meets it`);
  // Capacity is 100 q/s per replica: 500 q/s needs more than 5.
  assert.ok(n >= 6);
  assert.equal(r.chosen.cores, n);
  // The curve is at the nominal rate and includes the choice.
  assert.ok(r.curve.some((p) => p.replicas === n && p.offeredQps === 400));
  assert.deepEqual(
    runPlan({ service, rateQps: 400, slo, headroom: 0.25, requests: 50_000, seed: 4 }),
    r,
    'deterministic',
  );
});

test('cores are replicas x instances x threads; a service time above the bound has no answer', () => {
  const r = runPlan({
    service: constantServiceTime(10),
    rateQps: 100,
    slo: parseSlo('p99<=30ms'),
    instances: 2,
    threads: 3,
    requests: 20_000,
  });
  assert.ok(r.chosen);
  assert.equal(r.chosen.cores, r.chosen.replicas * 6);
  const none = runPlan({
    service: constantServiceTime(40),
    rateQps: 100,
    slo: parseSlo('p99<=30ms'),
    requests: 20_000,
  });
  assert.equal(none.chosen, null);
  assert.match(none.notes.join(' '), /no number of replicas meets it/);
  assert.match(renderPlanText(none), /no replica count meets p99<=30ms/);
});

test('when the replica cap stops the search, the cap is the reason given, not the bound', () => {
  const service = exponentialServiceTime(10);
  const slo = parseSlo('p99<=50ms');
  // 1.2 M q/s at 100 q/s a replica needs 12,001 replicas just to keep up: none is simulated.
  const huge = runPlan({ service, rateQps: 1_000_000, slo, requests: 20_000 });
  assert.equal(huge.chosen, null);
  assert.match(huge.notes.join(' '), /at least 12001 replicas, above the cap of 1000/);
  assert.doesNotMatch(huge.notes.join(' '), /too close to the bound/);
  assert.match(renderPlanText(huge), /no replica count meets/);
  // A cap reached while every replica is still busy: the cap again.
  const capped = runPlan({ service, rateQps: 400, slo, headroom: 0.25, requests: 50_000, seed: 4, maxReplicas: 6 });
  assert.equal(capped.chosen, null);
  assert.match(capped.notes.join(' '), /the cap of 6 replicas stopped the search with each still \d+% busy/);
});

test('rtinfer plan --from-run a saved single-stream bench report: text, --json and --html', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-plan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const report = path.join(dir, 'bench.json');
  // A bench report without a histogram: its quantile table is what is left (service 2-6 ms).
  writeFileSync(
    report,
    JSON.stringify({
      schema: 'rtinfer.bench/1',
      model: { label: 'm' },
      scenario: 'single-stream',
      validity: { valid: true },
      throughput: { queries: 2000, qps: 300 },
      coldStart: { sessionCreateMs: null, firstInferenceMs: 5 },
      latencyDistribution: { quantiles: { q: [0, 0.5, 0.9, 0.99, 1], ms: [2, 3, 4, 5, 6] } },
      settings: { session: { intraOpThreads: 2 } },
    }),
  );
  const text = await run('--from-run', report, '--rate', '1000', '--slo', 'p99<=20ms', '--requests', '20000');
  assert.equal(text.code, 0);
  assert.match(text.out, /^rtinfer plan: \d+ replicas \(\d+ cores\) meet p99<=20ms at 1000 q\/s with 20\.0% headroom/);
  const html = path.join(dir, 'plan.html');
  const json = await run(
    '--from-run',
    report,
    '--rate',
    '1000',
    '--slo',
    'p99<=20ms',
    '--requests',
    '20000',
    '--json',
    '--html',
    html,
  );
  const r = JSON.parse(json.out) as PlanReport;
  assert.equal(r.schema, 'rtinfer.plan/1');
  assert.equal(r.replica.threads, 2);
  assert.equal(r.service.approximate, true);
  assert.ok(r.chosen && r.chosen.cores === r.chosen.replicas * 2);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /<svg /);
  assert.match(page, /id="rtinfer-plan"/);
  assert.equal(/<script src=|https?:\/\//.test(page.replace(/xmlns="[^"]*"/g, '')), false, 'self-contained');
  assert.equal(renderPlanHtml(r).length > 0, true);
});

test('BAD CALL - plan refuses bad input in one line with a stable code', async () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['--slo', 'p99<=5ms', '--from-run', 'x.json'], 'RTI_ERR_ARG_MISSING', /--rate is required/],
    [['--rate', '10', '--from-run', 'x.json'], 'RTI_ERR_ARG_MISSING', /--slo is required/],
    [['--rate', 'fast', '--slo', 'p99<=5ms', '--from-run', 'x.json'], 'RTI_ERR_ARG_INVALID', /invalid --rate 'fast'/],
    [['--rate', '10', '--slo', 'p99 under 5', '--from-run', 'x.json'], 'RTI_ERR_ARG_INVALID', /--slo/],
    [['--rate', '10', '--slo', 'p99<=5ms'], 'RTI_ERR_ARG_MISSING', /needs a model, --config/],
    [['m.onnx', '--rate', '10', '--slo', 'p99<=5ms', '--from-run', 'x.json'], 'RTI_ERR_ARG_INVALID', /one of them/],
    [
      ['--rate', '10', '--slo', 'p99<=5ms', '--from-run', '/nonexistent/x.json'],
      'RTI_ERR_RUN_NOT_FOUND',
      /cannot read report/,
    ],
    [
      ['--rate', '10', '--slo', 'p99<=5ms', '--from-run', 'x.json', '--balancer', 'random'],
      'RTI_ERR_ARG_INVALID',
      /invalid --balancer/,
    ],
    [
      ['--rate', '10', '--slo', 'p99<=5ms', '--from-run', 'x.json', '--headroom', 'lots'],
      'RTI_ERR_ARG_INVALID',
      /invalid --headroom/,
    ],
  ];
  for (const [argv, code, message] of cases) {
    await assert.rejects(run(...argv), (e: unknown) => {
      assert.ok(isRtinferError(e), `${argv.join(' ')}: ${String(e)}`);
      assert.equal(e.code, code, argv.join(' '));
      assert.match(e.message, message);
      return true;
    });
  }
});

test('given only a model, plan measures one replica briefly and says so (real PP-OCR classifier)', async () => {
  const { OCR_CLS } = await import('../helpers/models.js');
  const { code, out } = await run(
    OCR_CLS,
    '--shape',
    'x=1x3x48x192',
    '--measure',
    '500ms',
    '--rate',
    '20',
    '--slo',
    'p99<=2s',
    '--requests',
    '5000',
    '--json',
  );
  assert.equal(code, 0);
  const r = JSON.parse(out) as PlanReport;
  assert.match(r.service.source, /single-stream measurement of .*ch_ppocr_mobile_v2\.0_cls_infer\.onnx/);
  assert.match(r.notes.join(' '), /measured one replica briefly/);
  assert.equal(r.service.approximate, false);
  assert.ok(r.chosen && r.chosen.replicas >= 1);
});
