/**
 * Performance hints (OpenVINO's PERFORMANCE_HINT, for rtinfer): how to lay a model out on the
 * cores without the user choosing instances × threads.
 * - 'latency': one instance, the fastest single request: every core or one thread, whichever
 *   answers one request sooner, measured at start-up (half a second each). Every core is not always
 *   faster: idle onnxruntime threads do not spin in rtinfer (they would starve the HTTP thread), and
 *   waking them between a run's parallel sections can cost more than they save: on a 2-core VM,
 *   one request at a time, yolox_nano took 11.4 ms with 2 threads against 9.3 with 1, the PP-OCR
 *   classifier 1.71 against 0.69 ms.
 * - 'throughput': one single-threaded instance per core: most models serve more this way (on 2
 *   cores the tuner picked 2 × 1 for both the PP-OCR classifier and yolox_nano, 4.0× and 2.1× the
 *   1 × 2 layout's peak within their SLOs), and idle workers do not spin, so the HTTP thread still
 *   gets a core when it needs one.
 * - 'auto': the latency layout with every core and the throughput layout, measured at start-up
 *   with every instance busy (about half a second each after the sessions load); the throughput
 *   layout wins only when it serves clearly more (≥ 1.15×), since the latency layout answers each
 *   request sooner; when the latency layout wins, one thread is measured too, as for 'latency'.
 */
import type { Clock } from '../util/clock.js';
import { measureLoaded, warmupInputs, type LoopMeasurement } from './warmup.js';
import type { StartedPool } from './start-pool.js';
import type { Placement } from './worker-pool.js';
import { firstLine } from '../errors.js';

export const PERFORMANCE_HINTS = ['latency', 'throughput', 'auto'] as const;
export type PerformanceHint = (typeof PERFORMANCE_HINTS)[number];

export interface Layout {
  instances: number;
  threads: number;
  /** Where the sessions run: worker threads (default) or, one instance only, the calling thread. */
  placement?: Placement;
}

export interface Calibration {
  /** What was measured, one entry per candidate layout. */
  measured: Array<Layout & LoopMeasurement>;
  chosen: Layout;
  /** One line: why this layout (printed by serve, shown in model metadata and the dashboard). */
  reason: string;
  /** Time the calibration took, sessions included (ms). */
  ms: number;
}

/** The throughput layout must serve this much more than the latency layout to be chosen. */
const AUTO_MARGIN = 1.15;
const MEASURE_MS = 500;
/** Every core must answer one request this much sooner than one thread to be the latency layout. */
const THREADS_MARGIN = 1.1;

/** A hint's layout before measuring: for 'latency' every core, which chooseLayout measures against one thread. */
export function hintLayout(hint: Exclude<PerformanceHint, 'auto'>, cores: number): Layout {
  return hint === 'latency' ? { instances: 1, threads: cores } : { instances: cores, threads: 1 };
}

const label = (l: Layout): string =>
  `${l.instances} instance${l.instances === 1 ? '' : 's'} × ${l.threads} thread${l.threads === 1 ? '' : 's'}`;

type Start = (layout: Layout) => Promise<StartedPool>;
interface Measured {
  started: StartedPool;
  m: LoopMeasurement;
  /** The warm-up inputs' shapes, `name=1x3x48x192 ...` (a dynamic model runs at these). */
  shape: string;
}

/** A layout that started but could not be measured (a model that cannot run zeros): its pool, still open. */
class NotMeasured extends Error {
  constructor(
    readonly started: StartedPool,
    cause: unknown,
  ) {
    super(firstLine(cause), { cause });
  }
}

const unmeasured = (error: unknown): StartedPool | undefined =>
  error instanceof NotMeasured ? error.started : undefined;

/**
 * Starts `layout` and measures it with every instance busy. A pool that cannot start throws as it
 * does; one that cannot run is thrown as NotMeasured, open, for the caller to keep or close.
 */
async function startMeasured(
  layout: Layout,
  start: Start,
  warmupShapes: Record<string, number[]> | undefined,
  clock: Clock,
): Promise<Measured> {
  const started = await start(layout);
  try {
    const inputs = await warmupInputs(started.io.inputs, warmupShapes, false);
    if (!inputs) throw new Error('the model has no inputs');
    const m = await measureLoaded(started.pool, layout.instances, inputs.feeds, MEASURE_MS, clock);
    // Dynamic models run at the warm-up shapes: say which, since another size may choose otherwise.
    const shape = Object.entries(inputs.feeds)
      .map(([name, t]) => `${name}=${t.dims.join('x')}`)
      .join(' ');
    return { started, m, shape };
  } catch (error) {
    throw new NotMeasured(started, error);
  }
}

/**
 * `single`, measured one request at a time with every core, against one thread: the faster (every
 * core only if clearly faster, THREADS_MARGIN), the other closed.
 */
async function fasterSingle(
  single: Measured,
  start: Start,
  warmupShapes: Record<string, number[]> | undefined,
  clock: Clock,
  measured: Calibration['measured'],
): Promise<Measured> {
  let one: Measured;
  try {
    one = await startMeasured({ instances: 1, threads: 1 }, start, warmupShapes, clock);
  } catch (error) {
    await unmeasured(error)?.pool.close();
    return single;
  }
  measured.push({ ...one.started.layout, ...one.m });
  const keepAll = single.m.p50Ms * THREADS_MARGIN <= one.m.p50Ms;
  await (keepAll ? one : single).started.pool.close();
  return keepAll ? single : one;
}

/** Starts the workers for a hint, measuring the candidates of 'latency' and 'auto' and closing the losers. */
export async function chooseLayout(
  hint: PerformanceHint,
  cores: number,
  start: Start,
  warmupShapes: Record<string, number[]> | undefined,
  clock: Clock,
): Promise<{ started: StartedPool; calibration?: Calibration }> {
  if (hint === 'throughput') return { started: await start(hintLayout(hint, cores)) };
  const t0 = clock.now();
  const latency = hintLayout('latency', cores);
  if (cores < 2)
    return {
      started: await start(latency),
      calibration: { measured: [], chosen: latency, reason: `${hint}: one core: one layout`, ms: 0 },
    };
  const measured: Calibration['measured'] = [];
  const done = (best: Measured, reason: string): { started: StartedPool; calibration: Calibration } => ({
    started: best.started,
    calibration: { measured, chosen: best.started.layout, reason, ms: clock.now() - t0 },
  });
  const notMeasured = (
    layout: Layout,
    error: unknown,
    best: Measured | undefined,
  ): { started: StartedPool; calibration: Calibration } => {
    const why = firstLine(error);
    const kept = best?.started ?? (unmeasured(error) as StartedPool);
    return {
      started: kept,
      calibration: {
        measured,
        chosen: kept.layout,
        reason: best
          ? `${hint}: ${label(layout)} not measured (${why}): ${label(kept.layout)}`
          : `${hint}: not measured (${why}): ${label(kept.layout)}`,
        ms: clock.now() - t0,
      },
    };
  };

  let all: Measured;
  try {
    all = await startMeasured(latency, start, warmupShapes, clock);
  } catch (error) {
    // A pool that could not start fails the engine; one that started but could not run zeros serves unmeasured.
    if (!unmeasured(error)) throw error;
    return notMeasured(latency, error, undefined);
  }
  measured.push({ ...latency, ...all.m });
  const singleReason = (best: Measured): string => {
    const [a, b] = measured;
    return a && b
      ? `${label(best.started.layout)} answers one request in ${best.m.p50Ms.toFixed(2)} ms (p50), against ` +
          `${(best === all ? b : a).p50Ms.toFixed(2)} ms for ${label(best === all ? b : a)} (at ${best.shape})`
      : label(best.started.layout);
  };
  if (hint === 'latency') {
    const best = await fasterSingle(all, start, warmupShapes, clock, measured);
    return done(best, `latency: ${singleReason(best)}`);
  }

  const throughput = hintLayout('throughput', cores);
  let many: Measured;
  try {
    many = await startMeasured(throughput, start, warmupShapes, clock);
  } catch (error) {
    await unmeasured(error)?.pool.close();
    return notMeasured(throughput, error, all);
  }
  measured.push({ ...throughput, ...many.m });
  const loaded =
    `${label(throughput)} serve ${many.m.qps.toFixed(0)}/s loaded, against ${all.m.qps.toFixed(0)}/s for ` +
    `${label(latency)} (p50 ${many.m.p50Ms.toFixed(2)} and ${all.m.p50Ms.toFixed(2)} ms at ${all.shape})`;
  if (many.m.qps >= all.m.qps * AUTO_MARGIN) {
    await all.started.pool.close();
    return done(many, `auto: ${loaded}: the throughput layout`);
  }
  await many.started.pool.close();
  const best = await fasterSingle(all, start, warmupShapes, clock, measured);
  const one = best === all ? '' : `; one thread answers one request sooner (${best.m.p50Ms.toFixed(2)} ms)`;
  return done(best, `auto: ${loaded}: the latency layout${one}`);
}
