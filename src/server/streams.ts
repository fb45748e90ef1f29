/**
 * GET /api/models/{name}/stream (WebSocket): the client sends encoded frames as binary messages
 * and receives one JSON result per frame it ran. While a frame runs, only the newest waiting one
 * is kept; older ones are dropped and counted, so results stay fresh. Each result carries the
 * frame's age (from arrival to answer).
 *
 * A stream faces the same rules as a request: Host/Origin checks, the token (as a header, or
 * `?token=` since browsers cannot set headers on a WebSocket), a ready model, the stream cap, the
 * body budget for its waiting frames. Every socket has an error path (a refused upgrade that the
 * client resets, a protocol error on an open stream); a ping finds dead peers; a client that stops
 * reading results is cut off; shutdown sends a close frame.
 */
import type { IncomingMessage, Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { firstLine, isRtinferError } from '../errors.js';
import { authorized, decodePathPart, errorAnswer, HttpError, queryTokenAllowed, rawAnswer } from './http-io.js';
import { compileTemplate } from './router.js';
import type { ReadyModel, ServerHost } from './types.js';
import { resultBody, type VisionService } from './vision-routes.js';
import { round3 } from '../util/format.js';

const STREAM_PATH = compileTemplate('/api/models/{name}/stream');
/** A client that leaves this many result bytes unread is not reading: its stream is closed. */
const MAX_UNSENT_BYTES = 1 << 20;
/** After the close frame at shutdown, streams that do not answer it are cut after this long. */
const CLOSE_WAIT_MS = 1000;

interface Frame {
  bytes: Buffer;
  at: number;
  seq: number;
}

export function attachStreams(http: Server, host: ServerHost, vision: VisionService): void {
  // No per-message compression (ws's default for servers): a small frame cannot inflate into a large one.
  const wss = new WebSocketServer({ noServer: true, maxPayload: host.config.maxBodyBytes, perMessageDeflate: false });
  const alive = new WeakSet<WebSocket>();

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A refused upgrade that the client resets must not reach the process as an unhandled error.
    socket.on('error', () => undefined);
    try {
      const ws = admit(req, host, wss.clients.size);
      wss.handleUpgrade(req, socket, head, (client) => {
        alive.add(client);
        client.on('pong', () => alive.add(client));
        serveStream(client, ws.entry, host, vision);
      });
    } catch (error) {
      if (error instanceof HttpError && error.status === 503 && /streams/.test(error.message))
        host.metrics.refusedConnections.inc({ reason: 'streams' });
      const { status, message, headers } = errorAnswer(error);
      rawAnswer(socket, status, message, headers);
    }
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, host.config.wsPingIntervalMs).unref();

  host.preClose(async () => {
    clearInterval(heartbeat);
    const open = [...wss.clients];
    for (const ws of open) ws.close(1001, 'server shutting down');
    if (open.length > 0) {
      await new Promise<void>((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref());
      for (const ws of wss.clients) ws.terminate();
    }
    wss.close();
  });
}

/** The checks an HTTP request gets, for an upgrade; throws the answer. */
function admit(req: IncomingMessage, host: ServerHost, openStreams: number): { entry: ReadyModel } {
  if (host.closing) throw new HttpError(503, 'the server is shutting down', { 'retry-after': '1' });
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, 'invalid request target');
  }
  host.guard.check(req);
  const token = host.config.token;
  if (!authorized(req, token) && !queryTokenAllowed(url, token))
    throw new HttpError(401, 'missing or wrong bearer token');
  const m = STREAM_PATH.exec(url.pathname);
  if (!m) throw new HttpError(404, 'no such stream endpoint');
  const entry = host.readyModel(decodePathPart(m.groups?.['name'] ?? ''));
  if (openStreams >= host.config.maxStreams)
    throw new HttpError(503, `too many open streams (maxStreams ${host.config.maxStreams}): retry later`, {
      'retry-after': '1',
    });
  return { entry };
}

function serveStream(ws: WebSocket, entry: ReadyModel, host: ServerHost, vision: VisionService): void {
  const model = entry.config.name;
  let pending: Frame | undefined;
  let running = false;
  let seq = 0;
  let dropped = 0;
  // Frames waiting or running hold body-budget bytes like request bodies do.
  const release = (f: Frame | undefined): void => {
    if (f) host.bodyBudget.release(f.bytes.length);
  };
  const send = (message: Record<string, unknown>): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_UNSENT_BYTES) {
      ws.terminate();
      return;
    }
    ws.send(JSON.stringify(message));
  };
  const next = async (): Promise<void> => {
    const job = pending;
    if (!job || running) return;
    pending = undefined;
    running = true;
    try {
      const pipeline = await vision.pipeline(entry);
      const r = await pipeline.predict(job.bytes);
      const ageMs = performance.now() - job.at;
      send({ ...resultBody(model, pipeline, r), frame: job.seq, ageMs: round3(ageMs), dropped });
      // A frame's age (arrival to answer) is its end-to-end latency on the dashboard.
      host.live.record(model, 'stream', 200, ageMs);
    } catch (error) {
      const { status, message } = errorAnswer(error);
      host.live.record(model, 'stream', status, performance.now() - job.at);
      send({
        frame: job.seq,
        error: message || firstLine(error),
        ...(isRtinferError(error) ? { code: error.code } : {}),
      });
    } finally {
      release(job);
      running = false;
      if (ws.readyState === ws.OPEN) void next();
    }
  };
  // Protocol errors (an unmasked frame, a bad opcode, an oversized frame): ws closes the stream
  // with the right code; the error itself is the client's, not the process's.
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    release(pending);
    pending = undefined;
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      send({ error: 'send frames as binary messages (encoded JPEG, PNG or WebP)' });
      return;
    }
    const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
    seq++;
    if (pending) {
      // Only the newest waiting frame is worth running: the older one would answer stale.
      dropped++;
      host.metrics.droppedFrames.inc({ model });
      release(pending);
      pending = undefined;
    }
    if (!host.bodyBudget.tryReserve(bytes.length)) {
      dropped++;
      send({
        frame: seq,
        error: 'the server holds too many request bytes: frame dropped, retry later',
        code: 'RTI_ERR_ENGINE_QUEUE_FULL',
      });
      return;
    }
    pending = { bytes, at: performance.now(), seq };
    void next();
  });
}
