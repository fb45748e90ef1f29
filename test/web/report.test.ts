/**
 * The HTML reports in a real browser: real benchmark and sweep runs (onnxruntime, the PP-OCR
 * models), written by the built CLI or the library, opened from file:// in headless Chromium with
 * the network cut off. Screenshots go to test-artifacts/; with RTINFER_DOCS_SCREENSHOTS=1 the runs
 * are longer and the bench and sweep pictures are also copied to docs/img/ for the README.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { runBench } from '../../src/loadgen/bench.js';
import type { BenchReport } from '../../src/loadgen/bench-report.js';
import type { SweepReport } from '../../src/loadgen/sweep.js';
import { renderBenchHtml } from '../../src/report/html-report.js';
import type { BenchReport as PageBenchReport, SweepReport as PageSweepReport } from '../../web/shared/report-types.js';
import { chartStates, haveChromium, waitForCharts, withPage, type PageSession } from '../helpers/browser.js';
import { rtinfer } from '../helpers/cli.js';
import { OCR_CLS, OCR_DET, ROOT } from '../helpers/models.js';

// Compile-time: the page's view of the reports must accept what the library writes.
const _benchFits = (r: BenchReport): PageBenchReport => r;
const _sweepFits = (r: SweepReport): PageSweepReport => r;

const DOCS = process.env['RTINFER_DOCS_SCREENSHOTS'] === '1';

function toDocs(file: string, name: string): void {
  if (!DOCS) return;
  mkdirSync(`${ROOT}docs/img`, { recursive: true });
  copyFileSync(file, `${ROOT}docs/img/${name}.png`);
}
const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-web-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The report a page embeds, read back from the file as the page itself reads it. */
function embedded<T>(html: string): T {
  const m = /<script type="application\/json" id="rtinfer-data">(.*?)<\/script>/s.exec(html);
  assert.ok(m, 'the page embeds its data');
  return (JSON.parse(m[1]!) as { report: T }).report;
}

/** The tick labels of each axis of a chart, as it drew them (data-ticks). */
async function ticks(s: PageSession, id: string): Promise<string[][]> {
  return JSON.parse((await s.page.getAttribute(`#${id}`, 'data-ticks')) ?? '[]') as string[][];
}

/** The nines axis' labels for a distribution of `queries` queries: 0 %, 50 %, each nine it reaches, max. */
function ninesTicks(queries: number): string[] {
  const maxX = Math.log10(queries);
  const nines = [
    [0, '0%'],
    [Math.log10(2), '50%'],
    [1, '90%'],
    [2, '99%'],
    [3, '99.9%'],
    [4, '99.99%'],
  ] as const;
  return [...nines.filter(([x]) => x === 0 || maxX - x >= 0.2).map(([, l]) => l), 'max'];
}

/** Whole-number tick labels only (a count axis). */
function assertCounts(labels: readonly string[] | undefined, what: string): void {
  assert.ok(labels && labels.length >= 2, `${what}: ${JSON.stringify(labels)}`);
  for (const l of labels) assert.match(l, /^\d+$/, `${what}: ${JSON.stringify(labels)}`);
}

async function openReport(
  s: PageSession,
  file: string,
  charts: number,
): Promise<Awaited<ReturnType<typeof chartStates>>> {
  await s.page.goto(pathToFileURL(file).href);
  try {
    await waitForCharts(s.page, charts);
  } catch (error) {
    throw new Error(
      `charts did not draw: ${JSON.stringify(await chartStates(s.page))}; page errors: ${s.errors.join(' | ') || 'none'}`,
      { cause: error },
    );
  }
  const states = await chartStates(s.page);
  assert.equal(states.length, charts, JSON.stringify(states));
  for (const c of states) {
    assert.ok(c.points > 0, `${c.id} drew no points`);
    assert.ok(c.canvasWidth > 100 && c.canvasHeight > 100, `${c.id} canvas ${c.canvasWidth}x${c.canvasHeight}`);
    assert.ok(c.paintedPixels > 500, `${c.id} canvas is blank (${c.paintedPixels} painted pixels)`);
  }
  return states;
}

function assertSelfContained(s: PageSession, html: string): void {
  assert.doesNotMatch(html, /<script src=|<link |https?:\/\//, 'nothing to fetch in the file');
  assert.deepEqual(s.blocked, [], 'the page tried to reach the network');
  assert.deepEqual(s.errors, [], 'console errors');
}

test('bench --images --html: histogram, CDF, the four-stage split, verdict and settings render offline', async (t) => {
  if (!haveChromium(t)) return;
  const imgs = path.join(dir, 'imgs');
  mkdirSync(imgs, { recursive: true });
  for (const [i, word] of ['LATENCY', 'BUDGET'].entries()) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="160"><rect width="100%" height="100%" fill="white"/><text x="20" y="90" font-size="48" font-family="sans-serif">${word}</text></svg>`;
    await sharp(Buffer.from(svg))
      .jpeg()
      .toFile(path.join(imgs, `t${i}.jpg`));
  }
  const file = path.join(dir, 'bench-images.html');
  const r = await rtinfer(
    'bench',
    OCR_DET,
    '--images',
    imgs,
    '--duration',
    DOCS ? '6s' : '0.5s',
    '--min-queries',
    DOCS ? '100' : '20',
    '--warmup',
    '2',
    '--html',
    file,
  );
  const html = readFileSync(file, 'utf8');
  const report = embedded<BenchReport>(html);
  assert.equal(r.code, report.validity.valid ? 0 : 3, `exit 3 for an INVALID (short) run: ${r.stderr}`);
  assert.ok(report.pipeline && report.latencyDistribution.histogram.counts.length > 0);
  await withPage(t, async (s) => {
    const states = await openReport(s, file, 2);
    const byId = Object.fromEntries(states.map((c) => [c.id, c]));
    assert.equal(byId['histogram']?.points, report.latencyDistribution.histogram.counts.length, 'one bar per bin');
    // The nines axis: the quantiles below 1 - 1/queries (past it nearest rank reads the maximum), then the maximum once.
    const { q } = report.latencyDistribution.quantiles;
    const queries = report.latencyDistribution.histogram.counts.reduce((a, b) => a + b, 0);
    const body = q.filter((x) => x < 1 && x <= 1 - 1 / queries + 1e-12).length;
    assert.ok(body < q.length - 1, `some tail quantiles are the maximum with ${queries} queries`);
    assert.equal(byId['cdf']?.points, body + 1, 'one point per quantile up to 1 - 1/queries, and the maximum');
    assert.equal(byId['cdf']?.kind, 'cdf');
    const [cdfX, cdfY] = await ticks(s, 'cdf');
    assert.deepEqual(cdfX, ninesTicks(queries), 'percentile ticks on the nines axis, up to the maximum');
    assert.ok(
      cdfY?.every((l) => /^\d+(\.\d+)?$/.test(l)),
      `latency ticks ${JSON.stringify(cdfY)}`,
    );
    const [histX, histY] = await ticks(s, 'histogram');
    assertCounts(histY, 'histogram queries axis');
    assert.ok(
      histX?.every((l) => /^\d+(\.\d+)?$/.test(l)),
      `histogram edges ${JSON.stringify(histX)}`,
    );
    const stages = await s.page.textContent('#stages');
    for (const stage of ['decode', 'preprocess', 'inference', 'postprocess', 'end to end'])
      assert.match(stages ?? '', new RegExp(stage));
    assert.equal(
      await s.page.locator('#stages .split').first().locator('span').count(),
      4,
      'four stages in the split bar',
    );
    const verdict = await s.page.textContent('#verdict');
    assert.match(verdict ?? '', report.validity.valid ? /VALID/ : /INVALID/);
    for (const reason of report.validity.reasons) assert.ok(verdict?.includes(reason), reason);
    assert.match((await s.page.textContent('#settings')) ?? '', /text head|2 image\(s\)/);
    assert.match(
      (await s.page.textContent('#env')) ?? '',
      new RegExp(`onnxruntime ${report.env.onnxruntime.replace(/\./g, '\\.')}`),
    );
    assertSelfContained(s, html);
    toDocs(await s.screenshot('bench-images-report'), 'bench-report');
  });
});

test('a single-stream bench report from the library renders; report text cannot inject markup', async (t) => {
  if (!haveChromium(t)) return;
  const { report } = await runBench({
    model: OCR_CLS,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    durationMs: 800,
    minQueries: 100,
    warmup: { minQueries: 10, minDurationMs: 0 },
  });
  // A hostile label: it must arrive as text, not close the data element or run.
  report.model.label = '</script><script>window.__pwned = 1</script><!-- <b>bold</b>';
  const file = path.join(dir, 'bench.html');
  const html = renderBenchHtml(report);
  writeFileSync(file, html);
  await withPage(t, async (s) => {
    await openReport(s, file, 2);
    const queries = report.latencyDistribution.histogram.counts.reduce((a, b) => a + b, 0);
    assert.ok(queries >= 100);
    const [cdfX] = await ticks(s, 'cdf');
    assert.deepEqual(cdfX, ninesTicks(queries));
    assert.equal(await s.page.evaluate('window.__pwned'), undefined);
    assert.match(
      (await s.page.textContent('h1')) ?? '',
      /<\/script><script>window.__pwned = 1<\/script><!-- <b>bold<\/b>/,
    );
    assert.equal(await s.page.locator('h1 b').count(), 0);
    assert.match((await s.page.textContent('#stages')) ?? '', /all of it is inference/);
    assert.match((await s.page.textContent('#verdict')) ?? '', report.validity.valid ? /VALID/ : /INVALID/);
    assert.match((await s.page.textContent('#percentiles')) ?? '', /early stopping/);
    assertSelfContained(s, html);
    await s.screenshot('bench-report');
  });
});

test('an engine-scenario bench report splits end to end into queue, inference and the rest', async (t) => {
  if (!haveChromium(t)) return;
  const { report } = await runBench({
    model: OCR_CLS,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    scenario: 'concurrency',
    concurrency: 3,
    engine: { batching: { maxBatchSize: 4 } },
    durationMs: 500,
    minQueries: 50,
    warmup: { minQueries: 5, minDurationMs: 0 },
  });
  assert.ok(report.engine);
  const file = path.join(dir, 'bench-engine.html');
  const html = renderBenchHtml(report);
  writeFileSync(file, html);
  await withPage(t, async (s) => {
    await openReport(s, file, 2);
    const stages = (await s.page.textContent('#stages')) ?? '';
    assert.match(
      stages,
      new RegExp(`engine: ${report.engine?.instances} instance\\(s\\) .*\\(layout: auto: .*\\)\\. Medians`),
    );
    assert.match(stages, /queue.*inference.*end to end/s);
    assert.equal(await s.page.locator('#stages .split').first().locator('span').count(), 3);
    assertSelfContained(s, html);
    await s.screenshot('bench-engine-report');
  });
});

test('sweep --html: latency–throughput curve with the Pareto frontier, percentiles per point and the table render offline', async (t) => {
  if (!haveChromium(t)) return;
  const file = path.join(dir, 'sweep.html');
  const grid = DOCS
    ? ['--batch', '1,4,8', '--concurrency', '1,2,4,8', '--duration', '1s', '--min-queries', '200']
    : ['--batch', '1,4', '--concurrency', '1,3', '--duration', '0.3s', '--min-queries', '20'];
  const r = await rtinfer('sweep', OCR_CLS, '--shape', 'x=1x3x48x192', ...grid, '--html', file);
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(file, 'utf8');
  const report = embedded<SweepReport>(html);
  const n = report.points.length;
  assert.equal(n, DOCS ? 12 : 4);
  await withPage(t, async (s) => {
    const states = await openReport(s, file, 2);
    const byId = Object.fromEntries(states.map((c) => [c.id, c]));
    const frontier = report.points.filter((p) => p.pareto).length;
    assert.ok(frontier > 0);
    assert.equal(byId['tradeoff']?.kind, 'curve');
    assert.equal(
      byId['tradeoff']?.points,
      n + frontier,
      'every point on its configuration curve, and the frontier points again on the frontier line',
    );
    // One curve per engine configuration (instances × threads, batch), each through its loads, and the frontier.
    const perConfig: Record<string, number> = {};
    for (const p of report.points)
      perConfig[`${p.instances}×${p.threads} b${p.batch}`] =
        (perConfig[`${p.instances}×${p.threads} b${p.batch}`] ?? 0) + 1;
    assert.equal(Object.keys(perConfig).length, DOCS ? 3 : 2);
    const series = JSON.parse((await s.page.getAttribute('#tradeoff', 'data-series-points')) ?? '{}') as Record<
      string,
      number
    >;
    assert.deepEqual(series, { ...perConfig, 'Pareto frontier': frontier });
    const legend = await s.page.locator('#tradeoff .u-legend .u-series .u-label').allTextContents();
    assert.deepEqual(
      legend.slice(1),
      [...Object.keys(perConfig), 'Pareto frontier'],
      'a legend entry per configuration',
    );
    // Hovering names the point: at the right edge of the plot the cursor is on the highest throughput.
    const over = await s.page.locator('#tradeoff .u-over').boundingBox();
    assert.ok(over);
    await s.page.mouse.move(over.x + over.width - 2, over.y + over.height / 2);
    const top = report.points.reduce((a, b) => (b.throughput > a.throughput ? b : a));
    const hovered = await s.page.locator('#tradeoff .u-legend .u-series').first().locator('.u-value').textContent();
    assert.match(
      hovered ?? '',
      new RegExp(
        `^#${report.points.indexOf(top) + 1} ${top.instances}×${top.threads} b${top.batch} c${top.load.value}: .* q/s, p99 .* ms`,
      ),
    );
    await s.page.mouse.move(0, 0);
    assert.equal(byId['percentiles']?.points, n * 4, 'p50, p90, p99 and max for each point');
    assert.equal(await s.page.locator('#points tbody tr.pareto').count(), frontier);
    assert.equal(await s.page.locator('#points tbody tr').count(), n);
    assert.equal(await s.page.locator('#stages .split').count(), n, 'a queue/inference split per point');
    // Compact labels on one line, the full description in the tooltip.
    const first = report.points[0]!;
    const label = s.page.locator('#stages .split-row > span').first();
    assert.equal(
      await label.textContent(),
      `#1 ${first.instances}×${first.threads} b${first.batch} c${first.load.value}`,
    );
    assert.equal(
      await label.getAttribute('title'),
      `point 1: ${first.instances} inst × ${first.threads} thr, batch ${first.batch}, conc ${first.load.value}`,
    );
    const box = await label.boundingBox();
    assert.ok(box && box.height < 24, `the label fits on one line (${box?.height ?? '?'} px high)`);
    assert.match((await s.page.textContent('#verdict')) ?? '', /COMPLETE/);
    assert.match((await s.page.textContent('#settings')) ?? '', DOCS ? /max batch size1, 4, 8/ : /max batch size1, 4/);
    assertSelfContained(s, html);
    toDocs(await s.screenshot('sweep-report'), 'sweep-report');
  });
});
