/** Renderings of a `rtinfer.sweep/1` report: terminal table and CSV (the HTML page is in html-report.ts). */
import type { SweepPoint, SweepReport } from '../loadgen/sweep.js';
import { earlyStoppingMinQueries } from '../stats/early-stopping.js';
import { formatMs, formatTable } from '../util/format.js';

import { percentileName } from '../loadgen/bench-report.js';

const HEADER = [
  'inst',
  'thr',
  'batch',
  'load',
  'queries',
  'q/s',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'queue ms',
  'infer ms',
  'mean batch',
  'refused',
  'pareto',
];

/** A --percentile other than the table's own p50, p90 and p99 gets a column after p99. Reports older than it: 99. */
const percentileOf = (r: SweepReport): number => r.settings.percentile ?? 99;
const extraColumn = (r: SweepReport): boolean => ![50, 90, 99].includes(percentileOf(r));

function row(p: SweepPoint, extra: boolean): string[] {
  const cells = [
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
    ...(extra ? [formatMs(p.headlineMs)] : []),
    formatMs(p.queueMs),
    formatMs(p.inferenceMs),
    p.meanBatchRequests ? p.meanBatchRequests.toFixed(2) : '-',
    String(p.refused),
    p.pareto ? '*' : '',
  ];
  return cells;
}

export function renderSweepText(r: SweepReport): string {
  const head = `rtinfer sweep · ${r.model.label} · ${Object.entries(r.model.shapes)
    .map(([n, d]) => `${n}=${d.join('x')}`)
    .join(' ')}`;
  const name = percentileName(percentileOf(r));
  const extra = extraColumn(r);
  const header = extra ? [...HEADER.slice(0, 9), `${name} ms`, ...HEADER.slice(9)] : HEADER;
  const foot =
    `${r.grid.measured} of ${r.grid.points} points in ${(r.grid.ms / 1000).toFixed(1)} ` +
    `s · headline ${name} · * = Pareto frontier (throughput vs ${name}) · ${r.env.cpuModel}, ${r.env.cores} cores`;
  // As bench says of its p99: a tail percentile from too few queries is not a claim.
  const p = percentileOf(r);
  const least = earlyStoppingMinQueries(p / 100);
  const few = r.points.filter((x) => x.queries < least).length;
  const caveat =
    few > 0
      ? [
          `note: ${few} of ${r.points.length} points ran fewer than ${least} queries, the least that claims a ${name} ` +
            'at 99% confidence: their figure is indicative (more with --min-queries or --duration)',
        ]
      : [];
  return [head, '', formatTable([header, ...r.points.map((x) => row(x, extra))]), '', foot, ...caveat].join('\n');
}

export function renderSweepCsv(r: SweepReport): string {
  // headline_percentile and headline_ms were added last, so positional readers keep working.
  const lines = [
    [
      'instances,threads,batch,load_kind,load,queries,throughput_qps,p50_ms,p90_ms,p99_ms,max_ms',
      'queue_ms,inference_ms,mean_batch_requests,refused,pareto,headline_percentile,headline_ms',
    ].join(','),
  ];
  for (const p of r.points) {
    lines.push(
      [
        p.instances,
        p.threads,
        p.batch,
        p.load.kind,
        p.load.value,
        p.queries,
        p.throughput,
        p.latencyMs.p50,
        p.latencyMs.p90,
        p.latencyMs.p99,
        p.latencyMs.max,
        p.queueMs,
        p.inferenceMs,
        p.meanBatchRequests,
        p.refused,
        p.pareto ? 1 : 0,
        percentileOf(r),
        p.headlineMs ?? p.latencyMs.p99,
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}
