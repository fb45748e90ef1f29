/**
 * Image endpoints for vision models, over the same engine as the v2 endpoints:
 * - POST /api/models/{name}/predict with an image body (image/*, or multipart/form-data with a
 *   file): the rtinfer.predict/1 result for that image with its per-stage timing; `?annotate=1`
 *   answers the annotated PNG instead, or, with `Accept: application/json`, the result with the PNG
 *   as a data URL in `results[0].annotated` (one inference for both, as the dashboard wants).
 * - GET /api/models/{name}/stream (WebSocket): the client sends encoded frames as binary messages
 *   and receives one JSON result per frame it ran. While a frame runs, only the newest waiting one
 *   is kept; older ones are dropped and counted, so results stay fresh. Each result carries the
 *   frame's age (from arrival to answer).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import { RtinferError, firstLine, isRtinferError } from '../errors.js';
import { inspectModel } from '../runtime/model-info.js';
import { readModel } from '../runtime/session.js';
import { drawDetections } from '../vision/draw.js';
import type { PreprocessConfig } from '../vision/config.js';
import { createVisionPipeline, type VisionPipeline, type VisionResult } from '../vision/pipeline.js';
import { PreprocessPool } from '../vision/preprocess-pool.js';
import { authorized, HttpError, readBody, sendBody, sendJson } from './http-io.js';
import type { LoadedModelEntry, ReadyModel, RequestContext, RtinferServer } from './server.js';

export const PREDICT_SCHEMA = 'rtinfer.predict/1';

const pipelines = new WeakMap<LoadedModelEntry, Promise<VisionPipeline>>();
const preprocessors = new WeakMap<RtinferServer, PreprocessPool>();

/** The server's preprocessing worker, started on the first image request, stopped with the server. */
function preprocessorOf(server: RtinferServer): PreprocessPool {
  let pool = preprocessors.get(server);
  if (!pool) {
    pool = new PreprocessPool(1);
    preprocessors.set(server, pool);
  }
  return pool;
}

export async function closePreprocessors(server: RtinferServer): Promise<void> {
  await preprocessors.get(server)?.close();
  preprocessors.delete(server);
}

/** The model's vision pipeline, built once on first use (its metadata_props pick the head). */
export function visionPipeline(entry: ReadyModel, server: RtinferServer): Promise<VisionPipeline> {
  let p = pipelines.get(entry);
  if (!p) {
    p = (async () => {
      const loaded = await readModel(entry.config.path);
      const metadata = inspectModel(loaded.bytes, loaded.label).metadata;
      return createVisionPipeline({
        session: entry.engine,
        metadata,
        preprocess: { maxPixels: server.config.maxImagePixels },
        ...(entry.config.task ? { task: entry.config.task as never } : {}),
        // Decode and pack in a worker: the pack loop would otherwise run on the HTTP thread.
        preprocessor: (image: Uint8Array | string, config: PreprocessConfig) => preprocessorOf(server).run(image, config),
      });
    })();
    pipelines.set(entry, p);
    // A model that is not a vision model answers that on every image request, not once.
    p.catch(() => pipelines.delete(entry));
  }
  return p;
}

function resultBody(model: string, pipeline: VisionPipeline, r: VisionResult): Record<string, unknown> {
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const base = { width: r.transform.original.width, height: r.transform.original.height, speedMs: Object.fromEntries(Object.entries(r.speedMs).map(([k, v]) => [k, round(v)])) };
  const result =
    r.task === 'detect'
      ? { ...base, detections: r.detections.map((d) => ({ ...d, score: round(d.score), box: d.box.map((v) => Math.round(v * 10) / 10) })) }
      : r.task === 'classify'
        ? { ...base, classes: r.classes.map((c) => ({ ...c, score: round(c.score) })) }
        : { ...base, texts: r.texts.map((t) => ({ score: round(t.score), box: t.box.map((v) => Math.round(v * 10) / 10) })) };
  return { schema: PREDICT_SCHEMA, model, head: pipeline.head.name, task: pipeline.head.task, results: [result] };
}

/** The image in a request body: raw bytes, or the first file of a multipart form. */
async function imageFrom(req: IncomingMessage, body: Buffer): Promise<Buffer> {
  const type = req.headers['content-type'] ?? '';
  if (body.length === 0) throw new RtinferError('RTI_ERR_IMAGE_DECODE', 'the request has no image: send the image bytes as the body, or a multipart form with a file');
  if (!type.startsWith('multipart/form-data')) return body;
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch {
    throw new RtinferError('RTI_ERR_INPUT_DATA', 'the multipart/form-data body cannot be parsed');
  }
  const named = form.get('image');
  const file = typeof named === 'object' && named !== null ? named : [...form.values()].find((v) => typeof v === 'object');
  if (file === undefined || typeof file === 'string') throw new RtinferError('RTI_ERR_INPUT_DATA', "the form has no file field (send the image as field 'image')");
  return Buffer.from(await file.arrayBuffer());
}

export function addVisionRoutes(server: RtinferServer): void {
  server.addRoute('POST', '/api/models/(?<name>[^/]+)/predict', 'predict', async (ctx: RequestContext, p) => {
    const entry = ctx.model(p['name'] ?? '', undefined);
    const body = await readBody(ctx.req, ctx.config.maxBodyBytes);
    const image = await imageFrom(ctx.req, body);
    const pipeline = await visionPipeline(entry, server);
    ctx.metrics.inflight.inc({ model: entry.config.name });
    try {
      const r = await pipeline.predict(image);
      const url = new URL(ctx.req.url ?? '/', 'http://localhost');
      const timing = `decode;dur=${r.speedMs.decode.toFixed(3)}, preprocess;dur=${r.speedMs.preprocess.toFixed(3)}, inference;dur=${r.speedMs.inference.toFixed(3)}, postprocess;dur=${r.speedMs.postprocess.toFixed(3)}`;
      if (url.searchParams.get('annotate') === '1') {
        if (r.task === 'classify') throw new HttpError(400, `annotate=1 draws boxes; model '${entry.config.name}' is a classifier`);
        const png = await drawDetections(image, r.task === 'detect' ? r.detections : r.texts);
        if ((ctx.req.headers.accept ?? '').includes('application/json')) {
          const body = resultBody(entry.config.name, pipeline, r);
          const [first] = body['results'] as Array<Record<string, unknown>>;
          if (first) first['annotated'] = `data:image/png;base64,${png.toString('base64')}`;
          sendJson(ctx.res, 200, body, { 'server-timing': timing });
        } else {
          sendBody(ctx.res, 200, png, { 'content-type': 'image/png', 'server-timing': timing });
        }
      } else {
        sendJson(ctx.res, 200, resultBody(entry.config.name, pipeline, r), { 'server-timing': timing });
      }
    } finally {
      ctx.metrics.inflight.dec({ model: entry.config.name });
    }
  });
}

interface StreamState {
  pending: { frame: Buffer; at: number; seq: number } | undefined;
  running: boolean;
  seq: number;
  dropped: number;
}

/** WebSocket streams at /api/models/{name}/stream, on the server's own HTTP listener. */
export function attachStreams(http: Server, server: RtinferServer): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: server.config.maxBodyBytes });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refuse = (status: number, message: string): void => {
      socket.end(`HTTP/1.1 ${status} ${message}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${JSON.stringify({ error: message })}`);
    };
    const m = /^\/api\/models\/([^/?]+)\/stream(?:\?.*)?$/.exec(req.url ?? '');
    if (!m) return refuse(404, 'no such stream endpoint');
    if (!authorized(req, server.config.token)) return refuse(401, 'missing or wrong bearer token');
    const name = decodeURIComponent(m[1] ?? '');
    const entry = server.models.get(name);
    if (!entry?.engine || entry.state !== 'READY') return refuse(entry ? 503 : 404, entry ? `model '${name}' is not ready` : `unknown model '${name}'`);
    const ready = entry as ReadyModel;
    wss.handleUpgrade(req, socket, head, (ws) => serveStream(ws, ready, server));
  };
  http.on('upgrade', onUpgrade);
  return () => {
    http.off('upgrade', onUpgrade);
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    wss.close();
  };
}

function serveStream(ws: WebSocket, entry: ReadyModel, server: RtinferServer): void {
  const state: StreamState = { pending: undefined, running: false, seq: 0, dropped: 0 };
  const model = entry.config.name;
  const next = async (): Promise<void> => {
    const job = state.pending;
    if (!job || state.running) return;
    state.pending = undefined;
    state.running = true;
    try {
      const pipeline = await visionPipeline(entry, server);
      const r = await pipeline.predict(job.frame);
      const body = resultBody(model, pipeline, r);
      const ageMs = performance.now() - job.at;
      ws.send(JSON.stringify({ ...body, frame: job.seq, ageMs: Math.round(ageMs * 1000) / 1000, dropped: state.dropped }));
      // A frame's age (arrival to answer) is its end-to-end latency on the dashboard.
      server.live.record(model, 'stream', 200, ageMs);
    } catch (error) {
      server.live.record(model, 'stream', isRtinferError(error) ? error.status : 500, performance.now() - job.at);
      const message = isRtinferError(error) ? error.message : firstLine(error);
      ws.send(JSON.stringify({ frame: job.seq, error: message, ...(isRtinferError(error) ? { code: error.code } : {}) }));
    } finally {
      state.running = false;
      if (ws.readyState === ws.OPEN) void next();
    }
  };
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      ws.send(JSON.stringify({ error: 'send frames as binary messages (encoded JPEG, PNG or WebP)' }));
      return;
    }
    const frame = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
    state.seq++;
    if (state.pending) {
      // Only the newest waiting frame is worth running: the older one would answer stale.
      state.dropped++;
      server.metrics.droppedFrames.inc({ model });
    }
    state.pending = { frame, at: performance.now(), seq: state.seq };
    void next();
  });
}
