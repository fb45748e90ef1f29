/** The terminal rendering of a `rtinfer.bench/1` report. */
import type { BenchReport } from '../loadgen/bench.js';
import type { QuantileCi } from '../stats/summary.js';
import { skippedNote } from '../video/source.js';
import { formatBytes, formatMs, formatTable } from '../util/format.js';

function ci(name: string, c: QuantileCi | null): string {
  return c ? `${name} [${formatMs(c.lowerMs)}, ${formatMs(c.upperMs)}]` : `${name} n/a (too few queries)`;
}

/** The report in four blocks separated by blank lines: what ran, how it ran, its latency, its machine. */
export function renderBenchText(r: BenchReport): string {
  return [...headerLines(r), '', ...runLines(r), '', ...latencyLines(r), '', ...machineLines(r)].join('\n');
}

/** The model, its inputs and the session settings. */
function headerLines(r: BenchReport): string[] {
  const s = r.settings.session;
  const shapes = Object.entries(r.settings.shapes)
    .map(([n, d]) => `${n}=${d.length ? d.join('x') : 'scalar'}`)
    .join(' ');
  return [
    `rtinfer bench · ${r.scenario} · ${r.model.label}${r.model.default ? ' (bundled default)' : ''}`,
    r.model.target
      ? `  target    ${r.model.target} (KServe v2 over HTTP)`
      : `  model     ${r.model.path ?? '<bytes>'} (${formatBytes(r.model.bytes)})`,
    // An image run has no synthetic shapes: the description alone, not an empty field before it.
    `  inputs    ${[shapes, r.settings.input.description].filter(Boolean).join(' · ')}`,
    `  settings  ep ${(s.executionProviders ?? ['cpu']).join(',')} · ` +
      `threads ${s.intraOpThreads ?? 'auto'} · graph-opt ${s.graphOptimizationLevel ?? 'all'} · ` +
      `mode ${s.executionMode ?? 'sequential'}`,
  ];
}

/** Cold start, warm-up, throughput and the headline, then what each optional part of the run adds. */
function runLines(r: BenchReport): string[] {
  const out: string[] = [];
  const cs = r.coldStart;
  out.push(
    cs.readMs === null || cs.sessionCreateMs === null
      ? `cold start  first request ${formatMs(cs.firstInferenceMs)} ms (model loaded by the server)`
      : `cold start  read ${formatMs(cs.readMs)} ms · session ${formatMs(cs.sessionCreateMs)} ms · ` +
          `first inference ${formatMs(cs.firstInferenceMs)} ms`,
  );
  out.push(`warm-up     ${r.warmup.queries} queries in ${(r.warmup.ms / 1000).toFixed(2)} s`);
  const t = r.throughput;
  const samples = t.samplesPerSecond !== t.qps ? ` · ${t.samplesPerSecond} samples/s` : '';
  out.push(`measured    ${t.queries} queries in ${(t.durationMs / 1000).toFixed(2)} s · ${t.qps} queries/s${samples}`);
  out.push(headlineLine(r.headline));
  if (r.peak) {
    const pk = r.peak;
    out.push(
      `peak        ${pk.qps > 0 ? `${pk.qps} q/s` : 'none'} keeps p99 <= ${pk.p99BoundMs} ms · ` +
        `probes ${pk.probes.map((p) => `${p.qps}${p.pass ? '✓' : '✗'}`).join(' ')}`,
    );
  }
  if (r.server) {
    const sv = r.server;
    const bound =
      sv.latencyBoundMs !== null
        ? ` · bound ${sv.latencyBoundMs} ms: ${sv.pass ? 'PASS' : 'FAIL'} (${sv.overBound} over)`
        : '';
    out.push(`server      target ${sv.targetQps} q/s, achieved ${sv.achievedQps} q/s${bound}`);
  }
  if (r.generator) {
    const slip = r.generator.slipMs;
    out.push(
      `generator   schedule slip p50 ${formatMs(slip.p50)} ms · p99 ${formatMs(slip.p99)} ms · ` +
        `max ${formatMs(slip.max)} ms${r.generator.lagging ? ' (LAGGING)' : ''}`,
    );
  }
  if (r.engine) {
    const e = r.engine;
    const batching = `${e.batching.mode}${e.batching.mode !== 'none' ? ` max ${e.batching.maxBatchSize}` : ''}`;
    out.push(
      `engine      ${e.instances} instance(s) × ${e.threadsPerInstance} threads · batching ${batching} · ` +
        `mean batch ${e.meanBatchRequests} · queue p50 ${formatMs(e.queueMs.p50)} ms · ` +
        `inference p50 ${formatMs(e.inferenceMs.p50)} ms`,
    );
    if (e.layout) out.push(`layout      ${e.layout.reason ?? `hint ${e.layout.hint}`}`);
  }
  if (r.pipeline) out.push(...pipelineLines(r, r.pipeline));
  if (r.serverTiming) {
    const st = r.serverTiming.stagesMs;
    out.push(
      `server      its own split (Server-Timing), p50 ms: ${Object.entries(st)
        .map(([k, v]) => `${k} ${formatMs(v.p50)}`)
        .join(' · ')}`,
    );
  }
  const refused = Object.entries(r.refused);
  if (refused.length) out.push(`refused     ${refused.map(([c, n]) => `${c} ${n}`).join(' · ')}`);
  return out;
}

function headlineLine(h: BenchReport['headline']): string {
  if (h.metric === 'throughput') return `headline    ${h.samplesPerSecond} samples/s (offline)`;
  const chosen = h.chosenBy === 'option' ? ` (--percentile ${h.percentile})` : '';
  const claimable = h.claimable ? '' : ' (not claimable: too few queries)';
  return `headline    ${h.metric} ${h.valueMs === null ? '-' : formatMs(h.valueMs)} ms${chosen}${claimable}`;
}

/** The images pipeline's per-stage table, end to end last. */
function pipelineLines(r: BenchReport, pipeline: NonNullable<BenchReport['pipeline']>): string[] {
  const out = [`pipeline    ${pipeline.head} head over ${pipeline.images} image(s); per stage (ms):`];
  if (pipeline.skipped?.length) out.push(`skipped     ${skippedNote(pipeline.skipped, 20)}`);
  out.push(
    formatTable([
      ['  stage', 'p50', 'p90', 'p99', 'mean'],
      ...Object.entries(pipeline.stagesMs).map(([k, v]) => [
        `  ${k}`,
        formatMs(v.p50),
        formatMs(v.p90),
        formatMs(v.p99),
        formatMs(v.mean),
      ]),
      [
        '  end to end',
        formatMs(r.latencyMs.p50),
        formatMs(r.latencyMs.p90),
        formatMs(r.latencyMs.p99),
        formatMs(r.latencyMs.mean),
      ],
    ]),
  );
  return out;
}

/** The latency table, its confidence intervals, the early-stopping verdicts and the stability check. */
function latencyLines(r: BenchReport): string[] {
  const l = r.latencyMs;
  const h = r.headline;
  const out = [
    formatTable([
      ['latency ms', 'mean', 'stddev', 'min', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'],
      ['', ...[l.mean, l.stddev, l.min, l.p50, l.p90, l.p95, l.p99, l.p999, l.max].map(formatMs)],
    ]),
    `${r.confidence.level * 100}% CI      ${ci('p50', r.confidence.p50)} · ` +
      `${ci('p90', r.confidence.p90)} · ${ci('p99', r.confidence.p99)}`,
  ];
  // A --percentile other than 90 or 99 gets its own early-stopping line, first.
  const own = h.earlyStopping && h.percentile !== 90 && h.percentile !== 99 ? [h.earlyStopping] : [];
  for (const v of [...own, r.earlyStopping.p90, r.earlyStopping.p99]) {
    out.push(
      v.satisfied && v.estimateMs !== null
        ? `early stop  p${v.percentile} <= ${formatMs(v.estimateMs)} ms with ${v.confidence * 100}% ` +
            `confidence (${v.overLatencyAllowed} of ${v.queries} queries may exceed it)`
        : `early stop  p${v.percentile} not claimable: ` +
            `needs at least ${v.minQueries} queries at ${v.confidence * 100}% confidence, ran ${v.queries}`,
    );
  }
  const st = r.stability;
  if (r.untilStable) out.push(...untilStableLines(r.untilStable, st));
  else {
    const windows = st.windows.map((w) => `${w.qps.toFixed(1)} q/s @ ${formatMs(w.meanMs)} ms`).join(' | ');
    out.push(`stability   ${windows} · spread ±${st.qpsSpreadPct}% / ±${st.latencySpreadPct}%`);
  }
  return out;
}

/** What the run cost the machine, the machine itself, and the verdict on the run. */
function machineLines(r: BenchReport): string[] {
  const e = r.env;
  const out = [
    `cpu         ${formatMs(r.cpu.msPerQuery)} ms per query (${r.cpu.utilization.toFixed(2)} cores busy) · ` +
      `event-loop lag p99 ${formatMs(r.eventLoopLagMs.p99)} ms · peak RSS ${r.memory.peakRssMB} MB`,
    `env         ${e.cpuModel} · ${e.cores} cores · ${e.platform}/${e.arch} · Node ${e.node} · ` +
      `onnxruntime ${e.onnxruntime} · rtinfer ${e.rtinfer} · load ${e.loadAvgBefore.toFixed(2)}`,
    `validity    ${r.validity.valid ? 'VALID' : 'INVALID'}${r.validity.reasons.map((x) => `\n  - ${x}`).join('')}`,
  ];
  if (r.validity.warnings.length) out.push(`notes${r.validity.warnings.map((x) => `\n  - ${x}`).join('')}`);
  return out;
}

/** --until-stable: the verdict, then every window; the report's other figures are the last three together. */
function untilStableLines(u: NonNullable<BenchReport['untilStable']>, st: BenchReport['stability']): string[] {
  const verdict = u.stable
    ? `STABLE after ${u.windows} windows`
    : `NOT STABLE after ${u.windows} windows${u.windows >= u.maxWindows ? ' (the cap)' : ''}`;
  const lines = [
    `stability   ${verdict} of at most ${u.maxWindows} · last three: ` +
      `throughput ±${st.qpsSpreadPct}%, ${u.latency} latency ±${st.latencySpreadPct}% (limit ` +
      `±${u.percentage}%) · the report's figures are the three marked *`,
  ];
  u.figures.forEach((w, i) => {
    const latency = w.headlineMs !== undefined ? ` · ${u.latency} ${formatMs(w.headlineMs)} ms` : '';
    lines.push(
      `  window ${String(i + 1).padStart(2)}  ${w.queries} queries · ${w.qps.toFixed(1)} q/s · ` +
        `mean ${formatMs(w.meanMs)} ms${latency}${i >= u.figures.length - 3 ? ' *' : ''}`,
    );
  });
  return lines;
}
