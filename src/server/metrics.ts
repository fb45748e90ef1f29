/**
 * Prometheus metrics for `rtinfer serve`, with prom-client on a registry of the server's own (two
 * servers in one process do not collide). Latency histograms use buckets from 0.5 ms to 10 s,
 * which covers sub-millisecond models and slow detectors alike.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { lagOf, LAG_RESOLUTION_MS } from '../stats/event-loop.js';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LabeledCounter, LabeledGauge, LabeledHistogram } from './fast-metrics.js';
import type { EngineHealth } from '../engine/engine.js';
import { modelReadiness } from './model-health.js';
import type { LoadedModelEntry, ServerInstruments } from './types.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

export class ServerMetrics implements ServerInstruments {
  readonly registry = new Registry();
  readonly requests: LabeledCounter<'model' | 'endpoint' | 'outcome'>;
  readonly e2e: LabeledHistogram<'model' | 'endpoint'>;
  readonly upstream: LabeledHistogram<'model'>;
  readonly queue: LabeledHistogram<'model'>;
  readonly inference: LabeledHistogram<'model'>;
  readonly batch: LabeledHistogram<'model'>;
  readonly inflight: LabeledGauge<'model'>;
  readonly droppedFrames: Counter<'model'>;
  readonly refusedConnections: Counter<'reason'>;
  readonly codecOffloaded: Counter<'op'>;
  readonly memoryTrims: Counter;
  readonly #lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });

  // One declaration per metric, in the order /metrics lists them: a flat list is easier to scan
  // and to extend than the same declarations spread over helpers.
  constructor(models: () => ReadonlyMap<string, LoadedModelEntry>, bodyBytes: () => number = () => 0) {
    const r = this.registry;
    // Its own names start process_ and nodejs_: rtinfer_process_cpu_seconds_total, rtinfer_nodejs_heap_size_used_bytes.
    collectDefaultMetrics({ register: r, prefix: 'rtinfer_' });
    this.requests = new LabeledCounter({
      name: 'rtinfer_requests_total',
      help: 'Requests by model, endpoint and outcome (ok, late, 4xx and 5xx codes; 499: the client left before the answer)',
      labelNames: ['model', 'endpoint', 'outcome'],
      registers: [r],
    });
    this.e2e = new LabeledHistogram({
      name: 'rtinfer_request_duration_seconds',
      help: 'End-to-end request time in the server, body read to response',
      labelNames: ['model', 'endpoint'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.upstream = new LabeledHistogram({
      name: 'rtinfer_request_upstream_seconds',
      help: "Time from an inference request's X-Request-Start stamp (when the client or a proxy sent it) to its arrival; stamped requests only",
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.queue = new LabeledHistogram({
      name: 'rtinfer_queue_duration_seconds',
      help: 'Time a request waited in the engine queue',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.inference = new LabeledHistogram({
      name: 'rtinfer_inference_duration_seconds',
      help: 'Inference time of the batch a request ran in',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.batch = new LabeledHistogram({
      name: 'rtinfer_batch_size',
      help: 'Rows in the batch a request ran in',
      labelNames: ['model'],
      buckets: BATCH_BUCKETS,
      registers: [r],
    });
    this.inflight = new LabeledGauge({
      name: 'rtinfer_inflight_requests',
      help: 'Requests received and not yet answered',
      labelNames: ['model'],
      registers: [r],
    });
    this.droppedFrames = new Counter({
      name: 'rtinfer_stream_frames_dropped_total',
      help: 'Stream frames replaced by a newer one before they ran',
      labelNames: ['model'],
      registers: [r],
    });
    new Gauge({
      name: 'rtinfer_queue_depth',
      help: 'Requests waiting in the engine queue',
      labelNames: ['model'],
      registers: [r],
      collect() {
        for (const [name, m] of models()) if (m.engine) this.set({ model: name }, m.engine.stats().queueDepth);
      },
    });
    new Gauge({
      name: 'rtinfer_inflight_body_bytes',
      help: 'Bytes held by request bodies and stream frames in flight (limit: maxInflightBytes)',
      registers: [r],
      collect() {
        this.set(bodyBytes());
      },
    });
    this.codecOffloaded = new Counter({
      name: 'rtinfer_codec_offloaded_total',
      help: 'Large v2 JSON messages decoded or encoded in the codec worker, off the serving thread',
      labelNames: ['op'],
      registers: [r],
    });
    this.memoryTrims = new Counter({
      name: 'rtinfer_memory_trims_total',
      help: 'Times free memory was returned to the OS after traffic went quiet (memoryTrimIntervalMs)',
      registers: [r],
    });
    this.refusedConnections = new Counter({
      name: 'rtinfer_refused_connections_total',
      help: 'Connections and streams refused at their cap',
      labelNames: ['reason'],
      registers: [r],
    });
    new Gauge({
      name: 'rtinfer_model_ready',
      help: '1 when the model is loaded and has a live worker; the reason is in /v2/repository/index',
      labelNames: ['model'],
      registers: [r],
      collect() {
        for (const [name, m] of models()) this.set({ model: name }, modelReadiness(m).ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rtinfer_model_workers',
      help: 'Engine workers by state: live, restarting after a crash, down (restarts kept failing)',
      labelNames: ['model', 'state'],
      registers: [r],
      collect() {
        for (const [name, m] of models()) {
          const h = m.engine?.health();
          if (!h) continue;
          this.set({ model: name, state: 'live' }, h.live);
          this.set({ model: name, state: 'restarting' }, h.restarting);
          this.set({ model: name, state: 'down' }, h.down);
        }
      },
    });
    // The engines keep these counts; each counter mirrors them at every scrape.
    const healthCounter = (name: string, help: string, count: (h: EngineHealth) => number): void =>
      void new Counter({
        name,
        help,
        labelNames: ['model'],
        registers: [r],
        collect() {
          this.reset();
          for (const [model, m] of models()) {
            const h = m.engine?.health();
            if (h) this.inc({ model }, count(h));
          }
        },
      });
    healthCounter('rtinfer_worker_restarts_total', 'Workers replaced after a crash', (h) => h.restarts);
    healthCounter(
      'rtinfer_worker_recycles_total',
      'Workers replaced to give back the memory an unusually large request left in onnxruntime',
      (h) => h.recycles,
    );
    const lag = this.#lag;
    lag.enable();
    new Gauge({
      name: 'rtinfer_event_loop_lag_seconds',
      help: 'Event-loop lag of the serving thread since the last scrape (p99)',
      registers: [r],
      collect() {
        this.set(lagOf(lag).p99 / 1000);
        lag.reset();
      },
    });
  }

  close(): void {
    this.#lag.disable();
  }
}
