/**
 * Where the planner's service-time distribution comes from: a stored or saved run (a single-stream
 * bench: its histogram; a sweep: its best layout's quantiles at the lowest load), or a brief
 * measurement of one replica (a model file, a serve config, or a tune's chosen configuration).
 */
import { inputFromReport } from '../compare/sources.js';
import { loadRunSource, type RunSource } from '../deploy/run-source.js';
import { RtinferError } from '../errors.js';
import { runBench } from '../loadgen/bench.js';
import type { ShapeOverride } from '../runtime/shapes.js';
import { loadConfigFile } from '../server/config.js';
import { empiricalServiceTime, quantileServiceTime, type ServiceTime } from './service-time.js';

export interface ReplicaSource {
  service: ServiceTime;
  instances: number;
  threads: number;
  maxQueueSize?: number;
  deadlineMs?: number;
  notes: string[];
}

export interface MeasureOptions {
  model: string;
  threads: number;
  shapes?: ShapeOverride[];
  durationMs?: number;
  onPhase?: (line: string) => void;
}

/**
 * One replica's service time, measured single-stream (one request at a time, no queueing) on `threads` intra-op
 * threads.
 */
export async function measureReplica(o: MeasureOptions): Promise<ServiceTime> {
  const durationMs = o.durationMs ?? 3000;
  o.onPhase?.(
    `plan: measuring one replica of ${o.model} for ${durationMs / 1000} s (single-stream, ${o.threads} thread(s))`,
  );
  const out = await runBench({
    model: o.model,
    scenario: 'single-stream',
    session: { intraOpThreads: o.threads },
    ...(o.shapes ? { shapes: o.shapes } : {}),
    durationMs,
    minQueries: 50,
    warmup: { minQueries: 5, minDurationMs: 500 },
  });
  const samples = Array.from(out.latenciesUs, (us) => us / 1000);
  return empiricalServiceTime(
    samples,
    `a ${(durationMs / 1000).toFixed(0)} s single-stream measurement of ${o.model} ` +
      `(${samples.length} requests, ${o.threads} thread(s))`,
  );
}

function fromRun(src: RunSource): ReplicaSource | { measure: { model: string; instances: number; threads: number } } {
  if (src.kind === 'bench') {
    const r = src.report;
    const input = inputFromReport(r, src.ref, undefined, src.histogram);
    const notes: string[] = [];
    if (r.scenario !== 'single-stream')
      notes.push(
        `${src.ref} is a ${r.scenario} bench: its latencies include queueing, ` +
          `so the plan is pessimistic (a single-stream bench measures service time alone)`,
      );
    if (input.approximate) notes.push(`${src.ref} keeps no histogram: service times rebuilt from its quantile table`);
    const threads = r.settings.session.intraOpThreads ?? 1;
    return {
      service: {
        ...empiricalServiceTime(
          Array.from(input.latenciesUs, (us) => us / 1000),
          `bench ${src.ref} (${r.scenario}, ${input.latenciesUs.length} requests)`,
        ),
        approximate: input.approximate,
      },
      instances: 1,
      threads,
      notes,
    };
  }
  if (src.kind === 'sweep') {
    const points = src.report.points.filter((p) => p.refused === 0 && p.queries > 0);
    const best = points.reduce<(typeof points)[number] | undefined>(
      (b, p) => (b === undefined || p.throughput > b.throughput ? p : b),
      undefined,
    );
    if (best === undefined)
      throw new RtinferError('RTI_ERR_ARG_INVALID', `${src.ref} is a sweep with no usable point: nothing to plan from`);
    const same = points
      .filter((p) => p.instances === best.instances && p.threads === best.threads && p.batch === best.batch)
      .sort((a, b) => a.load.value - b.load.value);
    const low = same[0] ?? best;
    // At the lowest load each request mostly runs alone: its latency is close to its service time.
    const service = quantileServiceTime(
      [
        [0.5, low.latencyMs.p50],
        [0.9, low.latencyMs.p90],
        [0.99, low.latencyMs.p99],
        [1, low.latencyMs.max],
      ],
      `sweep ${src.ref} (${best.instances}x${best.threads}, batch ${best.batch}, ` +
        `at ${low.load.kind} ${low.load.value})`,
    );
    const notes =
      best.batch > 1
        ? ["the sweep's best layout batches requests; the simulation serves one request at a time per instance"]
        : [];
    return { service, instances: best.instances, threads: best.threads, notes };
  }
  const chosen = src.report.chosen;
  if (chosen === null)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `${src.ref} is a tune that found no configuration within its SLO: nothing to plan from`,
    );
  // A tune keeps figures, not distributions: measure its chosen layout's service time.
  return { measure: { model: chosen.config.path, instances: chosen.config.instances, threads: chosen.config.threads } };
}

export async function replicaFrom(o: {
  model?: string;
  config?: string;
  fromRun?: string;
  store?: string;
  threads?: number;
  instances?: number;
  shapes?: ShapeOverride[];
  measureMs?: number;
  onPhase?: (line: string) => void;
}): Promise<ReplicaSource> {
  const given = [o.model !== undefined, o.config !== undefined, o.fromRun !== undefined].filter(Boolean).length;
  if (given === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      'rtinfer plan needs a model, --config FILE or --from-run ID|report.json',
    );
  if (given > 1) throw new RtinferError('RTI_ERR_ARG_INVALID', 'give a model, --config or --from-run: one of them');
  let toMeasure: { model: string; instances: number; threads: number; maxQueueSize?: number; deadlineMs?: number };
  if (o.fromRun !== undefined) {
    const r = fromRun(await loadRunSource(o.fromRun, o.store));
    if (!('measure' in r)) return { ...r, instances: o.instances ?? r.instances, threads: o.threads ?? r.threads };
    toMeasure = r.measure;
  } else if (o.config !== undefined) {
    const config = await loadConfigFile(o.config);
    const m = config.models[0];
    if (m === undefined)
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `config ${o.config}: plan takes the first model under models, and there is none`,
      );
    toMeasure = {
      model: m.path,
      instances: m.instances ?? 1,
      threads: m.threads ?? 1,
      ...(m.maxQueueSize !== undefined ? { maxQueueSize: m.maxQueueSize } : {}),
      ...(m.defaultDeadlineMs !== undefined ? { deadlineMs: m.defaultDeadlineMs } : {}),
    };
  } else {
    toMeasure = { model: o.model as string, instances: 1, threads: 1 };
  }
  const threads = o.threads ?? toMeasure.threads;
  const service = await measureReplica({
    model: toMeasure.model,
    threads,
    ...(o.shapes ? { shapes: o.shapes } : {}),
    ...(o.measureMs !== undefined ? { durationMs: o.measureMs } : {}),
    ...(o.onPhase ? { onPhase: o.onPhase } : {}),
  });
  return {
    service,
    instances: o.instances ?? toMeasure.instances,
    threads,
    ...(toMeasure.maxQueueSize !== undefined ? { maxQueueSize: toMeasure.maxQueueSize } : {}),
    ...(toMeasure.deadlineMs !== undefined ? { deadlineMs: toMeasure.deadlineMs } : {}),
    notes: [
      `measured one replica briefly before planning: no stored run was given (--from-run) ` +
        `to read its service time from`,
    ],
  };
}
