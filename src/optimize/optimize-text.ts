/** The `rtinfer.optimize/1` report as text (the CLI's default output) and as a self-contained HTML page. */
import { formatBytes, formatMs, formatTable } from '../util/format.js';
import { escapeHtml } from '../util/html.js';
import type { OptimizeReport } from './optimize.js';

function failed(x: object | undefined): x is { error: string } {
  return x !== undefined && 'error' in x;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function renderOptimizeText(r: OptimizeReport): string {
  const lines: string[] = [];
  lines.push(`rtinfer optimize: ${r.model} → ${r.out} (${r.transforms.join(', ')})`);
  lines.push(
    `size: ${formatBytes(r.size.before)} → ${formatBytes(r.size.after)} (${pct(r.size.after / r.size.before)} ` +
      `of the original); nodes ${r.nodes.before} → ${r.nodes.after}`,
  );
  const q = r.quantization;
  if (q !== undefined) {
    const ops = Object.entries(q.quantizedNodes)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    lines.push(
      `int8: ${q.method} calibration on ${q.calibrationFiles} file(s), ${q.evaluationFiles} held out; ` +
        `activations ${q.activationType}, weights int8 ${q.perChannel ? 'per channel' : 'per tensor'} (Q/DQ ` +
        `domain ${q.qdqDomain})`,
    );
    lines.push(`  quantized: ${ops}`);
    if (q.keptFloat.length > 0)
      lines.push(`  kept in float: ${q.keptFloat.length} node(s) (${summarizeKept(q.keptFloat)})`);
  }
  if (r.sensitivity !== undefined) {
    const top = r.sensitivity.nodes.slice(0, 10);
    lines.push(
      `sensitivity (output error of the int8 model ${pct(r.sensitivity.baseline)} on ${r.sensitivity.samples} ` +
        `calibration sample(s)); costliest nodes:`,
    );
    lines.push(
      formatTable(
        [
          ['node', 'op', 'error if float', 'cost'],
          ...top.map((n) => [n.node, n.opType, pct(n.errorWithout), pct(n.cost)]),
        ],
        '  ',
      ),
    );
  }
  if (r.autoExclude !== undefined) {
    const a = r.autoExclude;
    const steps = a.steps.map((s) => `${s.excluded} block(s) float → drop ${pct(s.drop)}`).join(', ');
    const shown = `${a.excluded.slice(0, 8).join(', ')}${a.excluded.length > 8 ? ', ...' : ''}`;
    lines.push(
      `auto-exclude (bound ${pct(a.maxAccuracyDrop)} on ${a.checkedOn}): ${steps}; ${a.met ? 'met' : 'NOT met'} ` +
        `with ${a.excluded.length} node(s) in float${a.excluded.length > 0 ? ` (${shown})` : ''}`,
    );
  }
  if (r.fixedShapes !== undefined && Object.keys(r.fixedShapes).length > 0)
    lines.push(
      `fixed shapes: ${Object.entries(r.fixedShapes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  if (r.latency !== undefined) {
    if (failed(r.latency)) lines.push(`latency: not measured (${r.latency.error})`);
    else {
      const l = r.latency;
      lines.push(
        '',
        `single-stream latency, ${l.blocks} alternating blocks of ${l.runsPerBlock} runs each, threads ${l.threads}:`,
      );
      lines.push(
        formatTable(
          [
            ['', 'p50 ms', 'p99 ms', 'mean ms', 'runs'],
            [
              'original',
              formatMs(l.original.p50),
              formatMs(l.original.p99),
              formatMs(l.original.mean),
              String(l.original.runs),
            ],
            [
              'optimized',
              formatMs(l.optimized.p50),
              formatMs(l.optimized.p99),
              formatMs(l.optimized.mean),
              String(l.optimized.runs),
            ],
          ],
          '  ',
        ),
      );
      lines.push(`  speedup (p50): ${l.speedup.toFixed(2)}×`);
    }
  }
  if (r.accuracy !== undefined) {
    if (failed(r.accuracy)) lines.push(`accuracy: not measured (${r.accuracy.error})`);
    else {
      const a = r.accuracy;
      const extra =
        a.metric === 'tensor-error'
          ? `, mean |error| ${a.meanAbsError?.toPrecision(3)}, max ${a.maxAbsError?.toPrecision(3)}`
          : '';
      lines.push(
        `accuracy against the original: ${a.metric} ${a.score.toFixed(3)} ` +
          `on ${a.images} ${a.metric === 'tensor-error' ? 'synthetic sample(s)' : 'image(s)'} ` +
          `(drop ${pct(a.drop)})${extra}${a.note ? `; ${a.note}` : ''}`,
      );
    }
  }
  if (r.coldStart !== undefined) {
    if (failed(r.coldStart)) lines.push(`cold start: not measured (${r.coldStart.error})`);
    else
      lines.push(
        `cold start (session creation, median of ${r.coldStart.rounds}): ${formatMs(r.coldStart.originalMs)} ` +
          `ms → ${formatMs(r.coldStart.optimizedMs)} ms (saving ${pct(r.coldStart.saving)})`,
      );
  }
  const changed = r.ops.filter((o) => o.before !== o.after);
  if (changed.length > 0) {
    lines.push('', 'op counts (changed):');
    lines.push(
      formatTable(
        [['op', 'before', 'after'], ...changed.slice(0, 30).map((o) => [o.opType, String(o.before), String(o.after)])],
        '  ',
      ),
    );
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

function summarizeKept(kept: ReadonlyArray<{ node: string; why: string }>): string {
  const byWhy = new Map<string, number>();
  for (const k of kept) byWhy.set(k.why, (byWhy.get(k.why) ?? 0) + 1);
  return [...byWhy].map(([why, n]) => `${n} ${why}`).join(', ');
}

const PAGE_STYLE =
  'body{font:14px system-ui,sans-serif;margin:2em;color:#222}' +
  'pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}' +
  'table{border-collapse:collapse}' +
  'td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}' +
  'td:first-child,th:first-child{text-align:left}';

/** A plain page: the text report and the op table, the full JSON embedded; no script needed. */
export function renderOptimizeHtml(r: OptimizeReport): string {
  const rows = r.ops
    .map((o) => `<tr><td>${escapeHtml(o.opType)}</td><td>${o.before}</td><td>${o.after}</td></tr>`)
    .join('');
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtinfer optimize · ${escapeHtml(r.model)}</title>
<style>${PAGE_STYLE}</style></head>
<body><h1>rtinfer optimize</h1>
<pre>${escapeHtml(renderOptimizeText(r))}</pre>
<h2>Op counts</h2>
<table><thead><tr><th>op</th><th>before</th><th>after</th></tr></thead><tbody>${rows}</tbody></table>
<script type="application/json" id="rtinfer-data">${json}</script>
</body></html>
`;
}
