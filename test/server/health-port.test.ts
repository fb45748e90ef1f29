/**
 * The health port: /v2/health/live and /v2/health/ready answered by a thread of their own, while
 * the HTTP thread is busy (here: blocked outright), and the truth about that thread when it stops
 * turning its event loop.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { validateConfig } from '../../src/server/config.js';
import { HealthPort } from '../../src/server/health-port.js';
import { createRtinferServer } from '../../src/server/server.js';
import { OCR_CLS } from '../helpers/models.js';

function get(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A GET that another thread sends `afterMs` after go() (so that it goes out while this thread is
 * blocked); the thread is started first, as booting one takes a while on a busy machine.
 */
async function probeFromAnotherThread(
  url: string,
  afterMs: number,
): Promise<{ go: () => void; result: Promise<{ status: number; ms: number }> }> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const http = require('node:http');
    parentPort.once('message', () => setTimeout(() => {
      const t0 = Date.now();
      http.get(workerData.url, (res) => {
        res.resume();
        res.on('end', () => parentPort.postMessage({ status: res.statusCode, ms: Date.now() - t0 }));
      }).on('error', (e) => parentPort.postMessage({ status: 0, ms: -1, error: e.message }));
    }, workerData.afterMs));
    parentPort.postMessage('up');`;
  const w = new Worker(source, { eval: true, workerData: { url, afterMs } });
  await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  const result = new Promise<{ status: number; ms: number }>((resolve, reject) => {
    w.once('message', (m: { status: number; ms: number }) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
  return { go: () => w.postMessage('go'), result };
}

function block(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

test('the health port answers while the HTTP thread is blocked, and says not live once it has been silent too long', async () => {
  let ready = false;
  const h = new HealthPort({ host: '127.0.0.1', port: 0, ready: () => ready, staleMs: 1500, log: () => undefined });
  const port = await h.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    assert.deepEqual(await get(`${base}/v2/health/live`), { status: 200, body: '{"live":true}' });
    assert.equal((await get(`${base}/v2/health/ready`)).status, 503, 'not ready until the server says so');
    ready = true;
    await new Promise((r) => setTimeout(r, 400)); // a beat publishes it
    assert.deepEqual(await get(`${base}/v2/health/ready`), { status: 200, body: '{"ready":true}' });

    // Blocked for 2.4 s: a probe at 0.1 s is answered at once and live; one at 1.9 s (silent > 1.5 s) is not.
    const probes = await Promise.all([
      probeFromAnotherThread(`${base}/v2/health/live`, 100),
      probeFromAnotherThread(`${base}/v2/health/live`, 1900),
      probeFromAnotherThread(`${base}/v2/health/ready`, 1900),
    ]);
    for (const p of probes) p.go();
    block(2400);
    const [e, l, r] = await Promise.all(probes.map((p) => p.result));
    assert.equal(e!.status, 200);
    assert.ok(e!.ms < 500, `answered in ${e!.ms} ms while the HTTP thread was blocked`);
    assert.equal(l!.status, 503, 'the HTTP thread silent for ~2 s of a 1.5 s bound');
    assert.equal(r!.status, 503, 'not ready either');
    await new Promise((res) => setTimeout(res, 400));
    assert.equal((await get(`${base}/v2/health/live`)).status, 200, 'live again once it turns');

    // Only the two paths, only GET and HEAD.
    assert.equal((await get(`${base}/v2/models`)).status, 404);
    assert.equal((await get(`${base}/v2/health/live`, 'POST')).status, 405);
    assert.deepEqual(await get(`${base}/v2/health/live`, 'HEAD'), { status: 200, body: '' });

    h.notReady();
    assert.equal((await get(`${base}/v2/health/ready`)).status, 503, 'a shutdown is not ready at once');
  } finally {
    await h.close();
  }
  await assert.rejects(get(`${base}/v2/health/live`), /ECONNREFUSED/, 'closed with the server');
});

test('a server with healthPort answers its health there, ready once the model is, and not ready from the start of shutdown', async () => {
  const config = validateConfig({ port: 0, healthPort: 0, models: [{ name: 'cls', path: OCR_CLS, instances: 1 }] });
  const server = createRtinferServer(config);
  await server.listen();
  const port = server.healthPort;
  assert.ok(port !== undefined && port > 0);
  const base = `http://127.0.0.1:${port}`;
  await server.ready();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await get(`${base}/v2/health/ready`)).status, 200);
  assert.equal((await get(`${base}/v2/health/live`)).status, 200);
  const probe = await probeFromAnotherThread(`${base}/v2/health/ready`, 0);
  const closing = server.close();
  probe.go();
  const during = await probe.result;
  assert.ok(during.status === 503 || during.status === 0, `not ready while shutting down (got ${during.status})`);
  await closing;
  await assert.rejects(get(`${base}/v2/health/live`), /ECONNREFUSED/);
});

test('a health port that cannot listen fails the server with a one-line error naming it', async () => {
  const taken = http.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const busy = (taken.address() as { port: number }).port;
  try {
    const config = validateConfig({ port: 0, healthPort: busy, models: [{ name: 'cls', path: OCR_CLS }] });
    const server = createRtinferServer(config);
    await assert.rejects(server.listen(), /cannot listen on 127\.0\.0\.1:\d+ \(health port\): .*EADDRINUSE/);
    // The port alone: its close still ends after a listen that failed.
    const h = new HealthPort({ host: '127.0.0.1', port: busy, ready: () => true, log: () => undefined });
    await assert.rejects(h.listen(), /\(health port\): .*EADDRINUSE/);
    await h.close();
  } finally {
    taken.close();
  }
});
