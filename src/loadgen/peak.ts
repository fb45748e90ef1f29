/**
 * Peak search, as MLPerf LoadGen's FindPeakPerformance for the server scenario: the highest
 * Poisson arrival rate whose p99 stays within the bound. Double the rate from a capacity estimate
 * until a probe fails, then bisect between the last pass and the first fail until they are within
 * `tolerance` of each other. Probes are short server runs; the caller confirms the result with a
 * full-length run.
 */
import { nearestRank } from '../stats/sorted.js';
import { poissonArrivals } from './arrivals.js';
import { runServer, type RunControl } from './scenarios.js';

export interface ProbeResult {
  qps: number;
  pass: boolean;
  p99Ms: number;
  overBound: number;
  queries: number;
}

export interface PeakSearchOptions {
  /** First rate tried (a capacity estimate). */
  startQps: number;
  /** Stop bisecting when (fail - pass) / pass < tolerance; default 0.05. */
  tolerance?: number;
  /** Safety bound on probes; default 16. */
  maxProbes?: number;
  /**
   * Lowest rate worth probing while shrinking; default startQps / 64. Below it the search gives up
   * with 0: a bound missed at a small fraction of the capacity is missed by the unloaded latency
   * itself, and probes at a few queries per second take long.
   */
  minQps?: number;
}

export interface PeakSearchResult {
  /** Highest passing rate found (0 when even the lowest probe failed). */
  qps: number;
  probes: ProbeResult[];
}

export async function searchPeak(
  probe: (qps: number) => Promise<ProbeResult>,
  options: PeakSearchOptions,
): Promise<PeakSearchResult> {
  const tolerance = options.tolerance ?? 0.05;
  const maxProbes = options.maxProbes ?? 16;
  const probes: ProbeResult[] = [];
  const run = async (qps: number): Promise<boolean> => {
    const r = await probe(qps);
    probes.push(r);
    return r.pass;
  };
  let pass = 0;
  let fail = Number.POSITIVE_INFINITY;
  let qps = options.startQps;
  // Bracket: grow while passing, shrink while failing.
  if (await run(qps)) {
    pass = qps;
    while (probes.length < maxProbes) {
      qps *= 2;
      if (await run(qps)) pass = qps;
      else {
        fail = qps;
        break;
      }
    }
  } else {
    fail = qps;
    while (probes.length < maxProbes && pass === 0) {
      qps /= 2;
      if (qps < (options.minQps ?? options.startQps / 64)) break;
      if (await run(qps)) pass = qps;
      else fail = qps;
    }
  }
  if (pass === 0 || fail === Number.POSITIVE_INFINITY) return { qps: pass, probes };
  while (probes.length < maxProbes && (fail - pass) / pass > tolerance) {
    const mid = (pass + fail) / 2;
    if (await run(mid)) pass = mid;
    else fail = mid;
  }
  return { qps: pass, probes };
}

export interface ProbeSettings {
  durationMs: number;
  /** Arrival schedule seed (callers advance it from probe to probe). */
  seed: number;
  /** At least this many arrivals, however low the rate. */
  minArrivals: number;
  /** The percentile judged (0.99 for a p99 bound) and its bound, ms. */
  quantile: number;
  boundMs: number;
  control?: RunControl;
}

/**
 * One probe of the peak search: a short server-scenario run at `qps`, judged on the observed
 * `quantile` with refusals counted as over the bound (nearest rank, as every percentile here).
 * `p99Ms` is that percentile (-1 when refusals reach it); a run cut by the signal never passes.
 */
export async function probeAtRate<F>(
  infer: (feeds: F) => Promise<unknown>,
  samples: readonly F[],
  qps: number,
  s: ProbeSettings,
): Promise<ProbeResult> {
  const run = await runServer(
    infer,
    samples,
    poissonArrivals(qps, s.durationMs, s.seed, s.minArrivals),
    s.control ?? {},
  );
  const ms = Array.from(run.log.latenciesUs, (us) => us / 1000).sort((a, b) => a - b);
  const refused = run.log.refusedCount;
  const total = ms.length + refused;
  const rank = total > 0 ? nearestRank(total, s.quantile) : 1;
  const value = rank > ms.length ? Number.POSITIVE_INFINITY : (ms[rank - 1] ?? Number.POSITIVE_INFINITY);
  return {
    qps,
    pass: value <= s.boundMs && !run.aborted,
    p99Ms: Number.isFinite(value) ? value : -1,
    overBound: refused + ms.filter((x) => x > s.boundMs).length,
    queries: total,
  };
}
