/**
 * `rtinfer bench` as a library call: cold start (read, session, first inference), warm-up, then
 * single-stream measurement, summarised into the versioned `rtinfer.bench/1` report.
 */
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { defaultModel } from '../runtime/default-model.js';
import { buildSamples, DEFAULT_INPUT_PLAN, type Feeds, type InputPlan } from '../runtime/inputs.js';
import { createSession, readModel, type ModelSource, type TensorSpec } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { describeDefaults, parseShapeArg, resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import { summarizeLatency, type EarlyStoppingVerdict, type QuantileCi } from '../stats/summary.js';
import { captureEnvironment, type Environment } from './environment.js';
import { runSingleStream, type Phase, type Progress } from './single-stream.js';

export const BENCH_SCHEMA = 'rtinfer.bench/1';

export interface BenchOptions {
  /** Path or bytes; default: the bundled PP-OCRv4 text detector at 1x3x640x640. */
  model?: ModelSource;
  session?: SessionSettings;
  shapes?: ShapeOverride[];
  input?: Partial<InputPlan>;
  /** Warm-up phase; default 1 s (at least one query). */
  warmup?: Partial<Phase>;
  /** Measure until both are met; defaults 10 s and 100 queries. */
  durationMs?: number;
  minQueries?: number;
  /** Safety bounds on the measured phase. */
  maxQueries?: number;
  maxDurationMs?: number;
  onPhase?: (phase: 'load' | 'warmup' | 'measure', detail?: string) => void;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  scenario: 'single-stream';
  model: { label: string; path: string | null; bytes: number; default: boolean; inputs: Array<TensorSpec & { runShape: number[] }>; outputs: TensorSpec[] };
  settings: {
    session: SessionSettings;
    shapes: Record<string, number[]>;
    defaultedShapes: string[];
    input: { fill: string; files: string[]; samples: number; seed: number; description: string };
    warmup: Phase;
    durationMs: number;
    minQueries: number;
  };
  coldStart: { readMs: number; sessionCreateMs: number; firstInferenceMs: number };
  warmup: { queries: number; ms: number };
  latencyMs: { mean: number; stddev: number; min: number; p50: number; p90: number; p95: number; p99: number; p999: number; max: number };
  confidence: { level: number; p50: QuantileCi | null; p90: QuantileCi | null; p99: QuantileCi | null };
  earlyStopping: { p90: EarlyStoppingVerdict; p99: EarlyStoppingVerdict };
  throughput: { qps: number; queries: number; durationMs: number };
  cpu: { msPerQuery: number; userMsPerQuery: number; systemMsPerQuery: number; utilization: number };
  eventLoopLagMs: { mean: number; p99: number; max: number };
  memory: { peakRssMB: number };
  validity: { valid: boolean; reasons: string[]; warnings: string[] };
  env: Environment;
}

export interface BenchOutcome {
  report: BenchReport;
  /** Per-query latency (µs) and start time (ms from the measured phase's start), for CSV. */
  latenciesUs: Float64Array;
  startsMs: Float64Array;
}

const round = (x: number, digits = 3): number => Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : 0;

export async function runBench(options: BenchOptions = {}): Promise<BenchOutcome> {
  const env = captureEnvironment();
  const isDefault = options.model === undefined;
  const fallback = isDefault ? defaultModel() : undefined;
  const source = options.model ?? fallback?.path ?? '';
  const settings: SessionSettings = { ...options.session };
  const shapeOverrides = options.shapes ?? (fallback ? [parseShapeArg(fallback.shape)] : []);
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...options.input };
  const warmup: Phase = { minQueries: 1, minDurationMs: 1000, ...options.warmup };
  const durationMs = options.durationMs ?? 10_000;
  const minQueries = options.minQueries ?? 100;

  options.onPhase?.('load', fallback?.description);
  const model = await readModel(source);
  const rt = await createSession(model, settings);
  try {
    const { shapes, defaulted } = resolveShapes(rt.inputs, shapeOverrides);
    const set = await buildSamples(rt.inputs, shapes, plan);
    const run = (feeds: Feeds): Promise<unknown> => rt.session.run(feeds);

    const t0 = performance.now();
    try {
      await run(set.samples[0] as Feeds);
    } catch (error) {
      const shapesText = Object.entries(set.shapes).map(([n, d]) => `${n}=${d.length ? d.join('x') : 'scalar'}`).join(' ');
      throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `first inference failed at ${shapesText}: ${firstLine(error)}`, { cause: error });
    }
    const firstInferenceMs = performance.now() - t0;

    options.onPhase?.('warmup');
    const warm = await runSingleStream(run, set.samples, { phase: warmup, ...(options.signal ? { signal: options.signal } : {}) });
    if (warm.error !== undefined) throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed during warm-up: ${firstLine(warm.error)}`, { cause: warm.error });

    options.onPhase?.('measure');
    const phase: Phase = { minQueries, minDurationMs: durationMs };
    if (options.maxQueries !== undefined) phase.maxQueries = options.maxQueries;
    if (options.maxDurationMs !== undefined) phase.maxDurationMs = options.maxDurationMs;
    const measured = await runSingleStream(run, set.samples, {
      phase,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });

    const summary = summarizeLatency(measured.recorder);
    const n = measured.queries;
    const cpuMs = measured.cpu.userMs + measured.cpu.systemMs;
    const reasons: string[] = [];
    const warnings: string[] = [];
    if (measured.error !== undefined) reasons.push(`query ${n + 1} failed: ${firstLine(measured.error)}`);
    if (measured.aborted) reasons.push(`interrupted after ${n} queries`);
    if (n < minQueries) reasons.push(`ran ${n} queries, fewer than the minimum ${minQueries}`);
    else if (measured.wallMs < durationMs && !(phase.maxQueries !== undefined && n >= phase.maxQueries)) {
      reasons.push(`ran ${round(measured.wallMs / 1000, 2)} s, shorter than the minimum ${durationMs / 1000} s`);
    }
    const es = summary.earlyStopping;
    if (!es.p90.satisfied) reasons.push(`too few queries to claim p90 at ${es.p90.confidence * 100}% confidence: need at least ${es.p90.minQueries}, ran ${n}`);
    if (!es.p99.satisfied) warnings.push(`p99 is indicative only: claiming it at ${es.p99.confidence * 100}% confidence needs at least ${es.p99.minQueries} queries, ran ${n}`);
    if (env.loadAvgBefore > env.cores * 0.5) warnings.push(`machine was busy before the run: load average ${round(env.loadAvgBefore, 2)} on ${env.cores} cores`);
    const threads = (settings.intraOpThreads ?? 0) + (settings.executionMode === 'parallel' ? settings.interOpThreads ?? 0 : 0);
    if (threads > env.cores) warnings.push(`thread budget oversubscribed: ${threads} onnxruntime threads on ${env.cores} cores`);
    if (n > 0 && summary.minMs < 0.005) warnings.push('queries faster than 5 µs: the clock and loop overhead dominate what is measured');
    for (const line of describeDefaults(defaulted)) warnings.push(`default shape: ${line}`);

    const report: BenchReport = {
      schema: BENCH_SCHEMA,
      scenario: 'single-stream',
      model: {
        label: isDefault && fallback ? fallback.description : model.label,
        path: model.path ?? null,
        bytes: model.bytes.length,
        default: isDefault,
        inputs: rt.inputs.map((s) => ({ ...s, runShape: set.shapes[s.name] ?? [] })),
        outputs: rt.outputs,
      },
      settings: {
        session: settings,
        shapes: set.shapes,
        defaultedShapes: describeDefaults(defaulted),
        input: { fill: plan.fill, files: plan.files.map((f) => (f.name ? `${f.name}=${f.path}` : f.path)), samples: set.samples.length, seed: plan.seed, description: set.description },
        warmup,
        durationMs,
        minQueries,
      },
      coldStart: { readMs: round(model.readMs), sessionCreateMs: round(rt.createMs), firstInferenceMs: round(firstInferenceMs) },
      warmup: { queries: warm.queries, ms: round(warm.wallMs) },
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
      confidence: { level: 0.95, ...summary.ci },
      earlyStopping: summary.earlyStopping,
      throughput: { qps: round(n / (measured.wallMs / 1000), 2), queries: n, durationMs: round(measured.wallMs) },
      cpu: {
        msPerQuery: round(n ? cpuMs / n : 0, 4),
        userMsPerQuery: round(n ? measured.cpu.userMs / n : 0, 4),
        systemMsPerQuery: round(n ? measured.cpu.systemMs / n : 0, 4),
        utilization: round(measured.wallMs ? cpuMs / measured.wallMs : 0, 3),
      },
      eventLoopLagMs: { mean: round(measured.eventLoopLagMs.mean), p99: round(measured.eventLoopLagMs.p99), max: round(measured.eventLoopLagMs.max) },
      memory: { peakRssMB: round(process.resourceUsage().maxRSS / 1024, 1) },
      validity: { valid: reasons.length === 0, reasons, warnings },
      env,
    };
    return { report, latenciesUs: measured.latenciesUs, startsMs: measured.startsMs };
  } finally {
    await rt.release();
  }
}
