/**
 * The live view of `rtinfer serve`: once a second, per model, one point with that second's
 * end-to-end latency percentiles (HDR histogram of the requests answered in it), throughput, queue
 * depth, the batches the engine ran by size, refusals (429/503), deadline misses (504) and late
 * answers, kept for a rolling window; plus the latency distribution of the last minute on fixed
 * log buckets. The dashboard's SSE stream and `/api/live/snapshot` read it.
 *
 * Requests are recorded by the server as they are answered (O(1), ~0.1 µs each); everything else
 * happens in one tick a second, which took 0.5–2 ms per model here (mostly `engine.stats()`, whose
 * three histogram encodings measured 0.2–0.8 ms together, and three percentile scans).
 */
import { backgroundClock, type Clock } from '../util/clock.js';
import type { EngineStats } from '../engine/engine-metrics.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import {
  LIVE_SCHEMA,
  type LiveDistribution,
  type LiveFeed,
  type LiveModelView,
  type LivePoint,
  type LiveSnapshot,
  type LiveTick,
} from './types.js';

export { LIVE_SCHEMA };
export type { LiveDistribution, LiveModelView, LivePoint, LiveSnapshot, LiveTick } from './types.js';

/** Endpoints whose requests run a model and so count as traffic (not metadata, health, ...). */
const TRAFFIC_ENDPOINTS: ReadonlySet<string> = new Set(['infer', 'predict', 'stream']);

/**
 * Upper edges (ms) of the last-minute distribution's buckets: 10 per decade from 0.1 ms to 10 s
 * (each ~26 % wider than the last, finer than prom-client's 1-2-5 buckets and fixed, so a minute of
 * per-second bucket arrays sums in O(60 × 51)). Bucket i holds values in (edge[i-1], edge[i]];
 * the first also holds everything below 0.1 ms, a last extra one everything above 10 s.
 */
export const LIVE_BUCKET_EDGES_MS: readonly number[] = Array.from({ length: 51 }, (_, i) =>
  Number((0.1 * 10 ** (i / 10)).toPrecision(3)),
);

/** What the collector reads from a model: its name and, once loaded, its engine's stats. */
export interface LiveSource {
  name: string;
  engine?: { stats(): Pick<EngineStats, 'queueDepth' | 'busyInstances' | 'batchSizes' | 'counts'> } | undefined;
}

export interface LiveStatsOptions {
  sources: () => Iterable<LiveSource>;
  /** Default: backgroundClock, whose timers are unref'd (a live view never keeps a process alive). */
  clock?: Clock;
  /** Epoch ms for point timestamps (default Date.now; tests pass their own). */
  epochNow?: () => number;
  intervalMs?: number;
  /** Points kept per model (default 300: five minutes of one-second points). */
  windowPoints?: number;
  /** Intervals in the distribution (default 60: the last minute). */
  distributionPoints?: number;
}

class ModelSeries {
  readonly points: LivePoint[] = [];
  readonly recorder = new LatencyRecorder();
  /** Per-interval bucket counts of the last minute, oldest first. */
  readonly minute: number[][] = [];
  current = new Array<number>(LIVE_BUCKET_EDGES_MS.length + 1).fill(0);
  refused = 0;
  missed = 0;
  errors = 0;
  /** Engine counters at the previous tick, to turn totals into per-interval counts. */
  lastBatches: Record<number, number> = {};
  lastLate = 0;
}

export function bucketOf(ms: number): number {
  // Binary search over 51 sorted edges: the first edge >= ms.
  let lo = 0;
  let hi = LIVE_BUCKET_EDGES_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((LIVE_BUCKET_EDGES_MS[mid] ?? Infinity) >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export class LiveStats implements LiveFeed {
  readonly intervalMs: number;
  readonly windowPoints: number;
  readonly #distributionPoints: number;
  readonly #sources: () => Iterable<LiveSource>;
  readonly #clock: Clock;
  readonly #epochNow: () => number;
  readonly #series = new Map<string, ModelSeries>();
  readonly #listeners = new Set<(tick: LiveTick) => void>();
  readonly #closeListeners = new Set<() => void>();
  #timer: unknown;
  #nextAt = 0;
  #closed = false;

  constructor(options: LiveStatsOptions) {
    this.#sources = options.sources;
    this.#clock = options.clock ?? backgroundClock;
    this.#epochNow = options.epochNow ?? Date.now;
    this.intervalMs = options.intervalMs ?? 1000;
    this.windowPoints = options.windowPoints ?? 300;
    this.#distributionPoints = options.distributionPoints ?? 60;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts ticking (idempotent). Ticks stay on a fixed grid, so a late timer does not drift. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#nextAt = this.#clock.now() + this.intervalMs;
    this.#arm();
  }

  #arm(): void {
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.tick();
      // After a stall (a long GC, a blocked loop), skip the missed slots instead of firing a burst.
      const now = this.#clock.now();
      this.#nextAt += this.intervalMs * Math.max(1, Math.ceil((now - this.#nextAt + 1) / this.intervalMs));
      this.#arm();
    }, this.#nextAt - this.#clock.now());
  }

  #of(model: string): ModelSeries {
    let s = this.#series.get(model);
    if (!s) {
      s = new ModelSeries();
      this.#series.set(model, s);
    }
    return s;
  }

  /** One answered request (called by the server as each answer goes out). */
  record(model: string | undefined, endpoint: string, status: number, ms: number): void {
    if (model === undefined || !TRAFFIC_ENDPOINTS.has(endpoint)) return;
    const s = this.#of(model);
    if (status >= 200 && status < 300) {
      s.recorder.record(ms * 1000);
      const b = bucketOf(ms);
      s.current[b] = (s.current[b] ?? 0) + 1;
    } else if (status === 429 || status === 503) s.refused++;
    else if (status === 504) s.missed++;
    // 499: the client left before its answer, which is no error of the server's (/metrics counts it).
    else if (status !== 499) s.errors++;
  }

  /** Closes the current interval of every model (the timer calls it; tests call it directly). */
  tick(): LiveTick {
    const t = Math.round(this.#epochNow());
    const tick: LiveTick = { t, models: [] };
    for (const source of this.#sources()) {
      const s = this.#of(source.name);
      const stats = source.engine?.stats();
      const r = s.recorder;
      const q = (p: number): number | null => (r.count ? Math.round(r.valueAtQuantileUs(p)) / 1000 : null);
      const batches: Record<string, number> = {};
      let batchCount = 0;
      let rows = 0;
      // Engine totals start at zero (its warm-up runs are not counted), so no baseline is needed.
      if (stats) {
        for (const [size, total] of Object.entries(stats.batchSizes)) {
          const n = total - (s.lastBatches[Number(size)] ?? 0);
          if (n > 0) {
            batches[size] = n;
            batchCount += n;
            rows += n * Number(size);
          }
        }
      }
      const late = stats ? stats.counts.late - s.lastLate : 0;
      const point: LivePoint = {
        t,
        answered: r.count,
        rps: Math.round((r.count * 1000 * 1000) / this.intervalMs) / 1000,
        p50Ms: q(0.5),
        p90Ms: q(0.9),
        p99Ms: q(0.99),
        maxMs: r.count ? Math.round(r.maxUs) / 1000 : null,
        queueDepth: stats?.queueDepth ?? 0,
        busy: stats?.busyInstances ?? 0,
        batches,
        meanBatch: batchCount ? Math.round((rows / batchCount) * 100) / 100 : 0,
        refused: s.refused,
        missed: s.missed,
        late: Math.max(0, late),
        errors: s.errors,
      };
      if (stats) {
        s.lastBatches = { ...stats.batchSizes };
        s.lastLate = stats.counts.late;
      }
      r.reset();
      s.refused = s.missed = s.errors = 0;
      s.points.push(point);
      if (s.points.length > this.windowPoints) s.points.splice(0, s.points.length - this.windowPoints);
      s.minute.push(s.current);
      if (s.minute.length > this.#distributionPoints) s.minute.shift();
      s.current = new Array<number>(LIVE_BUCKET_EDGES_MS.length + 1).fill(0);
      tick.models.push({ name: source.name, point, lastMinute: this.#distribution(s) });
    }
    for (const listener of this.#listeners) listener(tick);
    return tick;
  }

  #distribution(s: ModelSeries): LiveDistribution {
    const counts = new Array<number>(LIVE_BUCKET_EDGES_MS.length + 1).fill(0);
    let count = 0;
    for (const interval of s.minute) {
      for (let i = 0; i < interval.length; i++) {
        const c = interval[i] ?? 0;
        counts[i] = (counts[i] ?? 0) + c;
        count += c;
      }
    }
    return { counts, count };
  }

  snapshot(): LiveSnapshot {
    const models: LiveModelView[] = [];
    for (const source of this.#sources()) {
      const s = this.#of(source.name);
      models.push({ name: source.name, points: [...s.points], lastMinute: this.#distribution(s) });
    }
    return {
      schema: LIVE_SCHEMA,
      intervalMs: this.intervalMs,
      windowPoints: this.windowPoints,
      bucketEdgesMs: LIVE_BUCKET_EDGES_MS,
      models,
    };
  }

  /** Calls `listener` after every tick; returns the unsubscribe function. */
  onTick(listener: (tick: LiveTick) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` once when the collector closes (the server shuts down). */
  onClose(listener: () => void): () => void {
    if (this.#closed) {
      listener();
      return () => undefined;
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Stops ticking and tells every subscriber (SSE streams end), so nothing holds the server open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    for (const listener of this.#closeListeners) listener();
    this.#closeListeners.clear();
  }
}
