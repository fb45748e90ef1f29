/** The page for one rtinfer.bench/1 report. */
import { cdfChart, histogramChart } from '../shared/charts.js';
import { chartSection, dataTable, h, keyValueTable } from '../shared/dom.js';
import { formatBytes, formatMs, formatRate, formatShapes } from '../shared/format.js';
import type { BenchReport, VideoBench } from '../shared/report-types.js';
import { describeSettings, envTable, splitBar, splitLegend, stat, verdictCard, type SplitPart } from './common.js';

export function renderBench(app: HTMLElement, r: BenchReport): void {
  const l = r.latencyMs;
  app.append(
    h('h1', {}, `rtinfer bench · ${r.scenario} · ${r.model.label}`),
    h(
      'p',
      { class: 'meta' },
      [
        r.model.target ? `target ${r.model.target}` : `${r.model.path ?? '<bytes>'} (${formatBytes(r.model.bytes)})`,
        formatShapes(r.settings.shapes),
        r.env.startedAt,
      ]
        .filter((x) => x !== '')
        .join(' · '),
    ),
  );

  const hl = r.headline;
  const headline =
    hl.metric === 'throughput'
      ? `${hl.samplesPerSecond} samples/s`
      : `${hl.metric} ${formatMs(hl.valueMs)} ms${hl.claimable ? '' : ' (not claimable)'}`;
  app.append(
    verdictCard(
      r.validity.valid,
      'VALID',
      'INVALID',
      `headline ${headline} · ${r.throughput.queries} queries in ${(r.throughput.durationMs / 1000).toFixed(2)} s`,
      r.validity.reasons,
      r.validity.warnings,
    ),
  );

  app.append(
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Latency'),
      h(
        'div',
        { class: 'stats' },
        stat('p50 ms', formatMs(l.p50)),
        stat('p90 ms', formatMs(l.p90)),
        stat('p99 ms', formatMs(l.p99)),
        stat('max ms', formatMs(l.max)),
        stat('queries/s', formatRate(r.throughput.qps)),
        stat('queries', String(r.throughput.queries)),
      ),
      h('div', { class: 'scroll' }, percentileTable(r)),
    ),
  );

  const grid = h('div', { class: 'grid2' });
  app.append(grid);
  const d = r.latencyDistribution;
  const hist = chartSection(
    grid,
    'histogram',
    'Latency histogram',
    'Queries per latency bin; bins are 2^(1/8) wide (about 9 %), so the axis is logarithmic.',
  );
  const cdf = chartSection(
    grid,
    'cdf',
    'Latency by percentile',
    'Nearest-rank latency at each percentile, on the "nines" axis of HdrHistogram plots: 90 %, 99 %, 99.9 % are equally spaced, so the tail is as readable as the body. The last point is the maximum, drawn at 1 − 1/queries: nearest rank reads every percentile above that as the maximum.',
  );
  if (d && d.histogram.counts.length > 0) {
    histogramChart(hist, d.histogram);
    const queries = d.histogram.counts.reduce((a, b) => a + b, 0);
    cdfChart(cdf, [
      { label: 'latency', count: queries, points: d.quantiles.ms.map((ms, i) => [ms, d.quantiles.q[i] ?? 0] as const) },
    ]);
  } else {
    const note = d
      ? 'No query was measured.'
      : 'This report predates latencyDistribution (rtinfer.bench/1 from an older rtinfer): only the percentiles above are available.';
    hist.append(h('p', { class: 'meta' }, note));
    cdf.append(h('p', { class: 'meta' }, note));
  }

  if (r.video) app.append(videoCard(r.video));
  app.append(stagesCard(r));
  app.append(h('section', { class: 'card' }, h('h2', {}, 'Settings'), settingsTable(r)));
  app.append(h('section', { class: 'card' }, h('h2', {}, 'Environment'), envTable(r.env)));
}

function percentileTable(r: BenchReport): HTMLTableElement {
  const l = r.latencyMs;
  const ci = (c: { lowerMs: number; upperMs: number } | null): string =>
    c ? `[${formatMs(c.lowerMs)}, ${formatMs(c.upperMs)}]` : 'n/a';
  const es = (v: BenchReport['earlyStopping']['p90']): string =>
    v.satisfied && v.estimateMs !== null
      ? `≤ ${formatMs(v.estimateMs)} at ${v.confidence * 100} %`
      : `needs ${v.minQueries} queries`;
  return dataTable(
    ['ms', 'mean', 'stddev', 'min', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'],
    [
      ['latency', ...[l.mean, l.stddev, l.min, l.p50, l.p90, l.p95, l.p99, l.p999, l.max].map(formatMs)],
      [
        `${r.confidence.level * 100} % CI`,
        '',
        '',
        '',
        ci(r.confidence.p50),
        ci(r.confidence.p90),
        '',
        ci(r.confidence.p99),
        '',
        '',
      ],
      ['early stopping', '', '', '', '', es(r.earlyStopping.p90), '', es(r.earlyStopping.p99), '', ''],
    ],
    undefined,
    { id: 'percentiles' },
  );
}

/** Where a query's time goes: the pipeline stages, or the engine's queue and inference; and the cold start. */
function stagesCard(r: BenchReport): HTMLElement {
  const card = h('section', { class: 'card', id: 'stages' }, h('h2', {}, 'Per-stage split'));
  if (r.pipeline) {
    const st = Object.entries(r.pipeline.stagesMs);
    card.append(
      h(
        'p',
        { class: 'meta' },
        `${r.pipeline.head} head over ${r.pipeline.images} image(s)${r.pipeline.skipped?.length ? ` (${r.pipeline.skipped.length} non-image entries skipped)` : ''}; mean time per stage:`,
      ),
    );
    card.append(
      splitBar(st.map(([k, v]) => ({ label: k, ms: v.mean }))),
      splitLegend(st.map(([k, v]) => `${k} ${formatMs(v.mean)} ms`)),
    );
    card.append(
      h(
        'div',
        { class: 'scroll' },
        dataTable(
          ['stage', 'p50', 'p90', 'p99', 'mean'],
          [
            ...st.map(([k, v]) => [k, formatMs(v.p50), formatMs(v.p90), formatMs(v.p99), formatMs(v.mean)]),
            [
              'end to end',
              formatMs(r.latencyMs.p50),
              formatMs(r.latencyMs.p90),
              formatMs(r.latencyMs.p99),
              formatMs(r.latencyMs.mean),
            ],
          ],
        ),
      ),
    );
  } else if (r.engine) {
    const e = r.engine;
    const parts: SplitPart[] = [
      { label: 'queue', ms: e.queueMs.p50 },
      { label: 'inference', ms: e.inferenceMs.p50 },
      {
        label: 'other (hand-off, batching, generator)',
        ms: Math.max(0, r.latencyMs.p50 - e.queueMs.p50 - e.inferenceMs.p50),
      },
    ];
    card.append(
      h(
        'p',
        { class: 'meta' },
        `engine: ${e.instances} instance(s) × ${e.threadsPerInstance} threads · batching ${e.batching.mode}${e.batching.mode !== 'none' ? ` max ${e.batching.maxBatchSize}` : ''} · mean batch ${e.meanBatchRequests}${e.layout ? ` (layout: ${e.layout.reason ?? `hint ${e.layout.hint}`})` : ''}. Medians, which need not add up: "other" is the end-to-end median less the other two.`,
      ),
    );
    card.append(splitBar(parts), splitLegend(parts.map((p) => `${p.label} ${formatMs(p.ms)} ms`)));
    card.append(
      dataTable(
        ['', 'p50', 'p99'],
        [
          ['queue', formatMs(e.queueMs.p50), formatMs(e.queueMs.p99)],
          ['inference', formatMs(e.inferenceMs.p50), formatMs(e.inferenceMs.p99)],
          ['end to end', formatMs(r.latencyMs.p50), formatMs(r.latencyMs.p99)],
        ],
      ),
    );
  } else {
    card.append(
      h(
        'p',
        { class: 'meta' },
        'Each query is one session.run on the measuring thread: all of it is inference. Run with --images for the decode, preprocess, inference and postprocess split.',
      ),
    );
  }
  const c = r.coldStart;
  const cold: SplitPart[] = [
    ...(c.readMs !== null ? [{ label: 'read model', ms: c.readMs }] : []),
    ...(c.sessionCreateMs !== null ? [{ label: 'create session', ms: c.sessionCreateMs }] : []),
    { label: 'first inference', ms: c.firstInferenceMs },
  ];
  card.append(
    h('h2', { class: 'sub' }, 'Cold start'),
    splitBar(cold),
    splitLegend(cold.map((p) => `${p.label} ${formatMs(p.ms)} ms`)),
  );
  return card;
}

function settingsTable(r: BenchReport): HTMLTableElement {
  const s = r.settings;
  const sc = Object.entries(s.scenario).filter(([k]) => k !== 'engine');
  return keyValueTable(
    [
      ['scenario', r.scenario + (sc.length ? ` (${sc.map(([k, v]) => `${k} ${String(v)}`).join(' · ')})` : '')],
      ['model', r.model.label],
      [
        'inputs',
        r.model.inputs
          .map(
            (i) =>
              `${i.name} ${i.dtype} ${i.runShape.length ? i.runShape.join('x') : r.pipeline ? '(shape from each image)' : 'scalar'}`,
          )
          .join(' · ') || undefined,
      ],
      ['input data', s.input.description],
      ['defaulted shapes', s.defaultedShapes.length ? s.defaultedShapes.join('; ') : undefined],
      ['session', describeSettings(s.session)],
      ['engine', s.scenario['engine'] !== undefined ? JSON.stringify(s.scenario['engine']) : undefined],
      ['measure', `at least ${s.durationMs / 1000} s and ${s.minQueries} queries`],
      ['warm-up', `${r.warmup.queries} queries in ${(r.warmup.ms / 1000).toFixed(2)} s`],
      [
        'stability',
        `${r.stability.windows.map((w) => `${w.qps.toFixed(1)} q/s @ ${formatMs(w.meanMs)} ms`).join(' | ')} · spread ±${r.stability.qpsSpreadPct} % / ±${r.stability.latencySpreadPct} % (limit ±${r.stability.percentage} %)`,
      ],
      [
        'cpu',
        `${formatMs(r.cpu.msPerQuery)} ms per query · ${r.cpu.utilization} cores busy · event-loop lag p99 ${formatMs(r.eventLoopLagMs.p99)} ms · peak RSS ${r.memory.peakRssMB} MB`,
      ],
      [
        'refused',
        Object.keys(r.refused).length
          ? Object.entries(r.refused)
              .map(([k, v]) => `${k} ${v}`)
              .join(' · ')
          : undefined,
      ],
      [
        'server',
        r.server
          ? `target ${r.server.targetQps} q/s, achieved ${r.server.achievedQps} q/s${r.server.latencyBoundMs !== null ? ` · bound ${r.server.latencyBoundMs} ms: ${r.server.pass ? 'PASS' : 'FAIL'} (${r.server.overBound} over)` : ''}`
          : undefined,
      ],
      [
        'generator slip',
        r.generator
          ? `p50 ${formatMs(r.generator.slipMs.p50)} ms · p99 ${formatMs(r.generator.slipMs.p99)} ms${r.generator.lagging ? ' (lagging)' : ''}`
          : undefined,
      ],
      [
        'peak search',
        r.peak
          ? `${r.peak.qps} q/s keeps p99 ≤ ${r.peak.p99BoundMs} ms · probes ${r.peak.probes.map((p) => `${p.qps}${p.pass ? '✓' : '✗'}`).join(' ')}`
          : undefined,
      ],
    ],
    { id: 'settings' },
  );
}

/** bench --video: the clip replayed at a camera's rate (latest frame wins), and the largest fps with no drop. */
function videoCard(v: VideoBench): HTMLElement {
  const s = v.summary;
  const c = s.captureToResultMs;
  const card = h('section', { class: 'card', id: 'video' }, h('h2', {}, 'Video: camera-rate replay'));
  card.append(
    h(
      'p',
      { class: 'meta' },
      `${v.file} (${v.width}x${v.height}${v.sourceFps ? ` @ ${v.sourceFps} fps` : ''}) replayed at ${v.fps} fps, latest frame wins, ${v.path}`,
    ),
    h(
      'div',
      { class: 'stats' },
      stat('fps processed', s.achievedFps.toFixed(1)),
      stat('dropped', `${s.dropped} of ${s.framesIn}`),
      stat('late', `${s.late} of ${s.processed}`),
      stat('capture-to-result p99 ms', formatMs(c.p99)),
      stat('single-stream p99 ms', formatMs(v.singleStreamP99Ms)),
      ...(v.maxFps
        ? [
            stat(
              'max fps with no drop',
              v.maxFps.bound === 'below-min'
                ? `< ${v.maxFps.probes.reduce((m, p) => Math.min(m, p.fps), Infinity)}`
                : `${v.maxFps.fps}${v.maxFps.bound === 'at-cap' ? '+' : ''}`,
            ),
          ]
        : []),
    ),
    h(
      'p',
      { class: v.verdict.keepsUp ? 'ok' : 'bad', id: 'video-verdict' },
      `${v.verdict.text} · capture-to-result p99 ${v.verdict.p99WithinTwiceSingleStream ? 'within' : 'over'} 2× the single-stream p99`,
    ),
    dataTable(
      ['capture-to-result ms', 'p50', 'p90', 'p99', 'max'],
      [['', formatMs(c.p50), formatMs(c.p90), formatMs(c.p99), formatMs(c.max)]],
    ),
  );
  const m = v.maxFps;
  if (m) {
    const what =
      m.bound === 'below-min'
        ? 'frames drop at every rate tried'
        : m.bound === 'at-cap'
          ? `no drop up to ${m.fps} fps, where the search stops`
          : `${m.fps} fps sustained with no drop; ${m.failedFps ?? ''} fps drops frames`;
    card.append(
      h('h2', { class: 'sub' }, 'Largest fps with no drop'),
      h(
        'p',
        { class: 'meta', id: 'video-max-fps' },
        `${what} (${m.probes.length} paced runs of about ${m.probeMs / 1000} s, doubling or halving from ${v.fps} fps then bisecting; a rate is sustained when no frame is dropped and ffmpeg delivers every frame on time)`,
      ),
      h(
        'div',
        { class: 'scroll' },
        dataTable(
          ['fps', 'frames in', 'processed', 'dropped', 'late', 'source behind', 'capture-to-result p99 ms', ''],
          m.probes.map((p) => [
            String(p.fps),
            String(p.framesIn),
            String(p.processed),
            String(p.dropped),
            String(p.late),
            String(p.sourceBehind),
            formatMs(p.captureToResultP99Ms),
            p.sustained ? 'sustained' : 'drops',
          ]),
          (i) => (m.probes[i]?.sustained ? undefined : 'bad'),
          { id: 'video-probes' },
        ),
      ),
    );
  }
  return card;
}
