/**
 * `rtinfer sweep`: a grid of engine configurations (instances × threads × max batch size) and load
 * points (concurrency levels, or Poisson rates), one measured run per cell, so users choose a
 * deployment from the latency–throughput curve rather than one number. Each configuration gets one
 * engine; its load points run on it in increasing order.
 */
import { performance } from 'node:perf_hooks';
import { RtinferError } from '../errors.js';
import { batchDimension } from '../engine/batch-policy.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { defaultModel } from '../runtime/default-model.js';
import { buildSamples, DEFAULT_INPUT_PLAN, type Feeds, type InputPlan } from '../runtime/inputs.js';
import { readModel, createSession, type ModelSource } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { parseShapeArg, resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { poissonArrivals } from './arrivals.js';
import { captureEnvironment, type Environment } from './environment.js';
import { paretoFrontier } from './pareto.js';
import { percentileQuantile } from './bench-report.js';
import { createRemoteTarget } from './remote-target.js';
import { runConcurrency, runServer, type ScenarioRun } from './scenarios.js';
import type { Phase } from './single-stream.js';

export const SWEEP_SCHEMA = 'rtinfer.sweep/1';

export interface SweepOptions {
  model?: ModelSource;
  /**
   * A served model instead (http://HOST:PORT/v2/models/NAME or grpc://HOST:PORT/NAME): only the
   * load axis is swept (the server's layout is its own); queue and inference times come from its
   * Server-Timing split.
   */
  target?: string;
  /** With `target` over HTTP: JSON tensors instead of the binary extension. */
  targetJson?: boolean;
  shapes?: ShapeOverride[];
  input?: Partial<InputPlan>;
  session?: Omit<SessionSettings, 'intraOpThreads'>;
  /** Engine max batch sizes; 1 means no batching. */
  batch?: number[];
  instances?: number[];
  threads?: number[];
  /** Closed-loop load points... */
  concurrency?: number[];
  /** ...or open-loop Poisson rates (queries per second). */
  qps?: number[];
  /** Per point; default 3 s and 50 queries. */
  durationMs?: number;
  minQueries?: number;
  /** The latency percentile in (0, 100) of each point's headline and of the Pareto frontier (default 99). */
  percentile?: number;
  onPoint?: (point: SweepPoint, index: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SweepPoint {
  instances: number;
  threads: number;
  batch: number;
  load: { kind: 'concurrency' | 'qps'; value: number };
  queries: number;
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** The latency at settings.percentile (absent: 99), what the frontier is drawn on (added within rtinfer.sweep/1). */
  headlineMs: number;
  /** The queue-vs-compute split: median time waiting in the engine queue and in inference. */
  queueMs: number;
  inferenceMs: number;
  meanBatchRequests: number;
  refused: number;
  pareto: boolean;
}

export interface SweepReport {
  schema: typeof SWEEP_SCHEMA;
  model: { label: string; path: string | null; shapes: Record<string, number[]> };
  settings: {
    batch: number[];
    instances: number[];
    threads: number[];
    load: { kind: 'concurrency' | 'qps'; values: number[] };
    durationMs: number;
    minQueries: number;
    seed: number;
    session: SessionSettings;
    percentile?: number;
  };
  grid: { points: number; measured: number; ms: number };
  points: SweepPoint[];
  env: Environment;
}

function list(name: string, values: number[] | undefined, fallback: number[], min = 1): number[] {
  const v = values ?? fallback;
  if (v.length === 0 || v.some((x) => !(x >= min) || !Number.isFinite(x)))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --${name} ${v.join(',')} (expected numbers >= ${min})`);
  return [...new Set(v)].sort((a, b) => a - b);
}

export async function runSweep(o: SweepOptions = {}): Promise<SweepReport> {
  if (o.concurrency && o.qps)
    throw new RtinferError('RTI_ERR_ARG_INVALID', 'give --concurrency or --qps as the load axis, not both');
  const batches = list('batch', o.batch, [1]);
  const instancesList = list('instances', o.instances, [1]);
  const threadsList = list('threads', o.threads, [1]);
  const kind: 'concurrency' | 'qps' = o.qps ? 'qps' : 'concurrency';
  const loads = kind === 'qps' ? list('qps', o.qps, [], 0.001) : list('concurrency', o.concurrency, [1, 2, 4]);
  const phase: Phase = { minQueries: o.minQueries ?? 50, minDurationMs: o.durationMs ?? 3000 };
  const percentile = o.percentile ?? 99;
  // Recorded only when given: settings are the run store's grouping key, and sweeps without it keep theirs.
  const given = o.percentile !== undefined ? { percentile } : {};
  if (!(Number.isFinite(percentile) && percentile > 0 && percentile < 100))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --percentile ${percentile} (expected a number in (0, 100))`);
  const env = captureEnvironment();
  if (o.target !== undefined) return sweepTarget(o.target, o, kind, loads, phase, env, percentile, given);
  const fallback = o.model === undefined ? defaultModel() : undefined;
  const model = await readModel(o.model ?? fallback?.path ?? '');
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...o.input };
  const probe = await createSession(model, o.session ?? {});
  const { shapes } = resolveShapes(probe.inputs, o.shapes ?? (fallback ? [parseShapeArg(fallback.shape)] : []));
  const set = await buildSamples(probe.inputs, shapes, plan);
  await probe.release();
  // Batch sizes a model cannot batch would run as batch 1 under another name: rows that only differ by noise.
  const dim = batchDimension(probe.inputs);
  if (!dim.batchable && batches.some((b) => b > 1))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `--batch ${batches.join(',')}: ${model.label} cannot batch requests (${dim.reason ?? 'no batch dimension'}): sweep it with --batch 1`,
    );

  const total = batches.length * instancesList.length * threadsList.length * loads.length;
  const points: SweepPoint[] = [];
  const t0 = performance.now();
  for (const instances of instancesList) {
    for (const threads of threadsList) {
      for (const batch of batches) {
        if (o.signal?.aborted) break;
        const engine = await createEngine({
          model: model.path ?? model.bytes,
          instances,
          threads,
          // As in the load scenarios: the generator keeps running alongside, so no spinning unless asked.
          session: { allowSpinning: false, ...o.session },
          batching: batch > 1 ? { maxBatchSize: batch } : false,
          maxQueueSize: Math.max(256, ...loads.map((l) => (kind === 'concurrency' ? l * 2 : 256))),
          warmupShapes: set.shapes,
        });
        try {
          for (const load of loads) {
            if (o.signal?.aborted) break;
            const point = await measurePoint(engine, set.samples, { kind, value: load }, phase, plan.seed, {
              percentile,
              layout: { instances, threads, batch },
              ...(o.signal ? { signal: o.signal } : {}),
            });
            points.push(point);
            o.onPoint?.(point, points.length, total);
          }
        } finally {
          await engine.close({ drain: false });
        }
      }
    }
  }
  markPareto(points);
  return {
    schema: SWEEP_SCHEMA,
    model: { label: fallback ? fallback.description : model.label, path: model.path ?? null, shapes: set.shapes },
    settings: {
      batch: batches,
      instances: instancesList,
      threads: threadsList,
      load: { kind, values: loads },
      durationMs: phase.minDurationMs,
      minQueries: phase.minQueries,
      seed: plan.seed,
      session: o.session ?? {},
      ...given,
    },
    grid: { points: total, measured: points.length, ms: Math.round(performance.now() - t0) },
    points,
    env,
  };
}

/** One grid point on a running engine: the load, with the engine's own queue and inference split recorded. */
async function measurePoint(
  engine: Engine,
  samples: Feeds[],
  load: { kind: 'concurrency' | 'qps'; value: number },
  phase: Phase,
  seed: number,
  o: { percentile: number; layout: { instances: number; threads: number; batch: number }; signal?: AbortSignal },
): Promise<SweepPoint> {
  const queue = new LatencyRecorder();
  const inference = new LatencyRecorder();
  let batched = 0;
  let answered = 0;
  const infer = async (feeds: Feeds): Promise<unknown> => {
    const r = await engine.inferWithTiming(feeds);
    queue.record(r.timing.queueMs * 1000);
    inference.record(r.timing.inferenceMs * 1000);
    batched += r.timing.batchRequests;
    answered++;
    return r.outputs;
  };
  const control = o.signal ? { signal: o.signal } : {};
  const run: ScenarioRun =
    load.kind === 'concurrency'
      ? await runConcurrency(infer, samples, load.value, phase, control)
      : await runServer(
          infer,
          samples,
          poissonArrivals(load.value, phase.minDurationMs, seed, phase.minQueries),
          control,
        );
  const ms = (us: number): number => Math.round(us) / 1000;
  return pointOf(run, o.percentile, o.layout, load, {
    queueMs: queue.count ? ms(queue.valueAtQuantileUs(0.5)) : 0,
    inferenceMs: inference.count ? ms(inference.valueAtQuantileUs(0.5)) : 0,
    meanBatchRequests: answered ? Math.round((batched / answered) * 100) / 100 : 0,
  });
}

function markPareto(points: SweepPoint[]): void {
  for (const i of paretoFrontier(
    points.map((p) => ({ throughput: p.throughput, latencyMs: p.queries > 0 ? p.headlineMs : Infinity })),
  )) {
    const p = points[i];
    if (p) p.pareto = true;
  }
}

function pointOf(
  run: ScenarioRun,
  percentile: number,
  layout: { instances: number; threads: number; batch: number },
  load: SweepPoint['load'],
  split: Pick<SweepPoint, 'queueMs' | 'inferenceMs' | 'meanBatchRequests'>,
): SweepPoint {
  const rec = run.log.recorder;
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    ...layout,
    load,
    queries: run.log.count,
    throughput: Math.round((run.log.count / (run.wallMs / 1000)) * 100) / 100,
    latencyMs: rec.count
      ? {
          p50: ms(rec.valueAtQuantileUs(0.5)),
          p90: ms(rec.valueAtQuantileUs(0.9)),
          p99: ms(rec.valueAtQuantileUs(0.99)),
          max: ms(rec.maxUs),
        }
      : { p50: 0, p90: 0, p99: 0, max: 0 },
    headlineMs: rec.count ? ms(rec.valueAtQuantileUs(percentileQuantile(percentile))) : 0,
    ...split,
    refused: run.log.refusedCount,
    pareto: false,
  };
}

/** The load axis against a served model; instances, threads and batch are 0 in its points ("the server's"). */
async function sweepTarget(
  url: string,
  o: SweepOptions,
  kind: 'concurrency' | 'qps',
  loads: number[],
  phase: Phase,
  env: Environment,
  percentile: number,
  given: { percentile?: number },
): Promise<SweepReport> {
  if (o.model !== undefined)
    throw new RtinferError('RTI_ERR_ARG_INVALID', 'give either a model file or --target, not both');
  if (o.batch || o.instances || o.threads)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      '--batch, --instances and --threads set up a local engine: ' +
        'with --target the server has its own layout (sweep --concurrency or --qps)',
    );
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...o.input };
  const most = kind === 'concurrency' ? Math.max(...loads) : 256;
  const target = await createRemoteTarget(url, {
    binary: o.targetJson !== true,
    maxSockets: Math.max(8, most),
    decode: false,
  });
  const t0 = performance.now();
  const points: SweepPoint[] = [];
  try {
    const { shapes } = resolveShapes(target.inputs, o.shapes ?? []);
    const set = await buildSamples(target.inputs, shapes, plan);
    await target.infer(set.samples[0]!, true);
    for (const load of loads) {
      if (o.signal?.aborted) break;
      target.serverTiming.reset();
      const infer = (feeds: Feeds, dueAt?: number): Promise<unknown> => target.infer(feeds, false, dueAt);
      const control = o.signal ? { signal: o.signal } : {};
      const run =
        kind === 'concurrency'
          ? await runConcurrency(infer, set.samples, load, phase, control)
          : await runServer(
              infer,
              set.samples,
              poissonArrivals(load, phase.minDurationMs, plan.seed, phase.minQueries),
              control,
            );
      const stages = target.serverTiming.summary();
      const point = pointOf(
        run,
        percentile,
        { instances: 0, threads: 0, batch: 0 },
        { kind, value: load },
        { queueMs: stages?.['queue']?.p50 ?? 0, inferenceMs: stages?.['inference']?.p50 ?? 0, meanBatchRequests: 0 },
      );
      points.push(point);
      o.onPoint?.(point, points.length, loads.length);
    }
    markPareto(points);
    return {
      schema: SWEEP_SCHEMA,
      model: { label: target.url, path: null, shapes: set.shapes },
      settings: {
        batch: [],
        instances: [],
        threads: [],
        load: { kind, values: loads },
        durationMs: phase.minDurationMs,
        minQueries: phase.minQueries,
        seed: plan.seed,
        session: {},
        ...given,
      },
      grid: { points: loads.length, measured: points.length, ms: Math.round(performance.now() - t0) },
      points,
      env,
    };
  } finally {
    target.close();
  }
}
