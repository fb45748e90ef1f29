/**
 * `rtinfer bench` as a library call: cold start (read, session, first inference), warm-up, then
 * the measured scenario, summarised into the versioned `rtinfer.bench/1` report.
 *
 * single-stream runs the session directly on this thread (the cheapest measurement path, see
 * bench/overhead); every other scenario drives the worker-thread engine, which is what keeps many
 * requests in flight without blocking the generator.
 */
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { createEngine, type BatchingOptions, type Engine } from '../engine/engine.js';
import { defaultModel } from '../runtime/default-model.js';
import { buildSamples, DEFAULT_INPUT_PLAN, type Feeds, type InputPlan } from '../runtime/inputs.js';
import { createSession, readModel, type LoadedModel, type ModelSource } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { parseShapeArg, resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import { poissonArrivals } from './arrivals.js';
import { buildReport, type BenchReport, type RunData } from './bench-report.js';
import { captureEnvironment } from './environment.js';
import { createHttpTarget } from './http-target.js';
import { QueryLog } from './query-log.js';
import { runConcurrency, runMultiStream, runOffline, runServer, type ScenarioRun } from './scenarios.js';
import { runSingleStream, type Phase, type Progress } from './single-stream.js';

export { BENCH_SCHEMA } from './bench-report.js';
export type { BenchReport } from './bench-report.js';

export const SCENARIOS = ['single-stream', 'multi-stream', 'server', 'offline', 'concurrency'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface EngineSettings {
  instances?: number;
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
  /** concurrency: queries kept outstanding (default 4). */
  concurrency?: number;
  /** offline: queries issued at once per wave (default max(64, 8 × maxBatchSize)). */
  offlineWave?: number;
  /** Engine settings for every scenario but single-stream. */
  engine?: EngineSettings;
  /** Stability check tolerance, % (default 10). */
  stabilityPct?: number;
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
  check((SCENARIOS as readonly string[]).includes(scenario), `invalid scenario '${scenario}' (expected one of ${SCENARIOS.join(', ')})`);
  if (scenario === 'server') check(o.qps !== undefined && o.qps > 0 && Number.isFinite(o.qps), 'the server scenario needs --qps N (queries per second, > 0)');
  if (o.samplesPerQuery !== undefined) check(Number.isInteger(o.samplesPerQuery) && o.samplesPerQuery >= 1, `invalid samplesPerQuery ${o.samplesPerQuery}`);
  if (o.concurrency !== undefined) check(Number.isInteger(o.concurrency) && o.concurrency >= 1 && o.concurrency <= 4096, `invalid concurrency ${o.concurrency}`);
  if (o.latencyBoundMs !== undefined) check(o.latencyBoundMs > 0, `invalid latencyBoundMs ${o.latencyBoundMs}`);
}

export async function runBench(options: BenchOptions = {}): Promise<BenchOutcome> {
  const scenario = options.scenario ?? 'single-stream';
  validateScenario(options, scenario);
  if (options.target !== undefined) return runBenchHttp(options, scenario);
  const env = captureEnvironment();
  const fallback = options.model === undefined ? defaultModel() : undefined;
  const settings: SessionSettings = { ...options.session };
  const shapeOverrides = options.shapes ?? (fallback ? [parseShapeArg(fallback.shape)] : []);
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...options.input };
  const warmup: Phase = { minQueries: 1, minDurationMs: 1000, ...options.warmup };
  const phase: Phase = { minQueries: options.minQueries ?? 100, minDurationMs: options.durationMs ?? 10_000 };
  if (options.maxQueries !== undefined) phase.maxQueries = options.maxQueries;
  if (options.maxDurationMs !== undefined) phase.maxDurationMs = options.maxDurationMs;
  const control = { ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.signal ? { signal: options.signal } : {}) };

  options.onPhase?.('load', fallback?.description);
  const model = await readModel(options.model ?? fallback?.path ?? '');
  // Cold start is a property of the model on this machine: measured on a plain session whatever the scenario.
  const rt = await createSession(model, settings);
  let engine: Engine | undefined;
  try {
    const { shapes, defaulted } = resolveShapes(rt.inputs, shapeOverrides);
    const set = await buildSamples(rt.inputs, shapes, plan);
    const t0 = performance.now();
    try {
      await rt.session.run(set.samples[0] as Feeds);
    } catch (error) {
      const shapesText = Object.entries(set.shapes).map(([n, d]) => `${n}=${d.length ? d.join('x') : 'scalar'}`).join(' ');
      throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `first inference failed at ${shapesText}: ${firstLine(error)}`, { cause: error });
    }
    const firstInferenceMs = performance.now() - t0;

    let infer: (feeds: Feeds) => Promise<unknown> = (feeds) => rt.session.run(feeds);
    let engineStartMs: number | undefined;
    if (scenario !== 'single-stream') {
      await rt.release();
      const e0 = performance.now();
      engine = await startEngine(model, settings, set.shapes, options, scenario);
      engineStartMs = performance.now() - e0;
      const eng = engine;
      infer = (feeds) => eng.infer(feeds);
    }

    options.onPhase?.('warmup');
    const warm = await runSingleStream(infer, set.samples, { phase: warmup, ...(options.signal ? { signal: options.signal } : {}) });
    if (warm.error !== undefined) throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed during warm-up: ${firstLine(warm.error)}`, { cause: warm.error });

    options.onPhase?.('measure');
    const data = await measure(scenario, infer, set.samples, phase, options, control);
    const report = buildReport({
      scenario,
      env,
      model,
      isDefault: fallback !== undefined,
      defaultLabel: fallback?.description,
      inputs: rt.inputs,
      outputs: rt.outputs,
      settings,
      options,
      plan,
      set,
      defaulted,
      warmup,
      phase,
      coldStart: { readMs: model.readMs, sessionCreateMs: rt.createMs, firstInferenceMs },
      target: null,
      warm: { queries: warm.queries, ms: warm.wallMs },
      data,
      engine: engine ? { stats: engine.stats(), startMs: engineStartMs ?? 0 } : undefined,
    });
    return { report, latenciesUs: data.latenciesUs, startsMs: data.startsMs };
  } finally {
    if (engine) await engine.close({ drain: false });
    else await rt.release();
  }
}

async function startEngine(model: LoadedModel, settings: SessionSettings, shapes: Record<string, number[]>, o: BenchOptions, scenario: Scenario): Promise<Engine> {
  const { intraOpThreads, ...session } = settings;
  const batching = o.engine?.batching === false ? false : { maxBatchSize: 8, ...o.engine?.batching };
  const wave = offlineWave(o);
  return createEngine({
    model: model.path ?? model.bytes,
    ...(o.engine?.instances !== undefined ? { instances: o.engine.instances } : {}),
    ...(intraOpThreads !== undefined && intraOpThreads > 0 ? { threads: intraOpThreads } : {}),
    session,
    batching,
    maxQueueSize: o.engine?.maxQueueSize ?? (scenario === 'offline' ? Math.max(256, wave) : 256),
    warmupShapes: shapes,
  });
}

function offlineWave(o: BenchOptions): number {
  const maxBatch = o.engine?.batching === false ? 1 : o.engine?.batching?.maxBatchSize ?? 8;
  return o.offlineWave ?? Math.max(64, 8 * maxBatch);
}

async function measure(
  scenario: Scenario,
  infer: (feeds: Feeds) => Promise<unknown>,
  samples: Feeds[],
  phase: Phase,
  o: BenchOptions,
  control: { onProgress?: (p: Progress) => void; signal?: AbortSignal },
): Promise<RunData> {
  if (scenario === 'single-stream') {
    const r = await runSingleStream(infer, samples, { phase, ...control });
    const log = new QueryLog();
    if (r.error !== undefined) log.fail(r.error);
    return {
      recorder: r.recorder,
      latenciesUs: r.latenciesUs,
      startsMs: r.startsMs,
      answered: r.queries,
      issued: r.queries + (r.error !== undefined ? 1 : 0),
      refused: log.refused,
      firstError: r.error,
      wallMs: r.wallMs,
      cpu: r.cpu,
      eventLoopLagMs: r.eventLoopLagMs,
      aborted: r.aborted,
      samplesPerQuery: 1,
    };
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
      const arrivals = poissonArrivals(o.qps ?? 1, phase.minDurationMs, o.arrivalSeed ?? o.input?.seed ?? DEFAULT_INPUT_PLAN.seed, phase.minQueries, phase.maxQueries);
      run = await runServer(infer, samples, arrivals, control);
      break;
    }
  }
  return {
    recorder: run.log.recorder,
    latenciesUs: run.log.latenciesUs,
    startsMs: run.log.startsMs,
    answered: run.log.count,
    issued: run.issued,
    refused: run.log.refused,
    firstError: run.log.firstError,
    wallMs: run.wallMs,
    cpu: run.cpu,
    eventLoopLagMs: run.eventLoopLagMs,
    aborted: run.aborted,
    samplesPerQuery: run.samplesPerQuery,
    ...(run.slip ? { slip: run.slip } : {}),
  };
}

/** The same scenarios against a remote KServe v2 model: inputs from its metadata, no local session. */
async function runBenchHttp(options: BenchOptions, scenario: Scenario): Promise<BenchOutcome> {
  const env = captureEnvironment();
  const url = options.target ?? '';
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...options.input };
  const warmup: Phase = { minQueries: 1, minDurationMs: 1000, ...options.warmup };
  const phase: Phase = { minQueries: options.minQueries ?? 100, minDurationMs: options.durationMs ?? 10_000 };
  if (options.maxQueries !== undefined) phase.maxQueries = options.maxQueries;
  if (options.maxDurationMs !== undefined) phase.maxDurationMs = options.maxDurationMs;
  const control = { ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  options.onPhase?.('load', undefined);
  const concurrency = scenario === 'concurrency' ? options.concurrency ?? 4 : scenario === 'multi-stream' ? options.samplesPerQuery ?? 8 : 256;
  const target = await createHttpTarget(url, { binary: options.targetJson !== true, maxSockets: Math.max(8, concurrency) });
  try {
    const { shapes, defaulted } = resolveShapes(target.inputs, options.shapes ?? []);
    const set = await buildSamples(target.inputs, shapes, plan);
    const infer = (feeds: Feeds): Promise<unknown> => target.infer(feeds);
    const t0 = performance.now();
    await infer(set.samples[0] as Feeds);
    const firstInferenceMs = performance.now() - t0;
    options.onPhase?.('warmup');
    const warm = await runSingleStream(infer, set.samples, { phase: warmup, ...(options.signal ? { signal: options.signal } : {}) });
    if (warm.error !== undefined) throw warm.error;
    options.onPhase?.('measure');
    const data = await measure(scenario, infer, set.samples, phase, options, control);
    const report = buildReport({
      scenario,
      env,
      model: { label: target.url, bytes: new Uint8Array(0), readMs: 0 },
      isDefault: false,
      defaultLabel: undefined,
      inputs: target.inputs,
      outputs: target.outputs,
      settings: {},
      options,
      plan,
      set,
      defaulted,
      warmup,
      phase,
      coldStart: { readMs: null, sessionCreateMs: null, firstInferenceMs },
      target: target.url,
      warm: { queries: warm.queries, ms: warm.wallMs },
      data,
      engine: undefined,
    });
    return { report, latenciesUs: data.latenciesUs, startsMs: data.startsMs };
  } finally {
    target.close();
  }
}
