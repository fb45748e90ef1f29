/** The page for one rtinfer.sweep/1 report. */
import { categoryChart, curveChart, type Curve } from '../shared/charts.js';
import { chartSection, dataTable, h, keyValueTable } from '../shared/dom.js';
import { formatMs, formatRate, formatShapes } from '../shared/format.js';
import type { SweepPoint, SweepReport } from '../shared/report-types.js';
import { describeSettings, envTable, splitBar, splitLegend, verdictCard } from './common.js';

const config = (p: SweepPoint): string =>
  `${p.instances} inst × ${p.threads} thr, batch ${p.batch}, ${p.load.kind === 'qps' ? 'rate' : 'conc'} ${p.load.value}`;
/** The engine configuration without the load, compact: "1×2 b8" (instances × threads, max batch). */
const engineKey = (p: SweepPoint): string => `${p.instances}×${p.threads} b${p.batch}`;
/** The load, compact: "c4" (concurrency 4) or "@50/s" (Poisson rate). */
const loadKey = (p: SweepPoint): string => (p.load.kind === 'qps' ? `@${p.load.value}/s` : `c${p.load.value}`);

/** The headline percentile (--percentile; p99 in reports written before it) and each point's latency at it. */
const headlineName = (r: SweepReport): string => `p${r.settings.percentile ?? 99}`;
const headlineOf = (p: SweepPoint): number => p.headlineMs ?? p.latencyMs.p99;

/** One curve per engine configuration, its points in load order (the order the sweep ran them). */
function curves(r: SweepReport): Curve[] {
  const byKey = new Map<string, { label: string; points: Array<Curve['points'][number]> }>();
  const measured = r.points.map((p, i) => ({ p, i })).filter((e) => e.p.queries > 0);
  for (const { p, i } of measured.sort((a, b) => a.p.load.value - b.p.load.value)) {
    const key = engineKey(p);
    let c = byKey.get(key);
    if (!c) byKey.set(key, (c = { label: key, points: [] }));
    c.points.push({
      throughput: p.throughput,
      latencyMs: headlineOf(p),
      pareto: p.pareto,
      label: `#${i + 1} ${key} ${loadKey(p)}: ${formatRate(p.throughput)} q/s, ${headlineName(r)} ${formatMs(headlineOf(p))} ms${p.pareto ? ' · Pareto' : ''}`,
    });
  }
  // Legend in grid order (instances, then threads, then batch), as the sweep ran them.
  return [...byKey.values()];
}

export function renderSweep(app: HTMLElement, r: SweepReport): void {
  app.append(
    h('h1', {}, `rtinfer sweep · ${r.model.label}`),
    h(
      'p',
      { class: 'meta' },
      `${formatShapes(r.model.shapes)} · ${r.grid.measured} of ${r.grid.points} points, ${(r.settings.durationMs / 1000).toFixed(1)} s each, ${(r.grid.ms / 1000).toFixed(1)} s in all · ${r.env.startedAt}`,
    ),
  );
  app.append(checksCard(r));

  const curve = chartSection(
    app,
    'tradeoff',
    'Latency–throughput',
    `${headlineName(r)} against throughput: one line per engine configuration (instances × threads, max batch "b"), through its loads in increasing order; the thick orange line with rings is the Pareto frontier (no other point has more throughput at a lower ${headlineName(r)}). Hover a point for its configuration and load; click a legend entry to hide a line.`,
  );
  curveChart(curve, curves(r));

  const pct = chartSection(
    app,
    'percentiles',
    'Percentiles per point',
    'p50, p90, p99 and max of each point, numbered as in the table.',
  );
  categoryChart(
    pct,
    r.points.map(config),
    [
      { label: 'p50', values: r.points.map((p) => (p.queries > 0 ? p.latencyMs.p50 : null)) },
      { label: 'p90', values: r.points.map((p) => (p.queries > 0 ? p.latencyMs.p90 : null)) },
      { label: 'p99', values: r.points.map((p) => (p.queries > 0 ? p.latencyMs.p99 : null)) },
      ...(['p50', 'p90', 'p99'].includes(headlineName(r))
        ? []
        : [{ label: headlineName(r), values: r.points.map((p) => (p.queries > 0 ? headlineOf(p) : null)) }]),
      { label: 'max', values: r.points.map((p) => (p.queries > 0 ? p.latencyMs.max : null)), dash: [4, 4], width: 1 },
    ],
    { yLabel: 'latency (ms)' },
  );
  app.append(splitCard(r));

  app.append(h('section', { class: 'card' }, h('h2', {}, 'Points'), h('div', { class: 'scroll' }, pointsTable(r))));
  app.append(
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Settings'),
      keyValueTable(
        [
          ['model', `${r.model.label}${r.model.path ? ` (${r.model.path})` : ''}`],
          ['shapes', formatShapes(r.model.shapes)],
          ['instances', r.settings.instances.join(', ')],
          ['threads per instance', r.settings.threads.join(', ')],
          ['max batch size', r.settings.batch.join(', ')],
          [r.settings.load.kind === 'qps' ? 'Poisson rates (q/s)' : 'concurrency', r.settings.load.values.join(', ')],
          ['per point', `at least ${r.settings.durationMs / 1000} s and ${r.settings.minQueries} queries`],
          ['seed', r.settings.seed],
          ['session', describeSettings(r.settings.session)],
        ],
        { id: 'settings' },
      ),
    ),
  );
  app.append(h('section', { class: 'card' }, h('h2', {}, 'Environment'), envTable(r.env)));
}

/** A sweep has no single verdict; these are the checks that make its points comparable. */
function checksCard(r: SweepReport): HTMLElement {
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (r.grid.measured < r.grid.points)
    reasons.push(`only ${r.grid.measured} of ${r.grid.points} points were measured (interrupted)`);
  const empty = r.points.filter((p) => p.queries === 0);
  if (empty.length) reasons.push(`${empty.length} point(s) answered no query: ${empty.map(config).join('; ')}`);
  const short = r.points.filter((p) => p.queries > 0 && p.queries < r.settings.minQueries);
  if (short.length)
    warnings.push(
      `${short.length} point(s) ran fewer than ${r.settings.minQueries} queries: ${short.map(config).join('; ')}`,
    );
  const refused = r.points.filter((p) => p.refused > 0);
  if (refused.length)
    warnings.push(
      `${refused.length} point(s) had refusals (counted out of the latencies): ${refused.map((p) => `${config(p)} ${p.refused}`).join('; ')}`,
    );
  const thin = r.points.filter((p) => p.queries > 0 && p.queries < 100);
  if (thin.length)
    warnings.push(`${thin.length} point(s) ran fewer than 100 queries, so their p99 is their maximum or next to it`);
  if (r.env.loadAvgBefore > r.env.cores * 0.5)
    warnings.push(`machine was busy before the run: load average ${r.env.loadAvgBefore} on ${r.env.cores} cores`);
  const frontier = r.points.filter((p) => p.pareto).length;
  return verdictCard(
    reasons.length === 0,
    'COMPLETE',
    'INCOMPLETE',
    `${r.grid.measured} of ${r.grid.points} points measured · ${frontier} on the Pareto frontier`,
    reasons,
    warnings,
  );
}

function splitCard(r: SweepReport): HTMLElement {
  const labels = ['queue p50', 'inference p50', 'rest of p50 (hand-off, batching)'];
  const card = h('section', { class: 'card', id: 'stages' }, h('h2', {}, 'Where the time goes (per point, medians)'));
  r.points.forEach((p, i) => {
    const parts = [
      { label: labels[0] ?? '', ms: p.queueMs },
      { label: labels[1] ?? '', ms: p.inferenceMs },
      { label: labels[2] ?? '', ms: Math.max(0, p.latencyMs.p50 - p.queueMs - p.inferenceMs) },
    ];
    card.append(
      h(
        'div',
        { class: 'split-row' },
        h('span', { class: 'meta', title: `point ${i + 1}: ${config(p)}` }, `#${i + 1} ${engineKey(p)} ${loadKey(p)}`),
        splitBar(parts),
      ),
    );
  });
  card.append(splitLegend(labels));
  return card;
}

function pointsTable(r: SweepReport): HTMLTableElement {
  return dataTable(
    [
      '#',
      'inst',
      'thr',
      'batch',
      'load',
      'queries',
      'q/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'queue ms',
      'infer ms',
      'mean batch',
      'refused',
      'pareto',
    ],
    r.points.map((p, i) => [
      String(i + 1),
      String(p.instances),
      String(p.threads),
      String(p.batch),
      `${p.load.kind === 'qps' ? 'rate' : 'conc'} ${p.load.value}`,
      String(p.queries),
      p.throughput.toFixed(1),
      formatMs(p.latencyMs.p50),
      formatMs(p.latencyMs.p90),
      formatMs(p.latencyMs.p99),
      formatMs(p.latencyMs.max),
      formatMs(p.queueMs),
      formatMs(p.inferenceMs),
      p.meanBatchRequests.toFixed(2),
      String(p.refused),
      p.pareto ? '★' : '',
    ]),
    (i) => (r.points[i]?.pareto ? 'pareto' : undefined),
    { id: 'points' },
  );
}
