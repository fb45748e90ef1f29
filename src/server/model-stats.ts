/**
 * Per-model statistics in the shape of Triton's statistics extension
 * (GET /v2/models[/{name}[/versions/{v}]]/stats): cumulative counts and durations since the server
 * started, so Triton's tooling (perf_analyzer reads these) and dashboards built for it work.
 *
 * Stages as rtinfer has them: `queue` is the engine's queue, `compute_input` the request's decoding
 * and the hop to the worker, `compute_infer` the worker's session.run, `compute_output` the way back
 * and the encoding. `success` is arrival to answer; `fail` counts requests refused or failed once
 * their model was known. Batch statistics are per batch the engine ran (by its size in rows).
 */
import type { StatsSink, SuccessSample } from './types.js';

export interface DurationStat {
  count: number;
  ns: number;
}

export interface BatchStat {
  batch_size: number;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
}

export interface ModelStat {
  name: string;
  version: string;
  /** Epoch ms of the last successful inference; 0 for none. */
  last_inference: number;
  /** Requests answered (rows, for batched requests, as Triton counts inferences). */
  inference_count: number;
  /** Engine executions (batches) that carried this model's requests. */
  execution_count: number;
  inference_stats: {
    success: DurationStat;
    fail: DurationStat;
    queue: DurationStat;
    compute_input: DurationStat;
    compute_infer: DurationStat;
    compute_output: DurationStat;
  };
  batch_stats: BatchStat[];
}

const MS_TO_NS = 1e6;

function add(d: DurationStat, ms: number): void {
  d.count++;
  d.ns += Math.round(Math.max(0, ms) * MS_TO_NS);
}

const zero = (): DurationStat => ({ count: 0, ns: 0 });

/** Batch sizes kept at most per model (a client cannot grow this: batch sizes come from the engine). */
const MAX_BATCH_SIZES = 256;

export class ModelStatistics implements StatsSink {
  readonly #byModel = new Map<string, ModelStat>();
  /** Fractional executions: a batch of k requests adds 1/k per request. */
  readonly #executions = new Map<string, number>();

  #stat(name: string, version: string): ModelStat {
    const key = `${name}\u0000${version}`;
    let s = this.#byModel.get(key);
    if (!s) {
      s = {
        name,
        version,
        last_inference: 0,
        inference_count: 0,
        execution_count: 0,
        inference_stats: {
          success: zero(),
          fail: zero(),
          queue: zero(),
          compute_input: zero(),
          compute_infer: zero(),
          compute_output: zero(),
        },
        batch_stats: [],
      };
      this.#byModel.set(key, s);
    }
    return s;
  }

  success(name: string, version: string, x: SuccessSample): void {
    const s = this.#stat(name, version);
    const st = s.inference_stats;
    add(st.success, x.totalMs);
    add(st.queue, x.queueMs);
    add(st.compute_input, x.inputMs);
    add(st.compute_infer, x.inferMs);
    add(st.compute_output, x.outputMs);
    s.inference_count++;
    s.last_inference = Date.now();
    const key = `${name}\u0000${version}`;
    const executions = (this.#executions.get(key) ?? 0) + 1 / Math.max(1, x.batchRequests);
    this.#executions.set(key, executions);
    s.execution_count = Math.round(executions);
    let b = s.batch_stats.find((e) => e.batch_size === x.batchSize);
    if (!b && s.batch_stats.length < MAX_BATCH_SIZES) {
      b = { batch_size: x.batchSize, compute_input: zero(), compute_infer: zero(), compute_output: zero() };
      s.batch_stats.push(b);
      s.batch_stats.sort((p, q) => p.batch_size - q.batch_size);
    }
    if (b) {
      add(b.compute_input, x.inputMs);
      add(b.compute_infer, x.inferMs);
      add(b.compute_output, x.outputMs);
    }
  }

  fail(name: string, version: string, totalMs: number): void {
    add(this.#stat(name, version).inference_stats.fail, totalMs);
  }

  /** Copies, for the models given (name and version), zeros for those with no request yet. */
  snapshot(models: ReadonlyArray<{ name: string; version: string }>): ModelStat[] {
    return models.map((m) => structuredClone(this.#stat(m.name, m.version)));
  }

  /** Forgets a model version (unloaded). */
  forget(name: string, version: string): void {
    const key = `${name}\u0000${version}`;
    this.#byModel.delete(key);
    this.#executions.delete(key);
  }
}
