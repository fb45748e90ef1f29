/** The `rtinfer.optimize/1` report as text (the CLI's default output) and as a self-contained HTML page. */
import { formatBytes, formatMs, formatTable } from '../util/format.js';
import { escapeHtml } from '../util/html.js';
import type { AccuracyReport } from '../accuracy/accuracy.js';
import type { AbLatency } from './ab-latency.js';
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
  if (r.quantization !== undefined) lines.push(...quantizationLines(r.quantization));
  if (r.sensitivity !== undefined) lines.push(...sensitivityLines(r.sensitivity));
  if (r.autoExclude !== undefined) lines.push(autoExcludeLine(r.autoExclude));
  if (r.fixedShapes !== undefined && Object.keys(r.fixedShapes).length > 0)
    lines.push(
      `fixed shapes: ${Object.entries(r.fixedShapes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  if (r.latency !== undefined) {
    if (failed(r.latency)) lines.push(`latency: not measured (${r.latency.error})`);
    else lines.push(...latencyLines(r.latency));
  }
  if (r.accuracy !== undefined) {
    if (failed(r.accuracy)) lines.push(`accuracy: not measured (${r.accuracy.error})`);
    else lines.push(accuracyLine(r.accuracy));
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
  for (const w of optimizeWarnings(r)) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

/**
 * The A/B reports no interval: its alternating blocks keep drift out, and repeated runs of the same
 * pair here moved the p50 ratio by a few percent (README's optimize row: yolox_nano 0.83–0.94× on a
 * quiet machine, 0.84–1.02× under load), so only a variant more than 5 % slower is called slower.
 */
export const SLOWER_BELOW = 0.95;
/** More than int8 cost the detectors measured (README's optimize row: yolox_nano lost 0.4–3.5 %, RFB-320 0). */
export const ACCURACY_DROP_WARN = 0.05;

/** What makes the written variant probably not worth deploying, one sentence each; empty when nothing does. */
export function optimizeWarnings(r: OptimizeReport): string[] {
  const out: string[] = [];
  const l = r.latency;
  if (l !== undefined && !failed(l) && l.speedup < SLOWER_BELOW)
    out.push(
      `the optimized model is slower than the original (p50 speedup ${l.speedup.toFixed(2)}×, ` +
        `${formatMs(l.optimized.p50)} ms against ${formatMs(l.original.p50)} ms): probably not worth deploying`,
    );
  const a = r.accuracy;
  if (a !== undefined && !failed(a)) {
    if (a.drop > ACCURACY_DROP_WARN)
      out.push(
        `the optimized model's ${a.metric} dropped ${pct(a.drop)} against the original (more than ` +
          `${pct(ACCURACY_DROP_WARN)}): probably not worth deploying`,
      );
    // Random tensors are not the images the model will see: int8 ranges fitted to real data say little there.
    if (r.quantization !== undefined && a.metric === 'tensor-error')
      out.push(
        `accuracy was measured on ${a.images} synthetic input(s), not on images: ` +
          (r.quantization.evaluationFiles === 0
            ? `none of the ${r.quantization.calibrationFiles} calibration file(s) was held out (every third is, ` +
              'from 3 files up)'
            : 'the held-out calibration files are not images') +
          '; give more calibration images, or --images, for a real check',
      );
  }
  return out;
}

function quantizationLines(q: NonNullable<OptimizeReport['quantization']>): string[] {
  const ops = Object.entries(q.quantizedNodes)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  const lines = [
    `int8: ${q.method} calibration on ${q.calibrationFiles} file(s), ${q.evaluationFiles} held out; ` +
      `activations ${q.activationType}, weights int8 ${q.perChannel ? 'per channel' : 'per tensor'} (Q/DQ ` +
      `domain ${q.qdqDomain})`,
    `  quantized: ${ops}`,
  ];
  if (q.keptFloat.length > 0)
    lines.push(`  kept in float: ${q.keptFloat.length} node(s) (${summarizeKept(q.keptFloat)})`);
  return lines;
}

function sensitivityLines(s: NonNullable<OptimizeReport['sensitivity']>): string[] {
  const top = s.nodes.slice(0, 10);
  return [
    `sensitivity (output error of the int8 model ${pct(s.baseline)} on ${s.samples} ` +
      `calibration sample(s)); costliest nodes:`,
    formatTable(
      [
        ['node', 'op', 'error if float', 'cost'],
        ...top.map((n) => [n.node, n.opType, pct(n.errorWithout), pct(n.cost)]),
      ],
      '  ',
    ),
  ];
}

function autoExcludeLine(a: NonNullable<OptimizeReport['autoExclude']>): string {
  const steps = a.steps.map((s) => `${s.excluded} block(s) float → drop ${pct(s.drop)}`).join(', ');
  const shown = `${a.excluded.slice(0, 8).join(', ')}${a.excluded.length > 8 ? ', ...' : ''}`;
  return (
    `auto-exclude (bound ${pct(a.maxAccuracyDrop)} on ${a.checkedOn}): ${steps}; ${a.met ? 'met' : 'NOT met'} ` +
    `with ${a.excluded.length} node(s) in float${a.excluded.length > 0 ? ` (${shown})` : ''}`
  );
}

function latencyLines(l: AbLatency): string[] {
  const row = (name: string, s: AbLatency['original']): string[] => [
    name,
    formatMs(s.p50),
    formatMs(s.p99),
    formatMs(s.mean),
    String(s.runs),
  ];
  return [
    '',
    `single-stream latency, ${l.blocks} alternating blocks of ${l.runsPerBlock} runs each, threads ${l.threads}:`,
    formatTable(
      [['', 'p50 ms', 'p99 ms', 'mean ms', 'runs'], row('original', l.original), row('optimized', l.optimized)],
      '  ',
    ),
    `  speedup (p50): ${l.speedup.toFixed(2)}×`,
  ];
}

function accuracyLine(a: AccuracyReport): string {
  const extra =
    a.metric === 'tensor-error'
      ? `, mean |error| ${a.meanAbsError?.toPrecision(3)}, max ${a.maxAbsError?.toPrecision(3)}`
      : '';
  return (
    `accuracy against the original: ${a.metric} ${a.score.toFixed(3)} ` +
    `on ${a.images} ${a.metric === 'tensor-error' ? 'synthetic sample(s)' : 'image(s)'} ` +
    `(drop ${pct(a.drop)})${extra}${a.note ? `; ${a.note}` : ''}`
  );
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
