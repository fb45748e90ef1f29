/**
 * The engine: inference in worker threads under the deadline-aware scheduler.
 *
 *   const engine = await createEngine({ model: 'cls.onnx', instances: 2, batching: { maxBatchSize: 8 } });
 *   const out = await engine.infer({ x: tensor }, { deadlineMs: 50, priority: 1 });
 *   engine.stats();
 *   await engine.close();
 *
 * Inputs are validated on the calling thread, copied once into buffers that are transferred (not
 * cloned, never JSON) to a worker, stacked along the batch dimension when batching, and the outputs
 * come back transferred and are split per request as views.
 */
import os from 'node:os';
import type { Tensor } from 'onnxruntime-node';
import { RtinferError, firstLine } from '../errors.js';
import { buildSamples } from '../runtime/inputs.js';
import { readModel, type ModelSource, type TensorSpec } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { resolveShapes } from '../runtime/shapes.js';
import { realClock, type Clock } from './clock.js';
import { EngineMetrics, type EngineStats, type RequestTiming } from './engine-metrics.js';
import { LatencyModels } from './latency-model.js';
import { Scheduler, type BatchMode, type BatchPolicy, type QueuedRequest } from './scheduler.js';
import { BufferPool, copyFeeds, fromOrtOutputs, splitOutputs, stackFeeds, toOrtFeeds, validateInputs, type TensorLike, type WireFeeds } from './tensors.js';
import { WorkerPool } from './worker-pool.js';

export interface BatchingOptions {
  /** 'adaptive' (default): batch what is queued, sized to deadlines; 'static': Triton-style. */
  mode?: Exclude<BatchMode, 'none'>;
  maxBatchSize?: number;
  /** How long the oldest request may wait for a batch to fill (default 0 adaptive, 1000 µs static). */
  maxQueueDelayUs?: number;
  preferredBatchSizes?: number[];
}

export interface EngineOptions {
  model: ModelSource;
  /** Sessions, one per worker thread; default 1. */
  instances?: number;
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
  /** For tests: the engine's clock (scheduler deadlines and timing, waits between worker restarts). */
  clock?: Clock;
  /** Called whenever `health()` changes: a worker crashed, came back, was given up on; close(). */
  onHealthChange?: (health: EngineHealth) => void;
}

/** Whether the engine can serve, by its workers. */
export interface EngineHealth {
  /** At least one worker is live and the engine is not closing. */
  ready: boolean;
  instances: number;
  /** Workers running now. */
  live: number;
  /** Being replaced after a crash. */
  restarting: number;
  /** Given up on: every replacement attempt failed. */
  down: number;
  /** Replacement workers started since the engine started. */
  restarts: number;
  /** One line, set when not ready or when an instance is down. */
  reason?: string;
}

/** Accepted priorities. They key queues in the scheduler, so a caller cannot make up unbounded many. */
export const PRIORITY_RANGE = { min: -10, max: 10 } as const;

/**
 * A crashed worker is replaced at once; if that fails, again after each of these waits, then the
 * instance is given up on. A transient failure (memory pressure, a busy disk) gets a few seconds
 * to pass instead of taking the instance out for good.
 */
export const RESTART_RETRY_DELAYS_MS: readonly number[] = [200, 1000, 3000];

export interface InferOptions {
  /** Relative deadline; the request is refused or expired rather than answered later. */
  deadlineMs?: number;
  /** Higher runs first; default 0. */
  priority?: number;
  signal?: AbortSignal;
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
  threadsPerInstance: number;
  cores: number;
  /** instances × threads > cores: latency will jitter. */
  oversubscribed: boolean;
  batching: BatchPolicy & { batchable: boolean; fixedBatch: number | null };
  maxQueueSize: number;
  warnings: string[];
}

export interface Engine {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly config: EngineConfig;
  infer(inputs: Inputs, options?: InferOptions): Promise<Outputs>;
  inferWithTiming(inputs: Inputs, options?: InferOptions): Promise<{ outputs: Outputs; timing: RequestTiming }>;
  stats(): EngineStats;
  /** What the workers are doing now: for readiness probes and alerts. */
  health(): EngineHealth;
  /** Stops taking requests, finishes (drain, default) or refuses queued ones, stops the workers. */
  close(options?: { drain?: boolean; timeoutMs?: number }): Promise<void>;
  /**
   * Test hook: crash one worker as a native fault would; the next `failRestarts` workers started
   * to replace it die while loading the model.
   */
  crashWorkerForTesting(instance: number, options?: { failRestarts?: number }): void;
}

interface InstanceHealth {
  /** 'stopped': the engine closed (or is closing and stopped replacing it). */
  state: 'live' | 'restarting' | 'down' | 'stopped';
  /** Failed replacement attempts since the last crash, and the last one's error (one line). */
  failures: number;
  lastError: string;
  /** Bumped on every crash, so that a stale restart loop cannot revive the instance. */
  crashes: number;
}

interface Job {
  feeds: WireFeeds;
  /** The caller gave up its buffers: no defensive copy before the transfer. */
  owned: boolean;
  settle: (result: { outputs: WireFeeds; timing: RequestTiming } | Error) => void;
}

/** Inputs batch when every one has a leading dimension that is symbolic, or the same fixed size > 1. */
function batchDimension(specs: readonly TensorSpec[]): { batchable: boolean; fixed: number | null; reason?: string } {
  if (specs.length === 0) return { batchable: false, fixed: null, reason: 'the model has no inputs' };
  const firsts = specs.map((s) => s.shape[0]);
  if (firsts.some((d) => d === undefined)) return { batchable: false, fixed: null, reason: 'an input is a scalar' };
  if (firsts.every((d) => typeof d === 'string')) return { batchable: true, fixed: null };
  const first = firsts[0];
  if (typeof first === 'number' && first > 1 && firsts.every((d) => d === first)) return { batchable: true, fixed: first };
  return { batchable: false, fixed: null, reason: `the first dimension of the inputs is [${firsts.join(', ')}], not a batch dimension` };
}

function resolvePolicy(options: EngineOptions, dim: ReturnType<typeof batchDimension>, warnings: string[]): BatchPolicy {
  const none: BatchPolicy = { mode: 'none', maxBatchSize: 1, maxQueueDelayMs: 0, preferredBatchSizes: [] };
  if (!options.batching) return none;
  if (!dim.batchable) {
    warnings.push(`batching is off: ${dim.reason ?? 'no batch dimension'}`);
    return none;
  }
  const b = options.batching === true ? {} : options.batching;
  const mode = b.mode ?? 'adaptive';
  if (mode !== 'adaptive' && mode !== 'static') throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid batching.mode '${String(mode)}' (expected adaptive or static)`);
  const maxBatchSize = dim.fixed ?? b.maxBatchSize ?? 8;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid batching.maxBatchSize ${maxBatchSize} (expected a positive integer)`);
  if (dim.fixed !== null && b.maxBatchSize !== undefined && b.maxBatchSize !== dim.fixed) {
    warnings.push(`the model fixes its batch at ${dim.fixed}: maxBatchSize ${b.maxBatchSize} ignored, batches are padded to ${dim.fixed}`);
  }
  const delayUs = b.maxQueueDelayUs ?? (mode === 'static' ? 1000 : 0);
  if (!(delayUs >= 0)) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid batching.maxQueueDelayUs ${delayUs}`);
  const preferred = b.preferredBatchSizes ?? [];
  if (preferred.some((p) => !Number.isInteger(p) || p < 1 || p > maxBatchSize)) {
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid batching.preferredBatchSizes [${preferred.join(', ')}] (integers from 1 to maxBatchSize ${maxBatchSize})`);
  }
  return { mode, maxBatchSize, maxQueueDelayMs: delayUs / 1000, preferredBatchSizes: preferred };
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid ${name} ${String(value)} (expected a positive integer)`);
  return v;
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const cores = os.availableParallelism();
  const instances = positiveInt('instances', options.instances, 1);
  const threads = positiveInt('threads', options.threads, Math.max(1, Math.floor(cores / instances)));
  const maxQueueSize = positiveInt('maxQueueSize', options.maxQueueSize, 256);
  const clock = options.clock ?? realClock;
  const model = await readModel(options.model);
  // onnxruntime's default is to spin: best for one request at a time (yolox_nano on 2 cores: 9.9 ms
  // spinning, 14.2 ms not). Callers that keep other threads busy alongside (a server, a load
  // generator) turn it off; see SessionSettings.allowSpinning.
  const settings: SessionSettings = { ...options.session, intraOpThreads: threads };
  const latency = new LatencyModels();
  const metrics = new EngineMetrics();

  // Assigned once the workers report the model's inputs; the crash handler below may run before.
  // eslint-disable-next-line prefer-const
  let scheduler: Scheduler<Job> | undefined;
  const noWorkerLeft = 'no worker left to run the request';
  let phase: 'open' | 'closing' | 'closed' = 'open';
  const states: InstanceHealth[] = Array.from({ length: instances }, () => ({ state: 'live', failures: 0, lastError: '', crashes: 0 }));
  // Backoff waits in progress; close() ends them early (resolving false) so no timer outlives it.
  // (The real clock's timers are unref'd: a wait never keeps the process alive either.)
  const waits = new Map<unknown, (completed: boolean) => void>();
  const backoff = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = clock.setTimer(() => {
        waits.delete(timer);
        resolve(true);
      }, ms);
      waits.set(timer, resolve);
    });

  const health = (): EngineHealth => {
    const count = (state: InstanceHealth['state']): number => states.filter((s) => s.state === state).length;
    const live = count('live');
    const down = count('down');
    const h: EngineHealth = { ready: phase === 'open' && live > 0, instances, live, restarting: count('restarting'), down, restarts: pool.restarts };
    if (phase !== 'open') h.reason = `the engine is ${phase}`;
    else if (!h.ready || down > 0) {
      h.reason = states
        .map((s, i) => {
          if (s.state === 'restarting') return `worker ${i} crashed and is being replaced`;
          if (s.state === 'down') return `worker ${i} crashed and its replacement failed ${s.failures} time${s.failures === 1 ? '' : 's'}: ${s.lastError}`;
          return '';
        })
        .filter((t) => t !== '')
        .join('; ');
    }
    return h;
  };
  let lastHealth = '';
  const healthChanged = (): void => {
    const h = health();
    const key = JSON.stringify(h);
    if (key === lastHealth) return;
    lastHealth = key;
    try {
      options.onHealthChange?.(h);
    } catch (error) {
      // The callback runs inside crash recovery, which must go on whatever it does.
      process.emitWarning(`rtinfer: onHealthChange threw: ${firstLine(error)}`);
    }
  };
  /** With no worker running or coming back, queued requests would wait forever: answer them now. */
  const answerIfNoWorker = (): void => {
    if (states.some((s) => s.state === 'live' || s.state === 'restarting')) return;
    if (phase === 'open') scheduler?.rejectQueued(noWorkerLeft, 'RTI_ERR_ENGINE_WORKER_CRASHED');
    else scheduler?.rejectQueued('the engine closed while its workers were being replaced; this request did not run');
  };
  const restart = async (instance: number): Promise<void> => {
    const s = states[instance] as InstanceHealth;
    const crash = s.crashes;
    for (let attempt = 0; ; attempt++) {
      try {
        await pool.replace(instance);
        if (s.crashes !== crash) return;
        s.state = 'live';
        scheduler?.setAvailable(instance, true);
        healthChanged();
        return;
      } catch (error) {
        if (s.crashes !== crash) return;
        s.failures++;
        s.lastError = firstLine(error);
      }
      // Closing: no more attempts (the one made at the crash may still drain the queue).
      const delay = RESTART_RETRY_DELAYS_MS[attempt];
      if (delay === undefined || phase !== 'open' || !(await backoff(delay)) || phase !== 'open') break;
    }
    s.state = phase === 'open' ? 'down' : 'stopped';
    healthChanged();
    answerIfNoWorker();
  };
  const pool = new WorkerPool(instances, { modelBytes: model.bytes, label: model.label, settings }, (instance) => {
    scheduler?.setAvailable(instance, false);
    const s = states[instance] as InstanceHealth;
    s.crashes++;
    s.state = 'restarting';
    s.failures = 0;
    s.lastError = '';
    healthChanged();
    void restart(instance);
  });
  const io = await pool.start();
  lastHealth = JSON.stringify(health());
  const buffers = new BufferPool();
  pool.onBuffers = (b) => buffers.give(b);

  const warnings: string[] = [];
  const dim = batchDimension(io.inputs);
  let policy: BatchPolicy;
  try {
    policy = resolvePolicy(options, dim, warnings);
  } catch (error) {
    await pool.close();
    throw error;
  }
  const oversubscribed = instances * threads > cores;
  if (oversubscribed) warnings.push(`thread budget oversubscribed: ${instances} instances × ${threads} threads on ${cores} cores; expect latency jitter`);
  const config: EngineConfig = {
    instances,
    threadsPerInstance: threads,
    cores,
    oversubscribed,
    batching: { ...policy, batchable: dim.batchable, fixedBatch: dim.fixed },
    maxQueueSize,
    warnings,
  };
  const batchable = policy.mode !== 'none' || dim.fixed !== null;
  const padTo = dim.fixed ?? undefined;

  const run = async (instance: number, batch: Array<QueuedRequest<Job>>): Promise<void> => {
    const started = clock.now();
    const rows = batch.map((r) => r.rows);
    const totalRows = Math.max(padTo ?? 0, rows.reduce((s, r) => s + r, 0));
    const single = batch.length === 1 && padTo === undefined ? batch[0]!.item : undefined;
    const feeds = single ? (single.owned ? single.feeds : copyFeeds(single.feeds, buffers)) : stackFeeds(batch.map((r) => r.item.feeds), padTo);
    const shapeKey = batch[0]?.shapeKey ?? '';
    try {
      const result = await pool.run(instance, feeds);
      // The model learns what the scheduler lives with: copy, hand-off, inference and the way back,
      // not the worker's inference time alone (with that, admitted requests often finished late).
      const now = clock.now();
      latency.for(shapeKey).observe(totalRows, now - started, now);
      metrics.batch(batch.length, totalRows);
      const parts = batchable ? splitOutputs(result.outputs, rows) : [result.outputs];
      const done = clock.now();
      batch.forEach((r, i) => {
        const timing: RequestTiming = {
          queueMs: (r.dispatchedAt ?? done) - r.enqueuedAt,
          batchSize: totalRows,
          batchRequests: batch.length,
          inferenceMs: result.inferenceMs,
          totalMs: done - r.enqueuedAt,
        };
        r.item.settle({ outputs: parts[i] ?? {}, timing });
      });
    } catch (error) {
      for (const r of batch) r.item.settle(error instanceof Error ? error : new Error(String(error)));
    } finally {
      scheduler?.complete(instance);
    }
  };

  scheduler = new Scheduler<Job>({
    instances,
    policy,
    maxQueueSize,
    clock,
    latency,
    hooks: {
      dispatch: (instance, batch) => void run(instance, batch),
      refuse: (request, error) => request.item.settle(error),
    },
  });
  const sched = scheduler;

  if (options.warmup !== false) {
    try {
      await profile(io.inputs, policy, padTo, options.warmupShapes, instances, pool, latency, clock);
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  const submit = (inputs: Inputs, opts: InferOptions = {}): Promise<{ outputs: WireFeeds; timing: RequestTiming }> => {
    const start = clock.now();
    metrics.counts.submitted++;
    let valid: ReturnType<typeof validateInputs>;
    try {
      valid = validateInputs(io.inputs, inputs as Record<string, TensorLike>, batchable);
      if (padTo !== undefined && valid.rows > padTo) throw new RtinferError('RTI_ERR_SHAPE_MISMATCH', `batch of ${valid.rows} rows exceeds the model's fixed batch size ${padTo}`);
      if (opts.deadlineMs !== undefined && !(opts.deadlineMs > 0)) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid deadlineMs ${opts.deadlineMs} (expected > 0)`);
      const p = opts.priority;
      if (p !== undefined && !(Number.isInteger(p) && p >= PRIORITY_RANGE.min && p <= PRIORITY_RANGE.max)) {
        throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid priority ${p} (expected an integer from ${PRIORITY_RANGE.min} to ${PRIORITY_RANGE.max})`);
      }
    } catch (error) {
      metrics.outcome(error);
      return Promise.reject(error);
    }
    if (states.every((s) => s.state === 'down')) {
      const error = new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', noWorkerLeft);
      metrics.outcome(error);
      return Promise.reject(error);
    }
    if (opts.signal?.aborted) {
      metrics.counts.aborted++;
      return Promise.reject(opts.signal.reason);
    }
    return new Promise((resolve, reject) => {
      let request: QueuedRequest<Job> | undefined;
      const onAbort = (): void => {
        if (request && sched.cancel(request)) {
          metrics.counts.aborted++;
          reject(opts.signal?.reason);
        }
      };
      const job: Job = {
        feeds: valid.feeds,
        owned: opts.transferInputs === true,
        settle: (result) => {
          opts.signal?.removeEventListener('abort', onAbort);
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
      try {
        request = sched.submit({
          item: job,
          rows: valid.rows,
          shapeKey: valid.shapeKey,
          priority: opts.priority ?? 0,
          ...(opts.deadlineMs !== undefined ? { deadline: start + opts.deadlineMs } : {}),
        });
        opts.signal?.addEventListener('abort', onAbort, { once: true });
      } catch (error) {
        metrics.outcome(error);
        reject(error);
      }
    });
  };

  let closing: Promise<void> | undefined;
  const engine: Engine = {
    inputs: io.inputs,
    outputs: io.outputs,
    config,
    async infer(inputs, opts) {
      const { outputs } = await submit(inputs, opts);
      return toOrtFeeds(outputs);
    },
    async inferWithTiming(inputs, opts) {
      const { outputs, timing } = await submit(inputs, opts);
      return { outputs: toOrtFeeds(outputs), timing };
    },
    stats: () => metrics.snapshot(config, sched.queueDepth, sched.busyInstances, latency.points(), pool.restarts),
    health,
    close(opts = {}) {
      closing ??= (async () => {
        phase = 'closing';
        // Stop replacing crashed workers: the loops waiting in backoff end (as 'stopped').
        for (const [timer, resolve] of waits) {
          clock.clearTimer(timer);
          resolve(false);
        }
        waits.clear();
        healthChanged();
        sched.close(opts.drain ?? true);
        answerIfNoWorker();
        // After the timeout, queued requests are refused; batches already running still finish,
        // because onnxruntime cannot interrupt a run (and terminating a worker inside one aborts
        // the process).
        const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => sched.rejectQueued('the engine closed (drain timeout) before this request ran'), opts.timeoutMs);
        await sched.whenIdle();
        clearTimeout(timer);
        await pool.close();
        phase = 'closed';
        for (const s of states) if (s.state !== 'down') s.state = 'stopped';
        healthChanged();
      })();
      return closing;
    },
    crashWorkerForTesting: (instance, o = {}) => {
      if (o.failRestarts !== undefined) pool.failStartsForTesting(instance, o.failRestarts);
      pool.crash(instance);
    },
  };
  return engine;
}

/**
 * Seeds the latency model (and warms every session): each batch size worth knowing, a few runs
 * each, on every instance, with zero inputs at the default (or given) shapes.
 */
async function profile(
  specs: readonly TensorSpec[],
  policy: BatchPolicy,
  padTo: number | undefined,
  warmupShapes: Record<string, number[]> | undefined,
  instances: number,
  pool: WorkerPool,
  latency: LatencyModels,
  clock: Clock,
): Promise<void> {
  const overrides = Object.entries(warmupShapes ?? {}).map(([name, dims]) => ({ name, dims }));
  const { shapes } = resolveShapes(specs, overrides);
  const sizes = new Set<number>([padTo ?? 1]);
  if (policy.mode !== 'none' && padTo === undefined) {
    for (let b = 2; b < policy.maxBatchSize; b *= 2) sizes.add(b);
    sizes.add(policy.maxBatchSize);
  }
  const { samples } = await buildSamples(specs, shapes, { fill: 'zeros', files: [], samples: 1, seed: 1 });
  const one = samples[0];
  if (!one) return;
  const base = fromOrtOutputs(one);
  const key = validateInputs(specs, base, policy.mode !== 'none' || padTo !== undefined).shapeKey;
  const RUNS = 3;
  await Promise.all(
    Array.from({ length: instances }, async (_, instance) => {
      for (const b of sizes) {
        const feeds = b === 1 || padTo !== undefined ? base : stackFeeds(Array.from({ length: b }, () => base));
        for (let i = 0; i < RUNS; i++) {
          try {
            const t0 = clock.now();
            await pool.run(instance, copyFeeds(feeds));
            // As in traffic, the whole hand-off is what counts. The first run of a size pays
            // one-off allocation costs: learn from the later ones.
            const now = clock.now();
            if (i > 0) latency.for(key).observe(b, now - t0, now);
          } catch {
            return; // a model that needs real inputs to run: it learns from traffic instead
          }
        }
      }
    }),
  );
}
