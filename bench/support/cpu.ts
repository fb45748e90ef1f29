/** CPU accounting for benches on a shared machine: how many cores other processes kept busy. */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface CpuSample {
  machine: number;
  own: number;
  at: number;
}

/** CPU seconds of the whole machine (/proc/stat) and of this process. */
export function cpuNow(): CpuSample {
  let machine = NaN;
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    machine = (f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0)) / 100; // USER_HZ; idle + iowait excluded
  } catch {
    // not Linux: reported as n/a
  }
  const u = process.cpuUsage();
  return { machine, own: (u.user + u.system) / 1e6, at: performance.now() };
}

/** Cores busy outside this process between two samples. */
export function foreignCores(a: CpuSample, b: CpuSample): number {
  return Math.max(0, (b.machine - a.machine - (b.own - a.own)) / ((b.at - a.at) / 1000));
}

const QUIET_CORES = 0.25;
const QUIET_WINDOW_MS = 200;
const QUIET_BOUND_MS = 30_000;

/**
 * Between the blocks of a side-by-side bench: a full collection in this process (when node runs
 * with --expose-gc: an overloaded block's answers leave garbage that would otherwise be collected
 * during the next server's block), then a wait, up to 30 s, until the machine's busy cores stay
 * below 0.25 over a 200 ms window, so that no server's block starts while the last one's work still
 * runs. Returns the ms waited, or -1 past the bound.
 */
export async function waitForQuiet(): Promise<number> {
  const t0 = performance.now();
  (globalThis as { gc?: () => void }).gc?.();
  while (performance.now() - t0 < QUIET_BOUND_MS) {
    const a = cpuNow();
    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
    const b = cpuNow();
    if (!((b.machine - a.machine) / ((b.at - a.at) / 1000) >= QUIET_CORES)) return performance.now() - t0;
  }
  return -1;
}
