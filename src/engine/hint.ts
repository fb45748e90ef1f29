/**
 * Performance hints (OpenVINO's PERFORMANCE_HINT, for rtinfer): how to lay a model out on the
 * cores without the user choosing instances × threads.
 * - 'latency': one instance with every core, the fastest single request.
 * - 'throughput': one single-threaded instance per core: most models serve more this way (on 2
 *   cores the tuner picked 2 × 1 for both the PP-OCR classifier and yolox_nano, 4.0× and 2.1× the
 *   1 × 2 layout's peak within their SLOs), and idle workers do not spin, so the HTTP thread still
 *   gets a core when it needs one.
 * - 'auto': both, measured at start-up with every instance busy (about half a second each after
 *   the sessions load); the throughput layout wins only when it serves clearly more (≥ 1.15×),
 *   since the latency layout answers each request sooner.
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

export function hintLayout(hint: Exclude<PerformanceHint, 'auto'>, cores: number): Layout {
  return hint === 'latency' ? { instances: 1, threads: cores } : { instances: cores, threads: 1 };
}

const label = (l: Layout): string =>
  `${l.instances} instance${l.instances === 1 ? '' : 's'} × ${l.threads} thread${l.threads === 1 ? '' : 's'}`;

/** Starts the workers for a hint: for 'auto', both candidates, measured, the loser closed. */
export async function chooseLayout(
  hint: PerformanceHint,
  cores: number,
  start: (layout: Layout) => Promise<StartedPool>,
  warmupShapes: Record<string, number[]> | undefined,
  clock: Clock,
): Promise<{ started: StartedPool; calibration?: Calibration }> {
  if (hint !== 'auto') return { started: await start(hintLayout(hint, cores)) };
  const t0 = clock.now();
  const latency = hintLayout('latency', cores);
  if (cores < 2)
    return {
      started: await start(latency),
      calibration: { measured: [], chosen: latency, reason: 'one core: one layout', ms: 0 },
    };
  const candidates = [latency, hintLayout('throughput', cores)];
  const measured: Calibration['measured'] = [];
  let best: { started: StartedPool; m: LoopMeasurement } | undefined;
  let shape = '';
  for (const layout of candidates) {
    const started = await start(layout);
    let m: LoopMeasurement;
    try {
      const inputs = await warmupInputs(started.io.inputs, warmupShapes, false);
      if (!inputs) throw new Error('the model has no inputs');
      m = await measureLoaded(started.pool, layout.instances, inputs.feeds, MEASURE_MS, clock);
      // Dynamic models run at the warm-up shapes: say which, since another size may choose otherwise.
      shape = Object.entries(inputs.feeds)
        .map(([name, t]) => `${name}=${t.dims.join('x')}`)
        .join(' ');
    } catch (error) {
      // A model that cannot run zeros (it needs real inputs) is not measured: keep what was.
      const why = firstLine(error);
      const ms = clock.now() - t0;
      if (!best)
        return {
          started,
          calibration: { measured, chosen: layout, reason: `auto: not measured (${why}): ${label(layout)}`, ms },
        };
      await started.pool.close();
      return {
        started: best.started,
        calibration: {
          measured,
          chosen: best.started.layout,
          reason: `auto: ${label(layout)} not measured (${why}): ${label(best.started.layout)}`,
          ms,
        },
      };
    }
    measured.push({ ...layout, ...m });
    const wins = !best || m.qps >= best.m.qps * AUTO_MARGIN;
    if (wins) {
      if (best) await best.started.pool.close();
      best = { started, m };
    } else await started.pool.close();
  }
  const chosen = best as { started: StartedPool; m: LoopMeasurement };
  const [a, b] = measured;
  const kind =
    chosen.started.layout.instances === latency.instances && chosen.started.layout.threads === latency.threads
      ? 'latency'
      : 'throughput';
  const reason =
    a && b
      ? `auto: ${label(b)} serve ${b.qps.toFixed(0)}/s loaded, against ${a.qps.toFixed(0)}/s for ${label(a)} ` +
        `(p50 ${b.p50Ms.toFixed(2)} and ${a.p50Ms.toFixed(2)} ms at ${shape}): the ${kind} layout`
      : `auto: ${label(chosen.started.layout)}`;
  return {
    started: chosen.started,
    calibration: { measured, chosen: chosen.started.layout, reason, ms: clock.now() - t0 },
  };
}
