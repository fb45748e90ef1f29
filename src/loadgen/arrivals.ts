/**
 * Arrival schedules for the server scenario: a Poisson process (exponential gaps with mean
 * 1/rate), seeded so that a run can be repeated exactly, as MLPerf LoadGen's server scenario.
 */
import { createRng } from '../runtime/synthetic.js';

/**
 * Arrival times in ms from the start, for `rate` queries per second, until both `durationMs` and
 * `minCount` arrivals are reached (capped at `maxCount`).
 */
export function poissonArrivals(
  rate: number,
  durationMs: number,
  seed: number,
  minCount = 0,
  maxCount = 10_000_000,
): Float64Array {
  if (!(rate > 0)) throw new RangeError(`rate must be > 0, got ${rate}`);
  const rng = createRng(seed);
  const meanGapMs = 1000 / rate;
  const out: number[] = [];
  let t = 0;
  while (out.length < maxCount) {
    // 1 - u is in (0, 1], so the log is finite.
    t += -Math.log(1 - rng()) * meanGapMs;
    if (t > durationMs && out.length >= minCount) break;
    out.push(t);
  }
  return Float64Array.from(out);
}
