/**
 * The dashboard's endpoints over real HTTP: the SSE stream and the JSON snapshot of live statistics
 * under real traffic, the model listing, the token (header, or ?token= where EventSource needs it),
 * the try-it answer that carries the result and the annotated image, and a shutdown that SSE
 * streams cannot hold up.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import WebSocket from 'ws';
import { encodeInferRequest } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import type { LiveSnapshot, LiveTick } from '../../src/server/live-stats.js';
import type { ModelListing } from '../../src/server/live-routes.js';
import type {
  LiveSnapshot as PageLiveSnapshot,
  LiveTick as PageLiveTick,
  ModelListing as PageModelListing,
} from '../../web/dashboard/types.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { OCR_CLS, OCR_DET, SILERO } from '../helpers/models.js';

const TOKEN = 's3cret';
const auth = { authorization: `Bearer ${TOKEN}` };
let server: RtinferServer;
let base: string;
let textPng: Buffer;

before(async () => {
  server = createRtinferServer(
    validateConfig({
      port: 0,
      token: TOKEN,
      models: [
        { path: OCR_DET, name: 'det', warmupShapes: { x: [1, 3, 160, 480] } },
        { path: OCR_CLS, name: 'cls', batching: { maxBatchSize: 4 }, warmupShapes: { x: [1, 3, 48, 192] } },
        { path: SILERO, name: 'vad' },
      ],
    }),
  );
  base = await server.listen();
  await server.ready();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="160"><rect width="100%" height="100%" fill="white"/><text x="30" y="100" font-size="60" font-family="sans-serif">LIVE</text></svg>`;
  textPng = await sharp(Buffer.from(svg)).png().toBuffer();
});
after(async () => server.close());

interface SseEvent {
  event: string;
  data: string;
}

/** Reads server-sent events from a fetch response until `until` says stop or `timeoutMs` passes. */
async function readEvents(
  res: Response,
  until: (events: SseEvent[]) => boolean,
  timeoutMs = 8000,
): Promise<SseEvent[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`SSE: gave up after ${timeoutMs} ms with ${events.length} events`);
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('SSE read timed out')), left).unref()),
      ]);
      if (chunk.done) break;
      buffer += chunk.value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data });
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

const cls = () =>
  encodeInferRequest(
    [{ name: 'x', type: 'float32', dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192).fill(0.5) }],
    {},
  );

// The dashboard page declares the shapes it reads (it compiles against the DOM, not Node's types):
// a server-side change that the page would misread fails the typecheck here.
export const pageReadsServerShapes = (
  s: LiveSnapshot,
  t: LiveTick,
  m: ModelListing,
): [PageLiveSnapshot, PageLiveTick, PageModelListing] => [s, t, m];

test('GET /api/live streams a snapshot, then a tick a second whose points count the real requests answered', async () => {
  const res = await fetch(`${base}/api/live?token=${TOKEN}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const sent = (async () => {
    const answers = [];
    for (let i = 0; i < 12; i++) {
      const m = cls();
      answers.push(
        (
          await fetch(`${base}/v2/models/cls/infer`, {
            method: 'POST',
            body: m.body,
            headers: { ...m.headers, ...auth },
          })
        ).status,
      );
    }
    answers.push(
      (await fetch(`${base}/api/models/det/predict`, { method: 'POST', body: textPng, headers: auth })).status,
    );
    return answers;
  })();
  let counted = 0;
  const events = await readEvents(res, (evs) => {
    counted = evs
      .filter((e) => e.event === 'tick')
      .reduce(
        (sum, e) => sum + ((JSON.parse(e.data) as LiveTick).models.find((m) => m.name === 'cls')?.point.answered ?? 0),
        0,
      );
    return (
      counted >= 12 &&
      evs.some(
        (e) =>
          e.event === 'tick' &&
          (JSON.parse(e.data) as LiveTick).models.find((m) => m.name === 'det')!.point.answered > 0,
      )
    );
  });
  assert.deepEqual(await sent, [...Array<number>(12).fill(200), 200]);
  assert.equal(events[0]!.event, 'snapshot');
  const snapshot = JSON.parse(events[0]!.data) as LiveSnapshot;
  assert.equal(snapshot.schema, 'rtinfer.live/1');
  assert.deepEqual(
    snapshot.models.map((m) => m.name),
    ['det', 'cls', 'vad'],
  );
  assert.equal(counted, 12);
  const ticks = events.filter((e) => e.event === 'tick').map((e) => JSON.parse(e.data) as LiveTick);
  const busy = ticks.flatMap((t) => t.models.filter((m) => m.name === 'cls' && m.point.answered > 0));
  for (const m of busy) {
    assert.ok(
      m.point.p50Ms! > 0 && m.point.p50Ms! <= m.point.p90Ms! && m.point.p90Ms! <= m.point.p99Ms!,
      JSON.stringify(m.point),
    );
    assert.ok(Object.keys(m.point.batches).length > 0, 'the engine ran batches in a second with answers');
  }
  assert.equal(busy.at(-1)!.lastMinute.count, 12, 'the last minute holds every answered request');
  // The JSON snapshot now has the same points in its window.
  const snap = (await (await fetch(`${base}/api/live/snapshot`, { headers: auth })).json()) as LiveSnapshot;
  const window = snap.models.find((m) => m.name === 'cls')!.points;
  assert.equal(
    window.reduce((sum, p) => sum + p.answered, 0),
    12,
  );
  assert.ok(window.length >= ticks.length);
});

test('frames answered on a WebSocket stream count as the model’s traffic, with their age as latency', async () => {
  let points: LiveSnapshot['models'][number]['points'] = [];
  const answeredSoFar = async (): Promise<number> => {
    const snap = (await (await fetch(`${base}/api/live/snapshot`, { headers: auth })).json()) as LiveSnapshot;
    points = snap.models.find((m) => m.name === 'det')!.points;
    return points.reduce((sum, p) => sum + p.answered, 0);
  };
  // Let the current second close, so that every earlier answer is in the window.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const before = await answeredSoFar();
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/models/det/stream`, { headers: auth });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const result = new Promise<{ ageMs: number }>((resolve) =>
    ws.once('message', (d) => resolve(JSON.parse(String(d)) as { ageMs: number })),
  );
  ws.send(textPng);
  const { ageMs } = await result;
  ws.close();
  let after = before;
  for (let i = 0; i < 30 && after === before; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    after = await answeredSoFar();
  }
  assert.equal(after, before + 1);
  const p50 = points.findLast((p) => p.answered === 1)!.p50Ms!;
  assert.ok(Math.abs(p50 - ageMs) <= ageMs * 0.002 + 0.002, `p50 ${p50} ms is the frame's age ${ageMs} ms`);
});

test('GET /api/models lists each model with its vision task (null for a model no head fits)', async () => {
  const r = await fetch(`${base}/api/models`, { headers: auth });
  assert.equal(r.status, 200);
  const { models } = (await r.json()) as {
    models: Array<{
      name: string;
      state: string;
      task: string | null;
      head: string | null;
      inputs: Array<{ name: string }>;
    }>;
  };
  assert.deepEqual(
    models.map((m) => [m.name, m.state, m.task, m.head, m.inputs[0]!.name]),
    [
      ['det', 'READY', 'text', 'text', 'x'],
      ['cls', 'READY', 'classify', 'classify', 'x'],
      ['vad', 'READY', null, null, 'input'],
    ],
  );
});

test('the token guards every dashboard endpoint; ?token= is taken only where EventSource or a link needs it', async () => {
  const status = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(base + path, { headers });
    await r.body?.cancel();
    return r.status;
  };
  assert.equal(await status('/api/live'), 401);
  assert.equal(await status('/api/live?token=wrong'), 401);
  assert.equal(await status('/api/live?token=s3cret0'), 401);
  assert.equal(await status('/api/live', auth), 200);
  assert.equal(await status(`/api/live?token=${TOKEN}`), 200);
  assert.equal(await status('/'), 401);
  assert.notEqual(await status(`/?token=${TOKEN}`), 401);
  assert.equal(await status('/api/live/snapshot'), 401);
  assert.equal(await status(`/api/live/snapshot?token=${TOKEN}`), 401, 'JSON endpoints want the header');
  assert.equal(await status(`/api/models?token=${TOKEN}`), 401);
  assert.equal(await status(`/v2/models/cls?token=${TOKEN}`), 401, 'v2 routes are unchanged');
  assert.equal(await status('/favicon.ico'), 204, 'browsers ask for it without credentials');
});

test('predict with ?annotate=1 and Accept: application/json answers the result and the annotated PNG in one inference', async () => {
  const r = await fetch(`${base}/api/models/det/predict?annotate=1`, {
    method: 'POST',
    body: textPng,
    headers: { ...auth, accept: 'application/json' },
  });
  assert.equal(r.status, 200);
  const j = (await r.json()) as {
    schema: string;
    task: string;
    results: Array<{ texts: unknown[]; speedMs: Record<string, number>; annotated: string }>;
  };
  assert.equal(j.schema, 'rtinfer.predict/1');
  assert.equal(j.task, 'text');
  const result = j.results[0]!;
  assert.ok(result.texts.length >= 1);
  assert.deepEqual(Object.keys(result.speedMs), ['decode', 'preprocess', 'inference', 'postprocess']);
  assert.match(result.annotated, /^data:image\/png;base64,/);
  const meta = await sharp(Buffer.from(result.annotated.split(',')[1]!, 'base64')).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 480, 160]);
  // Without the Accept header the answer is still the PNG itself.
  const png = await fetch(`${base}/api/models/det/predict?annotate=1`, {
    method: 'POST',
    body: textPng,
    headers: auth,
  });
  assert.equal(png.headers.get('content-type'), 'image/png');
  await png.body?.cancel();
});

test('closing the server ends open SSE streams instead of waiting on them, and answers in-flight requests', async () => {
  const s = createRtinferServer(
    validateConfig({ port: 0, models: [{ path: OCR_CLS, name: 'cls', warmupShapes: { x: [1, 3, 48, 192] } }] }),
  );
  const url = await s.listen();
  await s.ready();
  const streams = await Promise.all([fetch(`${url}/api/live`), fetch(`${url}/api/live`)]);
  const ended = streams.map((r) => readEvents(r, () => false, 10_000).then((evs) => evs.map((e) => e.event)));
  const m = cls();
  const inflight = fetch(`${url}/v2/models/cls/infer`, { method: 'POST', body: m.body, headers: m.headers });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const t0 = Date.now();
  await Promise.race([
    s.close(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('close() hung on SSE streams')), 5000).unref()),
  ]);
  assert.ok(Date.now() - t0 < 5000);
  assert.equal((await inflight).status, 200);
  for (const events of await Promise.all(ended))
    assert.equal(events[0], 'snapshot', 'each stream got its snapshot, then ended');
  assert.equal(s.live.closed, true);
});
