/** Renderings of a `rtinfer.sweep/1` report: terminal table, CSV, and a self-contained HTML page. */
import type { SweepPoint, SweepReport } from '../loadgen/sweep.js';
import { formatMs, formatTable } from './format.js';
import { escapeXml, scatterSvg } from './svg-chart.js';

const HEADER = ['inst', 'thr', 'batch', 'load', 'queries', 'q/s', 'p50 ms', 'p90 ms', 'p99 ms', 'queue ms', 'infer ms', 'mean batch', 'refused', 'pareto'];

function row(p: SweepPoint): string[] {
  return [
    String(p.instances),
    String(p.threads),
    String(p.batch),
    `${p.load.kind === 'qps' ? 'rate ' : 'conc '}${p.load.value}`,
    String(p.queries),
    p.throughput.toFixed(1),
    formatMs(p.latencyMs.p50),
    formatMs(p.latencyMs.p90),
    formatMs(p.latencyMs.p99),
    formatMs(p.queueMs),
    formatMs(p.inferenceMs),
    p.meanBatchRequests.toFixed(2),
    String(p.refused),
    p.pareto ? '*' : '',
  ];
}

export function renderSweepText(r: SweepReport): string {
  const head = `rtinfer sweep · ${r.model.label} · ${Object.entries(r.model.shapes).map(([n, d]) => `${n}=${d.join('x')}`).join(' ')}`;
  const foot = `${r.grid.measured} of ${r.grid.points} points in ${(r.grid.ms / 1000).toFixed(1)} s · * = Pareto frontier (throughput vs p99) · ${r.env.cpuModel}, ${r.env.cores} cores`;
  return [head, '', formatTable([HEADER, ...r.points.map(row)]), '', foot].join('\n');
}

export function renderSweepCsv(r: SweepReport): string {
  const lines = ['instances,threads,batch,load_kind,load,queries,throughput_qps,p50_ms,p90_ms,p99_ms,max_ms,queue_ms,inference_ms,mean_batch_requests,refused,pareto'];
  for (const p of r.points) {
    lines.push(
      [p.instances, p.threads, p.batch, p.load.kind, p.load.value, p.queries, p.throughput, p.latencyMs.p50, p.latencyMs.p90, p.latencyMs.p99, p.latencyMs.max, p.queueMs, p.inferenceMs, p.meanBatchRequests, p.refused, p.pareto ? 1 : 0].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

export function renderSweepHtml(r: SweepReport): string {
  const label = (p: SweepPoint): string => `${p.instances} inst × ${p.threads} thr, batch ${p.batch}, ${p.load.kind} ${p.load.value}: ${p.throughput.toFixed(1)} q/s, p99 ${formatMs(p.latencyMs.p99)} ms`;
  const pts = r.points.filter((p) => p.queries > 0).map((p) => ({ x: p.throughput, y: p.latencyMs.p99, label: label(p), highlight: p.pareto }));
  const frontier = r.points.filter((p) => p.pareto).sort((a, b) => a.throughput - b.throughput).map((p) => ({ x: p.throughput, y: p.latencyMs.p99, label: label(p) }));
  const svg = scatterSvg(pts, { title: 'Latency–throughput (each point one configuration and load)', xLabel: 'throughput (queries/s)', yLabel: 'p99 latency (ms)', line: frontier });
  const table = [HEADER, ...r.points.map(row)]
    .map((cells, i) => `<tr${i > 0 && r.points[i - 1]?.pareto ? ' class="pareto"' : ''}>${cells.map((c) => (i === 0 ? `<th>${escapeXml(c)}</th>` : `<td>${escapeXml(c)}</td>`)).join('')}</tr>`)
    .join('\n');
  const e = r.env;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtinfer sweep · ${escapeXml(r.model.label)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}table{border-collapse:collapse;margin-top:16px}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}tr.pareto td{background:#fff4e6;font-weight:600}.meta{color:#555}
</style></head><body>
<h1>rtinfer sweep · ${escapeXml(r.model.label)}</h1>
<p class="meta">${escapeXml(Object.entries(r.model.shapes).map(([n, d]) => `${n}=${d.join('x')}`).join(' '))} · ${r.grid.measured} of ${r.grid.points} points, ${(r.settings.durationMs / 1000).toFixed(1)} s each, ${(r.grid.ms / 1000).toFixed(1)} s in all ·
${escapeXml(e.cpuModel)}, ${e.cores} cores, Node ${escapeXml(e.node)}, onnxruntime ${escapeXml(e.onnxruntime)}, rtinfer ${escapeXml(e.rtinfer)} · ${escapeXml(e.startedAt)}</p>
<figure id="curve">${svg}<figcaption>Orange: the Pareto frontier (no other point has more throughput at a lower p99).</figcaption></figure>
<table id="points">
${table}
</table>
<script type="application/json" id="data">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
