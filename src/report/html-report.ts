/**
 * Self-contained HTML reports: the report page (web/report, built into dist/web) with the
 * rtinfer.bench/1 or rtinfer.sweep/1 report embedded as JSON. The page draws histogram, CDF,
 * latency–throughput curve and tables in the browser with uPlot; everything is inlined, so the file
 * opens offline and can be mailed or archived as it is.
 */
import type { BenchReport } from '../loadgen/bench-report.js';
import type { SweepReport } from '../loadgen/sweep.js';
import { escapeHtml } from '../util/html.js';
import { renderPage } from './web-assets.js';

const body = (what: string): string =>
  `<main id="app"><noscript><p>This ${escapeHtml(what)} draws its charts with JavaScript. ` +
  `The full report is embedded as JSON in the element #rtinfer-data of this file.</p></noscript></main>`;

export function renderBenchHtml(r: BenchReport): string {
  return renderPage({
    title: `rtinfer bench · ${r.scenario} · ${r.model.label}`,
    entry: 'report',
    data: { kind: 'bench', report: r },
    bodyHtml: body('bench report'),
  });
}

export function renderSweepHtml(r: SweepReport): string {
  return renderPage({
    title: `rtinfer sweep · ${r.model.label}`,
    entry: 'report',
    data: { kind: 'sweep', report: r },
    bodyHtml: body('sweep report'),
  });
}
