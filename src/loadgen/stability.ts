/**
 * Stability over consecutive windows, as perf_analyzer's --stability-percentage: both the
 * throughput and the latency of every window must lie within ±pct % of their average over the
 * windows. `stabilityOf` cuts one run into equal time windows by query start (the validity check of
 * every bench run); `judgeWindows` is the same judgement over windows measured one by one (bench
 * --until-stable), where a window's latency may be the headline percentile instead of the mean.
 */

export interface StabilityWindow {
  startMs: number;
  queries: number;
  qps: number;
  meanMs: number;
  /** bench --until-stable: the window's latency at the headline percentile, judged instead of the mean. */
  headlineMs?: number;
}

export interface Stability {
  windows: StabilityWindow[];
  percentage: number;
  /**
   * Largest deviation from the average, in %, for throughput and latency (the mean, or `headlineMs` where the windows
   * carry it).
   */
  qpsSpreadPct: number;
  latencySpreadPct: number;
  stable: boolean;
}

/** Fewer queries than this in a window and it says nothing about stability. */
const MIN_WINDOW_QUERIES = 3;

function spread(xs: number[]): number {
  const avg = xs.reduce((s, x) => s + x, 0) / xs.length;
  return avg > 0 ? Math.max(...xs.map((x) => (Math.abs(x - avg) / avg) * 100)) : 0;
}

/** Do these windows agree within ±percentage % in throughput and latency? */
export function judgeWindows(windows: StabilityWindow[], percentage = 10): Stability {
  const qpsSpreadPct = spread(windows.map((w) => w.qps));
  const latencySpreadPct = spread(windows.map((w) => w.headlineMs ?? w.meanMs));
  const enough = windows.length > 0 && windows.every((w) => w.queries >= MIN_WINDOW_QUERIES);
  return {
    windows,
    percentage,
    qpsSpreadPct,
    latencySpreadPct,
    stable: enough && qpsSpreadPct <= percentage && latencySpreadPct <= percentage,
  };
}

export function stabilityOf(
  latenciesUs: ArrayLike<number>,
  startsMs: ArrayLike<number>,
  wallMs: number,
  percentage = 10,
  count = 3,
): Stability {
  const width = wallMs / count;
  const sums = new Array<number>(count).fill(0);
  const ns = new Array<number>(count).fill(0);
  for (let i = 0; i < latenciesUs.length; i++) {
    const w = Math.min(count - 1, Math.floor((startsMs[i] ?? 0) / width));
    sums[w] = (sums[w] ?? 0) + (latenciesUs[i] ?? 0) / 1000;
    ns[w] = (ns[w] ?? 0) + 1;
  }
  const windows = ns.map((n, i) => ({
    startMs: i * width,
    queries: n,
    qps: width > 0 ? n / (width / 1000) : 0,
    meanMs: n > 0 ? (sums[i] ?? 0) / n : 0,
  }));
  return judgeWindows(windows, percentage);
}
