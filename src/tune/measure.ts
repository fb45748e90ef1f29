/**
 * Real measurements of one tuner candidate: a fresh engine per measurement (so no candidate
 * inherits another's warm caches or thread pools), then
 * 1. the unloaded probe: requests one at a time; the SLO percentile and its lower confidence bound.
 *    A quick measurement stops here when even the lower bound is above the SLO (early abandon);
 * 2. the scenario: server, the peak search (searchPeak) for the highest Poisson rate whose SLO
 *    percentile stays within the bound; multi-stream, N samples per query; single-stream, the
 *    unloaded probe is the measurement.
 * Quick and full differ only in length.
 */
import { createEngine, type Engine } from '../engine/engine.js';
import { probeAtRate, searchPeak, type ProbeResult } from '../loadgen/peak.js';
import { runMultiStream } from '../loadgen/scenarios.js';
import { runSingleStream } from '../loadgen/single-stream.js';
import { buildSamples, DEFAULT_INPUT_PLAN, type Feeds, type InputPlan } from '../runtime/inputs.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { resolveShapes } from '../runtime/shapes.js';
import { binomialCdf } from '../stats/binomial.js';
import { lastTrue } from '../stats/monotone-search.js';
import { nearestRank } from '../stats/sorted.js';
import type { Slo } from './slo.js';
import type { Candidate, TuneScenario, Variant } from './space.js';
import type { Level, Measurement } from './strategy.js';

export interface LevelSettings {
  /** Unloaded probe: at least this many queries and this long. */
  unloadedQueries: number;
  unloadedMs: number;
  /** Length of each peak-search probe (server) or of the run (multi-stream). */
  probeMs: number;
  /** Peak search: stop bisecting within this relative gap. */
  tolerance: number;
  maxProbes: number;
}

export interface MeasureSettings {
  scenario: TuneScenario;
  slo: Slo;
  levels: Record<Level, LevelSettings>;
  /** Session settings outside the search (execution providers, memory options). */
  session?: Omit<SessionSettings, 'intraOpThreads' | 'interOpThreads' | 'executionMode' | 'graphOptimizationLevel'>;
  input?: Partial<InputPlan>;
  /** multi-stream: samples per query (default 8). */
  samplesPerQuery?: number;
}

/**
 * Lengths for a budget: quick probes are a sixtieth of the budget (0.25 to 1.5 s), full ones three
 * times that: a 10-minute budget gives 1.5 s probes, about 10 s per quick server candidate (5 to 7
 * probes), so some 50 of them.
 */
export function levelsForBudget(budgetMs: number): Record<Level, LevelSettings> {
  const probe = Math.min(1500, Math.max(250, budgetMs / 60));
  return {
    quick: { unloadedQueries: 20, unloadedMs: Math.min(500, probe / 2), probeMs: probe, tolerance: 0.1, maxProbes: 7 },
    full: { unloadedQueries: 100, unloadedMs: probe, probeMs: 3 * probe, tolerance: 0.05, maxProbes: 10 },
  };
}

/**
 * The largest rank l such that the l-th smallest of n samples is at or below the true q-quantile
 * with the given confidence (one-sided): P(Bin(n, q) <= l - 1) <= 1 - confidence. Null when even
 * the smallest sample cannot bound it.
 */
export function lowerBoundRank(n: number, q: number, confidence = 0.95): number | null {
  return lastTrue(1, n, (l) => binomialCdf(l - 1, n, q) <= 1 - confidence);
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Infinity : (sorted[nearestRank(sorted.length, q) - 1] as number);
}

export function engineSettingsOf(
  c: Candidate,
  scenario: TuneScenario,
  base: MeasureSettings['session'] = {},
): {
  session: Omit<SessionSettings, 'intraOpThreads'>;
  batching: false | { maxBatchSize: number; maxQueueDelayUs: number };
} {
  return {
    session: {
      ...base,
      // Spinning helps one request at a time and starves the other threads under load (see engine.ts).
      allowSpinning: scenario === 'single-stream',
      executionMode: c.executionMode,
      graphOptimizationLevel: c.graphOptimizationLevel,
      ...(c.executionMode === 'parallel' ? { interOpThreads: c.interOpThreads } : {}),
    },
    batching: c.maxBatchSize > 1 ? { maxBatchSize: c.maxBatchSize, maxQueueDelayUs: c.maxQueueDelayUs } : false,
  };
}

const samplesCache = new WeakMap<Variant, Promise<{ samples: Feeds[]; shapes: Record<string, number[]> }>>();

async function samplesFor(
  variant: Variant,
  engine: Engine,
  plan: InputPlan,
): Promise<{ samples: Feeds[]; shapes: Record<string, number[]> }> {
  let p = samplesCache.get(variant);
  if (!p) {
    const { shapes } = resolveShapes(engine.inputs, variant.shapes);
    p = buildSamples(engine.inputs, shapes, plan);
    samplesCache.set(variant, p);
  }
  return p;
}

export async function measureCandidate(
  c: Candidate,
  variant: Variant,
  level: Level,
  m: MeasureSettings,
  o: { abandonAboveMs?: number; signal?: AbortSignal } = {},
): Promise<Measurement> {
  const t0 = performance.now();
  const lv = m.levels[level];
  const plan: InputPlan = { ...DEFAULT_INPUT_PLAN, ...m.input };
  const { session, batching } = engineSettingsOf(c, m.scenario, m.session);
  const shapes = Object.fromEntries(
    variant.shapes.filter((s) => s.name !== undefined).map((s) => [s.name as string, s.dims]),
  );
  const engine = await createEngine({
    model: variant.model,
    instances: c.instances,
    threads: c.threads,
    session,
    batching,
    maxQueueSize: 1024,
    warmupShapes: shapes,
  });
  try {
    const { samples } = await samplesFor(variant, engine, plan);
    const infer = (feeds: Feeds): Promise<unknown> => engine.infer(feeds);
    const control = o.signal ? { signal: o.signal } : {};
    const q = m.slo.quantile;

    // 1. one at a time
    const unloaded = await runSingleStream(infer, samples, {
      phase: { minQueries: lv.unloadedQueries, minDurationMs: lv.unloadedMs, maxDurationMs: lv.unloadedMs * 4 },
      ...control,
    });
    if (unloaded.error !== undefined) throw unloaded.error;
    const lat = Array.from(unloaded.latenciesUs, (us) => us / 1000).sort((a, b) => a - b);
    const unloadedMs = quantile(lat, q);
    const rank = lowerBoundRank(lat.length, q);
    const unloadedLowerMs = rank === null ? undefined : lat[rank - 1];
    const singleQps = unloaded.queries / Math.max(1e-3, unloaded.wallMs / 1000);
    const base = { unloadedMs, ...(unloadedLowerMs !== undefined ? { unloadedLowerMs } : {}) };
    if (
      level === 'quick' &&
      unloadedLowerMs !== undefined &&
      o.abandonAboveMs !== undefined &&
      unloadedLowerMs > o.abandonAboveMs
    ) {
      return {
        status: 'abandoned',
        meetsSlo: false,
        throughput: 0,
        latencyMs: unloadedMs,
        ...base,
        queries: lat.length,
        elapsedMs: performance.now() - t0,
        note: `unloaded ${m.slo.label} >= ${unloadedLowerMs.toFixed(2)} ms (95 % lower bound)`,
      };
    }

    if (m.scenario === 'single-stream') {
      return {
        status: 'ok',
        meetsSlo: unloadedMs <= m.slo.boundMs,
        throughput: round(singleQps),
        latencyMs: unloadedMs,
        ...base,
        queries: lat.length,
        elapsedMs: performance.now() - t0,
      };
    }

    const load: LoadRun = { infer, samples, m, lv, control, base, t0 };
    if (m.scenario === 'multi-stream') return await multiStreamMeasurement(load);
    // server: start a little under the capacity the unloaded rate suggests, so the first probe usually passes.
    const startQps = Math.max(1, 0.8 * singleQps * c.instances * (c.maxBatchSize > 1 ? 1.5 : 1));
    return await serverMeasurement(load, startQps, plan.seed, lat.length);
  } finally {
    await engine.close({ drain: false });
  }
}

/** What the loaded phase of a measurement needs, after the unloaded one. */
interface LoadRun {
  infer: (feeds: Feeds) => Promise<unknown>;
  samples: Feeds[];
  m: MeasureSettings;
  lv: LevelSettings;
  control: { signal?: AbortSignal };
  /** The unloaded figures every measurement carries. */
  base: Pick<Measurement, 'unloadedMs' | 'unloadedLowerMs'>;
  t0: number;
}

/** multi-stream: queries of `samplesPerQuery` samples back to back; any refusal misses the SLO. */
async function multiStreamMeasurement({ infer, samples, m, lv, control, base, t0 }: LoadRun): Promise<Measurement> {
  const per = m.samplesPerQuery ?? 8;
  const run = await runMultiStream(infer, samples, per, { minQueries: 20, minDurationMs: lv.probeMs }, control);
  const ql = Array.from(run.log.latenciesUs, (us) => us / 1000).sort((a, b) => a - b);
  const latencyMs = run.log.refusedCount > 0 ? Infinity : quantile(ql, m.slo.quantile);
  return {
    status: 'ok',
    meetsSlo: latencyMs <= m.slo.boundMs,
    throughput: round((run.log.count * per) / (run.wallMs / 1000)),
    latencyMs,
    ...base,
    queries: run.log.count,
    elapsedMs: performance.now() - t0,
  };
}

/** server: the peak search, judged on the SLO percentile (refusals count as over the bound). */
async function serverMeasurement(
  { infer, samples, m, lv, control, base, t0 }: LoadRun,
  startQps: number,
  firstSeed: number,
  unloadedQueries: number,
): Promise<Measurement> {
  let seed = firstSeed;
  let queries = unloadedQueries;
  const probe = async (qps: number): Promise<ProbeResult> => {
    // At least 30 arrivals for a percentile, but a probe at a low rate must not run for minutes.
    const minArrivals = Math.min(30, Math.ceil((qps * 3 * lv.probeMs) / 1000));
    const r = await probeAtRate(infer, samples, qps, {
      durationMs: lv.probeMs,
      seed: seed++,
      minArrivals,
      quantile: m.slo.quantile,
      boundMs: m.slo.boundMs,
      control: { ...control, spinMs: 0 },
    });
    queries += r.queries;
    return r;
  };
  // A bound missed at an eighth of the start rate is missed one request at a time: the SLO is out of reach.
  const peak = await searchPeak(probe, {
    startQps,
    minQps: startQps / 8,
    tolerance: lv.tolerance,
    maxProbes: lv.maxProbes,
  });
  const at = peak.probes.filter((p) => p.pass && p.qps === peak.qps).pop();
  return {
    status: 'ok',
    meetsSlo: peak.qps > 0,
    throughput: round(peak.qps),
    latencyMs: at ? at.p99Ms : Infinity,
    ...base,
    queries,
    elapsedMs: performance.now() - t0,
    note: `${peak.probes.length} probes`,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
