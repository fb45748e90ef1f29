/**
 * Inference latency per batch size, learned on this machine from the engine's own runs. The
 * scheduler asks it "how long will a batch of b rows take?" to size batches against deadlines and
 * to refuse requests it cannot serve in time.
 *
 * Estimates are the 75th percentile of the most recent runs at that size (the median until 8 runs
 * are in), made non-decreasing in the batch size. Why not a higher percentile: on a shared
 * 2-core machine a p90 over a small window is the one slowest run, and one 16 ms outlier at batch
 * 4 made the engine refuse most requests at half its capacity and stop batching (measured on the
 * PP-OCR classifier at 300 q/s with a 6.8 ms deadline). Admission asks for the median instead
 * (see Scheduler.#predictCompletion).
 */

import { quantileSorted, sortSamples } from '../stats/sorted.js';

const WINDOW = 32;
const QUANTILE = 0.75;
const MIN_FOR_QUANTILE = 8;
/** A trial this much faster than the estimate marks the learned windows stale. */
const STALE_RATIO = 0.7;

/**
 * Which estimate: 'p75' (conservative: placement and batching), 'median' (the typical run:
 * admission) or 'fastest' (the quickest run in the window: whether a run could make it at all).
 */
export type EstimateLevel = 'p75' | 'median' | 'fastest';

export interface LatencyPoint {
  batchSize: number;
  /** Conservative estimate (p75 of recent runs, non-decreasing in the batch size). */
  estimateMs: number;
  samples: number;
}

export class LatencyModel {
  readonly #windows = new Map<number, number[]>();
  /** The keys of #windows, ascending (the scheduler asks many times per request: no iterators then). */
  #sizes: number[] = [];
  readonly #counts = new Map<number, number>();
  /** Each size's window statistics, computed on first use after the window last changed. */
  readonly #rawCache = new Map<number, Record<EstimateLevel, number>>();
  /** When the last observation came (on the caller's clock); -Infinity if never told. */
  lastObservedAt = Number.NEGATIVE_INFINITY;

  /**
   * `trial`: the run of a request admitted although predicted late (the scheduler's trial). If it
   * ran well under the estimate, the windows are stale (learned during an overload, say) and start
   * over from it: otherwise a p75 over 32 slow runs would need some 24 fast ones, at one trial a
   * second, before admitting again (seen in the soak: 20 s of refusals at an idle engine).
   */
  observe(batchSize: number, ms: number, at?: number, trial = false): void {
    if (!(ms >= 0) || batchSize < 1) return;
    if (at !== undefined) this.lastObservedAt = at;
    const estimate = trial ? this.estimate(batchSize) : undefined;
    if (estimate !== undefined && ms < STALE_RATIO * estimate) {
      this.#windows.clear();
      this.#rawCache.clear();
      this.#sizes = [];
    }
    let w = this.#windows.get(batchSize);
    if (!w) {
      w = [];
      this.#windows.set(batchSize, w);
      this.#sizes = [...this.#sizes, batchSize].sort((x, y) => x - y);
    }
    w.push(ms);
    if (w.length > WINDOW) w.shift();
    this.#rawCache.delete(batchSize);
    this.#counts.set(batchSize, (this.#counts.get(batchSize) ?? 0) + 1);
  }

  get empty(): boolean {
    return this.#windows.size === 0;
  }

  #raw(b: number, level: EstimateLevel): number | undefined {
    const cached = this.#rawCache.get(b);
    if (cached !== undefined) return cached[level];
    const w = this.#windows.get(b);
    if (!w || w.length === 0) return undefined;
    // All three from one sort: the scheduler asks after every run (placement, admission).
    const sorted = sortSamples(w);
    const median = quantileSorted(sorted, 0.5);
    const stats = {
      p75: w.length >= MIN_FOR_QUANTILE ? quantileSorted(sorted, QUANTILE) : median,
      median,
      fastest: sorted[0] as number,
    };
    this.#rawCache.set(b, stats);
    return stats[level];
  }

  /** The size's own estimate, raised to the largest of the smaller sizes: more rows never run faster. */
  #measured(b: number, level: EstimateLevel = 'p75'): number | undefined {
    const own = this.#raw(b, level);
    if (own === undefined) return undefined;
    let m = own;
    for (const s of this.#sizes) {
      if (s >= b) break;
      m = Math.max(m, this.#raw(s, level) ?? 0);
    }
    return m;
  }

  /**
   * Estimated ms for a batch of b rows; undefined before any observation. Unmeasured sizes are
   * interpolated between measured neighbours, or extrapolated linearly from the two largest
   * (proportionally from a single point, which over-estimates: batching is sub-linear). `level`:
   * which of the windows' statistics (see EstimateLevel).
   */
  estimate(b: number, level: EstimateLevel = 'p75'): number | undefined {
    const exact = this.#measured(b, level);
    if (exact !== undefined) return exact;
    const sizes = this.#sizes;
    if (sizes.length === 0) return undefined;
    const below = sizes.filter((s) => s < b);
    const above = sizes.filter((s) => s > b);
    const lo = below[below.length - 1];
    const hi = above[0];
    if (lo !== undefined && hi !== undefined) {
      const a = this.#measured(lo, level) ?? 0;
      const c = this.#measured(hi, level) ?? 0;
      return a + ((c - a) * (b - lo)) / (hi - lo);
    }
    if (hi !== undefined) return this.#measured(hi, level);
    const top = sizes[sizes.length - 1] as number;
    const topMs = this.#measured(top, level) ?? 0;
    const prev = sizes[sizes.length - 2];
    if (prev === undefined) return (topMs * b) / top;
    const slope = Math.max(0, (topMs - (this.#measured(prev, level) ?? 0)) / (top - prev));
    return topMs + slope * (b - top);
  }

  points(): LatencyPoint[] {
    return this.#sizes.map((b) => ({
      batchSize: b,
      estimateMs: this.#measured(b) ?? 0,
      samples: this.#counts.get(b) ?? 0,
    }));
  }
}

/**
 * Shapes whose latency models are kept. Each request's shape is the client's choice on a model with
 * dynamic dimensions, so without a bound every new shape would add a model for good.
 */
export const MAX_SHAPE_MODELS = 64;

/**
 * One latency model per input shape (batches of 640x640 images cost more than of 320x320), the
 * MAX_SHAPE_MODELS most recently used: `for()` marks a shape used, and a new shape beyond the limit
 * evicts the least recently used (which starts again from nothing if it comes back).
 */
export class LatencyModels {
  /** In first-use order, which `points()` keeps; recency is the stamp, so a lookup moves nothing. */
  readonly #byShape = new Map<string, { model: LatencyModel; used: number }>();
  #tick = 0;

  /** Shapes with a model now (at most MAX_SHAPE_MODELS). */
  get size(): number {
    return this.#byShape.size;
  }

  for(shapeKey: string): LatencyModel {
    const entry = this.#byShape.get(shapeKey);
    if (entry) {
      entry.used = ++this.#tick;
      return entry.model;
    }
    if (this.#byShape.size >= MAX_SHAPE_MODELS) {
      // A scan of at most MAX_SHAPE_MODELS, only when a new shape arrives at the limit.
      let lru: string | undefined;
      let oldest = Number.POSITIVE_INFINITY;
      for (const [key, e] of this.#byShape) {
        if (e.used < oldest) {
          oldest = e.used;
          lru = key;
        }
      }
      if (lru !== undefined) this.#byShape.delete(lru);
    }
    const model = new LatencyModel();
    this.#byShape.set(shapeKey, { model, used: ++this.#tick });
    return model;
  }

  points(): Array<LatencyPoint & { shape: string }> {
    return [...this.#byShape.entries()].flatMap(([shape, e]) => e.model.points().map((p) => ({ shape, ...p })));
  }
}
