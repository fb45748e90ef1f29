/**
 * Stability over consecutive windows, as perf_analyzer's --stability-percentage: the run is cut
 * into equal time windows by query start, and both the throughput and the mean latency of every
 * window must lie within ±pct % of their average over the windows.
 */

export interface StabilityWindow {
  startMs: number;
  queries: number;
  qps: number;
  meanMs: number;
}

export interface Stability {
  windows: StabilityWindow[];
  percentage: number;
  /** Largest deviation from the average, in %, for throughput and mean latency. */
  qpsSpreadPct: number;
  latencySpreadPct: number;
  stable: boolean;
}

export function stabilityOf(latenciesUs: ArrayLike<number>, startsMs: ArrayLike<number>, wallMs: number, percentage = 10, count = 3): Stability {
  const width = wallMs / count;
  const sums = new Array<number>(count).fill(0);
  const ns = new Array<number>(count).fill(0);
  for (let i = 0; i < latenciesUs.length; i++) {
    const w = Math.min(count - 1, Math.floor((startsMs[i] ?? 0) / width));
    sums[w] = (sums[w] ?? 0) + (latenciesUs[i] ?? 0) / 1000;
    ns[w] = (ns[w] ?? 0) + 1;
  }
  const windows = ns.map((n, i) => ({ startMs: i * width, queries: n, qps: width > 0 ? n / (width / 1000) : 0, meanMs: n > 0 ? (sums[i] ?? 0) / n : 0 }));
  const spread = (xs: number[]): number => {
    const avg = xs.reduce((s, x) => s + x, 0) / xs.length;
    return avg > 0 ? Math.max(...xs.map((x) => (Math.abs(x - avg) / avg) * 100)) : 0;
  };
  const qpsSpreadPct = spread(windows.map((w) => w.qps));
  const latencySpreadPct = spread(windows.map((w) => w.meanMs));
  const enough = windows.every((w) => w.queries >= 3);
  return { windows, percentage, qpsSpreadPct, latencySpreadPct, stable: enough && qpsSpreadPct <= percentage && latencySpreadPct <= percentage };
}
