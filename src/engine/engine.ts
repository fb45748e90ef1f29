/**
 * The engine: inference in worker threads under the deadline-aware scheduler.
 *
 *   const engine = await createEngine({ model: 'cls.onnx', hint: 'throughput', batching: { maxBatchSize: 8 } });
 *   const out = await engine.infer({ x: tensor }, { deadlineMs: 50, priority: 1 });
 *   engine.stats();
 *   await engine.close();
 *
 * Inputs are validated on the calling thread, copied once into buffers that are transferred (not
 * cloned, never JSON) to a worker, stacked along the batch dimension when batching, and the outputs
 * come back transferred and are split per request as views.
 *
 * Lifecycle, in InferenceEngine.create: read the model; pick the layout (instances × threads:
 * given, from a hint, or measured for `auto`); start the workers; resolve the batching policy
 * from the model's inputs; build the scheduler; warm up (seed the latency model); serve; close
 * (drain or refuse the queue, stop replacing workers, stop the workers).
 */
import os from 'node:os';
import type { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';
import { readModel, type ModelSource, type TensorSpec } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { batchDimension, resolvePolicy, type BatchingOptions } from './batch-policy.js';
import { realClock, type Clock } from '../util/clock.js';
import { EngineMetrics, type EngineStats, type RequestTiming } from './engine-metrics.js';
import { chooseLayout, type Calibration, type PerformanceHint } from './hint.js';
import { InlineRunner } from './inline.js';
import { LatencyModels } from './latency-model.js';
import { Scheduler, type BatchPolicy, type QueuedRequest } from './scheduler.js';
import type { Supervisor, EngineHealth } from './supervisor.js';
import {
  BufferPool,
  copyFeeds,
  splitOutputs,
  stackFeeds,
  toOrtFeeds,
  shapeKeyOf,
  validateInputs,
  type TensorLike,
  type WireFeeds,
} from './tensors.js';
import { seedLatencyModel, warmupInputs } from './warmup.js';
import { startPool, type StartedPool } from './start-pool.js';
import type { InstancePool, Placement } from './worker-pool.js';

export type { BatchingOptions } from './batch-policy.js';
export type { Calibration, Layout, PerformanceHint } from './hint.js';
export { PERFORMANCE_HINTS } from './hint.js';
export { RESTART_RETRY_DELAYS_MS, type EngineHealth } from './supervisor.js';

export interface EngineOptions {
  model: ModelSource;
  /**
   * How to lay the model out on the cores when `instances` and `threads` are not given (as
   * OpenVINO's PERFORMANCE_HINT): 'latency' one instance with every core or one thread, whichever
   * answers one request sooner (measured at start-up, hint.ts), 'throughput' one single-threaded
   * instance per core, 'auto' whichever serves more when loaded, measured at start-up (a second or
   * two). Default: 1 instance with every core, unmeasured.
   */
  hint?: PerformanceHint;
  /** Sessions, one per worker thread; default 1. */
  instances?: number;
  /**
   * Where the sessions run: 'worker' threads (default), or 'main', one session on the calling
   * thread: no hop, but each inference blocks the caller's event loop (for models of a millisecond
   * or so, where the hop costs as much as the inference). One instance only.
   */
  placement?: Placement;
  /** Intra-op threads per instance; default: the cores divided among the instances. */
  threads?: number;
  /** Other session settings (execution providers, optimization level, ...). */
  session?: Omit<SessionSettings, 'intraOpThreads'>;
  /** Dynamic batching; default off. `true` means adaptive with maxBatchSize 8. */
  batching?: boolean | BatchingOptions;
  /** Requests that may wait; beyond it submissions are refused (QUEUE_FULL). Default 256. */
  maxQueueSize?: number;
  /** Run each batch size a few times at start to seed the latency model; default true. */
  warmup?: boolean;
  /** Shapes for the warm-up inputs of dynamic models (as `--shape`), default the printed defaults. */
  warmupShapes?: Record<string, number[]>;
  /**
   * Worker layouts only: a request whose shape is known to run in at most this many ms, arriving
   * while nothing is queued, runs on the calling thread in a single-threaded session of its own
   * instead of hopping to a worker (inline.ts says when and why). Default 0: off; the server turns
   * it on. Not with batching.
   */
  inlineBelowMs?: number;
  /**
   * Worker layouts only, on Linux: the nice value (1-19) of the worker threads and of onnxruntime's
   * threads they start, so that under CPU contention the calling thread (a server's HTTP thread,
   * which admits, refuses and answers) runs first. Default 0: the process's priority.
   */
  workerNice?: number;
  /**
   * Where input copies come from and the buffers workers hand back go. A caller that fills owned
   * inputs (transferInputs) from the same pool gets its buffers back for reuse: the server reads
   * request bodies into them. Default: a pool of the engine's own.
   */
  bufferPool?: BufferPool;
  /**
   * Worker layouts only: when a request larger than any an instance ran before leaves the process
   * this many bytes (resident) above its size after the warm-up, that instance's worker is replaced
   * with a fresh one once idle: onnxruntime's arena keeps the peak a session ever needed. Default
   * 512 MiB; 0: never.
   */
  memoryRecycleBytes?: number;
  /** For tests: the engine's clock (scheduler deadlines and timing, waits between worker restarts). */
  clock?: Clock;
  /** Called whenever `health()` changes: a worker crashed, came back, was given up on; close(). */
  onHealthChange?: (health: EngineHealth) => void;
}

/**
 * What the engine reads of an AbortSignal. A server passes its own cheaper object: an
 * AbortController with its EventTarget cost each request a few µs of the HTTP thread, and only a
 * request that waits in the queue ever needs it.
 */
export interface AbortLike {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Accepted priorities. They key queues in the scheduler, so a caller cannot make up unbounded many. */
export const PRIORITY_RANGE = { min: -10, max: 10 } as const;

export interface InferOptions {
  /** Relative deadline; the request is refused or expired rather than answered later. */
  deadlineMs?: number;
  /** Higher runs first; default 0. */
  priority?: number;
  /** Withdraws the request while it is queued (an AbortSignal, or any object with these members). */
  signal?: AbortLike;
  /**
   * The engine may move the inputs' buffers to the worker instead of copying them (they are
   * detached afterwards). For callers that own the buffers outright, such as the server.
   */
  transferInputs?: boolean;
}

export type Inputs = Readonly<Record<string, Tensor | TensorLike>>;
export type Outputs = Record<string, Tensor>;

export interface EngineConfig {
  instances: number;
  /** Where the sessions run (worker threads unless 'main' was asked for or chosen). */
  placement: Placement;
  threadsPerInstance: number;
  cores: number;
  /** The hint the layout came from, if any (given instances or threads override it). */
  hint?: PerformanceHint;
  /** How `auto` chose (or why it did not measure). */
  calibration?: Calibration;
  /** instances × threads > cores: latency will jitter. */
  oversubscribed: boolean;
  batching: BatchPolicy & { batchable: boolean; fixedBatch: number | null };
  maxQueueSize: number;
  /** Short requests run on the calling thread up to this estimate (ms); 0: never. */
  inlineBelowMs: number;
  warnings: string[];
}

export interface Engine {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly config: EngineConfig;
  infer(inputs: Inputs, options?: InferOptions): Promise<Outputs>;
  inferWithTiming(inputs: Inputs, options?: InferOptions): Promise<{ outputs: Outputs; timing: RequestTiming }>;
  /**
   * Throws the refusal a request with these input dimensions would get now (engine closed, queue
   * full, deadline predicted unmeetable), before its data exists: a server asks as soon as it has a
   * request's header, and answers 503 without reading the rest of its body. Dimensions that do not
   * fit the model pass here (the request itself then gets the full check).
   */
  check(
    dims: Readonly<Record<string, readonly number[]>>,
    options?: Pick<InferOptions, 'deadlineMs' | 'priority'>,
  ): void;
  stats(): EngineStats;
  /** What the workers are doing now: for readiness probes and alerts. */
  health(): EngineHealth;
  /** Stops taking requests, finishes (drain, default) or refuses queued ones, stops the workers. */
  close(options?: { drain?: boolean; timeoutMs?: number }): Promise<void>;
}

/** The engine's test hook, kept off the Engine interface (see crashWorkerForTesting). */
const CRASH_WORKER = Symbol('crashWorker');

interface Job {
  feeds: WireFeeds;
  /** The caller gave up its buffers: no defensive copy before the transfer. */
  owned: boolean;
  settle: (result: { outputs: WireFeeds; timing: RequestTiming } | Error) => void;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid ${name} ${String(value)} (expected a positive integer)`);
  return v;
}

/** The placement options, refused before any session starts. */
function checkPlacement(options: EngineOptions): void {
  if (options.placement !== undefined && options.placement !== 'worker' && options.placement !== 'main') {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid placement '${String(options.placement)}' (expected worker or main)`,
    );
  }
  if (options.placement === 'main' && options.instances !== undefined && options.instances !== 1) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `placement 'main' runs one session on the calling thread: instances must be 1, not ${options.instances}`,
    );
  }
}

/** The distinct buffers under a request's numeric tensors. */
function buffersOf(feeds: WireFeeds): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of Object.values(feeds))
    if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer) out.add(t.data.buffer);
  return [...out];
}

const NO_WORKER_LEFT = 'no worker left to run the request';

export class InferenceEngine implements Engine {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly config: EngineConfig;
  readonly #pool: InstancePool;
  readonly #supervisor: Supervisor;
  readonly #scheduler: Scheduler<Job>;
  readonly #latency = new LatencyModels();
  readonly #metrics = new EngineMetrics();
  readonly #buffers: BufferPool;
  readonly #clock: Clock;
  /** Batches are split per request (batching on, or a fixed batch size the requests share). */
  readonly #batchable: boolean;
  /** The model's fixed batch size that every batch is padded to, if it has one. */
  readonly #padTo: number | undefined;
  #closing: Promise<void> | undefined;
  readonly #inline: InlineRunner | undefined;
  /** Instance, shape and rows already run once (the first run of each is cold: see #run). */
  readonly #ranBefore = new Set<string>();
  /** memoryRecycleBytes (0: off), and what it counts from: the resident size after warm-up or the last recycle. */
  readonly #recycleBytes: number;
  #baselineRss = 0;
  /** Per instance, the most input elements it has run since it started (a larger run checks memory). */
  readonly #largest: number[];
  readonly #recycling = new Set<number>();

  /** Reads the model, lays it out, starts and warms the workers. */
  static async create(options: EngineOptions): Promise<InferenceEngine> {
    const cores = os.availableParallelism();
    const clock = options.clock ?? realClock;
    const maxQueueSize = positiveInt('maxQueueSize', options.maxQueueSize, 256);
    const inlineMs = options.inlineBelowMs ?? 0;
    if (!(inlineMs >= 0) || !Number.isFinite(inlineMs))
      throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid inlineBelowMs ${inlineMs} (expected ms >= 0)`);
    const nice = options.workerNice ?? 0;
    if (!Number.isInteger(nice) || nice < 0 || nice > 19)
      throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid workerNice ${nice} (expected an integer from 0 to 19)`);
    const model = await readModel(options.model);
    const given = options.instances !== undefined || options.threads !== undefined || options.placement !== undefined;
    checkPlacement(options);
    let started: StartedPool;
    let calibration: Calibration | undefined;
    if (options.hint !== undefined && !given) {
      ({ started, calibration } = await chooseLayout(
        options.hint,
        cores,
        (layout) => startPool(layout, model, options.session, clock, nice),
        options.warmupShapes,
        clock,
      ));
    } else {
      const instances = positiveInt('instances', options.instances, 1);
      const threads = positiveInt('threads', options.threads, Math.max(1, Math.floor(cores / instances)));
      started = await startPool(
        { instances, threads, ...(options.placement === 'main' ? { placement: 'main' as const } : {}) },
        model,
        options.session,
        clock,
        nice,
      );
    }
    const { pool } = started;
    const { layout } = started;
    const warnings: string[] = [];
    const dim = batchDimension(started.io.inputs);
    let policy: BatchPolicy;
    try {
      policy = resolvePolicy(options.batching, dim, warnings);
    } catch (error) {
      await pool.close();
      throw error;
    }
    const oversubscribed = layout.instances * layout.threads > cores;
    if (oversubscribed)
      warnings.push(
        `thread budget oversubscribed: ${layout.instances} instances × ${layout.threads} threads ` +
          `on ${cores} cores; expect latency jitter`,
      );
    const config: EngineConfig = {
      instances: layout.instances,
      placement: started.pool.placement,
      threadsPerInstance: layout.threads,
      cores,
      ...(options.hint !== undefined && !given ? { hint: options.hint } : {}),
      ...(calibration ? { calibration } : {}),
      oversubscribed,
      batching: { ...policy, batchable: dim.batchable, fixedBatch: dim.fixed },
      maxQueueSize,
      // Inline runs skip the scheduler, so they never join a batch.
      inlineBelowMs: started.pool.placement === 'worker' && policy.mode === 'none' && dim.fixed === null ? inlineMs : 0,
      warnings,
    };
    const engine = new InferenceEngine(started, config, policy, clock, options);
    if (options.warmup !== false) {
      try {
        await engine.#warmup(options.warmupShapes);
      } catch (error) {
        await pool.close();
        throw error;
      }
    }
    engine.#baselineRss = process.memoryUsage.rss();
    return engine;
  }

  private constructor(
    started: StartedPool,
    config: EngineConfig,
    policy: BatchPolicy,
    clock: Clock,
    options: Pick<EngineOptions, 'onHealthChange' | 'bufferPool' | 'memoryRecycleBytes'>,
  ) {
    this.inputs = started.io.inputs;
    this.outputs = started.io.outputs;
    this.config = config;
    this.#pool = started.pool;
    this.#supervisor = started.supervisor;
    this.#clock = clock;
    this.#batchable = policy.mode !== 'none' || config.batching.fixedBatch !== null;
    this.#padTo = config.batching.fixedBatch ?? undefined;
    this.#buffers = options.bufferPool ?? new BufferPool();
    this.#pool.onBuffers = (b) => this.#buffers.give(b);
    this.#recycleBytes = this.#pool.placement === 'worker' ? (options.memoryRecycleBytes ?? DEFAULT_RECYCLE_BYTES) : 0;
    this.#largest = new Array<number>(config.instances).fill(0);
    if (config.inlineBelowMs > 0) this.#inline = new InlineRunner(started.init, config.inlineBelowMs);
    this.#scheduler = new Scheduler<Job>({
      instances: config.instances,
      ...(this.#inline ? { extra: this.#inline } : {}),
      policy,
      maxQueueSize: config.maxQueueSize,
      clock,
      latency: this.#latency,
      hooks: {
        dispatch: (instance, batch) => void this.#run(instance, batch),
        refuse: (request, error) => request.item.settle(error),
      },
    });
    this.#supervisor.attach({
      available: (instance, available) => this.#scheduler.setAvailable(instance, available),
      noWorkerLeft: (closing) =>
        closing
          ? this.#scheduler.rejectQueued(
              'the engine closed while its workers were being replaced; this request did not run',
            )
          : this.#scheduler.rejectQueued(NO_WORKER_LEFT, 'RTI_ERR_ENGINE_WORKER_CRASHED'),
      ...(options.onHealthChange ? { healthChanged: options.onHealthChange } : {}),
    });
  }

  async #warmup(shapes: Record<string, number[]> | undefined): Promise<void> {
    const inputs = await warmupInputs(this.inputs, shapes, this.#batchable);
    if (!inputs) return;
    await seedLatencyModel(
      this.#pool,
      this.config.instances,
      inputs,
      this.config.batching,
      this.#padTo,
      this.#latency,
      this.#clock,
    );
    const fixed = this.inputs.every((spec) => spec.shape.every((d) => typeof d === 'number' && d > 0));
    await this.#inline?.warm(inputs.shapeKey, 1, inputs.feeds, fixed);
  }

  async infer(inputs: Inputs, options?: InferOptions): Promise<Outputs> {
    const { outputs } = await this.#submit(inputs, options);
    return toOrtFeeds(outputs);
  }

  async inferWithTiming(inputs: Inputs, options?: InferOptions): Promise<{ outputs: Outputs; timing: RequestTiming }> {
    const { outputs, timing } = await this.#submit(inputs, options);
    return { outputs: toOrtFeeds(outputs), timing };
  }

  check(
    dims: Readonly<Record<string, readonly number[]>>,
    options: Pick<InferOptions, 'deadlineMs' | 'priority'> = {},
  ): void {
    const shape = shapeKeyOf(this.inputs, dims, this.#batchable);
    if (!shape) return;
    const p = options.priority;
    if (p !== undefined && !(Number.isInteger(p) && p >= PRIORITY_RANGE.min && p <= PRIORITY_RANGE.max)) return;
    const { deadlineMs } = options;
    if (deadlineMs !== undefined && !(deadlineMs > 0)) return;
    try {
      this.#scheduler.check({
        rows: shape.rows,
        shapeKey: shape.shapeKey,
        priority: p ?? 0,
        ...(deadlineMs !== undefined ? { deadline: this.#clock.now() + deadlineMs } : {}),
      });
    } catch (error) {
      this.#metrics.counts.submitted++;
      this.#metrics.outcome(error);
      throw error;
    }
  }

  stats(): EngineStats {
    return this.#metrics.snapshot(
      this.config,
      this.#scheduler.queueDepth,
      this.#scheduler.busyInstances,
      this.#latency.points(),
      this.#pool.restarts,
      this.#inline?.runs ?? 0,
    );
  }

  health(): EngineHealth {
    return this.#supervisor.health();
  }

  close(options: { drain?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= (async () => {
      this.#supervisor.stopping();
      this.#scheduler.close(options.drain ?? true);
      // After the timeout, queued requests are refused; batches already running still finish,
      // because onnxruntime cannot interrupt a run (and terminating a worker inside one aborts
      // the process).
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => this.#scheduler.rejectQueued('the engine closed (drain timeout) before this request ran'),
              options.timeoutMs,
            );
      await this.#scheduler.whenIdle();
      clearTimeout(timer);
      await this.#inline?.close();
      await this.#pool.close();
      this.#supervisor.stopped();
    })();
    return this.#closing;
  }

  [CRASH_WORKER](instance: number, options: { failRestarts?: number } = {}): void {
    if (options.failRestarts !== undefined) this.#pool.failStartsForTesting(instance, options.failRestarts);
    this.#pool.crash(instance);
  }

  #validate(inputs: Inputs, opts: InferOptions): ReturnType<typeof validateInputs> {
    const valid = validateInputs(this.inputs, inputs as Record<string, TensorLike>, this.#batchable);
    if (this.#padTo !== undefined && valid.rows > this.#padTo)
      throw new RtinferError(
        'RTI_ERR_SHAPE_MISMATCH',
        `batch of ${valid.rows} rows exceeds the model's fixed batch size ${this.#padTo}`,
      );
    if (opts.deadlineMs !== undefined && !(opts.deadlineMs > 0))
      throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid deadlineMs ${opts.deadlineMs} (expected > 0)`);
    const p = opts.priority;
    if (p !== undefined && !(Number.isInteger(p) && p >= PRIORITY_RANGE.min && p <= PRIORITY_RANGE.max)) {
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `invalid priority ${p} (expected an integer from ${PRIORITY_RANGE.min} to ${PRIORITY_RANGE.max})`,
      );
    }
    if (this.#supervisor.allDown) throw new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', NO_WORKER_LEFT);
    return valid;
  }

  #submit(inputs: Inputs, opts: InferOptions = {}): Promise<{ outputs: WireFeeds; timing: RequestTiming }> {
    const start = this.#clock.now();
    const metrics = this.#metrics;
    metrics.counts.submitted++;
    let valid: ReturnType<typeof validateInputs>;
    try {
      valid = this.#validate(inputs, opts);
    } catch (error) {
      metrics.outcome(error);
      return Promise.reject(error);
    }
    if (opts.signal?.aborted) {
      metrics.counts.aborted++;
      return Promise.reject(opts.signal.reason);
    }
    return new Promise((resolve, reject) => {
      let request: QueuedRequest<Job> | undefined;
      let listening = false;
      const onAbort = (): void => {
        if (request && this.#scheduler.cancel(request)) {
          metrics.counts.aborted++;
          reject(opts.signal?.reason);
        }
      };
      const job: Job = {
        feeds: valid.feeds,
        owned: opts.transferInputs === true,
        settle: (result) => {
          if (listening) opts.signal?.removeEventListener('abort', onAbort);
          if (result instanceof Error) {
            metrics.outcome(result);
            reject(result);
            return;
          }
          const late = opts.deadlineMs !== undefined && result.timing.totalMs > opts.deadlineMs;
          metrics.answered(result.timing, late);
          resolve(result);
        },
      };
      // A shape short enough for the calling thread starts its session there (inline.ts).
      this.#inline?.consider(
        valid.shapeKey,
        valid.rows,
        this.#latency.for(valid.shapeKey).estimate(valid.rows),
        valid.feeds,
      );
      try {
        request = this.#scheduler.submit({
          item: job,
          rows: valid.rows,
          shapeKey: valid.shapeKey,
          priority: opts.priority ?? 0,
          ...(opts.deadlineMs !== undefined ? { deadline: start + opts.deadlineMs } : {}),
        });
        // Only a request still queued can be withdrawn: one that started at once (an idle engine's
        // usual case) skips the listener, whose add and remove on an AbortSignal cost a few µs.
        if (opts.signal && request.dispatchedAt === undefined) {
          opts.signal.addEventListener('abort', onAbort, { once: true });
          listening = true;
        }
      } catch (error) {
        metrics.outcome(error);
        reject(error);
      }
    });
  }

  /** A request placed on the calling thread's session (the scheduler's extra instance). */
  async #runInline(instance: number, request: QueuedRequest<Job>): Promise<void> {
    const inline = this.#inline as InlineRunner;
    const { item: job, rows, shapeKey } = request;
    try {
      const result = await inline.run(shapeKey, rows, job.feeds, request.trial === true);
      // Used in place and free now, as on the 'main' placement.
      if (job.owned) this.#buffers.give(buffersOf(job.feeds));
      this.#metrics.batch(1, rows);
      const done = this.#clock.now();
      job.settle({
        outputs: result.outputs,
        timing: {
          queueMs: (request.dispatchedAt ?? done) - request.enqueuedAt,
          batchSize: rows,
          batchRequests: 1,
          inferenceMs: result.inferenceMs,
          totalMs: done - request.enqueuedAt,
          legs: undefined,
        },
      });
    } catch (error) {
      job.settle(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#scheduler.complete(instance);
    }
  }

  async #run(instance: number, batch: Array<QueuedRequest<Job>>): Promise<void> {
    if (instance === this.config.instances && batch[0]) return this.#runInline(instance, batch[0]);
    const clock = this.#clock;
    const started = clock.now();
    const rows = batch.map((r) => r.rows);
    const totalRows = Math.max(
      this.#padTo ?? 0,
      rows.reduce((s, r) => s + r, 0),
    );
    const single = batch.length === 1 && this.#padTo === undefined ? batch[0]?.item : undefined;
    // On the calling thread nothing is transferred, so the caller's buffers can be used as they are.
    const keep = single !== undefined && (single.owned || this.#pool.placement === 'main');
    const feeds = single
      ? keep
        ? single.feeds
        : copyFeeds(single.feeds, this.#buffers)
      : stackFeeds(
          batch.map((r) => r.item.feeds),
          this.#padTo,
        );
    const shapeKey = batch[0]?.shapeKey ?? '';
    // Counted before the run: the feeds' buffers move to the worker.
    const elements = this.#recycleBytes > 0 ? countElements(feeds) : 0;
    try {
      const result = await this.#pool.run(instance, feeds);
      if (elements > (this.#largest[instance] ?? 0)) this.#checkMemory(instance, elements);
      // On the calling thread an owned request's buffers were used in place and are free now (a
      // worker hands transferred ones back through onBuffers instead).
      if (keep && single.owned && this.#pool.placement === 'main') this.#buffers.give(buffersOf(feeds));
      // The model learns what the scheduler lives with: copy, hand-off, inference and the way back,
      // not the worker's inference time alone (with that, admitted requests often finished late).
      // Except from an instance's first run of a shape, which onnxruntime plans and allocates for:
      // learned, that cold run (5.2 ms against 2.4 warm, PP-OCR classifier at 48x192 on a worker)
      // made every request with a 4 ms deadline unmeetable until a trial corrected it.
      const now = clock.now();
      const runKey = `${instance}|${totalRows}|${shapeKey}`;
      if (this.#ranBefore.has(runKey))
        this.#latency.for(shapeKey).observe(
          totalRows,
          now - started,
          now,
          batch.some((r) => r.trial === true),
        );
      else {
        // Bounded: clients choose shapes.
        if (this.#ranBefore.size >= 4096) this.#ranBefore.clear();
        this.#ranBefore.add(runKey);
      }
      this.#metrics.batch(batch.length, totalRows);
      const parts = this.#batchable ? splitOutputs(result.outputs, rows) : [result.outputs];
      const done = clock.now();
      batch.forEach((r, i) => {
        const timing: RequestTiming = {
          queueMs: (r.dispatchedAt ?? done) - r.enqueuedAt,
          batchSize: totalRows,
          batchRequests: batch.length,
          inferenceMs: result.inferenceMs,
          totalMs: done - r.enqueuedAt,
          legs: result.legs,
        };
        r.item.settle({ outputs: parts[i] ?? {}, timing });
      });
    } catch (error) {
      for (const r of batch) r.item.settle(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#scheduler.complete(instance);
      if (this.#recycling.has(instance)) void this.#recycle(instance);
    }
  }

  /** After a run larger than any before on `instance`: out of service for a recycle if memory grew past the bound. */
  #checkMemory(instance: number, elements: number): void {
    this.#largest[instance] = elements;
    if (this.#closing || process.memoryUsage.rss() - this.#baselineRss < this.#recycleBytes) return;
    this.#recycling.add(instance);
    this.#scheduler.setAvailable(instance, false);
  }

  async #recycle(instance: number): Promise<void> {
    try {
      if (!(await this.#pool.recycle(instance)) || this.#closing) return;
      this.#largest[instance] = 0;
      // Its first run of each shape is cold again: not learned (see #run).
      for (const key of this.#ranBefore) if (key.startsWith(`${instance}|`)) this.#ranBefore.delete(key);
      // Counted from here: what else the process holds now is not this instance's to give back.
      this.#baselineRss = process.memoryUsage.rss();
      this.#scheduler.setAvailable(instance, true);
    } finally {
      this.#recycling.delete(instance);
    }
  }
}

/** See EngineOptions.memoryRecycleBytes. */
const DEFAULT_RECYCLE_BYTES = 512 * 1024 * 1024;

function countElements(feeds: WireFeeds): number {
  let n = 0;
  for (const name in feeds) n += feeds[name]?.data.length ?? 0;
  return n;
}

export function createEngine(options: EngineOptions): Promise<Engine> {
  return InferenceEngine.create(options);
}

/**
 * Test hook, not part of the library's API: crash one worker of an engine as a native fault would;
 * the next `failRestarts` workers started to replace it die while loading the model.
 */
export function crashWorkerForTesting(engine: Engine, instance: number, options: { failRestarts?: number } = {}): void {
  if (!(engine instanceof InferenceEngine))
    throw new TypeError('crashWorkerForTesting: not an engine made by createEngine');
  engine[CRASH_WORKER](instance, options);
}
