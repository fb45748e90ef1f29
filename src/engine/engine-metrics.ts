/**
 * What the engine records about every request: outcome counts, HDR histograms of queue wait,
 * inference and total time, and the batch sizes it ran. Refusals count here too: nothing leaves
 * the engine unrecorded.
 */
import { isRtinferError } from '../errors.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import type { LatencyPoint } from './latency-model.js';
import type { HopLegs } from './worker-pool.js';

export interface RequestTiming {
  /** Enqueue to dispatch to a worker. */
  queueMs: number;
  /** Rows in the batch this request ran in (with padding for fixed-batch models). */
  batchSize: number;
  /** Requests in that batch. */
  batchRequests: number;
  /** The batch's inference time, measured in the worker around session.run. */
  inferenceMs: number;
  /** Enqueue to result, on the engine's clock. */
  totalMs: number;
  /**
   * A batch sent to its worker by message: the two thread hand-offs (bench/engine-overhead prints
   * them). Undefined otherwise, but always set: timings of one hidden class for their consumers.
   */
  legs: HopLegs | undefined;
}

export interface HistogramSummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** HDR histogram, compressed base64 (µs), so that stats from several engines merge exactly. */
  encoded: string;
}

export interface OutcomeCounts {
  submitted: number;
  /** Answered within the deadline (or without one). */
  ok: number;
  /** Answered, but after its deadline (it was already running when the deadline passed). */
  late: number;
  invalid: number;
  queueFull: number;
  unmeetable: number;
  expired: number;
  closed: number;
  aborted: number;
  failed: number;
  crashed: number;
}

export interface EngineStats {
  instances: number;
  threadsPerInstance: number;
  oversubscribed: boolean;
  batching: {
    mode: string;
    maxBatchSize: number;
    maxQueueDelayUs: number;
    preferredBatchSizes: readonly number[];
    batchable: boolean;
  };
  queueDepth: number;
  busyInstances: number;
  counts: OutcomeCounts;
  latency: { queue: HistogramSummary; inference: HistogramSummary; total: HistogramSummary };
  /** Batches run, by size in rows. */
  batchSizes: Record<number, number>;
  /** Mean requests per batch. */
  meanBatchRequests: number;
  latencyModel: Array<LatencyPoint & { shape: string }>;
  workerRestarts: number;
  /** Requests run on the calling thread (EngineOptions.inlineBelowMs). */
  inlineRuns: number;
  warnings: string[];
}

interface ConfigView {
  instances: number;
  threadsPerInstance: number;
  oversubscribed: boolean;
  batching: {
    mode: string;
    maxBatchSize: number;
    maxQueueDelayMs: number;
    preferredBatchSizes: readonly number[];
    batchable: boolean;
  };
  warnings: string[];
}

function summary(r: LatencyRecorder): HistogramSummary {
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    count: r.count,
    meanMs: r.count ? ms(r.meanUs) : 0,
    p50Ms: r.count ? ms(r.valueAtQuantileUs(0.5)) : 0,
    p90Ms: r.count ? ms(r.valueAtQuantileUs(0.9)) : 0,
    p99Ms: r.count ? ms(r.valueAtQuantileUs(0.99)) : 0,
    maxMs: r.count ? ms(r.maxUs) : 0,
    encoded: r.encode(),
  };
}

const OUTCOME_BY_CODE: Readonly<Record<string, keyof OutcomeCounts>> = {
  RTI_ERR_ENGINE_QUEUE_FULL: 'queueFull',
  RTI_ERR_ENGINE_DEADLINE_UNMEETABLE: 'unmeetable',
  RTI_ERR_ENGINE_DEADLINE_EXPIRED: 'expired',
  RTI_ERR_ENGINE_CLOSED: 'closed',
  RTI_ERR_ENGINE_WORKER_CRASHED: 'crashed',
};

export class EngineMetrics {
  readonly counts: OutcomeCounts = {
    submitted: 0,
    ok: 0,
    late: 0,
    invalid: 0,
    queueFull: 0,
    unmeetable: 0,
    expired: 0,
    closed: 0,
    aborted: 0,
    failed: 0,
    crashed: 0,
  };
  readonly #queue = new LatencyRecorder();
  readonly #inference = new LatencyRecorder();
  readonly #total = new LatencyRecorder();
  readonly #batchSizes = new Map<number, number>();
  #batches = 0;
  #batchRequests = 0;

  answered(t: RequestTiming, late: boolean): void {
    if (late) this.counts.late++;
    else this.counts.ok++;
    this.#queue.record(t.queueMs * 1000);
    this.#inference.record(t.inferenceMs * 1000);
    this.#total.record(t.totalMs * 1000);
  }

  batch(requests: number, rows: number): void {
    this.#batches++;
    this.#batchRequests += requests;
    this.#batchSizes.set(rows, (this.#batchSizes.get(rows) ?? 0) + 1);
  }

  outcome(error: unknown): void {
    if (!isRtinferError(error)) {
      this.counts.failed++;
      return;
    }
    const key = OUTCOME_BY_CODE[error.code];
    if (key) this.counts[key]++;
    else if (error.kind === 'usage') this.counts.invalid++;
    else this.counts.failed++;
  }

  snapshot(
    config: ConfigView,
    queueDepth: number,
    busyInstances: number,
    latencyModel: EngineStats['latencyModel'],
    workerRestarts: number,
    inlineRuns: number,
  ): EngineStats {
    return {
      instances: config.instances,
      threadsPerInstance: config.threadsPerInstance,
      oversubscribed: config.oversubscribed,
      batching: {
        mode: config.batching.mode,
        maxBatchSize: config.batching.maxBatchSize,
        maxQueueDelayUs: config.batching.maxQueueDelayMs * 1000,
        preferredBatchSizes: config.batching.preferredBatchSizes,
        batchable: config.batching.batchable,
      },
      queueDepth,
      busyInstances,
      counts: { ...this.counts },
      latency: { queue: summary(this.#queue), inference: summary(this.#inference), total: summary(this.#total) },
      batchSizes: Object.fromEntries([...this.#batchSizes.entries()].sort((a, b) => a[0] - b[0])),
      meanBatchRequests: this.#batches ? this.#batchRequests / this.#batches : 0,
      latencyModel,
      workerRestarts,
      inlineRuns,
      warnings: [...config.warnings],
    };
  }
}
