/**
 * Short runs on the calling thread, beside the workers: the engine's `inlineBelowMs`.
 *
 * A worker costs a hop each way (~0.3-0.8 ms on 2 cores, with its colder caches), which is as much
 * as a small model's whole inference (the PP-OCR classifier at 48x192: 0.7 ms bare). The 'main'
 * placement avoids the hop but then runs everything on the caller's thread, and a layout chosen at
 * start-up cannot know the shapes traffic will bring (a dynamic model calibrates at its default
 * size). So a worker layout keeps a second, single-threaded session on the calling thread and
 * sends it a request when
 *   - the request's shape is known here to run within `maxMs`; a shape not yet run here is tried
 *     when the workers' estimate for it is within PROBE_FACTOR × `maxMs` (theirs includes the hop,
 *     the copies and the contention of a loaded machine: the classifier's 0.7 ms run read 2.4-4.8
 *     ms there), and learned from its second run on (the first run of a shape is cold);
 *   - nothing is queued for the workers (a queue means load: the calling thread has I/O to do) and
 *     the session here is not already running.
 * Everything else goes to the workers as before. Blocking the calling thread for up to `maxMs` is
 * the price, as with the naive server that calls session.run on its HTTP thread.
 *
 * The session is made the first time a shape qualifies, and warmed with that request's inputs
 * before it takes any; the warm runs teach that shape's estimate.
 */
import { performance } from 'node:perf_hooks';
import { LatencyModels } from './latency-model.js';
import { MainThreadPool } from './main-thread-pool.js';
import type { WorkerInit } from './protocol.js';
import { copyFeeds, type WireFeeds } from './tensors.js';
import type { RunResult } from './worker-pool.js';

const WARMUP_RUNS = 3;
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
/** How often a shape learned over the bound is tried again. */
const RETRY_MS = 1000;

export class InlineRunner {
  readonly #init: WorkerInit;
  readonly #maxMs: number;
  readonly #latency = new LatencyModels();
  readonly #ranBefore = new Set<string>();
  #pool: MainThreadPool | undefined;
  #starting = false;
  #ready = false;
  #busy = false;
  #closed = false;
  /** The next run is a retry of a shape learned over the bound. */
  #trial = false;
  #running: Promise<unknown> = Promise.resolve();
  /** Requests answered here. */
  runs = 0;

  constructor(init: WorkerInit, maxMs: number) {
    this.#init = { ...init, settings: { ...init.settings, intraOpThreads: 1 } };
    this.#maxMs = maxMs;
  }

  /** Whether a request of this shape should run here now (see the file's comment). */
  wants(shapeKey: string, workerEstimateMs: number | undefined, feeds: WireFeeds, deadlineMs?: number): boolean {
    if (this.#busy || this.#closed) return false;
    const model = this.#latency.for(shapeKey);
    const own = model.estimate(1);
    if (own !== undefined) {
      // One that would finish late goes to the scheduler, which refuses it at once.
      if (own <= this.#maxMs) return deadlineMs === undefined || own <= deadlineMs;
      // Learned over the bound, maybe while the machine was busy: tried again once in a while, as the
      // scheduler's trials (the estimate learns only from runs here).
      if (own > RETRY_FACTOR * this.#maxMs || performance.now() - model.lastObservedAt < RETRY_MS) return false;
      this.#trial = true;
      return true;
    }
    if (workerEstimateMs === undefined || workerEstimateMs > PROBE_FACTOR * this.#maxMs) return false;
    if (!this.#ready) {
      this.#start(shapeKey, feeds);
      return false;
    }
    return true;
  }

  async run(shapeKey: string, feeds: WireFeeds): Promise<RunResult> {
    const pool = this.#pool as MainThreadPool;
    const trial = this.#trial;
    this.#trial = false;
    this.#busy = true;
    const t0 = performance.now();
    const run = pool.run(0, feeds);
    this.#running = run.catch(() => undefined);
    try {
      const result = await run;
      this.#observe(shapeKey, performance.now() - t0, trial);
      this.runs++;
      return result;
    } finally {
      this.#busy = false;
    }
  }

  #observe(shapeKey: string, ms: number, trial = false): void {
    if (this.#ranBefore.has(shapeKey)) {
      this.#latency.for(shapeKey).observe(1, ms, performance.now(), trial);
      return;
    }
    if (this.#ranBefore.size >= MAX_SHAPES) this.#ranBefore.clear();
    this.#ranBefore.add(shapeKey);
  }

  #start(shapeKey: string, feeds: WireFeeds): void {
    if (this.#starting) return;
    this.#starting = true;
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
          this.#observe(shapeKey, performance.now() - t0);
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
