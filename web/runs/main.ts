/**
 * Runs page: the history of stored runs (p50 and p99 over time, one chart per model and setting,
 * INVALID runs marked) or a rtinfer.compare/1 verdict, embedded by src/report/runs-html.ts.
 */
import { categoryChart, timeSeriesChart } from '../shared/charts.js';
import { chartSection, dataTable, embeddedData, h } from '../shared/dom.js';
import { formatMs } from '../shared/format.js';
import { verdictCard } from '../report/common.js';

interface HistoryRun {
  id: number;
  t: number;
  p50Ms: number | null;
  p99Ms: number | null;
  qps: number | null;
  valid: boolean | null;
  label: string | null;
  startedAt: string;
}
interface HistoryGroup {
  model: string;
  setting: string;
  runs: HistoryRun[];
}
interface MetricVerdict {
  metric: string;
  unit: string;
  a: number | null;
  b: number | null;
  ratio: number | null;
  ci: [number, number] | null;
  pValue: number | null;
  test: string;
  significant: boolean | null;
  change: string;
  regression: boolean;
}
interface Side {
  ref: string;
  runId: number | null;
  model: string;
  scenario: string;
  valid: boolean | null;
  queries: number;
  blocks: number;
}
interface CompareReport {
  schema: string;
  a: Side;
  b: Side;
  threshold: number;
  alpha: number;
  metrics: MetricVerdict[];
  regression: boolean;
  verdict: string;
  warnings: string[];
}
type PageData =
  | { kind: 'history'; store: string; groups: HistoryGroup[]; generatedAt: string }
  | { kind: 'compare'; report: CompareReport };

const app = document.getElementById('app') ?? document.body;
const data = embeddedData<PageData>();
const fmt = (v: number | null): string => (v === null ? '–' : formatMs(v));

if (data.kind === 'history') {
  const total = data.groups.reduce((s, g) => s + g.runs.length, 0);
  app.append(
    h('h1', {}, 'rtinfer runs'),
    h(
      'p',
      { class: 'meta' },
      `${total} runs in ${data.groups.length} model and setting groups · ${data.store} · ${data.generatedAt}`,
    ),
  );
  data.groups.forEach((g, i) => {
    const invalid = g.runs.filter((r) => r.valid === false).length;
    const box = chartSection(
      app,
      `group-${i}`,
      `${g.model}`,
      `${g.setting} · ${g.runs.length} runs${invalid ? ` · ${invalid} INVALID (marked with a cross)` : ''}`,
    );
    box.dataset['runs'] = String(g.runs.length);
    const chart = timeSeriesChart(
      box,
      [
        { label: 'p50', pointSize: 6 },
        { label: 'p99', pointSize: 6 },
        { label: 'INVALID', pointsOnly: true, pointSize: 11, color: '#c92a2a' },
      ],
      { y: { label: 'latency (ms)' }, format: fmt },
    );
    chart.setData([
      g.runs.map((r) => r.t),
      g.runs.map((r) => r.p50Ms),
      g.runs.map((r) => r.p99Ms),
      g.runs.map((r) => (r.valid === false ? r.p99Ms : null)),
    ]);
    box.parentElement?.append(
      dataTable(
        ['run', 'started', 'p50 ms', 'p99 ms', 'q/s', 'validity', 'label'],
        g.runs.map((r) => [
          String(r.id),
          r.startedAt.replace('T', ' ').slice(0, 19),
          fmt(r.p50Ms),
          fmt(r.p99Ms),
          r.qps === null ? '–' : r.qps.toFixed(1),
          r.valid === null ? '–' : r.valid ? 'valid' : 'INVALID',
          r.label ?? '',
        ]),
        (k) => (g.runs[k]?.valid === false ? 'invalid' : undefined),
      ),
    );
  });
  if (data.groups.length === 0) app.append(h('p', {}, 'No stored runs match.'));
  app.append(h('footer', {}, 'rtinfer runs · self-contained: charts by uPlot, nothing loaded from the network'));
} else {
  const r = data.report;
  const side = (s: Side): string =>
    `${s.runId !== null ? `run ${s.runId}` : s.ref} · ${s.model} · ${s.scenario} · ${s.queries} queries${s.blocks ? ` in ${s.blocks} blocks` : ''}${s.valid === false ? ' · INVALID' : ''}`;
  app.append(
    h('h1', {}, 'rtinfer compare'),
    h('p', { class: 'meta' }, `A: ${side(r.a)}`),
    h('p', { class: 'meta' }, `B: ${side(r.b)}`),
  );
  app.append(
    verdictCard(
      !r.regression,
      'NO REGRESSION',
      'REGRESSION',
      `${r.verdict} (threshold ${(r.threshold * 100).toFixed(1)} %, significance ${r.alpha})`,
      [],
      r.warnings,
    ),
  );
  const tested = r.metrics.filter((m) => m.ratio !== null);
  const box = chartSection(
    app,
    'ratios',
    'B / A per metric',
    'The ratio and its 95 % interval; 1 is no change. For throughput above 1 is better, for latency below 1.',
  );
  categoryChart(
    box,
    tested.map((m) => m.metric),
    [
      { label: 'B/A', values: tested.map((m) => m.ratio) },
      { label: 'interval low', values: tested.map((m) => m.ci?.[0] ?? null), dash: [4, 4] },
      { label: 'interval high', values: tested.map((m) => m.ci?.[1] ?? null), dash: [4, 4] },
    ],
    { yLabel: 'B / A' },
  );
  app.append(
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Metrics'),
      dataTable(
        ['metric', 'A', 'B', 'B/A', '95 % interval', 'p', 'test', 'verdict'],
        r.metrics.map((m) => [
          m.metric,
          m.a === null ? '–' : `${m.unit === 'ms' ? formatMs(m.a) : m.a.toFixed(1)} ${m.unit}`,
          m.b === null ? '–' : `${m.unit === 'ms' ? formatMs(m.b) : m.b.toFixed(1)} ${m.unit}`,
          m.ratio === null ? '–' : m.ratio.toFixed(3),
          m.ci ? `${m.ci[0].toFixed(3)}–${m.ci[1].toFixed(3)}` : '–',
          m.pValue === null ? '–' : m.pValue.toFixed(4),
          m.test,
          m.regression ? 'REGRESSION' : m.significant === null ? 'not tested' : m.change,
        ]),
        (k) => (r.metrics[k]?.regression ? 'invalid' : undefined),
        { id: 'metrics' },
      ),
    ),
  );
  app.append(h('footer', {}, `${r.schema} · self-contained: charts by uPlot, nothing loaded from the network`));
}
