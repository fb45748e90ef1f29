/**
 * The server's image and stream endpoints with the heads of issue #14: keypoints from the real
 * yolov8-lite-t face pose model, masks as RLE or polygons from a constant-output segment model.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import WebSocket from 'ws';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { SHARED_MODELS } from '../helpers/models.js';
import { constantModel, levelValues } from '../vision/constant-model.js';

const POSE = `${SHARED_MODELS}yolov8-lite-t.onnx`;
const FACES = `${SHARED_MODELS}faces-lm1.jpg`;
const havePose = existsSync(POSE) && existsSync(FACES);

let server: RtinferServer;
let base: string;
let dir: string;
let grey: Buffer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtinfer-heads-'));
  const det = levelValues(7, 10, 0, 'chw');
  [28, 24, 32, 24, 0.9, 1, 0].forEach((v, r) => det.set(r, 3, v));
  const protos = new Float32Array(2 * 16 * 16).fill(-1);
  for (let v = 4; v <= 7; v++) for (let u = 4; u <= 9; u++) protos[v * 16 + u] = 1;
  const meta = { task: 'segment', names: "{0: 'thing'}" };
  await writeFile(
    path.join(dir, 'seg.onnx'),
    constantModel(
      { name: 'images', shape: [1, 3, 64, 64] },
      [
        { name: 'output0', dims: [1, 7, 10], values: det.values },
        { name: 'output1', dims: [1, 2, 16, 16], values: protos },
      ],
      meta,
    ),
  );
  grey = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .png()
    .toBuffer();
  server = createRtinferServer(
    validateConfig({
      port: 0,
      models: [{ path: path.join(dir, 'seg.onnx'), name: 'seg' }, ...(havePose ? [{ path: POSE, name: 'pose' }] : [])],
    }),
  );
  base = await server.listen();
  await server.ready();
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('predict answers masks as RLE by default and as polygons with ?masks=polygon; annotate=1 draws them', async () => {
  const r = await fetch(`${base}/api/models/seg/predict`, { method: 'POST', body: grey });
  assert.equal(r.status, 200);
  const j = (await r.json()) as {
    head: string;
    results: Array<{ detections: Array<{ mask: { rle?: { size: number[]; counts: number[] } } }> }>;
  };
  assert.equal(j.head, 'segment');
  assert.deepEqual(j.results[0]!.detections[0]!.mask.rle!.size, [64, 64]);
  const p = await fetch(`${base}/api/models/seg/predict?masks=polygon`, { method: 'POST', body: grey });
  const pj = (await p.json()) as { results: Array<{ detections: Array<{ mask: { polygons: number[][] } }> }> };
  assert.equal(pj.results[0]!.detections[0]!.mask.polygons.length, 1);
  const bad = await fetch(`${base}/api/models/seg/predict?masks=bitmap`, { method: 'POST', body: grey });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /invalid masks 'bitmap' \(expected rle or polygon\)/);
  const a = await fetch(`${base}/api/models/seg/predict?annotate=1`, { method: 'POST', body: grey });
  assert.equal(a.headers.get('content-type'), 'image/png');
  const { data } = await sharp(Buffer.from(await a.arrayBuffer()))
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.notDeepEqual(
    [...data.subarray((24 * 64 + 28) * 3, (24 * 64 + 28) * 3 + 3)],
    [128, 128, 128],
    'the mask is tinted',
  );
});

test('the real face pose model over HTTP and a stream: five landmarks per face, with visibility', async (t) => {
  if (!havePose) {
    t.skip('../shared/models/yolov8-lite-t.onnx or faces-lm1.jpg not found: test skipped');
    return;
  }
  const jpeg = await readFile(FACES);
  const r = await fetch(`${base}/api/models/pose/predict`, { method: 'POST', body: jpeg });
  assert.equal(r.status, 200);
  const j = (await r.json()) as {
    head: string;
    results: Array<{ detections: Array<{ label: string; keypoints: Array<{ x: number; y: number; score: number }> }> }>;
  };
  assert.equal(j.head, 'pose');
  const face = j.results[0]!.detections[0]!;
  assert.equal(face.label, 'face');
  assert.equal(face.keypoints.length, 5);
  assert.ok(face.keypoints.every((k) => k.score > 0.5));
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/models/pose/stream`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const msg = await new Promise<{ results: Array<{ detections: Array<{ keypoints?: unknown[] }> }> }>((resolve) => {
    ws.once('message', (data) => resolve(JSON.parse(String(data))));
    ws.send(jpeg);
  });
  ws.close();
  assert.equal(msg.results[0]!.detections[0]!.keypoints?.length, 5);
});
