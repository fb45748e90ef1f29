/**
 * Peak search, as MLPerf LoadGen's FindPeakPerformance for the server scenario: the highest
 * Poisson arrival rate whose p99 stays within the bound. Double the rate from a capacity estimate
 * until a probe fails, then bisect between the last pass and the first fail until they are within
 * `tolerance` of each other. Probes are short server runs; the caller confirms the result with a
 * full-length run.
 */

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

export async function searchPeak(probe: (qps: number) => Promise<ProbeResult>, options: PeakSearchOptions): Promise<PeakSearchResult> {
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
