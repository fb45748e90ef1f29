/**
 * The KServe v2 / Open Inference Protocol routes: health, server and model metadata, readiness,
 * the repository index, /metrics, and POST /v2/models/{name}[/versions/{v}]/infer: JSON or binary
 * tensors in, the engine in between, JSON or binary tensors out. Request parameters: `timeout` in
 * microseconds (as Triton) or `deadline_ms`, counted from the request's arrival; `priority`, an
 * integer from -10 to 10, higher first (Triton orders the other way round; rtinfer keeps one
 * convention everywhere). Per-stage timing goes back in a Server-Timing header.
 */
import { performance } from 'node:perf_hooks';
import {
  HEADER_LENGTH,
  modelMetadata,
  parseJsonHeader,
  type V2ModelMetadata,
  type V2Tensor,
} from '../protocol/kserve-v2.js';
import type { NumericArray } from '../runtime/dtypes.js';
import { RTINFER_VERSION } from '../version.js';
import { CodecPool, encoderBusy } from './codec-pool.js';
import { HttpError, quote, readBody, sendJson, sendParts } from './http-io.js';
import {
  badInput,
  deadlineOf,
  PROXY_TIMEOUT_HEADER,
  proxyTimeoutOf,
  recordSuccess,
  refuseIfLate,
  runInference,
  serverTimingHeader,
  timeLeft,
  timingStages,
} from './inference.js';
import { deploymentOf, modelReadiness, serverReady, type Deployment } from './model-health.js';
import type { ModelStatistics } from './model-stats.js';
import type { LoadedModelEntry, RouteContext, ServerHost } from './types.js';

const MODEL = '/v2/models/{name}[/versions/{version}]';

/** Repository requests carry at most a small JSON object. */
const REPOSITORY_BODY_LIMIT = 64 * 1024;

/**
 * Below this, a body's JSON header is not worth copying the tensors out for; above it (and above
 * the tensors' own size) the tensors are copied so that a queued request holds only them.
 */
const COPY_OUT_SLACK_BYTES = 1 << 20;

export function modelMetadataBody(
  m: LoadedModelEntry,
  versions: string[] = [m.config.version],
): V2ModelMetadata & { state?: string; reason?: string; deployment?: Deployment } {
  const deployment = deploymentOf(m);
  const meta = {
    ...modelMetadata(m.config.name, versions, m.engine?.inputs ?? [], m.engine?.outputs ?? []),
    ...(deployment ? { deployment } : {}),
  };
  const r = modelReadiness(m);
  return r.ready && !r.reason
    ? meta
    : { ...meta, state: r.ready ? 'DEGRADED' : 'UNAVAILABLE', ...(r.reason ? { reason: r.reason } : {}) };
}

/** What GET /v2 (and gRPC ServerMetadata) says the server supports. */
export const SERVER_EXTENSIONS = ['binary_tensor_data', 'model_repository', 'statistics'];

/** A header for clients that cannot set v2 parameters (ms, from the request's arrival). */
export const DEADLINE_HEADER = 'rtinfer-deadline-ms';

function headerDeadline(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const v = Number(Array.isArray(header) ? header[0] : header);
  if (!(v > 0) || !Number.isFinite(v))
    throw badInput(`the ${DEADLINE_HEADER} header must be a positive number of milliseconds`);
  return v;
}

/** The JSON header's length: a non-negative integer no larger than the body it splits. */
function headerLength(value: string | string[] | undefined, contentLength: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  const n = v !== undefined && /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n))
    throw badInput(`Inference-Header-Content-Length '${quote(String(v))}' is not a non-negative integer`);
  if (contentLength !== undefined && /^\d+$/.test(contentLength) && n > Number(contentLength)) {
    throw badInput(`Inference-Header-Content-Length ${n} is larger than the body (${contentLength} bytes)`);
  }
  return n;
}

/**
 * Binary tensors are views on the request body. When the body is mostly something else (a large
 * JSON header), copy them out so the body can go: the request then holds only its tensors while it
 * waits in the queue, and the engine's buffer pool never keeps a body-sized buffer. Returns the
 * bytes the request still holds.
 */
function ownTensors(inputs: V2Tensor[]): number {
  const used = new Map<ArrayBufferLike, number>();
  for (const t of inputs) {
    if (Array.isArray(t.data)) continue;
    const d = t.data as NumericArray;
    used.set(d.buffer, (used.get(d.buffer) ?? 0) + d.byteLength);
  }
  let held = 0;
  for (const [buffer, bytes] of used) {
    if (buffer.byteLength - bytes <= Math.max(COPY_OUT_SLACK_BYTES, bytes)) {
      held += buffer.byteLength;
      continue;
    }
    for (const t of inputs)
      if (!Array.isArray(t.data) && (t.data as NumericArray).buffer === buffer)
        t.data = (t.data as NumericArray).slice() as V2Tensor['data'];
    held += bytes;
  }
  return held;
}

/** The largest JSON header judged before the body has arrived (names, shapes and parameters are far less). */
const EARLY_HEADER_BYTES = 16 * 1024;

/**
 * A binary request's JSON header, as soon as it has arrived: its deadline and input shapes, asked of
 * the engine. A request it would refuse (a full queue, a deadline it cannot meet) is answered 503
 * now, before the tensors behind the header are read: under overload the HTTP thread's time then
 * goes to the requests that can be served (the PP-OCR classifier's 110 KB body is two reads of
 * 64 KB; yolox_nano's 2 MB, thirty-two). Anything odd in the header is left to the full decode.
 * Returns the parsed header (undefined if it is not JSON), which the decode then takes as it is.
 */
function checkEarly(
  ctx: RouteContext,
  head: Buffer,
  transportDeadlineMs: number | undefined,
  proxyTimeoutMs: number | undefined,
): Record<string, unknown> | undefined {
  const { engine, config } = ctx.model;
  let header: Record<string, unknown>;
  try {
    header = parseJsonHeader(head, head.length);
  } catch {
    return undefined;
  }
  const { inputs, parameters } = header;
  if (!Array.isArray(inputs)) return header;
  const params = typeof parameters === 'object' && parameters !== null ? (parameters as Record<string, unknown>) : {};
  const dims: Record<string, number[]> = {};
  for (const t of inputs as Array<{ name?: unknown; shape?: unknown }>) {
    if (typeof t?.name !== 'string' || !Array.isArray(t.shape)) return header;
    dims[t.name] = t.shape as number[];
  }
  let deadlineMs: number | undefined;
  try {
    deadlineMs = deadlineOf(params, transportDeadlineMs, config.defaultDeadlineMs, proxyTimeoutMs);
  } catch {
    return header;
  }
  const remainingMs = timeLeft(deadlineMs, performance.now() - ctx.startedAt);
  const priority = params['priority'];
  engine.check(dims, {
    ...(remainingMs !== undefined ? { deadlineMs: remainingMs } : {}),
    ...(typeof priority === 'number' ? { priority } : {}),
  });
  return header;
}

async function infer(host: ServerHost, codec: CodecPool, ctx: RouteContext): Promise<void> {
  const { config } = ctx.model;
  try {
    await inferOnce(host, codec, ctx);
  } catch (error) {
    host.stats.fail(config.name, config.version, performance.now() - ctx.receivedAt);
    throw error;
  }
}

async function inferOnce(host: ServerHost, codec: CodecPool, ctx: RouteContext): Promise<void> {
  const { config } = ctx.model;
  if (ctx.startedAt < ctx.receivedAt)
    host.metrics.upstream.observe({ model: config.name }, (ctx.receivedAt - ctx.startedAt) / 1000);
  const len = headerLength(ctx.req.headers[HEADER_LENGTH], ctx.req.headers['content-length']);
  const transportDeadlineMs = headerDeadline(ctx.req.headers[DEADLINE_HEADER]);
  const proxyTimeoutMs = proxyTimeoutOf(ctx.req.headers[PROXY_TIMEOUT_HEADER]);
  // The JSON header as the early check read it, for the decode (one parse instead of two).
  let header: Record<string, unknown> | undefined;
  const body = await readBody(ctx.req, ctx.res, {
    limit: host.config.maxBodyBytes,
    budget: host.bodyBudget,
    refused: host.refusedBodies,
    alignAt: len ?? 0,
    until: ctx.finished,
    // A binary body holds its tensors in place and goes to the engine whole: a pooled buffer.
    ...(len !== undefined ? { pool: host.buffers } : {}),
    // A header that is mostly JSON tensors is left to the full decode, which may take it off this thread.
    ...(len !== undefined && len > 0 && len <= EARLY_HEADER_BYTES
      ? {
          head: {
            bytes: len,
            check: (head: Buffer) => void (header = checkEarly(ctx, head, transportDeadlineMs, proxyTimeoutMs)),
          },
        }
      : {}),
  });
  const bodyAt = performance.now();
  // Decoding is the costly part of a JSON request: none for a client that left or a deadline gone.
  if (ctx.signal.aborted) throw ctx.signal.reason;
  timeLeft(deadlineOf({}, transportDeadlineMs, config.defaultDeadlineMs, proxyTimeoutMs), bodyAt - ctx.startedAt);
  const request = await codec.decode(body.bytes, len, header);
  body.hold(ownTensors(request.inputs));
  // Refused now rather than after its run: its answer could not be encoded.
  const json =
    request.outputs.length > 0
      ? request.outputs.some((o) => !(o.binary ?? request.binaryOutputByDefault))
      : !request.binaryOutputByDefault;
  if (json && codec.refusesJson(config.name, config.version)) throw encoderBusy();
  const outcome = await runInference(host, {
    model: ctx.model,
    inputs: request.inputs,
    outputs: request.outputs.map((o) => o.name),
    parameters: request.parameters,
    ...(transportDeadlineMs !== undefined ? { transportDeadlineMs } : {}),
    ...(proxyTimeoutMs !== undefined ? { proxyTimeoutMs } : {}),
    startedAt: ctx.startedAt,
    bodyAt,
    signal: ctx.signal,
  });
  // A client that left while its request ran: no answer to encode.
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const binary = (n: string): boolean =>
    request.outputs.find((o) => o.name === n)?.binary ?? request.binaryOutputByDefault;
  const msg = await codec.encode(config.name, config.version, outcome.tensors, binary, request.id);
  const sentAt = performance.now();
  refuseIfLate(outcome, ctx.startedAt, sentAt);
  recordSuccess(host, ctx.model, outcome, ctx.receivedAt, bodyAt, sentAt);
  ctx.notes.timing = timingStages(outcome, ctx.startedAt, ctx.receivedAt, bodyAt, sentAt);
  sendParts(ctx.res, 200, msg.parts, {
    ...msg.headers,
    'server-timing': serverTimingHeader(ctx.notes.timing),
    'x-rtinfer-batch-size': String(outcome.timing.batchSize),
  });
}

/** The Open Inference Protocol's REST routes, with Triton's statistics and repository extensions. */
export function addV2Routes(host: ServerHost, stats: ModelStatistics): void {
  // Before the model routes: `/v2/models/stats` is the statistics of every model, not a model named "stats".
  addStatsRoutes(host, stats);
  addHealthAndMetadataRoutes(host);
  // Bulk JSON work yields to the inference workers as well as to the HTTP thread.
  const codec = new CodecPool(
    (op) => host.metrics.codecOffloaded.inc({ op }),
    host.config.workerNice > 0 ? Math.min(19, host.config.workerNice + 5) : 0,
  );
  host.onClose(() => codec.close());
  host.route({
    method: 'POST',
    path: `${MODEL}/infer`,
    endpoint: 'infer',
    auth: 'token',
    model: 'ready',
    handler: (ctx) => infer(host, codec, ctx),
  });
  addRepositoryRoutes(host);
}

function addStatsRoutes(host: ServerHost, stats: ModelStatistics): void {
  host.route({
    method: 'GET',
    path: '/v2/models/stats',
    endpoint: 'stats',
    auth: 'token',
    handler: async ({ res }) =>
      sendJson(res, 200, { model_stats: stats.snapshot([...host.table.entries()].map((m) => m.config)) }),
  });
  host.route({
    method: 'GET',
    path: `${MODEL}/stats`,
    endpoint: 'stats',
    auth: 'token',
    handler: async ({ res, params }) => {
      const name = params['name'] ?? '';
      const version = params['version'];
      host.findModel(name, version);
      const versions = version !== undefined ? [version] : host.table.versionsOf(name);
      sendJson(res, 200, { model_stats: stats.snapshot(versions.map((v) => ({ name, version: v }))) });
    },
  });
}

function addHealthAndMetadataRoutes(host: ServerHost): void {
  host.route({
    method: 'GET',
    path: '/v2/health/live',
    endpoint: 'health',
    auth: 'public',
    handler: async ({ res }) => sendJson(res, 200, { live: true }),
  });
  host.route({
    method: 'GET',
    path: '/v2/health/ready',
    endpoint: 'health',
    auth: 'public',
    handler: async ({ res }) => {
      const ready = serverReady(host.closing, host.table.entries());
      sendJson(res, ready ? 200 : 503, { ready });
    },
  });
  host.route({
    method: 'GET',
    path: '/v2',
    endpoint: 'metadata',
    auth: 'token',
    handler: async ({ res }) =>
      sendJson(res, 200, { name: 'rtinfer', version: RTINFER_VERSION, extensions: SERVER_EXTENSIONS }),
  });
  host.route({
    method: 'GET',
    path: MODEL,
    endpoint: 'metadata',
    auth: 'token',
    // Answered for a loaded model whatever its health: a model whose workers are down says why here.
    handler: async ({ res, params }) => {
      const m = host.findModel(params['name'] ?? '', params['version']);
      if (!m.engine)
        throw new HttpError(
          503,
          `model '${m.config.name}' is ${m.state.toLowerCase()}${m.reason ? `: ${m.reason}` : ''}`,
          { 'retry-after': '1' },
        );
      sendJson(res, 200, modelMetadataBody(m, host.table.versionsOf(m.config.name)));
    },
  });
  host.route({
    method: 'GET',
    path: `${MODEL}/ready`,
    endpoint: 'health',
    auth: 'token',
    handler: async ({ res, params }) => {
      const m = host.findModel(params['name'] ?? '', params['version']);
      const ready = !host.closing && modelReadiness(m).ready;
      sendJson(res, ready ? 200 : 503, { name: m.config.name, ready });
    },
  });
}

/** Triton's repository extension: the index (optionally only ready models), load and unload by name. */
function addRepositoryRoutes(host: ServerHost): void {
  const smallBody = async (ctx: RouteContext): Promise<Record<string, unknown>> => {
    const body = await readBody(ctx.req, ctx.res, {
      limit: REPOSITORY_BODY_LIMIT,
      budget: host.bodyBudget,
      refused: host.refusedBodies,
      until: ctx.finished,
    });
    if (body.bytes.length === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.bytes.toString('utf8'));
    } catch {
      throw new HttpError(400, 'the request body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new HttpError(400, 'the request body must be a JSON object');
    return parsed as Record<string, unknown>;
  };
  host.route({
    method: 'POST',
    path: '/v2/repository/index',
    endpoint: 'repository',
    auth: 'token',
    handler: async (ctx) => {
      const ready = (await smallBody(ctx))['ready'];
      if (ready !== undefined && typeof ready !== 'boolean') throw new HttpError(400, '"ready" must be true or false');
      sendJson(ctx.res, 200, await host.table.index(ready === true));
    },
  });
  for (const op of ['load', 'unload'] as const) {
    host.route({
      method: 'POST',
      path: `/v2/repository/models/{name}/${op}`,
      endpoint: 'repository',
      auth: 'token',
      handler: async (ctx) => {
        const control = host.config.modelRepository?.control;
        if (control !== 'explicit')
          throw new HttpError(
            400,
            `models are ${op}ed only with --model-control explicit ` +
              `(this server's is ${control ?? 'none: it has no model repository'})`,
          );
        await smallBody(ctx);
        const name = ctx.params['name'] ?? '';
        await (op === 'load' ? host.table.load(name) : host.table.unload(name));
        sendJson(ctx.res, 200, {});
      },
    });
  }
}
