/**
 * `rtinfer serve`: models behind HTTP, each in its own engine, speaking the KServe v2 / Open
 * Inference Protocol, with Prometheus metrics, a live dashboard and a bounded shutdown.
 *
 * Lifecycle: listen at once (live), load and warm every model (ready when all are), serve; on
 * close: readiness goes 503 at once, no new connections, streams get a close frame, everything in
 * flight is answered; at `drainTimeoutMs` whatever is still unanswered gets a 503 and every
 * connection closes. Route modules register their routes and their close hooks on the server.
 *
 * Bounds on what a client can make the server hold: maxBodyBytes per body, maxInflightBytes for
 * all bodies together, maxConnections, maxStreams, requestTimeoutMs, the engines' maxQueueSize.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { backgroundClock } from '../util/clock.js';
import { collectGarbage, mallocTrim } from '../util/malloc-trim.js';
import { createEngine, type AbortLike } from '../engine/engine.js';
import { BufferPool } from '../engine/tensors.js';
import {
  authorized,
  ByteBudget,
  RefusedBodies,
  HttpError,
  logToStderr,
  queryTokenAllowed,
  quote,
  rawAnswer,
  sendError,
  sendJson,
  type InternalErrorLog,
} from './http-io.js';
import { addLiveRoutes } from './live-routes.js';
import { LiveStats } from './live-stats.js';
import { INLINE_BELOW_MS } from './config.js';
import { MemoryTrimmer } from './memory-trim.js';
import { ServerMetrics } from './metrics.js';
import { HealthPort } from './health-port.js';
import { modelReadiness, serverReady } from './model-health.js';
import { ModelStatistics } from './model-stats.js';
import { GrpcEndpoint } from './grpc-service.js';
import { ModelTable } from './model-table.js';
import { RequestTarget, Router } from './router.js';
import { REQUEST_START_HEADER, requestStartedAt } from '../protocol/request-start.js';
import type { AccessEntry, ServerLog } from './server-log.js';
import { attachStreams } from './streams.js';
import type {
  CloseHook,
  LoadedModelEntry,
  ReadyModel,
  RequestNotes,
  RouteContext,
  ServerConfig,
  ServerHost,
} from './types.js';
import { addV2Routes } from './v2-routes.js';
import { VisionService, addVisionRoutes } from './vision-routes.js';
import { answerPreflight, setCorsHeaders, WebGuard } from './web-guard.js';

export type { LoadedModelEntry, ModelState, ReadyModel } from './types.js';

export interface RtinferServer {
  readonly config: ServerConfig;
  readonly models: ReadonlyMap<string, LoadedModelEntry>;
  readonly metrics: ServerMetrics;
  /** Per-second live statistics for the dashboard (GET /api/live). */
  readonly live: LiveStats;
  /** Buffers of binary request bodies that engines handed back, kept for the next bodies. */
  readonly buffers: BufferPool;
  /**
   * Resolves with the base URL once listening (models may still be loading); the gRPC endpoint too
   * when configured.
   */
  listen(): Promise<string>;
  /** The gRPC endpoint's port once listening; undefined when there is none. */
  readonly grpcPort: number | undefined;
  /** The health port once listening; undefined when there is none. */
  readonly healthPort: number | undefined;
  /** Resolves when every model is READY; rejects if one cannot load. */
  ready(): Promise<void>;
  /** Bounded by config.drainTimeoutMs (plus a short grace for the workers to stop). */
  close(): Promise<void>;
}

export interface ServerOptions {
  /**
   * Where unexpected errors go (default: the logger's, else one line on stderr); clients only learn
   * that one happened.
   */
  log?: InternalErrorLog;
  /** Start-up, errors and the access log (server-log.ts); none by default. */
  logger?: ServerLog;
}

/** The status logged and counted for a request whose client left before its answer (nginx's). */
export const CLIENT_CLOSED = 499;

/** After the drain bound, how long close() still waits for workers to stop before returning. */
const CLOSE_GRACE_MS = 2000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}

class HttpServer implements RtinferServer, ServerHost {
  readonly config: ServerConfig;
  readonly table: ModelTable;
  readonly metrics: ServerMetrics;
  readonly live: LiveStats;
  readonly guard: WebGuard;
  readonly bodyBudget: ByteBudget;
  readonly refusedBodies = new RefusedBodies();
  readonly buffers: BufferPool;
  readonly stats = new ModelStatistics();
  readonly #router = new Router();
  readonly #grpc: GrpcEndpoint | undefined;
  readonly #health: HealthPort | undefined;
  readonly #http: http.Server;
  readonly #log: InternalErrorLog;
  readonly #logger: ServerLog | undefined;
  readonly #preClose: CloseHook[] = [];
  readonly #onClose: CloseHook[] = [];
  /** Requests received and not yet answered (shutdown answers what is left with a 503). */
  readonly #inflight = new Set<ServerResponse>();
  readonly #sockets = new Set<Socket>();
  readonly #trimmer: MemoryTrimmer | undefined;
  readonly #refusedSockets = new WeakSet<Socket>();
  /** Sockets answered with a request timeout's 408 outside any response: their request logs 408. */
  readonly #timedOut = new WeakSet<Duplex>();
  #idle: (() => void) | undefined;
  #closing = false;
  #loading: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(config: ServerConfig, options: ServerOptions = {}) {
    this.config = config;
    this.#log = options.log ?? options.logger?.error ?? logToStderr;
    this.#logger = options.logger;
    this.table = new ModelTable({
      config,
      load: (m) => this.#load(m),
      closing: () => this.#closing,
      log: (e) => this.#log(e),
      forget: (name, version) => this.stats.forget(name, version),
    });
    this.bodyBudget = new ByteBudget(config.maxInflightBytes);
    this.buffers = new BufferPool();
    this.metrics = new ServerMetrics(
      () => this.models,
      () => this.bodyBudget.held,
    );
    this.live = new LiveStats({
      sources: () => [...this.models.values()].map((m) => ({ name: m.config.name, engine: m.engine })),
    });
    this.guard = new WebGuard(config);
    const trim = config.memoryTrimIntervalMs > 0 ? mallocTrim() : undefined;
    if (trim)
      this.#trimmer = new MemoryTrimmer({
        intervalMs: config.memoryTrimIntervalMs,
        bytesSeen: () => this.bodyBudget.total,
        idle: () => this.#inflight.size === 0 && this.bodyBudget.held === 0,
        trim: async () => {
          const released = await trim();
          this.metrics.memoryTrims.inc();
          return released;
        },
        // Pooled body buffers go too: a quiet server keeps none of a burst's memory.
        collect: (type) => {
          this.buffers.clear();
          collectGarbage(type);
        },
        heldBytes: () => process.memoryUsage().arrayBuffers,
        clock: backgroundClock,
      });
    this.#http = http.createServer(
      // A slow or stalled upload cannot hold a connection (and its bytes) longer than this.
      {
        requestTimeout: config.requestTimeoutMs,
        headersTimeout: Math.min(60_000, config.requestTimeoutMs),
        // How often node checks those two bounds (its default, 30 s, let a 5 s bound fire at 16 s).
        connectionsCheckingInterval: Math.max(50, Math.min(1000, config.requestTimeoutMs / 10)),
        keepAliveTimeout: 5000,
        // Checked in #dispatch, answered as JSON like every other error (node's own 400 has no body).
        requireHostHeader: false,
      },
      (req, res) => void this.#dispatch(req, res),
    );
    this.#http.on('connection', (socket: Socket) => this.#onConnection(socket));
    this.#http.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(error, socket));
    // An Expect other than 100-continue: node would answer 417 with no body.
    this.#http.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) =>
      sendJson(
        res,
        417,
        { error: `Expect '${quote(String(req.headers.expect))}' is not supported (only 100-continue)` },
        { connection: 'close' },
      ),
    );
    addV2Routes(this, this.stats);
    this.route({
      method: 'GET',
      path: '/metrics',
      endpoint: 'metrics',
      auth: 'token',
      handler: async ({ res }) => {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        res.end(text);
      },
    });
    const vision = new VisionService(this);
    addVisionRoutes(this, vision);
    addLiveRoutes(this, vision);
    attachStreams(this.#http, this, vision);
    if (config.grpcPort !== undefined)
      this.#grpc = new GrpcEndpoint(this, { log: this.#log, ...(options.logger ? { logger: options.logger } : {}) });
    if (config.healthPort !== undefined)
      this.#health = new HealthPort({
        host: config.host,
        port: config.healthPort,
        ready: () => serverReady(this.#closing, this.table.entries()),
        log: (e) => this.#log(e),
      });
  }

  get healthPort(): number | undefined {
    return this.#health?.port;
  }

  get grpcPort(): number | undefined {
    return this.#grpc?.port;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** The default version of each model (what unversioned requests and the dashboard get). */
  get models(): Map<string, LoadedModelEntry> {
    return this.table.models;
  }

  route(spec: Parameters<ServerHost['route']>[0]): void {
    this.#router.add(spec);
  }

  preClose(hook: CloseHook): void {
    this.#preClose.push(hook);
  }

  onClose(hook: CloseHook): void {
    this.#onClose.push(hook);
  }

  findModel(name: string, version?: string): LoadedModelEntry {
    const m = this.table.find(name, version);
    if (m) return m;
    // The list of models is not in the answer: a client that guesses names learns nothing more.
    if (!this.models.has(name)) {
      if (this.table.knownInRepository(name))
        throw new HttpError(
          404,
          `model '${quote(name)}' is not loaded (POST /v2/repository/models/${encodeURIComponent(name)}/load)`,
        );
      throw new HttpError(404, `unknown model '${quote(name)}'`);
    }
    throw new HttpError(404, `model '${quote(name)}' has no version '${quote(version ?? '')}'`);
  }

  readyModel(name: string, version?: string): ReadyModel {
    const m = this.findModel(name, version);
    const r = modelReadiness(m);
    if (!r.ready)
      throw new HttpError(503, `model '${m.config.name}' is not ready: ${r.reason ?? 'unavailable'}`, {
        'retry-after': '1',
      });
    return m as ReadyModel;
  }

  #onConnection(socket: Socket): void {
    // Errors on a connection (resets, timeouts) are the client's business, never the process's.
    socket.on('error', () => undefined);
    if (this.#sockets.size >= this.config.maxConnections) {
      this.#refusedSockets.add(socket);
      this.metrics.refusedConnections.inc({ reason: 'connections' });
      rawAnswer(socket, 503, `too many open connections (maxConnections ${this.config.maxConnections}): retry later`, {
        'retry-after': '1',
      });
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, `the request did not arrive within ${this.config.requestTimeoutMs} ms`]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'request headers too large']
          : [400, 'malformed HTTP request'];
    // A timeout ends the request being read on this socket, which is dispatched already if its head had come.
    if (status === 408) this.#timedOut.add(socket);
    rawAnswer(socket, status, message);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#refusedSockets.has(req.socket)) {
      res.destroy();
      return;
    }
    const receivedAt = performance.now();
    const startedAt = this.config.trustRequestStart
      ? requestStartedAt(req.headers[REQUEST_START_HEADER], receivedAt)
      : receivedAt;
    const logged = this.#logger?.accessEnabled === true;
    const bytesBefore = logged ? req.socket.bytesWritten : 0;
    const gone = new ClientGone();
    let markFinished = (): void => undefined;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    this.#inflight.add(res);
    res.once('close', () => {
      if (!res.writableFinished) gone.left();
      this.#inflight.delete(res);
      if (this.#inflight.size === 0) this.#idle?.();
    });
    let labels: { model?: string; endpoint: string } = { endpoint: 'unknown' };
    const notes: RequestNotes = {};
    let status = 200;
    try {
      if (this.#closing)
        throw new HttpError(503, 'the server is shutting down', { connection: 'close', 'retry-after': '1' });
      if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1)
        throw new HttpError(400, 'an HTTP/1.1 request needs a Host header', { connection: 'close' });
      const target = new RequestTarget(req.url ?? '/');
      const { path } = target;
      const { crossOrigin } = path.startsWith('/v2/health/') ? {} : this.guard.check(req);
      if (crossOrigin !== undefined) {
        setCorsHeaders(res, crossOrigin);
        if (req.method === 'OPTIONS') return answerPreflight(res, crossOrigin, this.#router.methodsFor(path));
      }
      let match: ReturnType<Router['match']>;
      try {
        match = this.#router.match(req.method ?? 'GET', path);
      } catch (error) {
        // Unknown paths look the same as known ones to a client without the token.
        if (!authorized(req, this.config.token)) throw unauthorized();
        throw error;
      }
      const { spec } = match.route;
      const byQuery =
        spec.auth === 'token-or-query' && req.method === 'GET' && queryTokenAllowed(target.url, this.config.token);
      if (spec.auth !== 'public' && !byQuery && !authorized(req, this.config.token)) throw unauthorized();
      const name = match.params['name'];
      labels = { endpoint: spec.endpoint, ...(name !== undefined && this.models.has(name) ? { model: name } : {}) };
      const model = spec.model === 'ready' ? this.readyModel(name ?? '', match.params['version']) : undefined;
      await spec.handler(
        new RequestContext(req, res, target, match.params, model, receivedAt, startedAt, gone, finished, notes),
      );
      status = res.statusCode;
    } catch (error) {
      status = sendError(res, error, this.#log);
    } finally {
      markFinished();
      // What the client got: a timeout's answer written to the socket, or nothing, having left.
      status = this.#timedOut.has(req.socket) ? 408 : gone.aborted ? CLIENT_CLOSED : status;
      const model = labels.model ?? '';
      const ms = performance.now() - receivedAt;
      this.metrics.requests.inc({ model, endpoint: labels.endpoint, outcome: String(status) });
      if (labels.model !== undefined) this.metrics.e2e.observe({ model, endpoint: labels.endpoint }, ms / 1000);
      this.live.record(labels.model, labels.endpoint, status, ms);
      if (logged && this.#logger)
        this.#logger.access(accessEntry(req, labels, status, ms, notes, req.socket.bytesWritten - bytesBefore));
    }
  }

  async listen(): Promise<string> {
    const url = await this.#listenHttp();
    try {
      if (this.#grpc && this.config.grpcPort !== undefined)
        await this.#grpc.listen(this.config.host, this.config.grpcPort);
      await this.#health?.listen();
    } catch (error) {
      await this.close();
      throw error;
    }
    // Models load once every port is open (a port that cannot open leaves nothing loading behind).
    // A failed load is visible in /v2/repository/index and readiness; ready() reports it.
    this.ready().catch(() => undefined);
    return url;
  }

  #listenHttp(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', (e) =>
        reject(
          new RtinferError(
            'RTI_ERR_ARG_INVALID',
            `cannot listen on ${this.config.host}:${this.config.port}: ${e.message}`,
          ),
        ),
      );
      this.#http.listen(this.config.port, this.config.host, () => {
        const a = this.#http.address() as AddressInfo;
        this.guard.allowBoundAddress(a.address);
        this.live.start();
        this.#trimmer?.start();
        resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
      });
    });
  }

  ready(): Promise<void> {
    this.#loading ??= this.table.start().then(() => this.#trimmer?.measure());
    return this.#loading;
  }

  async #load(m: LoadedModelEntry): Promise<void> {
    const c = m.config;
    try {
      const given = c.instances !== undefined || c.threads !== undefined || c.placement !== undefined;
      m.engine = await createEngine({
        model: c.path,
        // With no layout given, measure one: the server's default is the auto hint.
        ...(given ? {} : { hint: c.hint ?? 'auto' }),
        ...(c.instances !== undefined ? { instances: c.instances } : {}),
        ...(c.threads !== undefined ? { threads: c.threads } : {}),
        ...(c.placement !== undefined ? { placement: c.placement } : {}),
        // The HTTP thread must keep answering while models run: idle onnxruntime threads do not
        // spin (measured at 400 q/s on 2 cores: p50 5.8 → 2.6 ms, CPU 1.8 → 1.1 cores).
        session: { allowSpinning: false, ...c.session },
        bufferPool: this.buffers,
        workerNice: this.config.workerNice,
        inlineBelowMs: c.inlineBelowMs ?? INLINE_BELOW_MS,
        ...(c.batching !== undefined ? { batching: c.batching } : {}),
        ...(c.maxQueueSize !== undefined ? { maxQueueSize: c.maxQueueSize } : {}),
        ...(c.warmupShapes ? { warmupShapes: c.warmupShapes } : {}),
      });
      if (this.#closing) await m.engine.close({ drain: false });
      else m.state = 'READY';
    } catch (error) {
      m.state = 'UNAVAILABLE';
      m.reason = firstLine(error);
      throw error;
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    // A load balancer probing the health port stops sending at once.
    this.#health?.notReady();
    this.#trimmer?.stop();
    this.table.stopPolling();
    const deadline = performance.now() + this.config.drainTimeoutMs;
    const left = (): number => deadline - performance.now();
    const stopped = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeIdleConnections();
    await runHooks(this.#preClose, this.#log);
    // Ends every live (SSE) stream: an open one would hold its connection to the end.
    this.live.close();
    // gRPC calls in flight are answered like REST ones; new ones are refused (UNAVAILABLE) meanwhile.
    const grpcClosed = this.#grpc?.close(deadline) ?? Promise.resolve();
    if (this.#inflight.size > 0)
      await Promise.race([new Promise<void>((resolve) => (this.#idle = resolve)), delay(left())]);
    // Past the bound: what is still unanswered (a stalled upload, a batch still running) gets a 503.
    for (const res of this.#inflight) {
      if (res.headersSent) res.destroy();
      else
        sendError(
          res,
          new HttpError(503, 'the server shut down before this request was answered', {
            connection: 'close',
            'retry-after': '1',
          }),
        );
    }
    this.#http.closeIdleConnections();
    await Promise.race([stopped, delay(200)]);
    this.#http.closeAllConnections();
    await grpcClosed;
    // The engines close last: a request whose body was still arriving when the shutdown began was
    // accepted, and reaches its engine after that (closed first, they refused such requests).
    const engines = this.table.close(Math.max(0, left()));
    // A batch cannot be interrupted (onnxruntime); the CLI exits the process if one outlasts this.
    await Promise.race([engines, delay(Math.max(0, left()) + CLOSE_GRACE_MS)]);
    await runHooks(this.#onClose, this.#log);
    await this.#health?.close();
    this.metrics.close();
  }
}

/**
 * A request's cancellation: aborted when its client closes the connection before the answer. Not
 * an AbortController: its EventTarget cost every request a few µs of the HTTP thread (~0.2 ms of
 * a refusal's whole handling, bench/shed, when it was made for each), and only a request that
 * waits in the engine's queue ever listens.
 */
class ClientGone implements AbortLike {
  #reason: RtinferError | undefined;
  #listeners: Array<() => void> | undefined;

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  get reason(): unknown {
    return this.#reason;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#reason !== undefined) return;
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.#listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.#listeners?.splice(i, 1);
  }

  /** The client closed the connection before the answer: each listener is told once. */
  left(): void {
    if (this.#reason !== undefined) return;
    this.#reason = new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the client closed the connection');
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const l of listeners ?? []) l();
  }
}

/**
 * What a route handler gets. A class, not an object literal with a `get model()`: V8 builds such
 * a literal in its old generation, and the request, response and body it pointed to then outlived
 * every young-generation collection; their buffers were freed only by full collections, which ran
 * every ~90 ms under load (13 % of the serving thread on the PP-OCR classifier).
 */
class RequestContext implements RouteContext {
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly target: RequestTarget,
    readonly params: Readonly<Record<string, string>>,
    readonly resolved: ReadyModel | undefined,
    readonly receivedAt: number,
    readonly startedAt: number,
    readonly gone: ClientGone,
    readonly finished: Promise<void>,
    readonly notes: RequestNotes,
  ) {}

  get url(): URL {
    return this.target.url;
  }

  get signal(): AbortLike {
    return this.gone;
  }

  get model(): ReadyModel {
    if (!this.resolved) throw new Error('this route declares no model (RouteSpec.model)');
    return this.resolved;
  }
}

/** The access log's line for an HTTP request (built only when the access log is on). */
function accessEntry(
  req: IncomingMessage,
  labels: { model?: string; endpoint: string },
  status: number,
  ms: number,
  notes: RequestNotes,
  bytes: number,
): AccessEntry {
  return {
    protocol: 'http',
    method: req.method ?? '',
    // The query is left out: it may carry a token (?token= on the live routes).
    path: (req.url ?? '').split('?')[0] ?? '',
    endpoint: labels.endpoint,
    ...(labels.model !== undefined ? { model: labels.model } : {}),
    status,
    bytes,
    ms,
    ...(notes.timing ? { timing: Object.fromEntries(notes.timing.map(([k, v]) => [k, Number(v.toFixed(3))])) } : {}),
  };
}

function unauthorized(): HttpError {
  return new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)', {
    'www-authenticate': 'Bearer',
  });
}

async function runHooks(hooks: readonly CloseHook[], log: InternalErrorLog): Promise<void> {
  await Promise.all(
    hooks.map(async (hook) => {
      try {
        await hook();
      } catch (error) {
        log(error);
      }
    }),
  );
}

export function createRtinferServer(config: ServerConfig, options?: ServerOptions): RtinferServer {
  return new HttpServer(config, options);
}
