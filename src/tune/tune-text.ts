/** The `rtinfer.tune/1` report as text (the CLI's default output) and as a self-contained HTML page. */
import { isRtinferError } from '../errors.js';
import { formatTable } from '../report/format.js';
import { escapeHtml, jsonForScript, renderPage } from '../report/web-assets.js';
import type { CandidateReport, MeasurementReport, TuneReport } from './tune.js';

const MAX_ROWS = 25;

function ms(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : x.toFixed(2);
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`;
}

/** Chosen first, then feasible by throughput, then the rest by latency. */
function ordered(r: TuneReport): CandidateReport[] {
  const m = (c: CandidateReport): MeasurementReport | null => c.full ?? c.quick;
  return [...r.candidates].sort((a, b) => {
    if (a.key === r.chosen?.key) return -1;
    if (b.key === r.chosen?.key) return 1;
    if (a.feasible !== b.feasible) return a.feasible ? -1 : 1;
    return (m(b)?.throughput ?? 0) - (m(a)?.throughput ?? 0) || (m(a)?.latencyMs ?? Infinity) - (m(b)?.latencyMs ?? Infinity);
  });
}

function rows(r: TuneReport): string[][] {
  const label = r.slo.label;
  const head = ['', 'candidate', 'phase', 'len', 'status', 'q/s', `${label} ms`, `unloaded ${label}`, 'accuracy'];
  const out = [head];
  for (const c of ordered(r).slice(0, MAX_ROWS)) {
    const m = c.full ?? c.quick;
    const mark = (c.key === r.chosen?.key ? '>' : ' ') + (c.pareto ? '*' : ' ');
    out.push([mark, c.key, c.phase, c.full ? 'full' : 'quick', m?.status === 'ok' ? (c.feasible ? 'meets' : 'misses') : (m?.status ?? '-'), String(m?.throughput ?? '-'), ms(m?.latencyMs), ms(m?.unloadedMs), c.accuracy ? pct(c.accuracy.score) : '-']);
  }
  return out;
}

function figures(r: TuneReport, m: MeasurementReport): string {
  if (m.status !== 'ok') return `${m.status}${m.note ? ` (${m.note})` : ''}`;
  return r.scenario === 'server'
    ? `${m.throughput} q/s (peak Poisson rate) at ${r.slo.label} ${ms(m.latencyMs)} ms; unloaded ${ms(m.unloadedMs)} ms`
    : `${r.slo.label} ${ms(m.latencyMs)} ms at ${m.throughput} q/s`;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** `--variants auto`: each variant made, its file, accuracy and fate in the search; the skipped ones with why. */
function autoVariantLines(r: TuneReport): string[] {
  const a = r.autoVariants;
  if (!a) return [];
  const out = [`  variants  made from ${a.source} into ${a.dir} in ${(a.elapsedMs / 1000).toFixed(1)} s (${a.budget})${a.method ? `, int8 by ${a.method} calibration on ${a.calibration?.files ?? 0} file(s)` : ''}; accuracy on ${a.accuracyOn}`];
  for (const m of a.made) {
    const acc = (m.accuracy ?? []).map((x) => (x.score === null ? `accuracy n/a${x.note ? ` (${x.note})` : ''}` : `${x.metric ?? ''} ${pct(x.score)}, drop ${pct(x.drop)}`)).join('; ') || 'accuracy not checked';
    const fate = !m.status ? '' : m.status.chosen ? 'CHOSEN' : m.status.dropped.length > 0 ? `DROPPED: ${m.status.dropped.join('; ')}` : m.status.measured > 0 ? `searched (${m.status.measured} measured)` : 'not measured (budget)';
    out.push(`            ${m.kind.padEnd(5)} ${mb(m.bytes)} in ${(m.elapsedMs / 1000).toFixed(1)} s · ${acc} · ${fate} · ${m.model}`);
  }
  for (const s of a.skipped) out.push(`            ${s.kind.padEnd(5)} skipped: ${s.reason}`);
  for (const n of a.notes) out.push(`  note      ${n}`);
  return out;
}

export function renderTuneText(r: TuneReport): string {
  const s = r.search;
  const lines = [
    `rtinfer tune · SLO ${r.slo.text} · ${r.scenario} · objective ${r.objective}${r.maxAccuracyDrop !== null ? ` · max accuracy drop ${pct(r.maxAccuracyDrop)}` : ''}`,
    `  space     ${r.space.variants.length} variant(s) · ${r.space.gridSize} configurations in the full grid · ${r.space.cores} cores${r.space.oversubscribe ? ' (oversubscription allowed)' : ''}`,
    `  search    ${s.measured} measured (${pct(s.fractionOfGrid)} of the grid: ${s.evaluations.quick} quick, ${s.evaluations.full} full, ${s.evaluations.abandoned} abandoned early) in ${(s.elapsedMs / 1000).toFixed(1)} s · ${s.stoppedBy === 'budget' ? 'stopped at the budget' : s.stoppedBy === 'interrupted' ? 'INTERRUPTED' : 'converged'}`,
  ];
  for (const p of s.pruned.variants) lines.push(`  pruned    ${p.variant}: ${p.reason}`);
  if (r.accuracy) {
    lines.push(`  accuracy  reference ${r.accuracy.reference}`);
    for (const a of r.accuracy.variants) lines.push(`            ${a.variant}: ${a.reference ? 'reference' : `${a.metric ?? 'n/a'} ${pct(a.score)}, drop ${pct(a.drop)}${a.images ? ` over ${a.images} image(s)` : ''}`}${a.note && !a.reference ? ` (${a.note})` : ''}`);
  }
  if (r.autoVariants) lines.push(...autoVariantLines(r));
  lines.push('', formatTable(rows(r), '  '));
  if (r.candidates.length > MAX_ROWS) lines.push(`  ... ${r.candidates.length - MAX_ROWS} more in --json`);
  lines.push('  > chosen   * Pareto set (latency, throughput, accuracy)', '');
  if (r.chosen) {
    lines.push(`chosen      ${r.chosen.key}`);
    if (r.autoVariants) {
      const made = r.autoVariants.made.find((m) => m.status?.chosen);
      lines.push(`  model     ${r.chosen.variant.model}${made ? ` (the ${made.kind} variant made by --variants auto)` : ' (as given)'}`);
    }
    lines.push(`  search    ${figures(r, r.chosen.search)}`);
    lines.push(`  verified  ${r.chosen.verification ? figures(r, r.chosen.verification) : 'not run'} (fresh engine, full length)`);
  }
  lines.push(`verdict     ${r.verdict.met ? 'MET' : 'NOT MET'}: ${r.verdict.text}`);
  for (const c of r.verdict.closest) lines.push(`  closest   ${c.key}: ${figures(r, c.measurement)}`);
  lines.push(`elapsed     ${(r.elapsedMs / 1000).toFixed(1)} s in all`);
  return lines.join('\n');
}

/**
 * The report page: web/tune/main.ts (uPlot) with the report inlined, built by scripts/build-web.mjs
 * like the other pages. Without a web build (running from source before `npm run build`), the
 * plain table page instead, which says so.
 */
export function renderTuneHtml(r: TuneReport): string {
  try {
    return renderPage({ entry: 'tune', title: `rtinfer tune · ${r.slo.text}`, data: r });
  } catch (error) {
    if (isRtinferError(error) && error.code === 'RTI_ERR_WEB_ASSETS_MISSING') return renderTunePlainHtml(r, 'charts left out: the web pages are not built (npm run build)');
    throw error;
  }
}

/** A plain self-contained page: the summary, the verdict and the candidate table, no script. */
export function renderTunePlainHtml(r: TuneReport, note = ''): string {
  const text = renderTuneText(r).split('\n\n')[0] ?? '';
  const table = rows(r);
  const [head, ...body] = table;
  const cells = (row: readonly string[], tag: string): string => `<tr>${row.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  const all = [...ordered(r)].map((c) => {
    const m = c.full ?? c.quick;
    return [c.key === r.chosen?.key ? '>' : '', c.pareto ? '*' : '', c.key, c.phase, c.full ? 'full' : 'quick', m?.status ?? '-', String(m?.throughput ?? '-'), ms(m?.latencyMs), ms(m?.unloadedMs), c.accuracy ? pct(c.accuracy.score) : '-'];
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtinfer tune · ${escapeHtml(r.slo.text)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:nth-child(3),th:nth-child(3){text-align:left}.met{color:#070}.not{color:#a00}</style></head>
<body><h1>rtinfer tune</h1>
<pre>${escapeHtml(text)}</pre>
<p class="${r.verdict.met ? 'met' : 'not'}"><b>${r.verdict.met ? 'MET' : 'NOT MET'}</b>: ${escapeHtml(r.verdict.text)}</p>
<table><thead><tr><th>chosen</th><th>Pareto</th>${(head ?? []).slice(1).map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>${all.map((row) => cells(row, 'td')).join('\n')}</tbody></table>
<p>${body.length} of ${r.candidates.length} candidates measured shown in the text output; all are listed here.${note ? ` ${escapeHtml(note)}.` : ''}</p>
<script type="application/json" id="rtinfer-tune">${jsonForScript(r)}</script>
</body></html>
`;
}
