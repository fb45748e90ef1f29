/**
 * The Pareto frontier of latency against throughput: the points no other point beats on both
 * (at least as much throughput with at most the latency, and strictly better on one).
 */

export interface TradeoffPoint {
  throughput: number;
  latencyMs: number;
}

/** Indices of the non-dominated points, sorted by throughput. */
export function paretoFrontier(points: readonly TradeoffPoint[]): number[] {
  const frontier: number[] = [];
  points.forEach((p, i) => {
    const dominated = points.some(
      (q, j) =>
        j !== i &&
        q.throughput >= p.throughput &&
        q.latencyMs <= p.latencyMs &&
        (q.throughput > p.throughput || q.latencyMs < p.latencyMs),
    );
    if (!dominated && Number.isFinite(p.latencyMs)) frontier.push(i);
  });
  return frontier.sort((a, b) => (points[a]?.throughput ?? 0) - (points[b]?.throughput ?? 0));
}
