/**
 * Tune page: draws the rtinfer.tune/1 report that src/tune/tune-text.ts embedded in the page: the
 * verdict, the chosen configuration with its search and verification measurements, every measured
 * candidate on the latency–throughput plane with the Pareto set marked, the candidate table, and the
 * variants `--variants auto` made.
 */
import { tradeoffChart } from '../shared/charts.js';
import { chartSection, dataTable, embeddedData, h, keyValueTable } from '../shared/dom.js';
import { formatMs, formatRate } from '../shared/format.js';
import { envTable, verdictCard } from '../report/common.js';
import type { CandidateRow, Measurement, TunePageReport } from './tune-types.js';

const r = embeddedData<TunePageReport>();
const app = document.getElementById('app') ?? document.body;
const judged = (c: CandidateRow): Measurement | null => c.full ?? c.quick;
// The latency the search ranks: in the server scenario the loaded figure sits at the bound by construction.
const latencyOf = (m: Measurement): number | null => (r.scenario === 'server' ? m.unloadedMs : m.latencyMs);
const latencyLabel = `${r.scenario === 'server' ? 'unloaded ' : ''}${r.slo.label} (ms)`;
const pct = (x: number | null | undefined): string =>
  x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`;
const figures = (m: Measurement | null): string =>
  m === null
    ? 'not run'
    : m.status !== 'ok'
      ? `${m.status}${m.note ? ` (${m.note})` : ''}`
      : `${formatRate(m.throughput)} q/s · ${r.slo.label} ${formatMs(m.latencyMs)} ms · unloaded ${formatMs(m.unloadedMs)} ms · ${m.meetsSlo ? 'meets' : 'misses'} the SLO`;

app.append(
  h('h1', {}, `rtinfer tune · ${r.slo.text}`),
  h(
    'p',
    { class: 'meta' },
    `${r.scenario} · objective ${r.objective} · ${r.space.variants.length} variant(s) · ${r.search.measured} of ${r.search.gridSize} configurations measured (${pct(r.search.fractionOfGrid)}) in ${(r.search.elapsedMs / 1000).toFixed(1)} s · ${r.env.startedAt}`,
  ),
);
const warnings = [
  ...r.search.pruned.variants.map((p) => `${p.variant}: ${p.reason}`),
  ...(r.search.stoppedBy === 'budget' ? ['the search stopped at the budget'] : []),
];
app.append(
  verdictCard(
    r.verdict.met,
    'MET',
    'NOT MET',
    r.verdict.text,
    r.verdict.closest.map((c) => `closest: ${c.key}: ${figures(c.measurement)}`),
    warnings,
  ),
);

if (r.chosen) {
  app.append(
    h(
      'section',
      { class: 'card', id: 'chosen' },
      h('h2', {}, 'Chosen configuration'),
      keyValueTable([
        ['configuration', r.chosen.key],
        ['search', figures(r.chosen.search)],
        ['verification (fresh engine, full length)', figures(r.chosen.verification)],
        ['serve config', JSON.stringify(r.chosen.config)],
      ]),
    ),
  );
}

const measured = r.candidates.filter((c) => judged(c)?.status === 'ok');
const plane = chartSection(
  app,
  'tradeoff',
  'Candidates',
  `Every candidate measured, at its ${r.scenario === 'server' ? 'peak Poisson rate within the SLO' : 'measured rate'}. Orange: the Pareto set over latency, throughput and accuracy. Hover a point for its configuration.`,
);
tradeoffChart(
  plane,
  measured.map((c) => {
    const m = judged(c) as Measurement;
    return {
      throughput: m.throughput,
      latencyMs: latencyOf(m) ?? Number.NaN,
      pareto: c.pareto,
      label: `${c.key}: ${formatRate(m.throughput)} q/s`,
    };
  }),
  { latencyLabel },
);

const rows = r.candidates.map((c) => {
  const m = judged(c);
  return [
    c.key === r.chosen?.key ? 'chosen' : c.pareto ? 'Pareto' : '',
    c.key,
    c.phase,
    c.full ? 'full' : 'quick',
    m?.status === 'ok' ? (c.feasible ? 'meets' : 'misses') : (m?.status ?? '–'),
    m ? formatRate(m.throughput) : '–',
    formatMs(m?.latencyMs),
    formatMs(m?.unloadedMs),
    c.accuracy ? pct(c.accuracy.score) : '–',
  ];
});
app.append(
  h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Measured candidates'),
    h(
      'div',
      { class: 'scroll' },
      dataTable(
        [
          '',
          'candidate',
          'phase',
          'length',
          'SLO',
          'q/s',
          `${r.slo.label} ms`,
          `unloaded ${r.slo.label} ms`,
          'accuracy',
        ],
        rows,
        (i) => (r.candidates[i]?.pareto ? 'pareto' : undefined),
        { id: 'candidates' },
      ),
    ),
  ),
);

if (r.accuracy) {
  app.append(
    h(
      'section',
      { class: 'card', id: 'accuracy' },
      h('h2', {}, `Accuracy against ${r.accuracy.reference}`),
      dataTable(
        ['variant', 'metric', 'score', 'drop', 'note'],
        r.accuracy.variants.map((a) => [
          a.variant,
          a.reference ? 'reference' : (a.metric ?? '–'),
          pct(a.score),
          pct(a.drop),
          a.note ?? '',
        ]),
      ),
    ),
  );
}
const auto = r.autoVariants;
if (auto) {
  const fate = (m: NonNullable<typeof auto>['made'][number]): string =>
    m.status?.chosen
      ? 'chosen'
      : m.status?.dropped.length
        ? `dropped: ${m.status.dropped.join('; ')}`
        : `searched (${m.status?.measured ?? 0} measured)`;
  app.append(
    h(
      'section',
      { class: 'card', id: 'variants' },
      h('h2', {}, 'Variants made by tune'),
      h(
        'p',
        { class: 'caption' },
        `made in ${(auto.elapsedMs / 1000).toFixed(1)} s (counted in --budget) into ${auto.dir}; accuracy on ${auto.accuracyOn}`,
      ),
      dataTable(
        ['variant', 'file', 'size', 'made in', 'accuracy', 'fate'],
        [
          ...auto.made.map((m) => {
            const a = m.accuracy?.[0];
            return [
              m.kind,
              m.model,
              `${(m.bytes / 1e6).toFixed(2)} MB`,
              `${(m.elapsedMs / 1000).toFixed(1)} s`,
              a ? `${a.metric ?? '–'} ${pct(a.score)} (drop ${pct(a.drop)})` : '–',
              fate(m),
            ];
          }),
          ...auto.skipped.map((k) => [k.kind, '–', '–', '–', '–', `skipped: ${k.reason}`]),
        ],
      ),
    ),
  );
}
app.append(h('section', { class: 'card' }, h('h2', {}, 'Environment'), envTable(r.env)));
app.append(
  h(
    'footer',
    {},
    `${r.schema} · written by rtinfer ${r.env.rtinfer} · self-contained: charts by uPlot, nothing loaded from the network`,
  ),
);
