/**
 * bench --percentile (the headline at any percentile, agreeing with the report's quantiles), sweep
 * --percentile (headline column and Pareto frontier), and bench --until-stable (windows until the
 * last three agree, or the cap): real runtime, the npm-shipped PP-OCR classifier, short runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { benchCommand } from '../../src/cli/bench.js';
import { sweepCommand } from '../../src/cli/sweep.js';
import { RtinferError } from '../../src/errors.js';
import { runBench } from '../../src/loadgen/bench.js';
import { runSweep } from '../../src/loadgen/sweep.js';
import { renderBenchText } from '../../src/report/bench-text.js';
import { renderSweepCsv, renderSweepText } from '../../src/report/sweep-report.js';
import { OCR_CLS, ROOT } from '../helpers/models.js';

const SHAPE = [{ name: 'x', dims: [1, 3, 48, 192] }];
const BASE = { model: OCR_CLS, shapes: SHAPE, warmup: { minQueries: 3, minDurationMs: 0 } };
const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-pct-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI from source (no build needed), recording into a store of its own. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = path.join(ROOT, 'src/cli/main.ts');
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', main, ...args], {
      cwd: ROOT,
      env: { ...process.env, RTINFER_STORE: path.join(dir, 'runs.db') },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The report's quantile table at q (nearest rank, as every latency figure). */
function quantileAt(
  report: { latencyDistribution: { quantiles: { q: number[]; ms: number[] } } },
  q: number,
): number | undefined {
  const i = report.latencyDistribution.quantiles.q.findIndex((x) => Math.abs(x - q) < 1e-12);
  return report.latencyDistribution.quantiles.ms[i];
}

test('bench --percentile: the headline is the given percentile, recorded in the report and agreeing with its quantiles', async () => {
  const plain = await runBench({ ...BASE, durationMs: 200, minQueries: 30 });
  assert.equal(plain.report.headline.metric, 'p90');
  assert.equal(plain.report.headline.percentile, 90);
  assert.equal(plain.report.headline.chosenBy, 'scenario');
  assert.equal(plain.report.settings.percentile, undefined, 'not recorded when not given');

  for (const [p, key, q] of [
    [95, 'p95', 0.95],
    [99.9, 'p999', 0.999],
  ] as const) {
    const { report } = await runBench({ ...BASE, durationMs: 200, minQueries: 30, percentile: p });
    const h = report.headline;
    assert.equal(h.metric, `p${p}`);
    assert.equal(h.percentile, p);
    assert.equal(h.chosenBy, 'option');
    assert.equal(report.settings.percentile, p);
    assert.equal(h.valueMs, report.latencyMs[key], `headline p${p} = latencyMs.${key}`);
    assert.equal(h.valueMs, quantileAt(report, q), `headline p${p} = the quantile table at ${q}`);
    assert.equal(h.earlyStopping?.percentile, p);
    assert.equal(h.claimable, h.earlyStopping?.satisfied);
    const text = renderBenchText(report);
    assert.match(text, new RegExp(`^headline {4}p${p} \\S+ ms \\(--percentile ${p}\\)`, 'm'));
    assert.match(text, new RegExp(`^early stop  p${p} `, 'm'), 'its own early-stopping line');
  }
  // 99.9 needs 4603 queries at 99% confidence: a 30-query run cannot claim it and says so.
  const short = await runBench({ ...BASE, durationMs: 100, minQueries: 30, maxQueries: 40, percentile: 99.9 });
  assert.equal(short.report.headline.claimable, false);
  assert.ok(
    short.report.validity.reasons.some((r) =>
      /too few queries to claim p99\.9 at 99% confidence: need at least 4603/.test(r),
    ),
    short.report.validity.reasons.join('; '),
  );
});

test('bench --percentile on a load scenario replaces its p99 headline', async () => {
  const { report } = await runBench({
    ...BASE,
    scenario: 'concurrency',
    concurrency: 2,
    durationMs: 200,
    minQueries: 40,
    percentile: 75,
  });
  assert.equal(report.headline.metric, 'p75');
  assert.equal(report.headline.valueMs, quantileAt(report, 0.75));
  assert.ok((report.headline.valueMs ?? 0) <= report.latencyMs.p99);
});

test('sweep --percentile: each point carries it, the table gains its column and the frontier is drawn on it', async () => {
  const r = await runSweep({
    model: OCR_CLS,
    shapes: SHAPE,
    concurrency: [1, 2],
    durationMs: 150,
    minQueries: 20,
    percentile: 99.9,
  });
  assert.equal(r.settings.percentile, 99.9);
  for (const p of r.points)
    assert.ok(
      p.headlineMs >= p.latencyMs.p99 && p.headlineMs <= p.latencyMs.max,
      `p99.9 ${p.headlineMs} between p99 and max`,
    );
  const text = renderSweepText(r);
  assert.match(text, /p99 ms +p99\.9 ms +queue ms/);
  assert.match(text, /headline p99\.9 · \* = Pareto frontier \(throughput vs p99\.9\)/);
  assert.match(renderSweepCsv(r).split('\n')[0] ?? '', /,pareto,headline_percentile,headline_ms$/);
  const plain = await runSweep({ model: OCR_CLS, shapes: SHAPE, concurrency: [1], durationMs: 100, minQueries: 10 });
  assert.equal(plain.settings.percentile, undefined, 'settings (the run store key) unchanged without --percentile');
  assert.equal(plain.points[0]?.headlineMs, plain.points[0]?.latencyMs.p99);
  assert.doesNotMatch(renderSweepText(plain), /p99\.9|p99 ms +p99/);
});

test('bench --until-stable stops at the third window when they agree, and reports the three together', async () => {
  // A bound no three windows of >= 3 queries can miss (a spread is at most 200 %): stable at the third.
  const { report } = await runBench({
    ...BASE,
    durationMs: 100,
    minQueries: 10,
    untilStable: { maxWindows: 10 },
    stabilityPct: 300,
  });
  const u = report.untilStable;
  assert.ok(u);
  assert.equal(u.windows, 3);
  assert.equal(u.stable, true);
  assert.equal(u.maxWindows, 10);
  assert.equal(u.latency, 'p90');
  assert.equal(u.figures.length, 3);
  assert.ok(u.figures.every((w) => w.queries >= 10 && w.qps > 0 && w.headlineMs !== undefined));
  assert.equal(
    report.throughput.queries,
    u.figures.reduce((s, w) => s + w.queries, 0),
    'the report is the three windows together',
  );
  assert.equal(report.stability.stable, true);
  assert.deepEqual(report.stability.windows, u.figures);
  assert.deepEqual(report.settings.untilStable, { maxWindows: 10, percentage: 300 });
  assert.ok(!report.validity.reasons.some((r) => /stable/.test(r)), report.validity.reasons.join('; '));
  const text = renderBenchText(report);
  assert.match(
    text,
    /^stability {3}STABLE after 3 windows of at most 10 · last three: throughput ±\S+%, p90 latency ±\S+% \(limit ±300%\)/m,
  );
  assert.equal(text.match(/^ {2}window +\d+ .* \*$/gm)?.length, 3);
});

test('bench --until-stable with an impossible bound runs to the cap and is reported not stable (INVALID)', async () => {
  const { report } = await runBench({
    ...BASE,
    durationMs: 80,
    minQueries: 10,
    untilStable: { maxWindows: 4 },
    stabilityPct: 0.0001,
    percentile: 95,
  });
  const u = report.untilStable;
  assert.ok(u);
  assert.equal(u.windows, 4);
  assert.equal(u.stable, false);
  assert.equal(u.latency, 'p95');
  assert.equal(u.figures.length, 4);
  assert.equal(
    report.throughput.queries,
    u.figures.slice(-3).reduce((s, w) => s + w.queries, 0),
    'the last three windows',
  );
  assert.equal(report.validity.valid, false);
  assert.ok(
    report.validity.reasons.some((r) =>
      /^not stable after 4 windows \(--max-windows 4\): .* in p95 latency \(limit ±0\.0001%\)$/.test(r),
    ),
    report.validity.reasons.join('; '),
  );
  assert.match(renderBenchText(report), /^stability {3}NOT STABLE after 4 windows \(the cap\) of at most 4/m);
});

test('CLI: --percentile in the JSON; bad --percentile and --max-windows refused as usage errors (one line, exit 2)', async () => {
  const fast = ['--shape', 'x=1x3x48x192', '--duration', '0.1s', '--min-queries', '10', '--warmup', '2'];
  // End to end through the built-in error reporting: the JSON, and one bad value's line and exit code.
  const [good, refused] = await Promise.all([
    cli('bench', OCR_CLS, ...fast, '--json', '--percentile', '99.9'),
    cli('bench', OCR_CLS, '--percentile', '100'),
  ]);
  const j = JSON.parse(good?.stdout ?? '');
  assert.equal(j.schema, 'rtinfer.bench/1');
  assert.equal(j.settings.percentile, 99.9);
  assert.deepEqual([j.headline.metric, j.headline.percentile, j.headline.chosenBy], ['p99.9', 99.9, 'option']);
  assert.equal(j.headline.valueMs, j.latencyMs.p999);
  assert.equal(refused?.code, 2, refused?.stderr);
  assert.deepEqual(
    refused?.stderr.split('\n').filter((l) => l.trim() !== ''),
    [
      "rtinfer bench: invalid --percentile '100' (expected a percentile between 0 and 100, exclusive, such as 95, 99 or 99.9)",
    ],
  );

  // The rest in process: each is an RTI_ERR_ARG_INVALID (exit 2) with a one-line message, before any measurement.
  process.env['RTINFER_STORE'] = path.join(dir, 'runs.db');
  const io = { stdout: new PassThrough() };
  const bad: Array<[(argv: string[], o: typeof io) => Promise<number>, string[], RegExp]> = [
    [benchCommand, [OCR_CLS, '--percentile', '0'], /^invalid --percentile '0'/],
    [benchCommand, [OCR_CLS, '--percentile', 'p99'], /^invalid --percentile 'p99'/],
    [benchCommand, [OCR_CLS, '--percentile=-5'], /^invalid --percentile '-5'/],
    [sweepCommand, [OCR_CLS, '--percentile', '101'], /^invalid --percentile '101'/],
    [benchCommand, [OCR_CLS, '--max-windows', '5'], /^--max-windows goes with --until-stable$/],
    [
      benchCommand,
      [OCR_CLS, '--until-stable', '--max-windows', '2'],
      /^invalid --max-windows '2' \(expected an integer from 3 to 1000\)$/,
    ],
    [
      benchCommand,
      [OCR_CLS, '--until-stable', '--images', dir],
      /^--until-stable .* not with --find-peak, --images or --video$/,
    ],
  ];
  for (const [command, argv, pattern] of bad) {
    await assert.rejects(command(argv, io), (e: unknown) => {
      assert.ok(e instanceof RtinferError, String(e));
      assert.equal(e.code, 'RTI_ERR_ARG_INVALID', argv.join(' '));
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  }
});
