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
