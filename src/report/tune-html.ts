/** The `rtinfer.tune/1` report as a self-contained HTML page (the text form is tune/tune-text.ts). */
import { isRtinferError } from '../errors.js';
import { candidateFigureCells, candidateTable, orderedCandidates, renderTuneText } from '../tune/tune-text.js';
import type { TuneReport } from '../tune/tune.js';
import { escapeHtml, jsonForScript } from '../util/html.js';
import { renderPage } from './web-assets.js';

/**
 * The report page: web/tune/main.ts (uPlot) with the report inlined, built by scripts/build-web.mjs
 * like the other pages. Without a web build (running from source before `npm run build`), the
 * plain table page instead, which says so.
 */
export function renderTuneHtml(r: TuneReport): string {
  try {
    return renderPage({ entry: 'tune', title: `rtinfer tune · ${r.slo.text}`, data: r });
  } catch (error) {
    if (isRtinferError(error) && error.code === 'RTI_ERR_WEB_ASSETS_MISSING') {
      return renderTunePlainHtml(r, 'charts left out: the web pages are not built (npm run build)');
    }
    throw error;
  }
}

const TUNE_CSS = [
  'body{font:14px system-ui,sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em}',
  'table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}',
  'td:nth-child(3),th:nth-child(3){text-align:left}.met{color:#070}.not{color:#a00}',
].join('');

/** A plain self-contained page: the summary, the verdict and the candidate table, no script. */
export function renderTunePlainHtml(r: TuneReport, note = ''): string {
  const text = renderTuneText(r).split('\n\n')[0] ?? '';
  // The text table's head and how many rows it shows; this page lists every candidate.
  const [head, ...body] = candidateTable(r);
  const cells = (row: readonly string[], tag: string): string =>
    `<tr>${row.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  const all = orderedCandidates(r).map((c) => {
    const m = c.full ?? c.quick;
    const marks = [c.key === r.chosen?.key ? '>' : '', c.pareto ? '*' : ''];
    return [...marks, c.key, c.phase, c.full ? 'full' : 'quick', m?.status ?? '-', ...candidateFigureCells(c)];
  });
  const headCells = (head ?? [])
    .slice(1)
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const verdict = `<b>${r.verdict.met ? 'MET' : 'NOT MET'}</b>: ${escapeHtml(r.verdict.text)}`;
  const shown = `${body.length} of ${r.candidates.length} candidates measured shown in the text output`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtinfer tune · ${escapeHtml(r.slo.text)}</title>
<style>${TUNE_CSS}</style></head>
<body><h1>rtinfer tune</h1>
<pre>${escapeHtml(text)}</pre>
<p class="${r.verdict.met ? 'met' : 'not'}">${verdict}</p>
<table><thead><tr><th>chosen</th><th>Pareto</th>${headCells}</tr></thead>
<tbody>${all.map((row) => cells(row, 'td')).join('\n')}</tbody></table>
<p>${shown}; all are listed here.${note ? ` ${escapeHtml(note)}.` : ''}</p>
<script type="application/json" id="rtinfer-tune">${jsonForScript(r)}</script>
</body></html>
`;
}
