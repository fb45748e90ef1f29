/**
 * The `rtinfer.bench/1` report: statistics, the scenario's headline, and the validity verdict with
 * its reasons. An invalid run still carries all its numbers.
 */
import os from 'node:os';
import type { EngineStats } from '../engine/engine-metrics.js';
import type { EngineConfig, PerformanceHint } from '../engine/engine.js';
import type { InputPlan, SampleSet } from '../runtime/inputs.js';
import type { LoadedModel, TensorSpec } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { describeDefaults, type DefaultedDim } from '../runtime/shapes.js';
import { firstLine } from '../errors.js';
import type { LagSummary } from '../stats/event-loop.js';
import { earlyStoppingRank } from '../stats/early-stopping.js';
import type { LatencyRecorder } from '../stats/latency-recorder.js';
import { summarizeLatency, type EarlyStoppingVerdict, type LatencySummary, type QuantileCi } from '../stats/summary.js';
import { latencyDistribution, type LatencyDistribution } from '../stats/distribution.js';
import type { Environment } from './environment.js';
import type { Phase, RunCosts, RunLatencies } from './single-stream.js';
import { judgeWindows, stabilityOf, type Stability, type StabilityWindow } from './stability.js';

export const BENCH_SCHEMA = 'rtinfer.bench/1';

/**
 * Cold start, ms: reading the model, creating its session, its first inference. readMs and
 * sessionCreateMs are null against an HTTP target (the server loaded the model); a local run's
 * `ColdStart<number>` has all three.
 */
export interface ColdStart<LocalMs extends number | null = number | null> {
  readMs: LocalMs;
  sessionCreateMs: LocalMs;
  firstInferenceMs: number;
}

/** What a measured phase produced, whatever the scenario. */
export interface RunData extends RunLatencies, RunCosts {
  answered: number;
  issued: number;
  refused: Record<string, number>;
  firstError: unknown;
  slip?: LatencyRecorder;
  samplesPerQuery: number;
}

interface Percentiles {
  mean: number;
  stddev: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  scenario: string;
  model: {
    label: string;
    path: string | null;
    bytes: number;
    default: boolean;
    target: string | null;
    inputs: Array<TensorSpec & { runShape: number[] }>;
    outputs: TensorSpec[];
  };
  settings: {
    session: SessionSettings;
    shapes: Record<string, number[]>;
    defaultedShapes: string[];
    input: { fill: string; files: string[]; samples: number; seed: number; description: string };
    warmup: Phase;
    durationMs: number;
    minQueries: number;
    scenario: Record<string, unknown>;
    /** --percentile, when given (added within rtinfer.bench/1). */
    percentile?: number;
    /** --until-stable, when given (added within rtinfer.bench/1): the window cap and the bound, ± %. */
    untilStable?: { maxWindows: number; percentage: number };
  };
  coldStart: ColdStart;
  warmup: { queries: number; ms: number };
  /**
   * The headline: the scenario's (p90 for single-stream, p99 for multi-stream, server and
   * concurrency, throughput for offline) or the latency percentile given with --percentile (any
   * scenario). `percentile`, `chosenBy` and `earlyStopping` were added within rtinfer.bench/1.
   */
  headline: {
    metric: HeadlineMetric;
    valueMs: number | null;
    samplesPerSecond: number;
    claimable: boolean;
    /** The headline percentile, e.g. 99.9; null when the headline is throughput. */
    percentile?: number | null;
    /** 'scenario': the scenario's default; 'option': --percentile. */
    chosenBy?: 'scenario' | 'option';
    /** Early stopping at 99% confidence for the headline percentile (null for throughput). */
    earlyStopping?: EarlyStoppingVerdict | null;
  };
  latencyMs: Percentiles;
  /** The whole distribution, compactly, for histograms and CDFs (added within rtinfer.bench/1). */
  latencyDistribution: LatencyDistribution;
  /**
   * The measured latencies as an HDR histogram, compressed base64 (LatencyRecorder.decode), for exact comparisons later
   * (added within rtinfer.bench/1).
   */
  latencyHistogram?: string;
  confidence: { level: number; p50: QuantileCi | null; p90: QuantileCi | null; p99: QuantileCi | null };
  earlyStopping: { p90: EarlyStoppingVerdict; p99: EarlyStoppingVerdict };
  throughput: { qps: number; samplesPerSecond: number; queries: number; issued: number; durationMs: number };
  refused: Record<string, number>;
  /** server --find-peak: the search; the rest of the report is the confirmation run at `peak.qps`. */
  peak?: {
    p99BoundMs: number;
    qps: number;
    probes: Array<{ qps: number; pass: boolean; p99Ms: number; overBound: number; queries: number }>;
  };
  server?: {
    targetQps: number;
    achievedQps: number;
    latencyBoundMs: number | null;
    overBound: number;
    pass: boolean | null;
  };
  generator?: { slipMs: { p50: number; p99: number; max: number }; lagging: boolean };
  engine?: {
    startMs: number;
    instances: number;
    threadsPerInstance: number;
    /**
     * Where the layout came from (added within rtinfer.bench/1): the hint, and for a measured one
     * (auto, latency) its one-line reason; absent when --instances or --threads gave it.
     */
    layout?: { hint: PerformanceHint; reason?: string };
    batching: EngineStats['batching'];
    queueMs: { p50: number; p99: number };
    inferenceMs: { p50: number; p99: number };
    meanBatchRequests: number;
    batchSizes: Record<number, number>;
    counts: EngineStats['counts'];
  };
  stability: Stability;
  /**
   * bench --until-stable (added within rtinfer.bench/1): measurement windows repeated until the last
   * three agree. The rest of the report is those three windows together; `stability` judges them.
   */
  untilStable?: {
    /** Windows measured, at most maxWindows. */
    windows: number;
    maxWindows: number;
    /** The bound, ± % (--stability-percentage). */
    percentage: number;
    /** What the windows' latency is judged on: the headline percentile, or the mean for a throughput headline. */
    latency: string;
    stable: boolean;
    /** Every window in order: its start (ms from the first window's), queries, q/s, mean and headline latency. */
    figures: StabilityWindow[];
  };
  /** --images: the vision pipeline's head and per-stage latency; latencyMs is then end to end. */
  pipeline?: {
    head: string;
    images: number;
    stagesMs: Record<string, { p50: number; p90: number; p99: number; mean: number }>;
    /** Entries of the --images folder (or glob) that are not images: listed, skipped, not run. Absent when none. */
    skipped?: string[];
  };
  /** --video: the clip replayed at a camera rate (latest frame wins): drops, lateness, capture-to-result, verdict. */
  video?: import('../video/video-bench.js').VideoBenchResult;
  /**
   * --target: the server's own split of the measured answers, from their Server-Timing headers
   * (rtinfer serve: receive, decode, queue, inference, hop, encode, total), in ms; absent when the
   * server sends none. End to end minus the server's total is the network and the client.
   */
  serverTiming?: { stagesMs: Record<string, { p50: number; p90: number; p99: number; mean: number }> };
  cpu: { msPerQuery: number; userMsPerQuery: number; systemMsPerQuery: number; utilization: number };
  eventLoopLagMs: LagSummary;
  memory: { peakRssMB: number };
  validity: { valid: boolean; reasons: string[]; warnings: string[] };
  env: Environment & { loadAvgDuring: number };
}

export interface ReportInput {
  scenario: string;
  env: Environment;
  model: LoadedModel;
  isDefault: boolean;
  defaultLabel: string | undefined;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  settings: SessionSettings;
  options: {
    qps?: number;
    latencyBoundMs?: number;
    samplesPerQuery?: number;
    concurrency?: number;
    offlineWave?: number;
    arrivalSeed?: number;
    stabilityPct?: number;
    percentile?: number;
    engine?: unknown;
  };
  plan: InputPlan;
  set: SampleSet;
  defaulted: DefaultedDim[];
  warmup: Phase;
  phase: Phase;
  coldStart: ColdStart;
  target: string | null;
  warm: { queries: number; ms: number };
  data: RunData;
  engine: { stats: EngineStats; startMs: number; config?: Pick<EngineConfig, 'hint' | 'calibration'> } | undefined;
  peak: BenchReport['peak'];
  serverTiming?: Record<string, { p50: number; p90: number; p99: number; mean: number }> | undefined;
  /** --until-stable: every measured window; `data` is then the last three together. */
  windows?: { figures: StabilityWindow[]; maxWindows: number };
}

/** 'p90', 'p99', 'p99.9', ... or 'throughput'. */
export type HeadlineMetric = 'throughput' | `p${string}`;

const round = (x: number, digits = 3): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : 0);
const HEADLINE: Readonly<Record<string, HeadlineMetric>> = {
  'single-stream': 'p90',
  'multi-stream': 'p99',
  server: 'p99',
  concurrency: 'p99',
  offline: 'throughput',
};

/** The headline chosen for a run: --percentile's or the scenario's, and its early-stopping verdict. */
interface Headline {
  /** --percentile, when given. */
  chosen: number | undefined;
  /** null: throughput (offline's headline). */
  percentile: number | null;
  metric: HeadlineMetric;
  earlyStopping: EarlyStoppingVerdict | null;
}

/** Why a run is invalid (`reasons`) or to be read with care (`warnings`), in the order found. */
interface Verdicts {
  reasons: string[];
  warnings: string[];
}

/**
 * The report's sections, each built by its own function below; the verdicts are collected first, in
 * the order of the checks, so `validity` lists them as the run found them.
 */
export function buildReport(x: ReportInput): BenchReport {
  const { data, env } = x;
  const summary = summarizeLatency(data.recorder);
  const v: Verdicts = { reasons: [], warnings: [] };
  const refusedTotal = Object.values(data.refused).reduce((s, k) => s + k, 0);

  checkRunLength(x, v);
  const headline = chooseHeadline(x, summary, v);
  const stability = judgeStability(x, headline, v);
  if (refusedTotal > 0)
    v.warnings.push(
      `${refusedTotal} queries refused or failed: ${Object.entries(data.refused)
        .map(([c, k]) => `${c} ${k}`)
        .join(', ')}`,
    );
  const { server, generator } = serverSection(x, refusedTotal, v);
  checkPeak(x, server, v);
  const loadAvgDuring = os.loadavg()[0] ?? 0;
  const utilization = data.wallMs > 0 ? (data.cpu.userMs + data.cpu.systemMs) / data.wallMs : 0;
  checkMachine(x, summary, loadAvgDuring, utilization, v);

  const samplesPerSecond = round((data.answered * data.samplesPerQuery) / (data.wallMs / 1000), 2);
  return {
    schema: BENCH_SCHEMA,
    scenario: x.scenario,
    model: modelSection(x),
    settings: settingsSection(x, headline),
    coldStart: roundColdStart(x.coldStart),
    warmup: { queries: x.warm.queries, ms: round(x.warm.ms) },
    headline: headlineSection(x, headline, samplesPerSecond),
    ...latencySections(data, summary),
    throughput: throughputSection(data, samplesPerSecond),
    refused: data.refused,
    ...(x.peak ? { peak: x.peak } : {}),
    ...(server ? { server } : {}),
    ...(generator ? { generator } : {}),
    ...(x.serverTiming ? { serverTiming: { stagesMs: x.serverTiming } } : {}),
    ...(x.engine ? { engine: engineSection(x.engine) } : {}),
    ...stabilitySections(x, headline, stability),
    ...resourceSections(data, utilization),
    validity: { valid: v.reasons.length === 0, reasons: v.reasons, warnings: v.warnings },
    env: { ...env, loadAvgDuring: round(loadAvgDuring, 2) },
  };
}

/** A failed query, an interruption, or a run shorter than its phase asked (unless a cap ended it). */
function checkRunLength(x: ReportInput, v: Verdicts): void {
  const { data, phase } = x;
  if (data.firstError !== undefined) v.reasons.push(`a query failed: ${firstLine(data.firstError)}`);
  if (data.aborted) v.reasons.push(`interrupted after ${data.issued} queries`);
  const capped =
    (phase.maxQueries !== undefined && data.issued >= phase.maxQueries) ||
    (phase.maxDurationMs !== undefined && data.wallMs >= phase.maxDurationMs);
  if (data.issued < phase.minQueries && !capped)
    v.reasons.push(`ran ${data.issued} queries, fewer than the minimum ${phase.minQueries}`);
  else if (data.wallMs < phase.minDurationMs * 0.99 && !capped)
    v.reasons.push(`ran ${round(data.wallMs / 1000, 2)} s, shorter than the minimum ${phase.minDurationMs / 1000} s`);
}

/** The headline percentile and whether enough queries ran to claim it (and p99 beside a p90 headline). */
function chooseHeadline(x: ReportInput, summary: LatencySummary, v: Verdicts): Headline {
  const n = x.data.answered;
  const chosen = x.options.percentile;
  const percentile = headlinePercentile(x.scenario, chosen);
  const metric: HeadlineMetric = percentile === null ? 'throughput' : percentileName(percentile);
  const es = summary.earlyStopping;
  const earlyStopping =
    percentile === null
      ? null
      : percentile === 90
        ? es.p90
        : percentile === 99
          ? es.p99
          : earlyStoppingAt(x.data.recorder, percentile);
  if (earlyStopping && !earlyStopping.satisfied)
    v.reasons.push(
      `too few queries to claim ${metric} at ${earlyStopping.confidence * 100}% confidence: ` +
        `need at least ${earlyStopping.minQueries}, ran ${n}`,
    );
  if (metric === 'p90' && !es.p99.satisfied)
    v.warnings.push(
      `p99 is indicative only: claiming it at ${es.p99.confidence * 100}% confidence needs at ` +
        `least ${es.p99.minQueries} queries, ran ${n}`,
    );
  return { chosen, percentile, metric, earlyStopping };
}

/** Stability over the run's time windows, or over the --until-stable windows' last three. */
function judgeStability(x: ReportInput, headline: Headline, v: Verdicts): Stability {
  const { data } = x;
  const pct = x.options.stabilityPct ?? 10;
  const stability = x.windows
    ? judgeWindows(x.windows.figures.slice(-3), pct)
    : stabilityOf(data.latenciesUs, data.startsMs, data.wallMs, pct);
  // An interrupted or failed --until-stable run can end before its third window: not stable then.
  if (x.windows && x.windows.figures.length < 3) stability.stable = false;
  const judgedOn = headline.percentile === null ? 'mean latency' : `${headline.metric} latency`;
  if (x.windows && !stability.stable) {
    v.reasons.push(
      `not stable after ${x.windows.figures.length} windows (--max-windows ${x.windows.maxWindows}): ` +
        `the last three vary ±${round(stability.qpsSpreadPct, 1)}% in throughput, ` +
        `±${round(stability.latencySpreadPct, 1)}% in ${judgedOn} (limit ±${pct}%)`,
    );
  } else if (!x.windows && x.scenario !== 'offline' && !stability.stable) {
    v.reasons.push(
      `unstable over ${stability.windows.length} windows: ` +
        `throughput varies ±${round(stability.qpsSpreadPct, 1)}%, ` +
        `mean latency ±${round(stability.latencySpreadPct, 1)}% (limit ±${stability.percentage}%)`,
    );
  }
  return stability;
}

/** The server scenario's bound verdict and the generator's schedule slip; both absent for other scenarios. */
function serverSection(
  x: ReportInput,
  refusedTotal: number,
  v: Verdicts,
): { server?: BenchReport['server']; generator?: BenchReport['generator'] } {
  if (x.scenario !== 'server') return {};
  const { data } = x;
  const bound = x.options.latencyBoundMs ?? null;
  let overBound = refusedTotal;
  if (bound !== null) for (const us of data.latenciesUs) if (us / 1000 > bound) overBound++;
  // Pass as MLPerf's server early stopping: with this many queries over the bound (refusals
  // count as over), is p99 <= bound at 99% confidence?
  const total = data.answered + refusedTotal;
  const rank = earlyStoppingRank(total, 0.99, 0.99);
  const pass = bound === null ? null : rank.satisfied && overBound <= rank.overLatencyAllowed;
  if (bound !== null && !pass)
    v.warnings.push(`latency bound not met: ${overBound} of ${total} queries over ${bound} ms`);
  const server = {
    targetQps: x.options.qps ?? 0,
    achievedQps: round(data.issued / (data.wallMs / 1000), 2),
    latencyBoundMs: bound,
    overBound,
    pass,
  };
  if (!data.slip) return { server };
  const slipMs = {
    p50: round(data.slip.valueAtQuantileUs(0.5) / 1000),
    p99: round(data.slip.valueAtQuantileUs(0.99) / 1000),
    max: round(data.slip.maxUs / 1000),
  };
  // Sub-millisecond slip keeps the schedule honest at 1,000 req/s; above that the generator is part of what is
  // measured.
  const lagging = slipMs.p99 > 1;
  if (lagging)
    v.warnings.push(
      `the load generator lagged its schedule: slip p99 ${slipMs.p99} ms, ` +
        `max ${slipMs.max} ms (latencies still count from the schedule)`,
    );
  return { server, generator: { slipMs, lagging } };
}

/** server --find-peak: no rate found, or the confirmation run at the peak failed its bound. */
function checkPeak(x: ReportInput, server: BenchReport['server'], v: Verdicts): void {
  if (!x.peak) return;
  if (x.peak.qps === 0)
    v.reasons.push(
      `no probed rate kept p99 within ${x.peak.p99BoundMs} ms (lowest ` +
        `tried ${Math.min(...x.peak.probes.map((p) => p.qps))} q/s)`,
    );
  if (server && server.pass === false)
    v.reasons.push(
      `the confirmation run at ${server.targetQps} q/s did not hold p99 <= ${x.peak.p99BoundMs} ms at 99% confidence`,
    );
}

/** A busy or oversubscribed machine, a clock too coarse for the queries, shapes taken by default. */
function checkMachine(
  x: ReportInput,
  summary: LatencySummary,
  loadAvgDuring: number,
  utilization: number,
  v: Verdicts,
): void {
  const { env } = x;
  if (env.loadAvgBefore > env.cores * 0.5)
    v.warnings.push(
      `machine was busy before the run: load average ${round(env.loadAvgBefore, 2)} on ${env.cores} cores`,
    );
  else if (loadAvgDuring - utilization > env.cores * 0.5)
    v.warnings.push(
      `machine was busy during the run: load average ${round(loadAvgDuring, 2)}, ` +
        `of which this process ${round(utilization, 2)}, on ${env.cores} cores`,
    );
  const instances = x.engine?.stats.instances ?? 1;
  const perInstance = x.engine?.stats.threadsPerInstance ?? x.settings.intraOpThreads ?? 0;
  const threads =
    instances * perInstance +
    (x.settings.executionMode === 'parallel' ? instances * (x.settings.interOpThreads ?? 0) : 0);
  if (threads > env.cores)
    v.warnings.push(`thread budget oversubscribed: ${threads} onnxruntime threads on ${env.cores} cores`);
  if (x.data.answered > 0 && summary.minMs < 0.005)
    v.warnings.push('queries faster than 5 µs: the clock and loop overhead dominate what is measured');
  for (const line of describeDefaults(x.defaulted)) v.warnings.push(`default shape: ${line}`);
}

function modelSection(x: ReportInput): BenchReport['model'] {
  return {
    label: x.isDefault && x.defaultLabel ? x.defaultLabel : x.model.label,
    path: x.model.path ?? null,
    bytes: x.model.bytes.length,
    default: x.isDefault,
    target: x.target,
    inputs: x.inputs.map((s) => ({ ...s, runShape: x.set.shapes[s.name] ?? [] })),
    outputs: x.outputs,
  };
}

function settingsSection(x: ReportInput, headline: Headline): BenchReport['settings'] {
  const { chosen } = headline;
  return {
    session: x.settings,
    shapes: x.set.shapes,
    defaultedShapes: describeDefaults(x.defaulted),
    input: {
      fill: x.plan.fill,
      files: x.plan.files.map((f) => (f.name ? `${f.name}=${f.path}` : f.path)),
      samples: x.set.samples.length,
      seed: x.plan.seed,
      description: x.set.description,
    },
    warmup: x.warmup,
    durationMs: x.phase.minDurationMs,
    minQueries: x.phase.minQueries,
    scenario: scenarioSettings(x),
    ...(chosen !== undefined ? { percentile: chosen } : {}),
    ...(x.windows
      ? { untilStable: { maxWindows: x.windows.maxWindows, percentage: x.options.stabilityPct ?? 10 } }
      : {}),
  };
}

function roundColdStart(c: ColdStart): ColdStart {
  return {
    readMs: c.readMs === null ? null : round(c.readMs),
    sessionCreateMs: c.sessionCreateMs === null ? null : round(c.sessionCreateMs),
    firstInferenceMs: round(c.firstInferenceMs),
  };
}

function headlineSection(x: ReportInput, h: Headline, samplesPerSecond: number): BenchReport['headline'] {
  const value =
    h.percentile === null ? null : x.data.recorder.valueAtQuantileUs(percentileQuantile(h.percentile)) / 1000;
  return {
    metric: h.metric,
    valueMs: value === null ? null : round(value, 4),
    samplesPerSecond,
    claimable: h.earlyStopping === null ? x.data.answered > 0 : h.earlyStopping.satisfied,
    percentile: h.percentile,
    chosenBy: h.chosen !== undefined ? 'option' : 'scenario',
    earlyStopping: h.earlyStopping,
  };
}

/** latencyMs, latencyDistribution, latencyHistogram, confidence and earlyStopping, in the report's order. */
function latencySections(
  data: RunData,
  summary: LatencySummary,
): Pick<BenchReport, 'latencyMs' | 'latencyDistribution' | 'latencyHistogram' | 'confidence' | 'earlyStopping'> {
  return {
    latencyMs: {
      mean: round(summary.meanMs, 4),
      stddev: round(summary.stddevMs, 4),
      min: round(summary.minMs, 4),
      p50: round(summary.p50Ms, 4),
      p90: round(summary.p90Ms, 4),
      p95: round(summary.p95Ms, 4),
      p99: round(summary.p99Ms, 4),
      p999: round(summary.p999Ms, 4),
      max: round(summary.maxMs, 4),
    },
    latencyDistribution: latencyDistribution(data.recorder, data.latenciesUs),
    latencyHistogram: data.recorder.encode(),
    confidence: { level: 0.95, ...summary.ci },
    earlyStopping: summary.earlyStopping,
  };
}

function throughputSection(data: RunData, samplesPerSecond: number): BenchReport['throughput'] {
  return {
    qps: round(data.answered / (data.wallMs / 1000), 2),
    samplesPerSecond,
    queries: data.answered,
    issued: data.issued,
    durationMs: round(data.wallMs),
  };
}

function engineSection(engine: NonNullable<ReportInput['engine']>): NonNullable<BenchReport['engine']> {
  const { stats, config } = engine;
  const hint = config?.hint;
  const reason = config?.calibration?.reason;
  return {
    startMs: round(engine.startMs),
    instances: stats.instances,
    threadsPerInstance: stats.threadsPerInstance,
    ...(hint !== undefined ? { layout: { hint, ...(reason !== undefined ? { reason } : {}) } } : {}),
    batching: stats.batching,
    queueMs: { p50: stats.latency.queue.p50Ms, p99: stats.latency.queue.p99Ms },
    inferenceMs: { p50: stats.latency.inference.p50Ms, p99: stats.latency.inference.p99Ms },
    meanBatchRequests: round(stats.meanBatchRequests, 2),
    batchSizes: stats.batchSizes,
    counts: stats.counts,
  };
}

/** stability, and untilStable with every window when the run repeated them (--until-stable). */
function stabilitySections(
  x: ReportInput,
  h: Headline,
  stability: Stability,
): Pick<BenchReport, 'stability' | 'untilStable'> {
  return {
    stability: {
      ...stability,
      qpsSpreadPct: round(stability.qpsSpreadPct, 2),
      latencySpreadPct: round(stability.latencySpreadPct, 2),
    },
    ...(x.windows
      ? {
          untilStable: {
            windows: x.windows.figures.length,
            maxWindows: x.windows.maxWindows,
            percentage: x.options.stabilityPct ?? 10,
            latency: h.percentile === null ? 'mean' : h.metric,
            stable: stability.stable,
            figures: x.windows.figures,
          },
        }
      : {}),
  };
}

/** cpu, eventLoopLagMs and memory: what the run cost this process. */
function resourceSections(data: RunData, utilization: number): Pick<BenchReport, 'cpu' | 'eventLoopLagMs' | 'memory'> {
  const n = data.answered;
  return {
    cpu: {
      msPerQuery: round(n ? (data.cpu.userMs + data.cpu.systemMs) / n : 0, 4),
      userMsPerQuery: round(n ? data.cpu.userMs / n : 0, 4),
      systemMsPerQuery: round(n ? data.cpu.systemMs / n : 0, 4),
      utilization: round(utilization, 3),
    },
    eventLoopLagMs: {
      mean: round(data.eventLoopLagMs.mean),
      p99: round(data.eventLoopLagMs.p99),
      max: round(data.eventLoopLagMs.max),
    },
    memory: { peakRssMB: round(process.resourceUsage().maxRSS / 1024, 1) },
  };
}

function scenarioSettings(x: ReportInput): Record<string, unknown> {
  const o = x.options;
  switch (x.scenario) {
    case 'multi-stream':
      return { samplesPerQuery: o.samplesPerQuery ?? 8, engine: o.engine ?? {} };
    case 'server':
      return {
        qps: o.qps,
        arrivalSeed: o.arrivalSeed ?? x.plan.seed,
        latencyBoundMs: o.latencyBoundMs ?? null,
        engine: o.engine ?? {},
      };
    case 'concurrency':
      return { concurrency: o.concurrency ?? 4, engine: o.engine ?? {} };
    case 'offline':
      return { offlineWave: o.offlineWave ?? null, engine: o.engine ?? {} };
    default:
      return {};
  }
}

/** The headline latency percentile: --percentile's, else the scenario's (null: throughput, offline's). */
export function headlinePercentile(scenario: string, chosen: number | undefined): number | null {
  if (chosen !== undefined) return chosen;
  const metric = HEADLINE[scenario] ?? 'p90';
  return metric === 'throughput' ? null : Number(metric.slice(1));
}

/** 'p95', 'p99.9': the name of a latency percentile given in (0, 100). */
export function percentileName(p: number): HeadlineMetric {
  return `p${Number(p.toPrecision(12))}`;
}

/** The quantile of a percentile, without 99.9 / 100 = 0.9990000000000001. */
export function percentileQuantile(p: number): number {
  return Number((p / 100).toPrecision(12));
}

/** Early stopping at 99% confidence (MLPerf's) for any percentile, as summarizeLatency does for p90 and p99. */
function earlyStoppingAt(rec: LatencyRecorder, percentile: number): EarlyStoppingVerdict {
  const confidence = 0.99;
  const r = earlyStoppingRank(rec.count, percentileQuantile(percentile), confidence);
  return {
    percentile,
    confidence,
    queries: rec.count,
    satisfied: r.satisfied,
    overLatencyAllowed: r.overLatencyAllowed,
    estimateMs: r.rank === null ? null : rec.valueAtRankUs(r.rank) / 1000,
    minQueries: r.minQueries,
  };
}
