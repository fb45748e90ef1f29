/**
 * Self-contained pages for stored runs and comparisons (web/runs, built into dist/web): the history
 * of p50 and p99 over time per model and setting, and a rtinfer.compare/1 verdict.
 */
import type { CompareReport } from '../compare/compare.js';
import type { RunSummary } from '../store/run-store.js';
import { renderPage } from './web-assets.js';

const NOSCRIPT = (what: string): string =>
  `<main id="app"><noscript><p>This ${what} draws its charts with JavaScript. ` +
  `The data is embedded as JSON in the element #rtinfer-data of this file.</p></noscript></main>`;

export interface HistoryGroup {
  model: string;
  setting: string;
  runs: Array<{
    id: number;
    t: number;
    p50Ms: number | null;
    p99Ms: number | null;
    qps: number | null;
    valid: boolean | null;
    label: string | null;
    startedAt: string;
  }>;
}

/** Runs grouped by model (its hash when known) and setting, oldest first within a group. */
export function historyGroups(rows: readonly RunSummary[]): HistoryGroup[] {
  const groups = new Map<string, HistoryGroup>();
  for (const r of [...rows].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id - b.id)) {
    const key = `${r.model.sha256 ?? r.model.label}|${r.setting.key}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = { model: r.model.label, setting: r.setting.text, runs: [] };
      groups.set(key, g);
    }
    g.runs.push({
      id: r.id,
      t: Date.parse(r.startedAt) / 1000,
      p50Ms: r.figures.p50Ms,
      p99Ms: r.figures.p99Ms,
      qps: r.figures.qps,
      valid: r.valid,
      label: r.label,
      startedAt: r.startedAt,
    });
  }
  return [...groups.values()];
}

export function renderHistoryHtml(rows: readonly RunSummary[], store: string): string {
  return renderPage({
    title: `rtinfer runs · ${rows.length} runs`,
    entry: 'runs',
    data: { kind: 'history', store, groups: historyGroups(rows), generatedAt: new Date().toISOString() },
    bodyHtml: NOSCRIPT('history page'),
  });
}

export function renderCompareHtml(r: CompareReport): string {
  return renderPage({
    title: `rtinfer compare · ${r.a.model} vs ${r.b.model}`,
    entry: 'runs',
    data: { kind: 'compare', report: r },
    bodyHtml: NOSCRIPT('comparison'),
  });
}
