/**
 * `rtinfer bench` as a library call: cold start (read, session, first inference), warm-up, then
 * the measured scenario, summarised into the versioned `rtinfer.bench/1` report.
 *
 * single-stream runs the session directly on this thread (the cheapest measurement path, see
 * bench/overhead); every other scenario drives the worker-thread engine, which is what keeps many
 * requests in flight without blocking the generator.
 */
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { createEngine, type BatchingOptions, type Engine } from '../engine/engine.js';
import { defaultModel } from '../runtime/default-model.js';
import { buildSamples, DEFAULT_INPUT_PLAN, type Feeds, type InputPlan, type SampleSet } from '../runtime/inputs.js';
import { createSession, readModel, type LoadedModel, type ModelSource, type TensorSpec } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { parseShapeArg, resolveShapes, type DefaultedDim, type ShapeOverride } from '../runtime/shapes.js';
import { poissonArrivals } from './arrivals.js';
import { probeAtRate, searchPeak, type ProbeResult } from './peak.js';
import {
  buildReport,
  headlinePercentile,
  percentileQuantile,
  type BenchReport,
  type ColdStart,
  type RunData,
} from './bench-report.js';
import { judgeWindows, type StabilityWindow } from './stability.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { runImagesPipeline } from './images-bench.js';
import { extractFrames, runVideoBench } from '../video/video-bench.js';
import { captureEnvironment, type Environment } from './environment.js';
import type { ServerTimingRecorder } from './server-timing.js';
import type { PerformanceHint } from '../engine/engine.js';
import { createRemoteTarget } from './remote-target.js';
import { QueryLog } from './query-log.js';
import { runConcurrency, runMultiStream, runOffline, runServer, type Infer, type ScenarioRun } from './scenarios.js';
import {
  runCosts,
  runLatencies,
  runSingleStream,
  type Phase,
  type Progress,
  type SingleStreamRun,
} from './single-stream.js';

export { BENCH_SCHEMA } from './bench-report.js';
export type { BenchReport } from './bench-report.js';

export const SCENARIOS = ['single-stream', 'multi-stream', 'server', 'offline', 'concurrency'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface EngineSettings {
  instances?: number;
  /** Layout when neither instances nor threads are given (see EngineOptions.hint). */
  hint?: PerformanceHint;
  /** false: one request per inference. Default: adaptive batching (maxBatchSize 8) when the model can batch. */
  batching?: false | BatchingOptions;
  maxQueueSize?: number;
}

export interface BenchOptions {
  /** Path or bytes; default: the bundled PP-OCRv4 text detector at 1x3x640x640. */
  model?: ModelSource;
  /** Instead of a local model: a KServe v2 model URL, e.g. http://127.0.0.1:8000/v2/models/NAME. */
  target?: string;
  /** HTTP target: send JSON tensors instead of binary ones. */
  targetJson?: boolean;
  /** Run the whole vision pipeline over these images (a directory or files) instead of tensors. */
  images?: string | readonly string[];
  /** Vision head for --images (default: detected). */
  task?: string;
  /** A camera-rate run over a video file after a single-stream run over its first frames (src/video/video-bench.ts). */
  video?: { file: string; fps?: number; deadlineMs?: number };
  session?: SessionSettings;
  shapes?: ShapeOverride[];
  input?: Partial<InputPlan>;
  scenario?: Scenario;
  /** multi-stream: samples per query (default 8). */
  samplesPerQuery?: number;
  /** server: arrival rate in queries per second (required). */
  qps?: number;
  /** server: seed of the arrival process (default: the input seed). */
  arrivalSeed?: number;
  /** server: the latency bound for pass/fail. */
  latencyBoundMs?: number;
  /** server: search the highest rate whose p99 stays within p99Ms, then confirm it with a full run. */
  findPeak?: { p99Ms: number; probeDurationMs?: number };
  /** concurrency: queries kept outstanding (default 4). */
  concurrency?: number;
  /** offline: queries issued at once per wave (default max(64, 8 × maxBatchSize)). */
  offlineWave?: number;
  /** Engine settings for every scenario but single-stream. */
  engine?: EngineSettings;
  /**
   * Stability check tolerance, % (default 10); with untilStable, the bound the last three windows must agree within.
   */
  stabilityPct?: number;
  /**
   * The headline latency percentile in (0, 100), e.g. 99.9, instead of the scenario's (p90 single-stream, p99 others,
   * throughput offline).
   */
  percentile?: number;
  /**
   * perf_analyzer's stability mode: measurement windows (each one the measured phase: durationMs
   * and minQueries) repeated until the last three agree within ±stabilityPct % in throughput and
   * headline latency, at most maxWindows (default 10) of them. The report is the last three windows.
   */
  untilStable?: { maxWindows?: number };
  /** Warm-up phase; default 1 s (at least one query). */
  warmup?: Partial<Phase>;
  /** Measure until both are met; defaults 10 s and 100 queries. */
  durationMs?: number;
  minQueries?: number;
  maxQueries?: number;
  maxDurationMs?: number;
  onPhase?: (phase: 'load' | 'warmup' | 'measure', detail?: string) => void;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface BenchOutcome {
  report: BenchReport;
  /** Per-query latency (µs) and start time (ms from the measured phase's start), for CSV. */
  latenciesUs: Float64Array;
  startsMs: Float64Array;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RtinferError('RTI_ERR_ARG_INVALID', message);
}

function validateScenario(o: BenchOptions, scenario: Scenario): void {
  check(
    (SCENARIOS as readonly string[]).includes(scenario),
    `invalid scenario '${scenario}' (expected one of ${SCENARIOS.join(', ')})`,
  );
  if (o.findPeak !== undefined) {
    check(scenario === 'server', '--find-peak needs --scenario server');
    check(o.findPeak.p99Ms > 0, 'the peak search needs --p99 MS (> 0)');
  }
  if (scenario === 'server' && o.findPeak === undefined)
    check(
      o.qps !== undefined && o.qps > 0 && Number.isFinite(o.qps),
      'the server scenario needs --qps N (queries per second, > 0)',
    );
  if (o.samplesPerQuery !== undefined)
    check(
      Number.isInteger(o.samplesPerQuery) && o.samplesPerQuery >= 1,
      `invalid samplesPerQuery ${o.samplesPerQuery}`,
    );
  if (o.concurrency !== undefined)
    check(
      Number.isInteger(o.concurrency) && o.concurrency >= 1 && o.concurrency <= 4096,
      `invalid concurrency ${o.concurrency}`,
    );
  if (o.latencyBoundMs !== undefined) check(o.latencyBoundMs > 0, `invalid latencyBoundMs ${o.latencyBoundMs}`);
  if (o.percentile !== undefined)
    check(
      Number.isFinite(o.percentile) && o.percentile > 0 && o.percentile < 100,
      `invalid percentile ${o.percentile} (expected a number in (0, 100))`,
    );
  if (o.untilStable !== undefined) {
    const max = o.untilStable.maxWindows ?? DEFAULT_MAX_WINDOWS;
    check(
      Number.isInteger(max) && max >= 3,
      `invalid maxWindows ${max} (expected an integer >= 3: stability needs three windows)`,
    );
    check(
      o.findPeak === undefined && o.images === undefined && o.video === undefined,
      "--until-stable repeats a tensor scenario's measurement: not with --find-peak, --images or --video",
    );
  }
}

/** bench --until-stable: windows at most, unless given. */
export const DEFAULT_MAX_WINDOWS = 10;

/** What a run needs from its target, local or remote. */
interface RunTarget {
  infer: Infer<Feeds>;
  model: LoadedModel;
  target: string | null;
  isDefault: boolean;
  defaultLabel: string | undefined;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  settings: SessionSettings;
  set: SampleSet;
  defaulted: DefaultedDim[];
  coldStart: ColdStart;
  engine?: { engine: Engine; startMs: number };
  /** HTTP targets: the server's Server-Timing split, reset after the warm-up. */
  serverTiming?: ServerTimingRecorder;
}

/**
 * Default query minimums follow the headline: a p99 needs 459 queries before early stopping can
 * claim it at 99% confidence (a p90 needs 44), so p99 scenarios run at least 500.
 */
function defaultMinQueries(scenario: Scenario): number {
  return scenario === 'single-stream' || scenario === 'offline' ? 100 : 500;
}

function phases(options: BenchOptions, scenario: Scenario): { warmup: Phase; phase: Phase } {
  const warmup: Phase = { minQueries: 1, minDurationMs: 1000, ...options.warmup };
  const phase: Phase = {
    minQueries: options.minQueries ?? defaultMinQueries(scenario),
    minDurationMs: options.durationMs ?? 10_000,
  };
  if (options.maxQueries !== undefined) phase.maxQueries = options.maxQueries;
  if (options.maxDurationMs !== undefined) phase.maxDurationMs = options.maxDurationMs;
  return { warmup, phase };
}

async function timedFirstInference(infer: (feeds: Feeds) => Promise<unknown>, set: SampleSet): Promise<number> {
  const t0 = performance.now();
  try {
    await infer(set.samples[0] as Feeds);
  } catch (error) {
    const shapesText = Object.entries(set.shapes)
      .map(([n, d]) => `${n}=${d.length ? d.join('x') : 'scalar'}`)
      .join(' ');
    // onnxruntime nests each failing node's message in its parent's: the last one says what went wrong.
    const cause = firstLine(error).split('Status Message: ').pop();
    throw new RtinferError(
      'RTI_ERR_INFERENCE_FAILED',
      `first inference failed at ${shapesText} (${set.description}): ${cause}; a model that needs ` +
        'particular sizes or values gets them with --shape NAME=DIMS or --input NAME=VALUE',
      { cause: error },
    );
  }
  return performance.now() - t0;
}

export async function runBench(options: BenchOptions = {}): Promise<BenchOutcome> {
  const scenario = options.scenario ?? 'single-stream';
  validateScenario(options, scenario);
  const env = captureEnvironment();
  if (options.target !== undefined) return runBenchHttp(options, scenario, env);
  if (options.video !== undefined) {
    if (scenario !== 'single-stream')
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `--video runs its own camera-rate scenario (got --scenario ${scenario})`,
      );
    return runVideoBenchReport({ ...options, video: options.video }, env);
  }
  if (options.images !== undefined) {
    if (scenario !== 'single-stream')
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `--images runs the single-stream scenario (got --scenario ${scenario})`,
      );
    return runImagesBench({ ...options, images: options.images }, env);
  }
  const fallback = options.model === undefined ? defaultModel() : undefined;
  const settings: SessionSettings = { ...options.session };
  const shapeOverrides = options.shapes ?? (fallback ? [parseShapeArg(fallback.shape)] : []);
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...options.input };

  options.onPhase?.('load', fallback?.description);
  const model = await readModel(options.model ?? fallback?.path ?? '');
  // Cold start is a property of the model on this machine: measured on a plain session whatever the scenario.
  const rt = await createSession(model, settings);
  let engine: Engine | undefined;
  try {
    const { shapes, defaulted } = resolveShapes(rt.inputs, shapeOverrides);
    const set = await buildSamples(rt.inputs, shapes, plan);
    const firstInferenceMs = await timedFirstInference((f) => rt.session.run(f), set);
    const driver: RunTarget = {
      infer: (feeds) => rt.session.run(feeds),
      model,
      target: null,
      isDefault: fallback !== undefined,
      defaultLabel: fallback?.description,
      inputs: rt.inputs,
      outputs: rt.outputs,
      settings,
      set,
      defaulted,
      coldStart: { readMs: model.readMs, sessionCreateMs: rt.createMs, firstInferenceMs },
    };
    if (scenario !== 'single-stream') {
      await rt.release();
      const e0 = performance.now();
      engine = await startEngine(model, settings, set.shapes, options, scenario);
      const eng = engine;
      driver.engine = { engine: eng, startMs: performance.now() - e0 };
      driver.infer = (feeds) => eng.infer(feeds);
    }
    return await drive(driver, scenario, options, plan, env);
  } finally {
    if (engine) await engine.close({ drain: false });
    else await rt.release();
  }
}

/** The same scenarios against a remote KServe v2 model: inputs from its metadata, no local session. */
async function runBenchHttp(options: BenchOptions, scenario: Scenario, env: Environment): Promise<BenchOutcome> {
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...options.input };
  options.onPhase?.('load', undefined);
  const concurrency =
    scenario === 'concurrency'
      ? (options.concurrency ?? 4)
      : scenario === 'multi-stream'
        ? (options.samplesPerQuery ?? 8)
        : 256;
  // Measured traffic only needs each answer's status, so it skips decoding the outputs; the first
  // inference below still decodes them, as a check.
  const target = await createRemoteTarget(options.target ?? '', {
    binary: options.targetJson !== true,
    maxSockets: Math.max(8, concurrency),
    decode: false,
  });
  try {
    const { shapes, defaulted } = resolveShapes(target.inputs, options.shapes ?? []);
    const set = await buildSamples(target.inputs, shapes, plan);
    const firstInferenceMs = await timedFirstInference((feeds) => target.infer(feeds, true), set);
    const driver: RunTarget = {
      infer: (feeds, dueAt) => target.infer(feeds, false, dueAt),
      model: { label: target.url, bytes: new Uint8Array(0), readMs: 0 },
      target: target.url,
      isDefault: false,
      defaultLabel: undefined,
      inputs: target.inputs,
      outputs: target.outputs,
      settings: {},
      set,
      defaulted,
      coldStart: { readMs: null, sessionCreateMs: null, firstInferenceMs },
      serverTiming: target.serverTiming,
    };
    return await drive(driver, scenario, options, plan, env);
  } finally {
    target.close();
  }
}

/** Warm-up, the optional peak search, the measured phase and the report: the same for every target. */
async function drive(
  d: RunTarget,
  scenario: Scenario,
  options: BenchOptions,
  plan: InputPlan,
  env: Environment,
): Promise<BenchOutcome> {
  const { warmup, phase } = phases(options, scenario);
  const control = {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  options.onPhase?.('warmup');
  const warm = await runSingleStream(d.infer, d.set.samples, {
    phase: warmup,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (warm.error !== undefined)
    throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed during warm-up: ${firstLine(warm.error)}`, {
      cause: warm.error,
    });

  let peak: PeakReport | undefined;
  let measureOptions = options;
  if (options.findPeak) {
    options.onPhase?.('measure', 'peak search');
    peak = await findPeak(
      d.infer,
      d.set.samples,
      options.findPeak,
      warm.queries / Math.max(1e-3, warm.wallMs / 1000),
      options,
    );
    const qps = peak.qps > 0 ? peak.qps : Math.min(...peak.probes.map((p) => p.qps));
    measureOptions = { ...options, qps, latencyBoundMs: options.findPeak.p99Ms };
  }
  options.onPhase?.('measure');
  d.serverTiming?.reset();
  const windowed = options.untilStable
    ? await measureUntilStable(scenario, d.infer, d.set.samples, phase, measureOptions, control)
    : undefined;
  const data = windowed
    ? windowed.data
    : await measure(scenario, d.infer, d.set.samples, phase, measureOptions, control);
  const report = buildReport({
    ...(windowed ? { windows: { figures: windowed.figures, maxWindows: windowed.maxWindows } } : {}),
    peak,
    scenario,
    env,
    model: d.model,
    isDefault: d.isDefault,
    defaultLabel: d.defaultLabel,
    inputs: d.inputs,
    outputs: d.outputs,
    settings: d.settings,
    options: measureOptions,
    plan,
    set: d.set,
    defaulted: d.defaulted,
    warmup,
    phase,
    coldStart: d.coldStart,
    target: d.target,
    warm: { queries: warm.queries, ms: warm.wallMs },
    data,
    engine: d.engine
      ? { stats: d.engine.engine.stats(), startMs: d.engine.startMs, config: d.engine.engine.config }
      : undefined,
    serverTiming: d.serverTiming?.summary(),
  });
  return { report, latenciesUs: data.latenciesUs, startsMs: data.startsMs };
}

async function startEngine(
  model: LoadedModel,
  settings: SessionSettings,
  shapes: Record<string, number[]>,
  o: BenchOptions,
  scenario: Scenario,
): Promise<Engine> {
  // The generator shares the cores with the engine: idle onnxruntime threads do not spin unless asked.
  const { intraOpThreads, ...session } = { allowSpinning: false, ...settings };
  const batching = o.engine?.batching === false ? false : { maxBatchSize: 8, ...o.engine?.batching };
  const wave = offlineWave(o);
  // With no layout given, as `rtinfer serve`: the auto hint measures one at start-up. The engine's
  // own default (1 instance × every core, spinning off) ran the PP-OCR classifier at 48x192 in
  // 1.31-1.68 ms against 0.74-0.75 for the 2 × 1 that auto chose (README, Scenarios and targets).
  const layoutGiven = o.engine?.instances !== undefined || (intraOpThreads !== undefined && intraOpThreads > 0);
  return createEngine({
    model: model.path ?? model.bytes,
    ...(o.engine?.instances !== undefined ? { instances: o.engine.instances } : {}),
    ...(layoutGiven ? {} : { hint: o.engine?.hint ?? 'auto' }),
    ...(intraOpThreads !== undefined && intraOpThreads > 0 ? { threads: intraOpThreads } : {}),
    session,
    batching,
    maxQueueSize: o.engine?.maxQueueSize ?? (scenario === 'offline' ? Math.max(256, wave) : 256),
    warmupShapes: shapes,
  });
}

function offlineWave(o: BenchOptions): number {
  const maxBatch = o.engine?.batching === false ? 1 : (o.engine?.batching?.maxBatchSize ?? 8);
  return o.offlineWave ?? Math.max(64, 8 * maxBatch);
}

/**
 * A single-stream run (tensors or the images pipeline) as RunData: it stops at its first failure, which counts as
 * issued and under its code.
 */
function singleStreamData(r: SingleStreamRun): RunData {
  const log = new QueryLog();
  if (r.error !== undefined) log.fail(r.error);
  return {
    ...runLatencies(r),
    ...runCosts(r),
    answered: r.queries,
    issued: r.queries + (r.error !== undefined ? 1 : 0),
    refused: log.refused,
    firstError: r.error,
    samplesPerQuery: 1,
  };
}

async function measure(
  scenario: Scenario,
  infer: Infer<Feeds>,
  samples: Feeds[],
  phase: Phase,
  o: BenchOptions,
  control: { onProgress?: (p: Progress) => void; signal?: AbortSignal },
): Promise<RunData> {
  if (scenario === 'single-stream') {
    return singleStreamData(await runSingleStream(infer, samples, { phase, ...control }));
  }
  let run: ScenarioRun;
  switch (scenario) {
    case 'multi-stream':
      run = await runMultiStream(infer, samples, o.samplesPerQuery ?? 8, phase, control);
      break;
    case 'concurrency':
      run = await runConcurrency(infer, samples, o.concurrency ?? 4, phase, control);
      break;
    case 'offline':
      run = await runOffline(infer, samples, offlineWave(o), phase, control);
      break;
    case 'server': {
      const arrivals = poissonArrivals(
        o.qps ?? 1,
        phase.minDurationMs,
        o.arrivalSeed ?? o.input?.seed ?? DEFAULT_INPUT_PLAN.seed,
        phase.minQueries,
        phase.maxQueries,
      );
      run = await runServer(infer, samples, arrivals, control);
      break;
    }
  }
  return {
    ...runLatencies(run.log),
    ...runCosts(run),
    answered: run.log.count,
    issued: run.issued,
    refused: run.log.refused,
    firstError: run.log.firstError,
    samplesPerQuery: run.samplesPerQuery,
    ...(run.slip ? { slip: run.slip } : {}),
  };
}

/**
 * --until-stable: whole measured phases, one after another, until the last three agree within
 * ±stabilityPct % (judgeWindows, the judgement of every run's stability check) or maxWindows ran;
 * an interrupted or failed window ends it too. The server scenario's arrivals take the next seed in
 * each window, so windows are not replays of one schedule. Returns the last three windows as one run.
 */
async function measureUntilStable(
  scenario: Scenario,
  infer: Infer<Feeds>,
  samples: Feeds[],
  phase: Phase,
  o: BenchOptions,
  control: { onProgress?: (p: Progress) => void; signal?: AbortSignal },
): Promise<{ data: RunData; figures: StabilityWindow[]; maxWindows: number }> {
  const maxWindows = o.untilStable?.maxWindows ?? DEFAULT_MAX_WINDOWS;
  const percentile = headlinePercentile(scenario, o.percentile);
  const seed = o.arrivalSeed ?? o.input?.seed ?? DEFAULT_INPUT_PLAN.seed;
  const runs: RunData[] = [];
  const figures: StabilityWindow[] = [];
  let startMs = 0;
  while (runs.length < maxWindows) {
    const run = await measure(scenario, infer, samples, phase, { ...o, arrivalSeed: seed + runs.length }, control);
    runs.push(run);
    const wallS = run.wallMs / 1000;
    const round = (x: number): number => Math.round(x * 1e4) / 1e4;
    figures.push({
      startMs: round(startMs),
      queries: run.answered,
      qps: round(wallS > 0 ? run.answered / wallS : 0),
      meanMs: round(run.recorder.count ? run.recorder.meanUs / 1000 : 0),
      ...(percentile !== null
        ? {
            headlineMs: round(
              run.recorder.count ? run.recorder.valueAtQuantileUs(percentileQuantile(percentile)) / 1000 : 0,
            ),
          }
        : {}),
    });
    startMs += run.wallMs;
    if (run.aborted || run.firstError !== undefined || control.signal?.aborted) break;
    if (figures.length >= 3 && judgeWindows(figures.slice(-3), o.stabilityPct ?? 10).stable) break;
  }
  return { data: mergeRuns(runs.slice(-3)), figures, maxWindows };
}

/** Consecutive runs as one: latencies and counts together, start times on one clock. */
function mergeRuns(runs: RunData[]): RunData {
  const recorder = new LatencyRecorder();
  let slip: LatencyRecorder | undefined;
  const n = runs.reduce((s, r) => s + r.latenciesUs.length, 0);
  const latenciesUs = new Float64Array(n);
  const startsMs = new Float64Array(n);
  const refused: Record<string, number> = {};
  let at = 0;
  let offsetMs = 0;
  for (const r of runs) {
    recorder.merge(r.recorder);
    if (r.slip) (slip ??= new LatencyRecorder()).merge(r.slip);
    latenciesUs.set(r.latenciesUs, at);
    for (let i = 0; i < r.startsMs.length; i++) startsMs[at + i] = (r.startsMs[i] ?? 0) + offsetMs;
    at += r.latenciesUs.length;
    offsetMs += r.wallMs;
    for (const [code, k] of Object.entries(r.refused)) refused[code] = (refused[code] ?? 0) + k;
  }
  const sum = (f: (r: RunData) => number): number => runs.reduce((s, r) => s + f(r), 0);
  const wallMs = sum((r) => r.wallMs);
  return {
    recorder,
    latenciesUs,
    startsMs,
    answered: sum((r) => r.answered),
    issued: sum((r) => r.issued),
    refused,
    firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
    wallMs,
    cpu: { userMs: sum((r) => r.cpu.userMs), systemMs: sum((r) => r.cpu.systemMs) },
    eventLoopLagMs: {
      mean: wallMs > 0 ? sum((r) => r.eventLoopLagMs.mean * r.wallMs) / wallMs : 0,
      p99: Math.max(...runs.map((r) => r.eventLoopLagMs.p99)),
      max: Math.max(...runs.map((r) => r.eventLoopLagMs.max)),
    },
    aborted: runs.some((r) => r.aborted),
    samplesPerQuery: runs[0]?.samplesPerQuery ?? 1,
    ...(slip ? { slip } : {}),
  };
}

export interface PeakReport {
  p99BoundMs: number;
  /** Highest rate that passed its probe (0: none did). */
  qps: number;
  probes: ProbeResult[];
}

/**
 * Probes are short server runs judged on the observed p99 (refusals count as over the bound); the
 * full-length confirmation run that follows is judged with early stopping.
 */
async function findPeak(
  infer: Infer<Feeds>,
  samples: Feeds[],
  peak: NonNullable<BenchOptions['findPeak']>,
  singleStreamQps: number,
  bench: BenchOptions,
): Promise<PeakReport> {
  const probeMs = peak.probeDurationMs ?? 3000;
  let seed = bench.arrivalSeed ?? bench.input?.seed ?? DEFAULT_INPUT_PLAN.seed;
  const probe = async (qps: number): Promise<ProbeResult> => {
    const r = await probeAtRate(infer, samples, qps, {
      durationMs: probeMs,
      seed: seed++,
      minArrivals: 50,
      quantile: 0.99,
      boundMs: peak.p99Ms,
      control: bench.signal ? { signal: bench.signal } : {},
    });
    return { ...r, qps: Math.round(qps * 100) / 100, p99Ms: r.p99Ms < 0 ? -1 : Math.round(r.p99Ms * 1000) / 1000 };
  };
  const result = await searchPeak(probe, { startQps: Math.max(1, singleStreamQps) });
  return { p99BoundMs: peak.p99Ms, qps: Math.round(result.qps * 100) / 100, probes: result.probes };
}

async function runVideoBenchReport(
  options: BenchOptions & { video: NonNullable<BenchOptions['video']> },
  env: Environment,
): Promise<BenchOutcome> {
  if (options.model === undefined) throw new RtinferError('RTI_ERR_ARG_MISSING', '--video needs a model');
  const model = options.model;
  if (typeof model !== 'string') throw new RtinferError('RTI_ERR_ARG_INVALID', '--video needs a model file');
  const v = options.video;
  const frames = await extractFrames(v.file, 60);
  try {
    const outcome = await runImagesBench({ ...options, images: frames }, env);
    outcome.report.video = await runVideoBench(
      model,
      {
        ...v,
        ...(options.session ? { session: options.session } : {}),
        ...(options.task ? { task: options.task } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      outcome.report.latencyMs.p99,
    );
    return outcome;
  } finally {
    await rm(frames, { recursive: true, force: true });
  }
}

async function runImagesBench(
  options: BenchOptions & { images: string | readonly string[] },
  env: Environment,
): Promise<BenchOutcome> {
  const { warmup, phase } = phases(options, 'single-stream');
  options.onPhase?.('load', undefined);
  const { task, ...rest } = options;
  const r = await runImagesPipeline({ ...rest, ...(task ? { task: task as never } : {}) }, warmup, phase);
  const data = singleStreamData(r.run);
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, fill: 'random', files: r.images.map((p) => ({ path: p })) };
  const report = buildReport({
    scenario: 'single-stream',
    env,
    model: {
      label: r.label,
      ...(r.path ? { path: r.path } : {}),
      bytes: new Uint8Array(r.bytes),
      readMs: r.coldStart.readMs,
    },
    isDefault: false,
    defaultLabel: undefined,
    inputs: r.inputs,
    outputs: r.outputs,
    settings: options.session ?? {},
    options,
    plan,
    set: {
      samples: [],
      shapes: {},
      description: `${r.images.length} image(s), whole pipeline with the ${r.head} head`,
    },
    defaulted: [],
    warmup,
    phase,
    coldStart: r.coldStart,
    target: null,
    warm: r.warm,
    data,
    engine: undefined,
    peak: undefined,
  });
  report.pipeline = {
    head: r.head,
    images: r.images.length,
    stagesMs: r.stages,
    ...(r.skipped.length ? { skipped: r.skipped } : {}),
  };
  return { report, latenciesUs: data.latenciesUs, startsMs: data.startsMs };
}
