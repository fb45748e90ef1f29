/**
 * Short runs on the calling thread, beside the workers: the engine's `inlineBelowMs`.
 *
 * A worker costs a hop each way (~0.3-0.8 ms on 2 cores, with its colder caches), which is as much
 * as a small model's whole inference (the PP-OCR classifier at 48x192: 0.7 ms bare, 3.0 ms p75
 * through an idle worker on a 2-core VM with the client beside it). The 'main' placement avoids the
 * hop but then runs everything on the caller's thread, and a layout chosen at start-up cannot know
 * the shapes traffic will bring (a dynamic model calibrates at its default size). So a worker
 * layout keeps a second, single-threaded session on the calling thread as one more instance of the
 * scheduler (its ExtraInstance), with its own latency model: each request goes where it is
 * predicted to finish first, here or on a worker. This instance takes a shape
 *   - known here to run within `maxMs` (learned from its second run on: the first run of a shape
 *     is cold);
 *   - not run here yet, when the workers' estimate is within PROBE_FACTOR × `maxMs` (theirs
 *     includes the hop, the copies and the contention of a loaded machine);
 *   - learned over the bound, once in a while (RETRY_MS), in case the machine was busy then.
 * Blocking the calling thread for up to `maxMs` is the price, as with the naive server that calls
 * session.run on its HTTP thread; under load that thread's I/O delays the runs here, which the
 * estimate learns, and the workers take more.
 *
 * The engine warms the session at start-up with its warm-up inputs (`warm`); that teaches the
 * warm-up shape's estimate and a cost per input element, which says whether another shape may be
 * short enough to try here (a dynamic model warms at its default size: the PP-OCR classifier at
 * 640x640, 38 ms, so 48x192 requests, 44× fewer elements, are tried here, while a worker's first
 * estimate of them, learned while the machine was busy, read 12 ms and kept them from it). A model
 * with fixed shapes that runs far over the bound lets the session go. Without a warm-up, the session
 * is made the first time a shape qualifies by the workers' estimate (`consider`).
 */
import { performance } from 'node:perf_hooks';
import { LatencyModels, type EstimateLevel } from './latency-model.js';
import { MainThreadPool } from './main-thread-pool.js';
import type { WorkerInit } from './protocol.js';
import { copyFeeds, type WireFeeds } from './tensors.js';
import type { RunResult } from './worker-pool.js';

const WARMUP_RUNS = 3;

/** Input elements per row of a shape key ("3x48x192|..."), summed over the inputs. */
function countElements(shapeKey: string): number {
  let n = 0;
  for (const part of shapeKey.split('|')) n += part === '' ? 1 : part.split('x').reduce((p, d) => p * Number(d), 1);
  return Math.max(1, n);
}
/** A (rows, shape) key for this runner's maps: the shape key itself for one row (no string built). */
const runKey = (rows: number, shapeKey: string): string => (rows === 1 ? shapeKey : `${rows}#${shapeKey}`);

/**
 * A shape not yet run here is tried when the workers' estimate is within this many × maxMs: the
 * classifier read 4.8-7.0 ms through a worker under load (0.7 ms bare), yolox_nano 11 ms and more,
 * and a long model must not be tried here (its warm runs block the calling thread).
 */
const PROBE_FACTOR = 3;
/** A shape learned over the bound is retried only if its estimate here is within this many × maxMs. */
const RETRY_FACTOR = 2;
/** Shapes whose first (cold) run here is done; bounded, as clients choose shapes. */
const MAX_SHAPES = 4096;
/** Runs per shape whose fastest is compared with the bound. */
const RECENT_RUNS = 16;
/** How often a shape learned over the bound is tried again. */
const RETRY_MS = 1000;

export class InlineRunner {
  readonly #init: WorkerInit;
  readonly #maxMs: number;
  readonly #latency = new LatencyModels();
  readonly #ranBefore = new Set<string>();
  /** Input elements per shape key, counted once (the scheduler asks for estimates many times a request). */
  readonly #elements = new Map<string, number>();
  #pool: MainThreadPool | undefined;
  #ready = false;
  #closed = false;
  #running: Promise<unknown> = Promise.resolve();
  /** ms per input element, from the warm-up shape's runs here. */
  #perElement: number | undefined;
  /**
   * The latest runs of each shape here (ms): their fastest is what a run costs this thread when the
   * machine leaves it alone, which the bound is about; the estimate (p75) also counts the waits
   * behind the thread's own I/O under load, which the scheduler must plan with but which do not
   * make the run itself any longer (judged by the estimate, the classifier's 1 ms run left this
   * thread for seconds at a time under 300 req/s).
   */
  readonly #recent = new Map<string, number[]>();
  /** Requests answered here. */
  runs = 0;

  constructor(init: WorkerInit, maxMs: number) {
    this.#init = { ...init, settings: { ...init.settings, intraOpThreads: 1 } };
    this.#maxMs = maxMs;
  }

  /**
   * The estimate for a request of this shape here (ms), 0 for a probe or a retry (taken at the next
   * chance, to learn from), undefined when this instance cannot take it now.
   */
  estimate(
    shapeKey: string,
    rows: number,
    workerMs: number | undefined,
    level: EstimateLevel = 'p75',
  ): number | undefined {
    if (!this.#ready || this.#closed) return undefined;
    const model = this.#latency.for(shapeKey);
    const own = model.estimate(rows, level);
    if (own !== undefined) {
      if (this.#withinBound(shapeKey, rows)) return own;
      // Learned over the bound, maybe while the machine was busy: tried again once in a while, as the
      // scheduler's trials (the estimate learns only from runs here). A shape the warm-up's cost per
      // element calls short is retried however slow it read: its first runs here can be (the
      // classifier's 48x192 after 640x640: 2.2 then 23 ms, then 1.5).
      const plausible = own <= RETRY_FACTOR * this.#maxMs || this.#shortByPrior(shapeKey, rows);
      return plausible && performance.now() - model.lastObservedAt >= RETRY_MS ? 0 : undefined;
    }
    return this.#shortByPrior(shapeKey, rows) || (workerMs !== undefined && workerMs <= PROBE_FACTOR * this.#maxMs)
      ? 0
      : undefined;
  }

  #withinBound(shapeKey: string, rows: number): boolean {
    const recent = this.#recent.get(runKey(rows, shapeKey));
    if (recent === undefined) return false;
    for (const ms of recent) if (ms <= this.#maxMs) return true;
    return false;
  }

  #shortByPrior(shapeKey: string, rows: number): boolean {
    return this.#perElement !== undefined && this.#perElement * rows * this.#elementsOf(shapeKey) <= this.#maxMs;
  }

  #elementsOf(shapeKey: string): number {
    let n = this.#elements.get(shapeKey);
    if (n === undefined) {
      if (this.#elements.size >= MAX_SHAPES) this.#elements.clear();
      n = countElements(shapeKey);
      this.#elements.set(shapeKey, n);
    }
    return n;
  }

  /**
   * Starts and warms the session with the engine's warm-up inputs, and learns the cost per element.
   * `fixed`: the model takes no other shape, so one far over the bound never runs here.
   */
  async warm(shapeKey: string, rows: number, feeds: WireFeeds, fixed: boolean): Promise<void> {
    if (this.#pool || this.#closed) return;
    this.#start(shapeKey, rows, feeds);
    await this.#running;
    const own = this.#latency.for(shapeKey).estimate(rows);
    if (own === undefined || !this.#ready) return;
    this.#perElement = own / (rows * this.#elementsOf(shapeKey));
    if (fixed && own > RETRY_FACTOR * this.#maxMs) {
      this.#closed = true;
      await (this.#pool as MainThreadPool | undefined)?.close();
    }
  }

  /** Starts the session when a request's shape may run here (see the file's comment). */
  consider(shapeKey: string, rows: number, workerMs: number | undefined, feeds: WireFeeds): void {
    if (this.#pool || this.#closed || workerMs === undefined || workerMs > PROBE_FACTOR * this.#maxMs) return;
    this.#start(shapeKey, rows, feeds);
  }

  /** When this shape's estimate here last learned (-Infinity if never): the scheduler's trials look at it. */
  lastObservedAt(shapeKey: string): number {
    return this.#latency.for(shapeKey).lastObservedAt;
  }

  /**
   * `trial`: the scheduler admitted it although predicted late (see Scheduler.#trialDue): if it runs
   * well under the estimate, the estimate here starts over from it.
   */
  async run(shapeKey: string, rows: number, feeds: WireFeeds, trial = false): Promise<RunResult> {
    const pool = this.#pool as MainThreadPool;
    trial ||= this.#latency.for(shapeKey).estimate(rows) !== undefined && !this.#withinBound(shapeKey, rows);
    const t0 = performance.now();
    const run = pool.run(0, feeds);
    this.#running = run.catch(() => undefined);
    const result = await run;
    this.#observe(shapeKey, rows, performance.now() - t0, trial);
    this.runs++;
    return result;
  }

  #observe(shapeKey: string, rows: number, ms: number, trial = false): void {
    const key = runKey(rows, shapeKey);
    if (this.#ranBefore.has(key)) {
      this.#latency.for(shapeKey).observe(rows, ms, performance.now(), trial);
      let recent = this.#recent.get(key);
      if (!recent) {
        if (this.#recent.size >= MAX_SHAPES) this.#recent.clear();
        recent = [];
        this.#recent.set(key, recent);
      }
      recent.push(ms);
      if (recent.length > RECENT_RUNS) recent.shift();
      return;
    }
    if (this.#ranBefore.size >= MAX_SHAPES) this.#ranBefore.clear();
    this.#ranBefore.add(key);
  }

  #start(shapeKey: string, rows: number, feeds: WireFeeds): void {
    // The request's own buffers may move to a worker meanwhile: warm with a copy.
    const warm = copyFeeds(feeds);
    const pool = new MainThreadPool(this.#init, () => undefined);
    this.#pool = pool;
    this.#running = (async () => {
      try {
        await pool.start();
        for (let i = 0; i < WARMUP_RUNS && !this.#closed; i++) {
          const t0 = performance.now();
          await pool.run(0, warm);
          this.#observe(shapeKey, rows, performance.now() - t0);
        }
        if (!this.#closed) this.#ready = true;
      } catch {
        // A session that cannot load or run here leaves everything to the workers.
        this.#closed = true;
      }
    })();
  }

  /** Waits for a run in progress, then lets the session go. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
    await this.#pool?.close();
  }
}
