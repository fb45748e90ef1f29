/**
 * MLPerf's SingleStream scenario: one query at a time, the next issued as soon as the last
 * returns. This loop is the measurement path that bench/overhead compares with a bare
 * `session.run` loop, so it does the least possible per query: pick a sample, read the clock
 * twice, record. Everything else (progress, summaries) happens off the per-query path.
 */
import { performance } from 'node:perf_hooks';
import { startLagMonitor, type LagSummary } from '../stats/event-loop.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';

export type RunQuery<F> = (feeds: F) => Promise<unknown>;

export interface Phase {
  /** Stop after this many queries... */
  minQueries: number;
  /** ...and this many milliseconds, whichever comes later. */
  minDurationMs: number;
  /** Hard cap on queries (safety bound); default unlimited. */
  maxQueries?: number;
  /** Hard cap on time (safety bound); default unlimited. */
  maxDurationMs?: number;
}

export interface Progress {
  queries: number;
  elapsedMs: number;
  /** 0..1, by the phase's minimums. */
  fraction: number;
}

export interface SingleStreamOptions {
  phase: Phase;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** The answered queries' latencies, as every run records them (a QueryLog has the same three). */
export interface RunLatencies {
  recorder: LatencyRecorder;
  /** Per-query latency in µs, in issue order. */
  latenciesUs: Float64Array;
  /** Per-query start, ms from the start of the phase. */
  startsMs: Float64Array;
}

/** What every run measures beside its queries, whatever the scenario. */
export interface RunCosts {
  wallMs: number;
  cpu: { userMs: number; systemMs: number };
  eventLoopLagMs: LagSummary;
  aborted: boolean;
}

/** A run's latencies alone, to carry them into another run shape (RunData). */
export function runLatencies(r: RunLatencies): RunLatencies {
  return { recorder: r.recorder, latenciesUs: r.latenciesUs, startsMs: r.startsMs };
}

/** A run's costs alone, to carry them into another run shape (RunData). */
export function runCosts(r: RunCosts): RunCosts {
  return { wallMs: r.wallMs, cpu: r.cpu, eventLoopLagMs: r.eventLoopLagMs, aborted: r.aborted };
}

export interface SingleStreamRun extends RunLatencies, RunCosts {
  queries: number;
  /** Set when a query failed: the run stops at the first failure and keeps what it measured. */
  error?: unknown;
}

/** How often runs report progress. */
export const PROGRESS_EVERY_MS = 100;

/** Progress through a phase, 0..1, by whichever of its minimums is further from done. */
export function phaseFraction(phase: Phase, queries: number, elapsedMs: number): number {
  return Math.min(queries / Math.max(1, phase.minQueries), elapsedMs / Math.max(1, phase.minDurationMs), 1);
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

export async function runSingleStream<F>(
  run: RunQuery<F>,
  samples: readonly F[],
  options: SingleStreamOptions,
): Promise<SingleStreamRun> {
  const { phase, onProgress, signal } = options;
  if (samples.length === 0) throw new RangeError('samples must not be empty');
  const maxQueries = phase.maxQueries ?? Number.POSITIVE_INFINITY;
  const maxMs = phase.maxDurationMs ?? Number.POSITIVE_INFINITY;
  const recorder = new LatencyRecorder();
  let latencies: Float64Array = new Float64Array(Math.min(Math.max(phase.minQueries, 1024), 1 << 20));
  let starts: Float64Array = new Float64Array(latencies.length);
  const cpu0 = process.cpuUsage();
  const lag = startLagMonitor();
  const t0 = performance.now();
  let n = 0;
  let now = t0;
  let nextProgress = t0 + PROGRESS_EVERY_MS;
  let error: unknown;
  let aborted = false;
  const k = samples.length;
  for (;;) {
    const feeds = samples[n % k] as F;
    const start = performance.now();
    try {
      await run(feeds);
    } catch (e) {
      error = e;
      break;
    }
    now = performance.now();
    const us = (now - start) * 1000;
    recorder.record(us);
    if (n === latencies.length) {
      latencies = grow(latencies);
      starts = grow(starts);
    }
    latencies[n] = us;
    starts[n] = start - t0;
    n++;
    const elapsed = now - t0;
    if ((n >= phase.minQueries && elapsed >= phase.minDurationMs) || n >= maxQueries || elapsed >= maxMs) break;
    if (signal?.aborted) {
      aborted = true;
      break;
    }
    if (onProgress !== undefined && now >= nextProgress) {
      nextProgress = now + PROGRESS_EVERY_MS;
      onProgress({ queries: n, elapsedMs: elapsed, fraction: phaseFraction(phase, n, elapsed) });
    }
  }
  const wallMs = now - t0;
  const eventLoopLagMs = lag.stop();
  const cpu = process.cpuUsage(cpu0);
  const result: SingleStreamRun = {
    recorder,
    latenciesUs: latencies.subarray(0, n),
    startsMs: starts.subarray(0, n),
    queries: n,
    wallMs,
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
    eventLoopLagMs,
    aborted,
  };
  if (error !== undefined) result.error = error;
  return result;
}
