/**
 * `rtinfer serve`: models behind HTTP, each in its own engine, speaking the KServe v2 / Open
 * Inference Protocol, with Prometheus metrics and a graceful drain.
 *
 * Lifecycle: listen at once (live), load and warm every model (ready when all are), serve; on
 * close, stop accepting, answer everything in flight (engines drain, then refuse what is still
 * queued after drainTimeoutMs), stop the workers.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { RTINFER_VERSION } from '../version.js';
import type { ModelConfig, ServerConfig } from './config.js';
import { authorized, HttpError, queryTokenAllowed, sendError, sendJson } from './http-io.js';
import { addLiveRoutes, LIVE_PUBLIC_PATHS, LIVE_QUERY_TOKEN_PATHS } from './live-routes.js';
import { LiveStats } from './live-stats.js';
import { ServerMetrics } from './metrics.js';
import { handleInfer, modelMetadataBody } from './v2-infer.js';
import { addVisionRoutes, attachStreams, closePreprocessors } from './vision-routes.js';

export type ModelState = 'LOADING' | 'READY' | 'UNAVAILABLE';

export interface LoadedModelEntry {
  config: ModelConfig;
  state: ModelState;
  reason?: string;
  engine?: Engine;
}

/** A model that is READY: its engine is there. */
export type ReadyModel = LoadedModelEntry & { engine: Engine };

/** Per-request context the route handlers share. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  config: ServerConfig;
  metrics: ServerMetrics;
  model(name: string, version: string | undefined): ReadyModel;
  /** Aborted when the client goes away before the answer. */
  signal: AbortSignal;
}

export type RouteHandler = (ctx: RequestContext, params: Record<string, string>) => Promise<void>;

export interface Route {
  method: string;
  /** Metrics label: health, metadata, infer, predict, ... */
  endpoint: string;
  pattern: RegExp;
  /** Names of the pattern's capture groups, in order. */
  keys: string[];
  handler: RouteHandler;
}

export interface RtinferServer {
  readonly config: ServerConfig;
  readonly models: ReadonlyMap<string, LoadedModelEntry>;
  readonly metrics: ServerMetrics;
  /** Per-second live statistics for the dashboard (GET /api/live). */
  readonly live: LiveStats;
  /** Resolves with the base URL once listening (models may still be loading). */
  listen(): Promise<string>;
  /** Resolves when every model is READY; rejects if one cannot load. */
  ready(): Promise<void>;
  close(): Promise<void>;
  /** Extra routes (image endpoints, dashboard) registered by other modules. */
  addRoute(method: string, path: string, endpoint: string, handler: RouteHandler): void;
}

const MODEL_PATH = '/v2/models/(?<name>[^/]+)(?:/versions/(?<version>[^/]+))?';

export function compileRoute(method: string, path: string, endpoint: string, handler: RouteHandler): Route {
  const keys = [...path.matchAll(/\(\?<(\w+)>/g)].map((m) => m[1] ?? '');
  return { method, endpoint, pattern: new RegExp(`^${path}$`), keys, handler };
}

export function createRtinferServer(config: ServerConfig): RtinferServer {
  const models = new Map<string, LoadedModelEntry>(config.models.map((m) => [m.name, { config: m, state: 'LOADING' as ModelState }]));
  const engines = (): Map<string, Engine> => new Map([...models].flatMap(([n, m]) => (m.engine ? [[n, m.engine] as const] : [])));
  const metrics = new ServerMetrics(engines);
  const live = new LiveStats({ sources: () => [...models.values()].map((m) => ({ name: m.config.name, engine: m.engine })) });
  const routes: Route[] = [];
  let closing = false;
  let inflight = 0;
  let idle: (() => void) | undefined;

  const modelFor = (name: string, version: string | undefined): ReadyModel => {
    const m = models.get(decodeURIComponent(name));
    if (!m) throw new HttpError(404, `unknown model '${decodeURIComponent(name)}' (models: ${[...models.keys()].join(', ')})`);
    if (version !== undefined && decodeURIComponent(version) !== m.config.version) throw new HttpError(404, `model '${m.config.name}' has no version '${decodeURIComponent(version)}' (versions: ${m.config.version})`);
    if (m.state !== 'READY' || !m.engine) throw new HttpError(503, `model '${m.config.name}' is ${m.state.toLowerCase()}${m.reason ? `: ${m.reason}` : ''}`, { 'retry-after': '1' });
    return m as ReadyModel;
  };

  const add = (method: string, path: string, endpoint: string, handler: RouteHandler): void => {
    routes.push(compileRoute(method, path, endpoint, handler));
  };

  // ---- KServe v2 ----
  add('GET', '/v2/health/live', 'health', async ({ res }) => {
    sendJson(res, 200, { live: true });
  });
  add('GET', '/v2/health/ready', 'health', async ({ res }) => {
    const ready = !closing && [...models.values()].every((m) => m.state === 'READY');
    sendJson(res, ready ? 200 : 503, { ready });
  });
  add('GET', '/v2', 'metadata', async ({ res }) => {
    sendJson(res, 200, { name: 'rtinfer', version: RTINFER_VERSION, extensions: ['binary_tensor_data', 'model_repository'] });
  });
  add('GET', MODEL_PATH, 'metadata', async (ctx, p) => {
    sendJson(ctx.res, 200, modelMetadataBody(ctx.model(p['name'] ?? '', p['version'])));
  });
  add('GET', `${MODEL_PATH}/ready`, 'health', async ({ res }, p) => {
    const name = decodeURIComponent(p['name'] ?? '');
    const m = models.get(name);
    if (!m) throw new HttpError(404, `unknown model '${name}'`);
    if (p['version'] !== undefined && decodeURIComponent(p['version']) !== m.config.version) throw new HttpError(404, `model '${name}' has no version '${p['version']}'`);
    sendJson(res, m.state === 'READY' ? 200 : 503, { name, ready: m.state === 'READY' });
  });
  add('POST', `${MODEL_PATH}/infer`, 'infer', async (ctx, p) => handleInfer(ctx, p['name'] ?? '', p['version']));
  add('POST', '/v2/repository/index', 'repository', async ({ res }) => {
    sendJson(
      res,
      200,
      [...models.values()].map((m) => ({ name: m.config.name, version: m.config.version, state: m.state, ...(m.reason ? { reason: m.reason } : {}) })),
    );
  });
  add('GET', '/metrics', 'metrics', async ({ res }) => {
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(text);
  });

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const t0 = performance.now();
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the client closed the connection'));
    });
    let labels: { model?: string; endpoint: string } = { endpoint: 'unknown' };
    let status = 200;
    inflight++;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      if (closing) throw new HttpError(503, 'the server is shutting down', { connection: 'close', 'retry-after': '1' });
      // EventSource cannot send headers: the dashboard page and its stream also take ?token=.
      const queryToken = req.method === 'GET' && LIVE_QUERY_TOKEN_PATHS.has(path) && queryTokenAllowed(url, config.token);
      if (!path.startsWith('/v2/health/') && !LIVE_PUBLIC_PATHS.has(path) && !queryToken && !authorized(req, config.token)) {
        throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer' });
      }
      const matching = routes.filter((r) => r.pattern.test(path));
      const route = matching.find((r) => r.method === req.method);
      if (!route) {
        if (matching.length > 0) throw new HttpError(405, `${req.method} is not allowed on ${path} (allowed: ${[...new Set(matching.map((r) => r.method))].join(', ')})`, { allow: matching.map((r) => r.method).join(', ') });
        throw new HttpError(404, `no endpoint ${req.method} ${path}`);
      }
      const m = route.pattern.exec(path);
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m?.groups ?? {})) if (v !== undefined) params[k] = v;
      const ctx: RequestContext = { req, res, config, metrics, model: modelFor, signal: controller.signal };
      const named = params['name'] !== undefined ? decodeURIComponent(params['name']) : undefined;
      labels = { endpoint: route.endpoint, ...(named !== undefined && models.has(named) ? { model: named } : {}) };
      await route.handler(ctx, params);
      status = res.statusCode;
    } catch (error) {
      status = sendError(res, error);
    } finally {
      inflight--;
      const model = labels.model ?? '';
      const ms = performance.now() - t0;
      metrics.requests.inc({ model, endpoint: labels.endpoint, outcome: String(status) });
      if (labels.model !== undefined) metrics.e2e.observe({ model, endpoint: labels.endpoint }, ms / 1000);
      live.record(labels.model, labels.endpoint, status, ms);
      if (inflight === 0) idle?.();
    }
  };

  const server = http.createServer((req, res) => {
    void dispatch(req, res);
  });
  // Keep-alive sockets must not outlive a shutdown by more than this.
  server.keepAliveTimeout = 5000;

  let loading: Promise<void> | undefined;
  const load = (): Promise<void> => {
    loading ??= Promise.all(
      [...models.values()].map(async (m) => {
        try {
          m.engine = await createEngine({
            model: m.config.path,
            ...(m.config.instances !== undefined ? { instances: m.config.instances } : {}),
            ...(m.config.threads !== undefined ? { threads: m.config.threads } : {}),
            // The HTTP thread must keep answering while models run: idle onnxruntime threads do not
            // spin (measured at 400 q/s on 2 cores: p50 5.8 → 2.6 ms, CPU 1.8 → 1.1 cores).
            session: { allowSpinning: false, ...m.config.session },
            ...(m.config.batching !== undefined ? { batching: m.config.batching } : {}),
            ...(m.config.maxQueueSize !== undefined ? { maxQueueSize: m.config.maxQueueSize } : {}),
            ...(m.config.warmupShapes ? { warmupShapes: m.config.warmupShapes } : {}),
          });
          m.state = 'READY';
        } catch (error) {
          m.state = 'UNAVAILABLE';
          m.reason = firstLine(error);
          throw error;
        }
      }),
    ).then(() => undefined);
    return loading;
  };

  let closed: Promise<void> | undefined;
  let detachStreams = (): void => undefined;
  const api: RtinferServer = {
    config,
    models,
    metrics,
    live,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', (e) => reject(new RtinferError('RTI_ERR_ARG_INVALID', `cannot listen on ${config.host}:${config.port}: ${e.message}`)));
        server.listen(config.port, config.host, () => {
          const a = server.address() as AddressInfo;
          // A failed load is visible in /v2/repository/index and readiness; ready() reports it.
          load().catch(() => undefined);
          live.start();
          resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
        });
      });
    },
    ready: () => load(),
    addRoute: add,
    close() {
      closed ??= (async () => {
        closing = true;
        detachStreams();
        // Ends every live (SSE) stream: an open stream would keep server.close() waiting forever.
        live.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await load().catch(() => undefined);
        // Answer every engine's queue (drain, then refuse what is left after the timeout)...
        await Promise.all([...models.values()].map((m) => m.engine?.close({ drain: true, timeoutMs: config.drainTimeoutMs })));
        // ...then wait for the HTTP answers to go out.
        if (inflight > 0) await new Promise<void>((resolve) => (idle = resolve));
        server.closeIdleConnections();
        await stopped;
        await closePreprocessors(api);
        metrics.close();
      })();
      return closed;
    },
  };
  addVisionRoutes(api);
  addLiveRoutes(api);
  detachStreams = attachStreams(server, api);
  return api;
}

