/** The rtinfer.compare/1 report as a table: one row per metric, A, B, the ratio, its interval, p, the verdict. */
import { formatMs, formatTable } from '../util/format.js';
import type { CompareReport, MetricVerdict } from './compare.js';

const NAMES: Readonly<Record<MetricVerdict['metric'], string>> = {
  p50: 'p50',
  p90: 'p90',
  p99: 'p99',
  throughput: 'throughput',
  coldStart: 'cold start',
};

function value(m: MetricVerdict, v: number | null): string {
  if (v === null) return '-';
  return m.unit === 'ms' ? `${formatMs(v)} ms` : `${v.toFixed(v >= 100 ? 0 : 1)} q/s`;
}

const ratio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(3)}x`);

function verdictOf(m: MetricVerdict): string {
  if (m.regression) return 'REGRESSION';
  if (m.significant === null) return 'not tested';
  if (m.change === 'same') return 'same';
  return m.change === 'better' ? 'better' : 'worse (within threshold)';
}

export function renderCompareText(r: CompareReport): string {
  const side = (x: CompareReport['a']): string =>
    `${x.runId !== null ? `run ${x.runId}` : x.ref} · ${x.model} · ${x.scenario} · ${x.queries} ` +
    `queries${x.blocks ? ` in ${x.blocks} blocks` : ''}${x.valid === false ? ' · INVALID' : ''}`;
  const rows = [['metric', 'A', 'B', 'B/A', '95% interval', 'p', 'test', 'verdict']];
  for (const m of r.metrics) {
    rows.push([
      NAMES[m.metric],
      value(m, m.a),
      value(m, m.b),
      ratio(m.ratio),
      m.ci ? `${m.ci[0].toFixed(3)}-${m.ci[1].toFixed(3)}` : '-',
      m.pValue === null ? '-' : m.pValue < 0.001 ? '<0.001' : m.pValue.toFixed(3),
      m.test,
      verdictOf(m),
    ]);
  }
  const lines = [
    `A: ${side(r.a)}`,
    `B: ${side(r.b)}`,
    ...(r.interleaved
      ? [
          `interleaved: ${r.interleaved.blocks} blocks each ` +
            `of ${(r.interleaved.blockDurationMs / 1000).toFixed(1)} s, order ${r.interleaved.order}`,
        ]
      : []),
    '',
    formatTable(rows),
    '',
    `verdict: ${r.verdict} (threshold ${(r.threshold * 100).toFixed(1)}%, significance ${r.alpha})`,
    ...r.warnings.map((w) => `warning: ${w}`),
  ];
  return lines.join('\n');
}
