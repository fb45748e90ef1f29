/**
 * The load scenarios beyond single-stream, after MLPerf LoadGen and perf_analyzer:
 * - multi-stream: each query is N samples issued together; its latency is the slowest sample's;
 * - server: Poisson arrivals at a fixed rate, latency measured from each query's SCHEDULED arrival
 *   (so a stalled target or a slipping generator shows in the tail: no coordinated omission);
 * - offline: waves of queries all issued at once, for maximum throughput (the engine batches them);
 * - concurrency: N queries always outstanding (closed loop).
 * Each returns a ScenarioRun; refusals are counted, not dropped.
 */
import { performance } from 'node:perf_hooks';
import { startLagMonitor } from '../stats/event-loop.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { QueryLog } from './query-log.js';
import { phaseFraction, PROGRESS_EVERY_MS, type Phase, type Progress, type RunCosts } from './single-stream.js';

/**
 * One query. `dueAt`: the open loop's scheduled time (performance.now()), which a remote target
 * sends as X-Request-Start so that the server counts a deadline from it (a lagging generator's
 * queries arrive late, and the server should know).
 */
export type Infer<F> = (feeds: F, dueAt?: number) => Promise<unknown>;

export interface ScenarioRun extends RunCosts {
  log: QueryLog;
  /** Queries issued (answered + refused + failed). */
  issued: number;
  /** Samples per query (multi-stream), else 1. */
  samplesPerQuery: number;
  /** Server scenario: how late queries were issued against their schedule (µs). */
  slip?: LatencyRecorder;
}

export interface RunControl {
  /** Called at most every PROGRESS_EVERY_MS (100 ms), never per query. */
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /**
   * Server scenario: how close to a due time the generator stops sleeping and spins (default 2 ms).
   * Spinning keeps schedule slip under 1 ms (timers have 1 ms resolution) but can take most of a
   * core at high rates; 0 never spins, for a target that shares this machine's few cores.
   */
  spinMs?: number;
}

/** Wraps a scenario body with the CPU, wall-clock and event-loop measurements every run reports. */
async function measured(
  body: (
    t0: number,
    log: QueryLog,
  ) => Promise<{ issued: number; aborted: boolean; samplesPerQuery?: number; slip?: LatencyRecorder }>,
): Promise<ScenarioRun> {
  const log = new QueryLog();
  const cpu0 = process.cpuUsage();
  const lag = startLagMonitor();
  const t0 = performance.now();
  const r = await body(t0, log);
  const wallMs = performance.now() - t0;
  const eventLoopLagMs = lag.stop();
  const cpu = process.cpuUsage(cpu0);
  const run: ScenarioRun = {
    log,
    issued: r.issued,
    samplesPerQuery: r.samplesPerQuery ?? 1,
    wallMs,
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
    eventLoopLagMs,
    aborted: r.aborted,
  };
  if (r.slip) run.slip = r.slip;
  return run;
}

/** The run's progress callback, throttled as single-stream's is: the loops below call it per query. */
function progressReporter(control: RunControl, phase: Phase): (done: number, elapsedMs: number) => void {
  const { onProgress } = control;
  if (onProgress === undefined) return () => undefined;
  let next = PROGRESS_EVERY_MS;
  return (done, elapsedMs) => {
    if (elapsedMs < next) return;
    next = elapsedMs + PROGRESS_EVERY_MS;
    onProgress({ queries: done, elapsedMs, fraction: phaseFraction(phase, done, elapsedMs) });
  };
}

function finished(phase: Phase, done: number, elapsed: number): boolean {
  return (
    (done >= phase.minQueries && elapsed >= phase.minDurationMs) ||
    done >= (phase.maxQueries ?? Infinity) ||
    elapsed >= (phase.maxDurationMs ?? Infinity)
  );
}

/**
 * The wave loops of multi-stream and offline: `wave(issued)` issues queries, waits for them and
 * says how many it issued; after each wave the progress is reported and the loop ends once the
 * phase is finished or the run aborted.
 */
async function waves(
  t0: number,
  phase: Phase,
  control: RunControl,
  wave: (issued: number) => Promise<number>,
): Promise<{ issued: number; aborted: boolean }> {
  const progress = progressReporter(control, phase);
  let issued = 0;
  for (;;) {
    issued += await wave(issued);
    const elapsed = performance.now() - t0;
    progress(issued, elapsed);
    if (finished(phase, issued, elapsed)) return { issued, aborted: false };
    if (control.signal?.aborted) return { issued, aborted: true };
  }
}

export function runMultiStream<F>(
  infer: Infer<F>,
  samples: readonly F[],
  perQuery: number,
  phase: Phase,
  control: RunControl = {},
): Promise<ScenarioRun> {
  return measured(async (t0, log) => {
    // One query a wave: perQuery samples together, its latency the slowest one's.
    const r = await waves(t0, phase, control, async (issued) => {
      const start = performance.now();
      const first = issued * perQuery;
      const batch = Array.from({ length: perQuery }, (_, i) => infer(samples[(first + i) % samples.length] as F));
      const settled = await Promise.allSettled(batch);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) log.fail(failed.reason);
      else log.ok(start - t0, (performance.now() - start) * 1000);
      return 1;
    });
    return { ...r, samplesPerQuery: perQuery };
  });
}

export function runConcurrency<F>(
  infer: Infer<F>,
  samples: readonly F[],
  concurrency: number,
  phase: Phase,
  control: RunControl = {},
): Promise<ScenarioRun> {
  return measured(async (t0, log) => {
    const progress = progressReporter(control, phase);
    let issued = 0;
    let stop = false;
    let aborted = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const feeds = samples[issued++ % samples.length] as F;
        const start = performance.now();
        try {
          await infer(feeds);
          log.ok(start - t0, (performance.now() - start) * 1000);
        } catch (error) {
          log.fail(error);
        }
        const elapsed = performance.now() - t0;
        const done = log.count + log.refusedCount;
        progress(done, elapsed);
        if (finished(phase, done, elapsed)) stop = true;
        if (control.signal?.aborted) {
          aborted = true;
          stop = true;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { issued, aborted };
  });
}

export function runOffline<F>(
  infer: Infer<F>,
  samples: readonly F[],
  waveSize: number,
  phase: Phase,
  control: RunControl = {},
): Promise<ScenarioRun> {
  return measured((t0, log) =>
    // waveSize queries a wave, each timed on its own.
    waves(t0, phase, control, async (issued) => {
      const start = performance.now();
      const wave = Array.from({ length: waveSize }, (_, i) =>
        infer(samples[(issued + i) % samples.length] as F).then(
          () => log.ok(start - t0, (performance.now() - start) * 1000),
          (e: unknown) => log.fail(e),
        ),
      );
      await Promise.all(wave);
      return waveSize;
    }),
  );
}

/**
 * Open loop: query i is due at `arrivalsMs[i]`; the generator issues every due query (catching up
 * when late) and records its slip; latency runs from the scheduled time. Near a due time it spins
 * on setImmediate instead of sleeping, since timers only have millisecond resolution.
 */
export function runServer<F>(
  infer: Infer<F>,
  samples: readonly F[],
  arrivalsMs: Float64Array,
  control: RunControl = {},
): Promise<ScenarioRun> {
  return measured(
    (t0, log) =>
      new Promise((resolve) => {
        const slip = new LatencyRecorder();
        const n = arrivalsMs.length;
        let next = 0;
        let inflight = 0;
        let aborted = false;
        let ended = false;
        const total = arrivalsMs[n - 1] ?? 0;
        const end = (): void => {
          if (!ended && inflight === 0 && (next >= n || aborted)) {
            ended = true;
            resolve({ issued: next, aborted, slip });
          }
        };
        const issue = (i: number): void => {
          const due = t0 + (arrivalsMs[i] as number);
          slip.record((performance.now() - due) * 1000);
          inflight++;
          infer(samples[i % samples.length] as F, due)
            .then(
              () => log.ok(due - t0, (performance.now() - due) * 1000),
              (e: unknown) => log.fail(e),
            )
            .finally(() => {
              inflight--;
              end();
            });
        };
        let lastProgress = 0;
        const tick = (): void => {
          if (control.signal?.aborted) aborted = true;
          if (aborted) return end();
          const now = performance.now() - t0;
          while (next < n && (arrivalsMs[next] as number) <= now) issue(next++);
          if (now - lastProgress > PROGRESS_EVERY_MS) {
            lastProgress = now;
            control.onProgress?.({ queries: next, elapsedMs: now, fraction: Math.min(1, now / Math.max(1, total)) });
          }
          if (next >= n) return end();
          const wait = (arrivalsMs[next] as number) - (performance.now() - t0);
          const spin = control.spinMs ?? 2;
          if (wait > spin) setTimeout(tick, Math.max(0, wait - Math.min(spin, 1.5)));
          else setImmediate(tick);
        };
        tick();
      }),
  );
}
