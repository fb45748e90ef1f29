/** The runs history page and the compare page in headless Chromium: drawn, nothing fetched, INVALID runs marked. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { compareRuns } from '../../src/compare/compare.js';
import { renderCompareHtml, renderHistoryHtml } from '../../src/report/runs-html.js';
import type { RunSummary } from '../../src/store/run-store.js';
import { sortSamples } from '../../src/stats/sorted.js';
import { chartStates, waitForCharts, withPage } from '../helpers/browser.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-runs-page-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function row(id: number, model: string, key: string, day: number, p50: number, valid: boolean): RunSummary {
  return {
    id,
    createdAt: '',
    rtinfer: '0.1.0',
    kind: 'bench',
    scenario: 'single-stream',
    model: { label: model, path: `/m/${model}`, sha256: model.repeat(4) },
    setting: { key, text: `single-stream ${key}` },
    label: id === 1 ? 'release' : null,
    tags: {},
    gitCommit: null,
    startedAt: `2026-11-${String(day).padStart(2, '0')}T10:00:00.000Z`,
    valid,
    figures: { p50Ms: p50, p90Ms: p50 * 1.5, p99Ms: p50 * 2, qps: 1000 / p50, coldStartMs: 40 },
  };
}

test('the history page draws p50 and p99 over time per model and setting, INVALID runs marked; the compare page its verdict and ratios', async (t) => {
  const rows = [
    row(1, 'a.onnx', 'k1', 1, 1.0, true),
    row(2, 'a.onnx', 'k1', 2, 1.1, false),
    row(3, 'a.onnx', 'k1', 3, 0.9, true),
    row(4, 'b.onnx', 'k2', 2, 5, true),
  ];
  const history = path.join(dir, 'history.html');
  writeFileSync(history, renderHistoryHtml(rows, '/x/runs.db'));
  const draw = (scale: number) =>
    sortSamples(Array.from({ length: 400 }, (_v, i) => scale * (1000 + ((i * 7919) % 400))));
  const side = (ref: string, scale: number) => ({
    ref,
    model: 'm.onnx',
    scenario: 'single-stream',
    valid: true,
    latenciesUs: draw(scale),
    throughputQps: 900 / scale,
    coldStartMs: 50,
    approximate: false,
  });
  const report = compareRuns(side('A', 1), side('B', 1.3));
  assert.equal(report.regression, true);
  const compare = path.join(dir, 'compare.html');
  writeFileSync(compare, renderCompareHtml(report));
  // One browser for both pages: a launch costs seconds on a loaded 2-core machine.
  await withPage(t, async (s) => {
    await s.page.goto(pathToFileURL(history).href);
    await waitForCharts(s.page, 2);
    const charts = await chartStates(s.page);
    assert.deepEqual(
      charts.map((c) => [c.id, c.kind, c.points]),
      [
        ['group-0', 'timeseries', 3 + 3 + 1],
        ['group-1', 'timeseries', 1 + 1],
      ],
    );
    assert.ok(charts.every((c) => c.paintedPixels > 0));
    assert.equal(await s.page.locator('tr.invalid').count(), 1);

    await s.page.goto(pathToFileURL(compare).href);
    await waitForCharts(s.page, 1);
    const [chart] = await chartStates(s.page);
    assert.equal(chart?.kind, 'category');
    assert.ok((chart?.points ?? 0) >= 5);
    assert.equal(await s.page.locator('#verdict').getAttribute('data-valid'), 'false');
    assert.match((await s.page.locator('#verdict').textContent()) ?? '', /REGRESSION/);
    assert.equal(await s.page.locator('#metrics tbody tr').count(), 5);
    assert.deepEqual(s.errors, []);
    assert.deepEqual(s.blocked, []);
  });
});
