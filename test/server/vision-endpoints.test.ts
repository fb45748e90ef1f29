/** Image endpoints and WebSocket streams of rtinfer serve, on real models and real images. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import WebSocket from 'ws';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { OCR_CLS, OCR_DET, OCR_REC, SILERO } from '../helpers/models.js';

let server: RtinferServer;
let base: string;
let textPng: Buffer;

before(async () => {
  server = createRtinferServer(
    validateConfig({
      port: 0,
      maxImagePixels: 4_000_000,
      models: [
        { path: OCR_DET, name: 'det', warmupShapes: { x: [1, 3, 160, 320] } },
        { path: OCR_CLS, name: 'cls', warmupShapes: { x: [1, 3, 48, 192] } },
        { path: OCR_REC, name: 'rec', warmupShapes: { x: [1, 3, 48, 320] } },
        { path: SILERO, name: 'vad' },
      ],
    }),
  );
  base = await server.listen();
  await server.ready();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="160"><rect width="100%" height="100%" fill="white"/><text x="30" y="100" font-size="60" font-family="sans-serif">STREAMS</text></svg>`;
  textPng = await sharp(Buffer.from(svg)).png().toBuffer();
});
after(async () => server.close());

test('POST /api/models/{name}/predict answers rtinfer.predict/1 with per-stage timing; annotate=1 answers a PNG', async () => {
  const r = await fetch(`${base}/api/models/det/predict`, {
    method: 'POST',
    body: textPng,
    headers: { 'content-type': 'image/png' },
  });
  assert.equal(r.status, 200);
  const j = (await r.json()) as {
    schema: string;
    head: string;
    results: Array<{ width: number; texts: Array<{ box: number[] }>; speedMs: Record<string, number> }>;
  };
  assert.equal(j.schema, 'rtinfer.predict/1');
  assert.equal(j.head, 'text');
  assert.equal(j.results[0]!.width, 480);
  assert.ok(j.results[0]!.texts.length >= 1);
  assert.ok(j.results[0]!.speedMs['inference']! > 0);
  assert.match(r.headers.get('server-timing') ?? '', /decode;dur=.*postprocess;dur=/);
  const form = new FormData();
  form.append('image', new Blob([textPng], { type: 'image/png' }), 'text.png');
  const m = await fetch(`${base}/api/models/det/predict?annotate=1`, { method: 'POST', body: form });
  assert.equal(m.status, 200);
  assert.equal(m.headers.get('content-type'), 'image/png');
  const meta = await sharp(Buffer.from(await m.arrayBuffer())).metadata();
  assert.deepEqual([meta.width, meta.height], [480, 160]);
  // Both images ran the model: the v2 statistics count them as its inferences.
  const stats = (await (await fetch(`${base}/v2/models/det/stats`)).json()) as {
    model_stats: Array<{ inference_count: number; inference_stats: { compute_infer: { count: number } } }>;
  };
  assert.equal(stats.model_stats[0]!.inference_count, 2);
  assert.equal(stats.model_stats[0]!.inference_stats.compute_infer.count, 2);
});

test('the PP-OCR recogniser answers the line it reads as texts[0].text, with the dictionary found beside the model', async () => {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="360" height="64"><rect width="100%" height="100%" fill="white"/>' +
    '<text x="10" y="46" font-family="DejaVu Sans, sans-serif" font-size="40">rtinfer 2026</text></svg>';
  const line = await sharp(Buffer.from(svg)).png().toBuffer();
  const r = await fetch(`${base}/api/models/rec/predict`, { method: 'POST', body: line });
  assert.equal(r.status, 200);
  const j = (await r.json()) as { head: string; results: Array<{ texts: Array<{ text: string; box: number[] }> }> };
  assert.equal(j.head, 'ctc');
  assert.equal(j.results[0]!.texts[0]!.text, 'rtinfer 2026');
  assert.deepEqual(j.results[0]!.texts[0]!.box, [0, 0, 360, 64]);
});

test('BAD CALL - corrupt, empty and oversized images, a model whose outputs fit no head, forms without an image and annotate=1 on a classifier get clear 4xx answers', async () => {
  const post = (body: Buffer | string, model = 'det') =>
    fetch(`${base}/api/models/${model}/predict`, { method: 'POST', body });
  const corrupt = await post(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]));
  assert.equal(corrupt.status, 400);
  assert.match(((await corrupt.json()) as { error: string }).error, /<buffer>/);
  assert.equal((await post('')).status, 400);
  const huge = await sharp({ create: { width: 2100, height: 2000, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  const tooBig = await post(huge);
  assert.equal(tooBig.status, 413);
  assert.match(((await tooBig.json()) as { error: string }).error, /4200000|4000000|pixel/);
  const unknown = await post(textPng, 'nope');
  assert.equal(unknown.status, 404);
  const error = async (r: Response): Promise<[number, string]> => [
    r.status,
    ((await r.json()) as { error: string }).error,
  ];
  const [noHead, noHeadError] = await error(await post(textPng, 'vad'));
  assert.equal(noHead, 400);
  assert.match(noHeadError, /no head fits the model outputs/);
  const noFile = new FormData();
  noFile.append('note', 'no image here');
  assert.deepEqual(await error(await fetch(`${base}/api/models/det/predict`, { method: 'POST', body: noFile })), [
    400,
    "the form has no file field (send the image as field 'image')",
  ]);
  const brokenForm = await fetch(`${base}/api/models/det/predict`, {
    method: 'POST',
    body: 'not a form',
    headers: { 'content-type': 'multipart/form-data; boundary=x' },
  });
  assert.deepEqual(await error(brokenForm), [400, 'the multipart/form-data body cannot be parsed']);
  const annotated = await fetch(`${base}/api/models/cls/predict?annotate=1`, { method: 'POST', body: textPng });
  assert.deepEqual(await error(annotated), [400, "annotate=1 draws boxes; model 'cls' is a classifier"]);
});

test('a WebSocket stream keeps only the newest pending frame under a fast sender, counts drops, and reports frame age', async () => {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/models/det/stream`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const results: Array<{ frame: number; ageMs: number; dropped: number; results?: unknown[]; error?: string }> = [];
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data));
      results.push(msg);
      if (msg.frame === 30) resolve();
    });
  });
  for (let i = 0; i < 30; i++) ws.send(textPng);
  await done;
  ws.close();
  assert.ok(results.length < 30, `frames were dropped (${results.length} answered of 30)`);
  assert.equal(results.at(-1)!.frame, 30, 'the newest frame is always answered');
  assert.ok(results.every((r) => r.results && r.ageMs >= 0));
  const dropped = results.at(-1)!.dropped;
  assert.equal(dropped + results.length, 30, 'every frame is either answered or counted as dropped');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, new RegExp(`rtinfer_stream_frames_dropped_total\\{model="det"\\} ${dropped}`));
});

test('BAD CALL - streams refuse unknown models and text frames', async () => {
  const bad = new WebSocket(`${base.replace('http', 'ws')}/api/models/nope/stream`);
  const status = await new Promise<number>((resolve) =>
    bad.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
  );
  assert.equal(status, 404);
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/models/det/stream`);
  await new Promise((resolve) => ws.once('open', resolve));
  const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  ws.send('hello');
  assert.match(await reply, /send frames as binary messages/);
  ws.close();
});
