/** Renderings of a `rtinfer.sweep/1` report: terminal table and CSV (the HTML page is in html-report.ts). */
import type { SweepPoint, SweepReport } from '../loadgen/sweep.js';
import { formatMs, formatTable } from './format.js';

const HEADER = ['inst', 'thr', 'batch', 'load', 'queries', 'q/s', 'p50 ms', 'p90 ms', 'p99 ms', 'queue ms', 'infer ms', 'mean batch', 'refused', 'pareto'];

function row(p: SweepPoint): string[] {
  return [
    // 0: a served model's own layout (sweep --target).
    p.instances ? String(p.instances) : '-',
    p.threads ? String(p.threads) : '-',
    p.batch ? String(p.batch) : '-',
    `${p.load.kind === 'qps' ? 'rate ' : 'conc '}${p.load.value}`,
    String(p.queries),
    p.throughput.toFixed(1),
    formatMs(p.latencyMs.p50),
    formatMs(p.latencyMs.p90),
    formatMs(p.latencyMs.p99),
    formatMs(p.queueMs),
    formatMs(p.inferenceMs),
    p.meanBatchRequests ? p.meanBatchRequests.toFixed(2) : '-',
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
