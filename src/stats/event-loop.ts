/**
 * Event-loop lag: how late the thread gets back to its timers. Node's monitorEventLoopDelay records
 * the whole sampling interval, not just the lateness (an idle process reports about 10.1 ms at a
 * 10 ms resolution), so the resolution is subtracted and the result clamped at zero.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LagSummary {
  mean: number;
  p99: number;
  max: number;
}

export const LAG_RESOLUTION_MS = 10;

export function lagOf(h: IntervalHistogram, resolutionMs = LAG_RESOLUTION_MS): LagSummary {
  if (h.count === 0) return { mean: 0, p99: 0, max: 0 };
  const ms = (ns: number): number => Math.max(0, ns / 1e6 - resolutionMs);
  return { mean: ms(h.mean), p99: ms(h.percentile(99)), max: ms(h.max) };
}

/** Starts measuring; `stop()` returns the lag in ms since the start. */
export function startLagMonitor(resolutionMs = LAG_RESOLUTION_MS): { stop(): LagSummary } {
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  return {
    stop() {
      h.disable();
      return lagOf(h, resolutionMs);
    },
  };
}
