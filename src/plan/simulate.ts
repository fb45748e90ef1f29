/**
 * A discrete-event simulation of N rtinfer replicas behind a load balancer: Poisson arrivals at a
 * given rate, each replica with `instances` servers (engine instances) drawing service times from
 * one replica's measured distribution, a FIFO queue per replica with the engine's admission policy
 * (maxQueueSize: refused beyond, as the engine's 429; an optional deadline: refused when the
 * queue already predicts missing it, expired when it passes while queued). Virtual time only: the
 * same seed gives the same answer everywhere.
 *
 * Balancers: least-outstanding-requests (the replica with the fewest requests queued or running;
 * ties broken round-robin), as Envoy's LEAST_REQUEST and Knative's activator do, and round-robin.
 * Envoy samples two replicas (power of two choices) rather than scanning all; with full knowledge
 * this is the better-balanced bound of that policy.
 */
import { RtinferError } from '../errors.js';
import { nearestRank } from '../stats/sorted.js';
import { Rng } from './rng.js';
import type { ServiceTime } from './service-time.js';

export const BALANCERS = ['least-outstanding', 'round-robin'] as const;
export type Balancer = (typeof BALANCERS)[number];

export interface SimOptions {
  replicas: number;
  /** Engine instances per replica: requests one replica runs at once. */
  instances: number;
  service: ServiceTime;
  rateQps: number;
  balancer?: Balancer;
  /** Requests queued per replica beyond which new ones are refused (the engine's maxQueueSize; default 256). */
  maxQueueSize?: number;
  /** The engine's default deadline, ms; none by default. */
  deadlineMs?: number;
  /** Requests simulated (default 200 000), the first `warmupFraction` (default 0.1) not counted. */
  requests?: number;
  warmupFraction?: number;
  seed?: number;
  /** For goodput: requests answered within this many ms count (default: all answered). */
  boundMs?: number;
  /**
   * Also report this quantile over every counted request, refused and expired ones as infinitely late (the SLO's view).
   */
  sloQuantile?: number;
}

export interface SimResult {
  replicas: number;
  offeredQps: number;
  /** Counted requests (after the warm-up). */
  requests: number;
  answered: number;
  refused: number;
  expired: number;
  meanMs: number;
  meanWaitMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answered within boundMs, per second of simulated time. */
  goodputQps: number;
  /** Of the counted requests, the fraction answered within boundMs (refused and expired ones are not). */
  withinBound: number;
  /**
   * The sloQuantile over every counted request (Infinity when refusals alone exceed 1 − q); NaN without sloQuantile.
   */
  sloMs: number;
  /** Offered load over capacity: rate × mean service / (replicas × instances). */
  utilization: number;
}

/** A binary min-heap of (time, replica) completion events, in parallel arrays. */
class EventHeap {
  #t: number[] = [];
  #r: number[] = [];
  get size(): number {
    return this.#t.length;
  }
  peekTime(): number {
    return this.#t.length > 0 ? (this.#t[0] as number) : Infinity;
  }
  push(t: number, r: number): void {
    const ts = this.#t;
    const rs = this.#r;
    let i = ts.length;
    ts.push(t);
    rs.push(r);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((ts[p] as number) <= t) break;
      ts[i] = ts[p] as number;
      rs[i] = rs[p] as number;
      i = p;
    }
    ts[i] = t;
    rs[i] = r;
  }
  /** Removes the earliest event; returns its replica. */
  pop(): number {
    const ts = this.#t;
    const rs = this.#r;
    const top = rs[0] as number;
    const lt = ts.pop() as number;
    const lr = rs.pop() as number;
    const n = ts.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && (ts[l + 1] as number) < (ts[l] as number) ? l + 1 : l;
        if ((ts[c] as number) >= lt) break;
        ts[i] = ts[c] as number;
        rs[i] = rs[c] as number;
        i = c;
      }
      ts[i] = lt;
      rs[i] = lr;
    }
    return top;
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new RtinferError('RTI_ERR_ARG_INVALID', `simulation: invalid ${what}`);
}

/**
 * One discrete-event run: Poisson arrivals, the balancer, per-replica FIFO queues with the engine's admission,
 * and completion events. It stays one function because `start` and `complete` are closures over the same queue
 * state and counters, in typed arrays for speed (a point is 200,000 requests); the balancer and the figures are
 * apart.
 */
export function simulate(o: SimOptions): SimResult {
  const n = o.replicas;
  const c = o.instances;
  check(Number.isInteger(n) && n >= 1 && n <= 10_000, `replicas ${n}`);
  check(Number.isInteger(c) && c >= 1, `instances ${c}`);
  check(o.rateQps > 0 && Number.isFinite(o.rateQps), `rate ${o.rateQps}`);
  const total = o.requests ?? 200_000;
  const warm = Math.floor(total * (o.warmupFraction ?? 0.1));
  const maxQueue = o.maxQueueSize ?? 256;
  const deadline = o.deadlineMs ?? Infinity;
  const bound = o.boundMs ?? Infinity;
  const rng = new Rng(o.seed ?? 1);
  const meanGapMs = 1000 / o.rateQps;
  const meanService = o.service.meanMs;

  const busy = new Int32Array(n);
  // Per-replica FIFO queues of arrival times (arrays with a moving head, compacted as they drain).
  const queues: number[][] = Array.from({ length: n }, () => []);
  const heads = new Int32Array(n);
  const heap = new EventHeap();
  const latencies = new Float64Array(total - warm);
  let answered = 0;
  let refused = 0;
  let expired = 0;
  let waitSum = 0;
  let good = 0;
  let rr = 0;
  let t = 0;
  let startT = 0;

  const start = (r: number, now: number, arrival: number, counted: boolean): void => {
    const s = o.service.draw(rng);
    busy[r] = (busy[r] as number) + 1;
    heap.push(now + s, r);
    if (counted) {
      const latency = now - arrival + s;
      latencies[answered++] = latency;
      waitSum += now - arrival;
      if (latency <= bound) good++;
    }
  };
  // Arrival times of counted requests are >= startT: a queued request knows whether it counts.
  const complete = (now: number): void => {
    const r = heap.pop();
    busy[r] = (busy[r] as number) - 1;
    const q = queues[r] as number[];
    while ((heads[r] as number) < q.length) {
      const arrival = q[heads[r] as number] as number;
      heads[r] = (heads[r] as number) + 1;
      if ((heads[r] as number) > 1024 && (heads[r] as number) * 2 > q.length) {
        q.splice(0, heads[r] as number);
        heads[r] = 0;
      }
      if (now - arrival > deadline) {
        if (arrival >= startT && warmDone) expired++;
        continue;
      }
      start(r, now, arrival, arrival >= startT && warmDone);
      break;
    }
  };
  let warmDone = false;

  for (let i = 0; i < total; i++) {
    t += rng.exponential(meanGapMs);
    while (heap.peekTime() <= t) complete(heap.peekTime());
    if (i === warm) {
      warmDone = true;
      startT = t;
    }
    const counted = warmDone;
    const r = o.balancer === 'round-robin' ? rr : leastOutstanding(rr, busy, queues, heads);
    rr = (rr + 1) % n;
    const queued = (queues[r] as number[]).length - (heads[r] as number);
    if ((busy[r] as number) < c) {
      start(r, t, t, counted);
      continue;
    }
    // The engine's admission: a full queue refuses (429); a deadline the queue already predicts missing refuses (503).
    if (queued >= maxQueue || meanService * (1 + Math.floor(queued / c) + 1) > deadline) {
      if (counted) refused++;
      continue;
    }
    (queues[r] as number[]).push(t);
  }
  // Drain what is queued, so every counted request is answered, expired or refused.
  while (heap.size > 0) complete(heap.peekTime());
  const tally = { counted: total - warm, answered, refused, expired, waitSum, good, seconds: (t - startT) / 1000 };
  return summarize(o, latencies.subarray(0, answered).sort(), tally);
}

/**
 * The replica with the fewest requests in flight or queued, searched from the round-robin position so ties
 * rotate; an idle one ends the search.
 */
function leastOutstanding(from: number, busy: Int32Array, queues: number[][], heads: Int32Array): number {
  const n = busy.length;
  let r = from;
  let best = Infinity;
  for (let k = 0; k < n; k++) {
    const j = (from + k) % n;
    const out = (busy[j] as number) + (queues[j] as number[]).length - (heads[j] as number);
    if (out < best) {
      best = out;
      r = j;
      if (out === 0) break;
    }
  }
  return r;
}

interface Tally {
  counted: number;
  answered: number;
  refused: number;
  expired: number;
  /** Sum of the answered requests' queue waits, ms. */
  waitSum: number;
  /** Answered within the bound. */
  good: number;
  /** Length of the counted part of the run. */
  seconds: number;
}

/** The figures of one simulated point from the answered latencies (sorted) and the counts. */
function summarize(o: SimOptions, lat: Float64Array, tally: Tally): SimResult {
  const { counted, answered, refused, expired, waitSum, good, seconds } = tally;
  const n = o.replicas;
  const c = o.instances;
  const q = (p: number): number => (answered === 0 ? NaN : (lat[nearestRank(answered, p) - 1] as number));
  let sum = 0;
  for (const x of lat) sum += x;
  let sloMs = NaN;
  if (o.sloQuantile !== undefined && counted > 0) {
    // The answered are the fastest `answered` of all counted requests; the rest are late.
    const rank = nearestRank(counted, o.sloQuantile);
    sloMs = rank > answered ? Infinity : (lat[rank - 1] as number);
  }
  return {
    replicas: n,
    offeredQps: o.rateQps,
    requests: counted,
    answered,
    refused,
    expired,
    meanMs: answered > 0 ? sum / answered : NaN,
    meanWaitMs: answered > 0 ? waitSum / answered : NaN,
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    maxMs: answered > 0 ? (lat[answered - 1] as number) : NaN,
    goodputQps: seconds > 0 ? good / seconds : 0,
    withinBound: counted > 0 ? good / counted : 0,
    sloMs,
    utilization: (o.rateQps * o.service.meanMs) / 1000 / (n * c),
  };
}
