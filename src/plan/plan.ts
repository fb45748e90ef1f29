/**
 * Capacity planning: the smallest number of replicas that meets a latency SLO at a given rate,
 * with headroom, from one replica's service-time distribution and the simulation (simulate.ts).
 * The curve over N (p99, the SLO's percentile, goodput) is simulated at the nominal rate; the
 * choice is checked at rate × (1 + headroom), so a burst or a slower node does not break the SLO.
 */
import { RtinferError } from '../errors.js';
import type { Slo } from '../tune/slo.js';
import type { ServiceTime } from './service-time.js';
import { simulate, type Balancer, type SimResult } from './simulate.js';

export const PLAN_SCHEMA = 'rtinfer.plan/1';

export interface PlanOptions {
  service: ServiceTime;
  rateQps: number;
  slo: Slo;
  /** Extra load the choice must absorb, as a fraction (default 0.2: checked at 1.2 × rate). */
  headroom?: number;
  /** Engine instances per replica and threads per instance (cores = replicas × instances × threads). */
  instances?: number;
  threads?: number;
  maxQueueSize?: number;
  deadlineMs?: number;
  balancer?: Balancer;
  seed?: number;
  /** Simulated requests per point (default 200 000). */
  requests?: number;
  /** Give up above this many replicas (default 1000). */
  maxReplicas?: number;
}

export interface PlanPoint extends SimResult {
  meetsSlo: boolean;
  cores: number;
}

export interface PlanReport {
  schema: typeof PLAN_SCHEMA;
  slo: Slo;
  rateQps: number;
  headroom: number;
  balancer: Balancer;
  seed: number;
  requestsPerPoint: number;
  service: { source: string; approximate: boolean; meanMs: number; p50Ms: number; p99Ms: number };
  replica: {
    instances: number;
    threads: number;
    cores: number;
    maxQueueSize: number;
    deadlineMs: number | null;
    capacityQps: number;
  };
  /** At the nominal rate, N from just below the stable minimum to two above the choice. */
  curve: PlanPoint[];
  /** The choice, simulated at rate × (1 + headroom); null when no N up to maxReplicas meets the SLO. */
  chosen: (PlanPoint & { checkedAtQps: number }) | null;
  notes: string[];
}

/** The smallest N from `from` whose simulation at `checkQps` meets the SLO; null, with a note saying why, if none. */
function chooseReplicas(
  o: PlanOptions,
  point: (n: number, rate: number) => PlanPoint,
  from: number,
  maxReplicas: number,
  checkQps: number,
  notes: string[],
): PlanReport['chosen'] {
  if (o.service.p50Ms > o.slo.boundMs) {
    notes.push(
      `one request alone takes ${o.service.p50Ms.toFixed(2)} ms at the median, ` +
        `above the SLO's ${o.slo.boundMs} ms: no number of replicas meets it (a faster model, ` +
        `more threads per instance, or a larger bound)`,
    );
    return null;
  }
  const head = `no N up to ${maxReplicas} replicas meets ${o.slo.text} at ${checkQps.toFixed(1)} q/s`;
  if (from > maxReplicas) {
    notes.push(
      `${head}: keeping up with the rate alone takes at least ${from} replicas, above the cap of ${maxReplicas} ` +
        `(a faster model, more instances per replica, or a lower rate)`,
    );
    return null;
  }
  let last: PlanPoint | undefined;
  for (let n = from; n <= maxReplicas; n++) {
    last = point(n, checkQps);
    if (last.meetsSlo) return { ...last, checkedAtQps: checkQps };
    // Past this the service time alone misses the SLO: more replicas cannot help.
    if (last.utilization < 0.05) {
      notes.push(`${head}: the service time's own ${o.slo.label} is too close to the bound`);
      return null;
    }
  }
  // The search stopped at the cap while replicas were still busy: the cap, not the bound, is what stopped it.
  notes.push(
    `${head}: the cap of ${maxReplicas} replicas stopped the search with each still ` +
      `${((last?.utilization ?? 1) * 100).toFixed(0)}% busy, where more replicas may meet it`,
  );
  return null;
}

export function runPlan(o: PlanOptions): PlanReport {
  const instances = o.instances ?? 1;
  const threads = o.threads ?? 1;
  const headroom = o.headroom ?? 0.2;
  const seed = o.seed ?? 1;
  const requests = o.requests ?? 200_000;
  const maxQueueSize = o.maxQueueSize ?? 256;
  const balancer = o.balancer ?? 'least-outstanding';
  const maxReplicas = o.maxReplicas ?? 1000;
  if (!(o.rateQps > 0) || !Number.isFinite(o.rateQps))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --rate ${o.rateQps} (expected queries per second > 0)`);
  if (!(headroom >= 0 && headroom <= 10))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --headroom ${headroom * 100}% (expected 0% to 1000%)`);
  const capacityQps = (instances * 1000) / o.service.meanMs;
  const cores = instances * threads;
  const notes: string[] = [];
  if (o.service.approximate)
    notes.push(`service times rebuilt from a few quantiles of ${o.service.source}: the tail is approximate`);
  if (instances > 1)
    notes.push(
      `${instances} instances per replica are simulated as independent servers with the measured ` +
        `service time: contention between them for cores is not modelled`,
    );

  const point = (n: number, rate: number): PlanPoint => {
    const r = simulate({
      replicas: n,
      instances,
      service: o.service,
      rateQps: rate,
      balancer,
      maxQueueSize,
      ...(o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}),
      requests,
      seed,
      boundMs: o.slo.boundMs,
      sloQuantile: o.slo.quantile,
    });
    return { ...r, meetsSlo: r.sloMs <= o.slo.boundMs, cores: n * cores };
  };

  // Below this, offered load exceeds capacity (utilization >= 1) and only the queue limit bounds latency.
  const stable = Math.max(1, Math.floor((o.rateQps * (1 + headroom)) / capacityQps) + 1);
  const chosen = chooseReplicas(o, point, stable, maxReplicas, o.rateQps * (1 + headroom), notes);
  const lo = Math.max(1, Math.floor(o.rateQps / capacityQps));
  const hi = Math.min(maxReplicas, Math.max(lo + 3, (chosen?.replicas ?? lo) + 2));
  const curve: PlanPoint[] = [];
  for (let n = lo; n <= hi; n++) curve.push(point(n, o.rateQps));
  return {
    schema: PLAN_SCHEMA,
    slo: o.slo,
    rateQps: o.rateQps,
    headroom,
    balancer,
    seed,
    requestsPerPoint: requests,
    service: {
      source: o.service.source,
      approximate: o.service.approximate,
      meanMs: o.service.meanMs,
      p50Ms: o.service.p50Ms,
      p99Ms: o.service.p99Ms,
    },
    replica: { instances, threads, cores, maxQueueSize, deadlineMs: o.deadlineMs ?? null, capacityQps },
    curve,
    chosen,
    notes,
  };
}
