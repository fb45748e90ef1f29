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
import { deploymentOf, modelReadiness, type Deployment } from './model-health.js';
import type { LiveFeed, LiveSnapshot, LiveTick, LoadedModelEntry, ReadyModel, ServerHost } from './types.js';
import type { VisionService } from './vision-routes.js';

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
  /** Instances × threads and why (the auto hint's measurement); absent until loaded. */
  deployment?: Deployment;
}

async function listing(vision: VisionService, m: LoadedModelEntry): Promise<ModelListing> {
  const { task, head } =
    m.state === 'READY' && m.engine ? await vision.head(m as ReadyModel) : { task: null, head: null };
  const r = modelReadiness(m);
  const deployment = deploymentOf(m);
  return {
    name: m.config.name,
    version: m.config.version,
    state: m.state === 'READY' && !r.ready ? 'UNAVAILABLE' : m.state,
    ...(r.reason ? { reason: r.reason } : {}),
    task,
    head,
    inputs: (m.engine?.inputs ?? []).map((i) => ({ name: i.name, dtype: i.dtype, shape: [...i.shape] })),
    ...(deployment ? { deployment } : {}),
  };
}

function serveEvents(res: ServerResponse, live: LiveFeed): void {
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

export function addLiveRoutes(host: ServerHost, vision: VisionService): void {
  // EventSource cannot send headers: the page and its event stream also take ?token=.
  host.route({
    method: 'GET',
    path: '/api/live',
    endpoint: 'live',
    auth: 'token-or-query',
    handler: async ({ res }) => serveEvents(res, host.live),
  });
  host.route({
    method: 'GET',
    path: '/api/live/snapshot',
    endpoint: 'live',
    auth: 'token',
    handler: async ({ res }) => sendJson(res, 200, host.live.snapshot()),
  });
  host.route({
    method: 'GET',
    path: '/api/models',
    endpoint: 'metadata',
    auth: 'token',
    handler: async ({ res }) =>
      sendJson(res, 200, { models: await Promise.all([...host.models.values()].map((m) => listing(vision, m))) }),
  });
  // Browsers ask for a favicon on their own, without credentials.
  host.route({
    method: 'GET',
    path: '/favicon.ico',
    endpoint: 'dashboard',
    auth: 'public',
    handler: async ({ res }) => {
      res.writeHead(204, { 'cache-control': 'max-age=86400' });
      res.end();
    },
  });
  host.route({
    method: 'GET',
    path: '/',
    endpoint: 'dashboard',
    auth: 'token-or-query',
    handler: async ({ res }) => {
      // Built once per request from cached assets; a missing build answers RTI_ERR_WEB_ASSETS_MISSING (500).
      const html = renderPage({
        title: 'rtinfer serve · live',
        entry: 'dashboard',
        data: { version: RTINFER_VERSION, models: [...host.models.keys()] },
      });
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': String(Buffer.byteLength(html)),
        'cache-control': 'no-store',
      });
      res.end(html);
    },
  });
}
