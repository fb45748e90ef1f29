/**
 * The server's contract: configuration, model entries, routes and what route modules may use of the
 * server. It imports nothing from server/, so every module there can depend on it without the
 * import circle the server once had (server ↔ routes).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import type { LabeledCounter, LabeledGauge, LabeledHistogram } from './fast-metrics.js';
import type { AbortLike, BatchingOptions, Engine, PerformanceHint } from '../engine/engine.js';
import type { BufferPool } from '../engine/tensors.js';
import type { SessionSettings } from '../runtime/session-options.js';
import type { RefusedBodies } from './http-io.js';

// ---- configuration ----

/** How models in a repository are loaded (ServerConfig.modelRepository.control). */
export const MODEL_CONTROL_MODES = ['none', 'poll', 'explicit'] as const;
export type ModelControl = (typeof MODEL_CONTROL_MODES)[number];

export interface ModelConfig {
  /** URL name; default: the file name without its extension. */
  name: string;
  path: string;
  version: string;
  instances?: number;
  threads?: number;
  batching?: false | BatchingOptions;
  maxQueueSize?: number;
  /** Deadline applied when a request gives none (ms). */
  defaultDeadlineMs?: number;
  session?: Omit<SessionSettings, 'intraOpThreads'>;
  warmupShapes?: Record<string, number[]>;
  /** Vision task for the image endpoints (yolo, yolox, ssd, classify, text, ...); default: detected. */
  task?: string;
  /**
   * Layout hint when instances and threads are not given: latency, throughput, or auto (the
   * server's default: both measured at start-up, the one that serves more kept).
   */
  hint?: PerformanceHint;
  /** Where the model's sessions run: worker threads (default) or the HTTP thread ('main', one instance). */
  placement?: 'worker' | 'main';
  /**
   * With workers: requests of a shape known to run within this many ms, arriving while nothing is
   * queued, run on the HTTP thread instead (no hop); 0 turns it off. Default INLINE_BELOW_MS.
   */
  inlineBelowMs?: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  /**
   * Port of the gRPC endpoint (the Open Inference Protocol's GRPCInferenceService); none when
   * absent, 0 picks a free one.
   */
  grpcPort?: number;
  /**
   * Port on which a thread of its own answers /v2/health/live and /v2/health/ready (health-port.ts);
   * none when absent, 0 picks a free one.
   */
  healthPort?: number;
  token?: string;
  /** Largest request body accepted (413 beyond). */
  maxBodyBytes: number;
  /** Bytes all request bodies in flight may hold together, queued ones included (503 beyond). */
  maxInflightBytes: number;
  /** Largest decoded image accepted by the image endpoints, in pixels (413 beyond). */
  maxImagePixels: number;
  /**
   * The bound on shutdown: queues drain for at most this long, then whatever is still unanswered
   * gets a 503 and every connection closes.
   */
  drainTimeoutMs: number;
  /** Time a client has to send a whole request (headers and body); 408 beyond. */
  requestTimeoutMs: number;
  /**
   * Deadlines count from a request's X-Request-Start stamp (when the client or a proxy sent it) when
   * it has one, instead of from its arrival (default true; request-start.ts).
   */
  trustRequestStart: boolean;
  /** Open TCP connections at once; beyond, new ones get a 503 and are closed. */
  maxConnections: number;
  /** Open WebSocket streams at once; beyond, upgrades get a 503. */
  maxStreams: number;
  /**
   * Nice value (0-19, Linux) of the inference worker threads; the JSON codec thread runs at
   * workerNice + 5. The HTTP thread keeps the process's priority, so under CPU contention it goes
   * on admitting, refusing and answering. 0 keeps every thread at the process's priority.
   */
  workerNice: number;
  /** WebSocket ping interval; a stream that misses a pong by the next ping is closed. */
  wsPingIntervalMs: number;
  /**
   * After this long with no request bytes (and for a minute after traffic stops), free memory is
   * returned to the OS (glibc's malloc_trim; nothing happens without glibc). 0 turns it off.
   */
  memoryTrimIntervalMs: number;
  /**
   * Host header values accepted (besides loopback names and the bound address), '*' for any.
   * Default empty; a wildcard bind (0.0.0.0, ::) accepts any Host unless this is set.
   */
  allowedHosts: string[];
  /** Origins (scheme://host[:port]) other pages may call from, with CORS; '*' for any. */
  cors: string[];
  /** The log's format: text for people (default), JSON lines for a log pipeline. */
  logFormat?: 'text' | 'json';
  /** One access-log line per request (default false). */
  accessLog?: boolean;
  /**
   * A model repository (repository.ts): its folder, how models in it are loaded (none: all at
   * start-up; poll: all, and again when the folder changes, every pollSeconds; explicit: only
   * those in `load` at start-up, then by POST /v2/repository/models/{name}/load and /unload).
   */
  modelRepository?: { dir: string; control: ModelControl; pollSeconds: number; load: string[] };
  models: ModelConfig[];
}

// ---- models ----

export type ModelState = 'LOADING' | 'READY' | 'UNAVAILABLE';

export interface LoadedModelEntry {
  config: ModelConfig;
  state: ModelState;
  reason?: string;
  engine?: Engine;
  /** What a repository version was loaded from (its settings and file times): unchanged means no reload. */
  stamp?: string;
}

/** One line of POST /v2/repository/index. */
export interface IndexEntry {
  name: string;
  version?: string;
  state: ModelState;
  reason?: string;
}

/** The server's models by name and version, and the repository operations (model-table.ts). */
export interface ModelTableView {
  /** Every loaded version of every model. */
  entries(): Iterable<LoadedModelEntry>;
  versionsOf(name: string): string[];
  load(name: string): Promise<void>;
  unload(name: string): Promise<void>;
  index(readyOnly: boolean): Promise<IndexEntry[]>;
}

/** A model that is READY: its engine is there. */
export type ReadyModel = LoadedModelEntry & { engine: Engine };

// ---- what route modules use ----

/** The Prometheus instruments route handlers record into. */
export interface ServerInstruments {
  readonly requests: LabeledCounter<'model' | 'endpoint' | 'outcome'>;
  readonly e2e: LabeledHistogram<'model' | 'endpoint'>;
  /** Stamped requests: from their X-Request-Start to their arrival (the client's and proxies' share). */
  readonly upstream: LabeledHistogram<'model'>;
  readonly queue: LabeledHistogram<'model'>;
  readonly inference: LabeledHistogram<'model'>;
  readonly batch: LabeledHistogram<'model'>;
  readonly inflight: LabeledGauge<'model'>;
  readonly droppedFrames: Counter<'model'>;
  readonly refusedConnections: Counter<'reason'>;
  readonly codecOffloaded: Counter<'op'>;
}

export const LIVE_SCHEMA = 'rtinfer.live/1' as const;

export interface LivePoint {
  /** End of the one-second interval, epoch ms. */
  t: number;
  /** Requests answered 200 in the interval. */
  answered: number;
  /** answered per second. */
  rps: number;
  /** End-to-end latency of the answered requests (ms); null for an interval with none. */
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Engine queue depth at the end of the interval. */
  queueDepth: number;
  /** Instances running a batch at the end of the interval. */
  busy: number;
  /** Batches the engine ran in the interval, by size in rows. */
  batches: Record<string, number>;
  /** Mean rows per batch in the interval (0 with none). */
  meanBatch: number;
  /** 429 and 503 answers: queue full, deadline unmeetable, model loading, shutting down. */
  refused: number;
  /** 504 answers: the deadline passed while queued. */
  missed: number;
  /** Answered, but after their deadline (the engine's count). */
  late: number;
  /** Other error answers (4xx, 5xx). */
  errors: number;
}

export interface LiveDistribution {
  /** Requests answered in the last minute, by LIVE_BUCKET_EDGES_MS bucket (one extra for > 10 s). */
  counts: number[];
  count: number;
}

export interface LiveModelView {
  name: string;
  points: LivePoint[];
  lastMinute: LiveDistribution;
}

export interface LiveSnapshot {
  schema: typeof LIVE_SCHEMA;
  intervalMs: number;
  windowPoints: number;
  bucketEdgesMs: readonly number[];
  models: LiveModelView[];
}

/** One tick: the newest point of each model and its last-minute distribution. */
export interface LiveTick {
  t: number;
  models: Array<{ name: string; point: LivePoint; lastMinute: LiveDistribution }>;
}

/** What route modules use of the live collector. */
export interface LiveFeed {
  record(model: string | undefined, endpoint: string, status: number, ms: number): void;
  snapshot(): LiveSnapshot;
  onTick(listener: (tick: LiveTick) => void): () => void;
  onClose(listener: () => void): () => void;
}

/** One answered inference request's split (ms), for the per-model statistics. */
export interface SuccessSample {
  totalMs: number;
  queueMs: number;
  inputMs: number;
  inferMs: number;
  outputMs: number;
  /** Rows in the batch it ran in, and requests in it (to count executions once per batch). */
  batchSize: number;
  batchRequests: number;
}

/** Where transports record inference outcomes (Triton's statistics extension). */
export interface StatsSink {
  success(name: string, version: string, sample: SuccessSample): void;
  fail(name: string, version: string, totalMs: number): void;
}

/** Who may call a route: with the bearer token, anyone, or also with `?token=` (EventSource). */
export type RouteAuth = 'token' | 'public' | 'token-or-query';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Path parameters, %-decoded once (a bad escape was already answered 400). */
  params: Readonly<Record<string, string>>;
  /** The model named by the path, resolved before the handler (routes that declare `model`). */
  model: ReadyModel;
  /** performance.now() when the request arrived (its headers were parsed). */
  receivedAt: number;
  /**
   * performance.now() its deadline counts from: `receivedAt`, or the request's X-Request-Start stamp
   * when earlier (request-start.ts).
   */
  startedAt: number;
  /** Aborted when the client goes away before the answer. */
  signal: AbortLike;
  /** Settles when the handler is done (whatever it still held, it holds no more). */
  finished: Promise<void>;
  /** What the handler tells the access log about the request. */
  notes: RequestNotes;
}

export interface RequestNotes {
  /** The server's split of an inference request (Server-Timing stages, ms). */
  timing?: Array<[string, number]>;
}

export interface RouteSpec {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  /** Path template: `{name}` is a parameter, `[...]` an optional part. */
  path: string;
  /** Metrics label: health, metadata, infer, predict, ... */
  endpoint: string;
  auth: RouteAuth;
  /**
   * 'ready': the route serves the model named by `{name}` (and `{version}`), which must be READY
   * with a live worker (404 unknown, 503 + Retry-After not ready); the handler gets it resolved.
   */
  model?: 'ready';
  handler(ctx: RouteContext): Promise<void>;
}

/** Runs at shutdown, after requests are answered; a hook must not throw. */
export type CloseHook = () => void | Promise<void>;

/** What route modules see of the server. */
export interface ServerHost {
  readonly config: ServerConfig;
  readonly models: ReadonlyMap<string, LoadedModelEntry>;
  readonly metrics: ServerInstruments;
  readonly live: LiveFeed;
  /** True once shutdown began. */
  readonly closing: boolean;
  route(spec: RouteSpec): void;
  onClose(hook: CloseHook): void;
  /** The model if it is READY with a live worker; else the HttpError-style refusal is thrown. */
  readyModel(name: string, version?: string): ReadyModel;
  /** Host and Origin checks (DNS rebinding, cross-site requests), for upgrades as for requests. */
  readonly guard: RequestGuard;
  /** The model, known or not ready (404 when unknown, for the name and the version). */
  findModel(name: string, version?: string): LoadedModelEntry;
  /** Runs when shutdown begins, before requests are answered: streams close, feeds end. */
  preClose(hook: CloseHook): void;
  /** The server-wide budget for request-body bytes (maxInflightBytes). */
  readonly bodyBudget: BodyBudget;
  /** The rest of refused request bodies, dropped in turn (see RefusedBodies). */
  readonly refusedBodies: RefusedBodies;
  /** Buffers for binary request bodies, shared with every engine, which hands them back after a run. */
  readonly buffers: BufferPool;
  /** Per-model inference statistics. */
  readonly stats: StatsSink;
  /** Every version, and loading and unloading from the model repository. */
  readonly table: ModelTableView;
}

export interface RequestGuard {
  /**
   * Throws a 403 when the Host header is not one this server answers to (DNS rebinding) or the
   * Origin is another site not in the CORS list; returns the cross origin allowed, if any.
   */
  check(req: IncomingMessage): { crossOrigin?: string };
}

/** Bytes held by request bodies, server-wide; a reservation lasts until its answer is sent. */
export interface BodyBudget {
  readonly limit: number;
  readonly held: number;
  tryReserve(bytes: number): boolean;
  release(bytes: number): void;
}
