/**
 * The live dashboard's endpoints:
 * - GET /api/live: Server-Sent Events, one `snapshot` event (every model's window of points and
 *   last-minute distribution), then one `tick` event a second; ends when the server shuts down.
 * - GET /api/live/snapshot: the same snapshot as JSON (rtinfer.live/1).
 * - GET /api/models: models with their state and vision task, for the dashboard's try-it panel.
 * - GET /: the dashboard page.
 * With a token, `/` and `/api/live` also take it as `?token=` (EventSource cannot send headers);
 * the rest want `Authorization: Bearer`, which the page sends from the token in its own URL.
 */
import type { ServerResponse } from 'node:http';
import { renderPage } from '../report/web-assets.js';
import { RTINFER_VERSION } from '../version.js';
import { sendJson } from './http-io.js';
import type { LiveSnapshot, LiveTick } from './live-stats.js';
import type { LoadedModelEntry, ReadyModel, RtinferServer } from './server.js';
import { visionPipeline } from './vision-routes.js';

/** Paths where `?token=` stands in for the Authorization header (GET only). */
export const LIVE_QUERY_TOKEN_PATHS: ReadonlySet<string> = new Set(['/', '/api/live']);
/** Paths served without a token: browsers ask for a favicon on their own, without credentials. */
export const LIVE_PUBLIC_PATHS: ReadonlySet<string> = new Set(['/favicon.ico']);

/** A client that stops reading is cut off past this much unsent data (~a minute of ticks for a few models). */
const MAX_BUFFERED_BYTES = 1 << 20;

export interface ModelListing {
  name: string;
  version: string;
  state: LoadedModelEntry['state'];
  reason?: string;
  /** detect, classify or text for a vision model; null when the model fits no vision head. */
  task: string | null;
  head: string | null;
  inputs: Array<{ name: string; dtype: string; shape: Array<number | string> }>;
}

/**
 * A ready model's vision head, found once: a model that fits no head would otherwise have its file
 * read and parsed again on every listing (the image endpoints retry on purpose, this need not).
 */
const heads = new WeakMap<LoadedModelEntry, Promise<{ task: string | null; head: string | null }>>();

function headOf(server: RtinferServer, m: ReadyModel): Promise<{ task: string | null; head: string | null }> {
  let found = heads.get(m);
  if (!found) {
    found = visionPipeline(m, server).then(
      (p) => ({ task: p.head.task, head: p.head.name }),
      // Not a vision model (no head fits its outputs): it still serves v2 requests.
      () => ({ task: null, head: null }),
    );
    heads.set(m, found);
  }
  return found;
}

async function listing(server: RtinferServer, m: LoadedModelEntry): Promise<ModelListing> {
  const { task, head } = m.state === 'READY' && m.engine ? await headOf(server, m as ReadyModel) : { task: null, head: null };
  return {
    name: m.config.name,
    version: m.config.version,
    state: m.state,
    ...(m.reason ? { reason: m.reason } : {}),
    task,
    head,
    inputs: (m.engine?.inputs ?? []).map((i) => ({ name: i.name, dtype: i.dtype, shape: [...i.shape] })),
  };
}

function serveEvents(res: ServerResponse, server: RtinferServer): void {
  const live = server.live;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
  });
  res.socket?.setNoDelay(true);
  const send = (event: string, data: LiveSnapshot | LiveTick): void => {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  let offTick = (): void => undefined;
  let offClose = (): void => undefined;
  const stop = (): void => {
    offTick();
    offClose();
  };
  res.on('close', stop);
  // Reconnect after 2 s if the stream drops (the browser's default is 3 s).
  res.write('retry: 2000\n\n');
  send('snapshot', live.snapshot());
  offTick = live.onTick((tick) => send('tick', tick));
  offClose = live.onClose(() => {
    stop();
    res.end();
  });
}

export function addLiveRoutes(server: RtinferServer): void {
  server.addRoute('GET', '/api/live', 'live', async ({ res }) => serveEvents(res, server));
  server.addRoute('GET', '/api/live/snapshot', 'live', async ({ res }) => sendJson(res, 200, server.live.snapshot()));
  server.addRoute('GET', '/api/models', 'metadata', async ({ res }) => {
    sendJson(res, 200, { models: await Promise.all([...server.models.values()].map((m) => listing(server, m))) });
  });
  server.addRoute('GET', '/favicon.ico', 'dashboard', async ({ res }) => {
    res.writeHead(204, { 'cache-control': 'max-age=86400' });
    res.end();
  });
  server.addRoute('GET', '/', 'dashboard', async ({ res }) => {
    // Built once per request from cached assets; a missing build answers RTI_ERR_WEB_ASSETS_MISSING (500).
    const html = renderPage({ title: 'rtinfer serve · live', entry: 'dashboard', data: { version: RTINFER_VERSION, models: [...server.models.keys()] } });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(html)), 'cache-control': 'no-store' });
    res.end(html);
  });
}
