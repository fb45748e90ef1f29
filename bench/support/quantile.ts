/** The benches' percentile: the project's nearest-rank definition (src/stats/sorted.ts) over a sorted array; NaN when empty. */
import { nearestRank } from '../../src/stats/sorted.js';

export function quantile(sorted: ArrayLike<number>, q: number): number {
  return sorted.length === 0 ? NaN : (sorted[nearestRank(sorted.length, q) - 1] as number);
}
