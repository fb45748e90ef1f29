/**
 * rtinfer serve against hostile clients, one defect class at a time, over real sockets to a real
 * server on 127.0.0.1: each bad input is sent, its answer checked, and then a good request must
 * still be answered. (Property-based runs over arbitrary bytes are in hostile-properties.test.ts.)
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { crashWorkerForTesting } from '../../src/engine/engine.js';
import { encodeInferRequest, HEADER_LENGTH } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { WebGuard } from '../../src/server/web-guard.js';
import { OCR_CLS } from '../helpers/models.js';
import { closedWithin, httpText, rawExchange, wsFrame, wsHandshake } from '../helpers/raw-http.js';

const CLS = 'ch_ppocr_mobile_v2.0_cls_infer';
// One worker: crash tests know which one runs; and no start-up calibration (the auto hint) to wait for.
const MODEL = { path: OCR_CLS, instances: 1, warmupShapes: { x: [1, 3, 48, 192] } };
let server: RtinferServer;
let base: string;
let port: number;

before(async () => {
  server = createRtinferServer(validateConfig({ port: 0, models: [MODEL] }), { log: () => undefined });
  base = await server.listen();
  port = Number(new URL(base).port);
  await server.ready();
});
after(async () => server.close());

const x = (rows = 1): { name: string; type: 'float32'; dims: number[]; data: Float32Array } => ({
  name: 'x',
  type: 'float32',
  dims: [rows, 3, 48, 192],
  data: Float32Array.from({ length: rows * 3 * 48 * 192 }, (_, i) => (i % 255) / 255),
});

async function infer(url: string, parameters: Record<string, number> = {}): Promise<Response> {
  const m = encodeInferRequest([x()], { parameters });
  return fetch(`${url}/v2/models/${CLS}/infer`, { method: 'POST', body: m.body, headers: m.headers });
}

/** The proof after each bad input: the same process still answers a good request. */
async function stillServes(url = base): Promise<void> {
  const r = await infer(url);
  assert.equal(r.status, 200, await r.clone().text());
  await r.arrayBuffer();
}

function postRaw(body: string | Buffer, headers: Record<string, string> = {}, target = `/v2/models/${CLS}/infer`) {
  return rawExchange(port, httpText('POST', target, { 'content-type': 'application/json', ...headers }, body));
}

function assertCleanError(a: { status: number; body: string }, status: number, pattern: RegExp): void {
  assert.equal(a.status, status, a.body);
  const json = JSON.parse(a.body) as { error: string };
  assert.match(json.error, pattern);
  assert.doesNotMatch(a.body, /\n\s+at |onnxruntime::|node_name|Non-zero status code/i);
}

test('BAD CALL - a refused WebSocket upgrade that the client resets does not take the server down', async () => {
  for (const target of ['/api/models/nope/stream', '/nowhere', `/api/models/${CLS}/stream?token=x`]) {
    for (const when of ['at once', 'after the answer']) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      socket.write(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n`,
      );
      if (when === 'after the answer') await new Promise((r) => socket.once('data', r));
      socket.resetAndDestroy();
    }
  }
  await new Promise((r) => setTimeout(r, 50));
  await stillServes();
});

test('BAD CALL - WebSocket protocol errors on an open stream close that stream, not the server', async () => {
  const frames = [
    ['an unmasked frame', wsFrame(0x2, Buffer.from('abc'), { masked: false })],
    ['a reserved opcode', wsFrame(0x3, Buffer.from('abc'))],
    [
      'a frame header announcing more than the payload limit',
      wsFrame(0x2, Buffer.alloc(0), { announcedLength: 2 ** 40 }),
    ],
    ['a fragmented control frame', wsFrame(0x9, Buffer.from('p'), { fin: false })],
  ] as const;
  for (const [what, frame] of frames) {
    const { socket, answer } = await wsHandshake(port, `/api/models/${CLS}/stream`);
    assert.equal(answer.status, 101, what);
    socket.write(frame);
    assert.ok(await closedWithin(socket, 3000), `${what}: the stream was closed`);
  }
  await stillServes();
});

test('BAD CALL - a malformed %-escape or a CRLF in a URL is answered 4xx with a standard status line', async () => {
  const bad = await wsHandshake(port, '/api/models/%E0%A4%A/stream');
  assertCleanError(bad.answer, 400, /malformed %-escape/);
  bad.socket.destroy();
  const crlf = await wsHandshake(port, '/api/models/a%0d%0aX-Injected:%201/stream');
  assert.match(crlf.answer.raw, /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.equal(crlf.answer.headers['x-injected'], undefined);
  assertCleanError(crlf.answer, 404, /unknown model 'a\\r\\nX-Injected: 1'/);
  crlf.socket.destroy();
  assertCleanError(await rawExchange(port, httpText('GET', '/v2/models/%E0%A4%A')), 400, /malformed %-escape/);
  assertCleanError(await rawExchange(port, httpText('GET', '/v2/models/%zz/ready')), 400, /malformed %-escape/);
  // What node would answer itself, with an empty body: no Host on HTTP/1.1, an Expect it cannot meet.
  assertCleanError(await rawExchange(port, 'GET /v2/health/live HTTP/1.1\r\n\r\n'), 400, /needs a Host header/);
  assertCleanError(
    await rawExchange(port, 'GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: foo\r\n\r\n'),
    417,
    /Expect 'foo' is not supported/,
  );
  assert.equal((await rawExchange(port, 'GET /v2/health/live HTTP/1.0\r\n\r\n')).status, 200, 'HTTP/1.0 needs no Host');
  await stillServes();
});

test('BAD CALL - an Inference-Header-Content-Length that is not a non-negative integer is a 400', async () => {
  const m = encodeInferRequest([x()]);
  for (const value of ['1.5', '1e400', '-1', 'abc', '99999999999999999999', ' ', '0x10']) {
    const a = await postRaw(m.body, { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: value });
    assertCleanError(a, 400, /Inference-Header-Content-Length/);
  }
  const over = await postRaw(m.body, {
    'content-type': 'application/octet-stream',
    [HEADER_LENGTH]: String(m.body.length + 1),
  });
  assertCleanError(over, 400, /larger than the body/);
  await stillServes();
});

test('BAD CALL - client errors are 4xx naming the problem, never a 500 or onnxruntime internals', async () => {
  const nested = `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":${'['.repeat(100_000)}1${']'.repeat(100_000)}}]}`;
  // Refused before JSON.parse (which spends ~140 ms on 100,000 levels), then within what parses. The
  // second is timed: the first may start the codec worker (over a second on a loaded CI runner).
  assertCleanError(await postRaw(nested), 400, /the JSON header nests deeper than 40 levels/);
  const t0 = performance.now();
  assertCleanError(await postRaw(nested), 400, /the JSON header nests deeper than 40 levels/);
  assert.ok(performance.now() - t0 < 1000, `refused in ${(performance.now() - t0).toFixed(0)} ms`);
  const deep = `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":${'['.repeat(34)}1${']'.repeat(34)}}]}`;
  assertCleanError(await postRaw(deep), 400, /nested more than 32 levels/);
  const inString = `{"inputs":[{"name":"${'['.repeat(100)}","datatype":"FP32","shape":[1],"data":[1]}]}`;
  assertCleanError(await postRaw(inString), 400, /unknown input '\[{100}'/);
  // A shape no JSON header of this size could fill is refused before anything is allocated for it
  // (1e18 values threw a RangeError, a 500; 1.2e9 allocated 4.8 GB first).
  for (const shape of ['[1000000000,1000000000,3,3]', '[1,3,20000,20000]'])
    assertCleanError(
      await postRaw(`{"inputs":[{"name":"x","datatype":"FP32","shape":${shape},"data":[1]}]}`),
      400,
      /needs \d+ values, more than a \d+-byte JSON header holds/,
    );
  // Input names are the client's: '__proto__' and 'constructor' are unknown inputs like any other.
  const proto = '{"inputs":[{"name":"__proto__","datatype":"FP32","shape":[1],"data":[0]}]}';
  assertCleanError(await postRaw(proto), 400, /unknown input '__proto__'/);
  const zero = '{"inputs":[{"name":"x","datatype":"FP32","shape":[0,3,48,192],"data":[]}]}';
  assertCleanError(await postRaw(zero), 400, /zero-size dimension/);
  const unknown = await postRaw('{}', {}, '/v2/models/nope/infer');
  assertCleanError(unknown, 404, /unknown model 'nope'/);
  assert.doesNotMatch(unknown.body, new RegExp(CLS), 'an unknown name does not list the models');
  assertCleanError(await rawExchange(port, httpText('GET', 'http://[')), 400, /invalid request target|malformed/);
  assertCleanError(
    await rawExchange(port, Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n')),
    400,
    /malformed HTTP request/,
  );
  const m = encodeInferRequest([x()]);
  const trailing = Buffer.concat([m.body, Buffer.alloc(1000)]);
  assertCleanError(
    await postRaw(trailing, {
      'content-type': 'application/octet-stream',
      [HEADER_LENGTH]: m.headers[HEADER_LENGTH] ?? '',
    }),
    400,
    /1000 bytes after the declared binary tensors/,
  );
  for (const priority of [11, -11, 1.5]) {
    const r = await infer(base, { priority });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: string }).error, /priority must be an integer from -10 to 10/);
  }
  for (const timeout of [Number.MAX_VALUE * 10, -5]) {
    const body = `{"parameters":{"timeout":${timeout === -5 ? -5 : '1e400'}},"inputs":[]}`;
    assertCleanError(await postRaw(body), 400, /parameters\.timeout/);
  }
  await stillServes();
});

test('request bytes beyond the server-wide budget get 503 with Retry-After, and come back once answered', async () => {
  const s = createRtinferServer(
    validateConfig({ port: 0, maxInflightBytes: 300_000, maxBodyBytes: 250_000, models: [MODEL] }),
    { log: () => undefined },
  );
  const url = await s.listen();
  await s.ready();
  const p = Number(new URL(url).port);
  try {
    // A stalled upload holds its declared 200 kB.
    const stalled = net.connect(p, '127.0.0.1');
    stalled.on('error', () => undefined);
    stalled.write(
      `POST /v2/models/${CLS}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"inputs":`,
    );
    const held = async (): Promise<number> =>
      Number(/^rtinfer_inflight_body_bytes (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
    for (let i = 0; i < 100 && (await held()) < 200_000; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await held(), 200_000);
    const refused = await infer(url);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(((await refused.json()) as { error: string }).error, /too many request bytes/);
    stalled.destroy();
    for (let i = 0; i < 100 && (await held()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await held(), 0);
    await stillServes(url);
    assert.equal(await held(), 0, 'answered requests give their bytes back');
  } finally {
    await s.close();
  }
});

test('a client that sends all of a too-large body before reading still gets to read its 413', async () => {
  const s = createRtinferServer(validateConfig({ port: 0, maxBodyBytes: 3_000_000, models: [MODEL] }), {
    log: () => undefined,
  });
  const url = await s.listen();
  await s.ready();
  const p = Number(new URL(url).port);
  try {
    // Larger than loopback's socket buffers: a server that closed at once made the client see EPIPE.
    const big = Buffer.alloc(5_900_000, 0x20);
    const framings: Array<Record<string, string>> = [
      { 'content-length': String(big.length) },
      { 'transfer-encoding': 'chunked' },
    ];
    for (const headers of framings) {
      const body = headers['transfer-encoding']
        ? Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')])
        : big;
      const a = await rawExchange(
        p,
        Buffer.concat([
          httpText('POST', `/v2/models/${CLS}/infer`, { 'content-type': 'application/json', ...headers }),
          body,
        ]),
        10_000,
      );
      assertCleanError(a, 413, /over the limit of 3000000 bytes/);
    }
    await stillServes(url);
  } finally {
    await s.close();
  }
});

test('a request whose JSON header dwarfs its tensors is answered the same (its tensors are copied out)', async () => {
  const plain = encodeInferRequest([x()]);
  const padded = encodeInferRequest([x()], { parameters: { junk: 'j'.repeat(3_000_000) } });
  const answers = await Promise.all(
    [plain, padded].map((m) =>
      fetch(`${base}/v2/models/${CLS}/infer`, { method: 'POST', body: m.body, headers: m.headers }),
    ),
  );
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200],
  );
  const [a, b] = await Promise.all(answers.map(async (r) => Buffer.from(await r.arrayBuffer())));
  assert.ok(a && b && a.equals(b));
});

test('Host and Origin: DNS rebinding and cross-site pages are refused; --cors origins get CORS headers', async () => {
  assertCleanError(
    await rawExchange(port, httpText('GET', '/v2', { host: 'evil.example' })),
    403,
    /Host 'evil\.example' is not a name of this server/,
  );
  assert.equal((await rawExchange(port, httpText('GET', '/v2', { host: `localhost:${port}` }))).status, 200);
  assert.equal(
    (await rawExchange(port, httpText('GET', '/v2/health/live', { host: 'evil.example' }))).status,
    200,
    'probes reach health by any name',
  );
  const m = encodeInferRequest([x()]);
  const cross = await postRaw(m.body, {
    'content-type': 'application/octet-stream',
    [HEADER_LENGTH]: m.headers[HEADER_LENGTH] ?? '',
    origin: 'http://evil.example',
  });
  assertCleanError(cross, 403, /cross-origin request from 'http:\/\/evil\.example' refused/);
  const same = await postRaw(m.body, {
    'content-type': 'application/octet-stream',
    [HEADER_LENGTH]: m.headers[HEADER_LENGTH] ?? '',
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
  });
  assert.equal(same.status, 200);
  const ws = await wsHandshake(port, `/api/models/${CLS}/stream`, { origin: 'http://evil.example' });
  assertCleanError(ws.answer, 403, /cross-origin/);
  ws.socket.destroy();

  const s = createRtinferServer(
    validateConfig({ port: 0, cors: ['http://app.example'], allowedHosts: ['rtinfer.internal'], models: [MODEL] }),
  );
  const url = await s.listen();
  const p = Number(new URL(url).port);
  try {
    const pre = await rawExchange(
      p,
      httpText('OPTIONS', `/v2/models/${CLS}/infer`, {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
      }),
    );
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://app.example');
    assert.match(pre.headers['access-control-allow-methods'] ?? '', /POST/);
    assert.match(pre.headers['access-control-allow-headers'] ?? '', /inference-header-content-length/);
    const get = await rawExchange(
      p,
      httpText('GET', '/v2', { origin: 'http://app.example', host: 'rtinfer.internal:80' }),
    );
    assert.equal(get.status, 200);
    assert.equal(get.headers['access-control-allow-origin'], 'http://app.example');
    assert.match(get.headers['access-control-expose-headers'] ?? '', /server-timing/);
    assert.equal((await rawExchange(p, httpText('GET', '/v2', { origin: 'http://other.example' }))).status, 403);
  } finally {
    await s.close();
  }
  // A server bound for the network is reached by names it cannot know; allowedHosts narrows it.
  assert.ok(new WebGuard({ host: '0.0.0.0', allowedHosts: [], cors: [] }).hostAllowed('rtinfer.default.svc:8000'));
  assert.ok(!new WebGuard({ host: '0.0.0.0', allowedHosts: ['a.example'], cors: [] }).hostAllowed('b.example'));
  assert.ok(new WebGuard({ host: '127.0.0.1', allowedHosts: [], cors: [] }).hostAllowed('[::1]:8000'));
  assert.throws(
    () => validateConfig({ cors: ['app.example'], models: ['a.onnx'] }),
    /config cors: 'app\.example' is not an origin/,
  );
});

test('connection and stream caps answer 503 with Retry-After; a stream that misses its pongs is closed', async () => {
  const s = createRtinferServer(
    validateConfig({ port: 0, maxConnections: 3, maxStreams: 1, wsPingIntervalMs: 200, models: [MODEL] }),
  );
  const url = await s.listen();
  await s.ready();
  const p = Number(new URL(url).port);
  try {
    const idle = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const c = net.connect(p, '127.0.0.1');
        c.on('error', () => undefined);
        await new Promise((r) => c.once('connect', r));
        return c;
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    const over = await rawExchange(p, httpText('GET', '/v2/health/live'));
    assert.equal(over.status, 503);
    assert.equal(over.headers['retry-after'], '1');
    assert.match(over.body, /too many open connections/);
    for (const c of idle) c.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await rawExchange(p, httpText('GET', '/v2/health/live'))).status, 200);

    // A hand-made client never answers pings.
    const first = await wsHandshake(p, `/api/models/${CLS}/stream`);
    assert.equal(first.answer.status, 101);
    const second = await wsHandshake(p, `/api/models/${CLS}/stream`);
    assert.equal(second.answer.status, 503);
    assert.match(second.answer.body, /too many open streams/);
    second.socket.destroy();
    assert.ok(await closedWithin(first.socket, 2000), 'the silent stream was closed by the heartbeat');
    await new Promise((r) => setTimeout(r, 50));
    const third = await wsHandshake(p, `/api/models/${CLS}/stream`);
    assert.equal(third.answer.status, 101, 'its slot is free again');
    third.socket.destroy();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /rtinfer_refused_connections_total\{reason="connections"\} 1/);
    assert.match(metrics, /rtinfer_refused_connections_total\{reason="streams"\} 1/);
  } finally {
    await s.close();
  }
});

test('shutdown: readiness goes at once, streams get a close frame, a stalled upload gets a 503, all within the bound', async () => {
  const s = createRtinferServer(validateConfig({ port: 0, drainTimeoutMs: 800, models: [MODEL] }));
  const url = await s.listen();
  await s.ready();
  const p = Number(new URL(url).port);
  const stream = new WebSocket(`ws://127.0.0.1:${p}/api/models/${CLS}/stream`);
  await new Promise((r, j) => stream.once('open', r).once('error', j));
  const closeCode = new Promise<number>((r) => stream.once('close', (code) => r(code)));
  const stalled = rawExchange(
    p,
    Buffer.from(`POST /v2/models/${CLS}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 110000\r\n\r\n{"inp`),
    10_000,
  );
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  const closing = s.close();
  const ready = await fetch(`${url}/v2/health/ready`).then(
    (r) => r.status,
    () => 'refused',
  );
  assert.ok(ready === 503 || ready === 'refused', `readiness during shutdown: ${ready}`);
  assert.equal(await closeCode, 1001);
  await closing;
  assert.ok(Date.now() - t0 < 800 + 2500, `close took ${Date.now() - t0} ms`);
  const answer = await stalled;
  assert.equal(answer.status, 503);
  assert.match(answer.body, /shut down before this request was answered/);
});

test('a stalled upload gets its 408 at --request-timeout and is counted 408; a client that leaves mid-body is counted 499', async () => {
  const s = createRtinferServer(validateConfig({ port: 0, requestTimeoutMs: 400, models: [MODEL] }));
  const url = await s.listen();
  try {
    await s.ready();
    const p = Number(new URL(url).port);
    const head = `POST /v2/models/${CLS}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 110000\r\n\r\n{"inp`;
    const t0 = Date.now();
    const stalled = await rawExchange(p, Buffer.from(head), 10_000);
    assertCleanError(stalled, 408, /did not arrive within 400 ms/);
    // node checks its request bounds every connectionsCheckingInterval (30 s unless the server sets it).
    assert.ok(Date.now() - t0 < 400 + 700, `408 after ${Date.now() - t0} ms`);
    const leaving = net.connect(p, '127.0.0.1');
    await new Promise((r) => leaving.once('connect', r));
    leaving.write(head);
    await new Promise((r) => setTimeout(r, 100));
    leaving.destroy();
    const outcomes = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const v of (await s.metrics.requests.get()).values)
        if (v.labels['endpoint'] === 'infer') counts[String(v.labels['outcome'])] = v.value;
      return counts;
    };
    for (let i = 0; i < 100 && (await outcomes())['499'] === undefined; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await outcomes(), { '408': 1, '499': 1 });
    await stillServes(url);
  } finally {
    await s.close();
  }
});

test('health tells the truth: a worker crash answers 503 with Retry-After, and readiness follows the workers', async () => {
  // Every request to the workers (none on the HTTP thread's session), so that one meets the crash.
  const s = createRtinferServer(validateConfig({ port: 0, models: [{ ...MODEL, inlineBelowMs: 0 }] }), {
    log: () => undefined,
  });
  const url = await s.listen();
  await s.ready();
  try {
    crashWorkerForTesting(s.models.get(CLS)!.engine!, 0);
    const lost = await infer(url);
    assert.equal(lost.status, 503, await lost.clone().text());
    assert.equal(lost.headers.get('retry-after'), '1');
    let ready = 0;
    for (let i = 0; i < 200 && ready !== 200; i++) {
      ready = (await fetch(`${url}/v2/models/${CLS}/ready`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(ready, 200, 'ready again once the worker is replaced');
    await stillServes(url);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, new RegExp(`rtinfer_model_ready\\{model="${CLS}"\\} 1`));
    assert.match(metrics, new RegExp(`rtinfer_worker_restarts_total\\{model="${CLS}"\\} 1`));
    assert.match(metrics, new RegExp(`rtinfer_model_workers\\{model="${CLS}",state="live"\\} 1`));
  } finally {
    await s.close();
  }
});

test('a model whose worker restarts keep failing is not ready, and says why in its metadata, the index and /metrics', async () => {
  // Every request to the workers (none on the HTTP thread's session), so that one meets the crash.
  const s = createRtinferServer(validateConfig({ port: 0, models: [{ ...MODEL, inlineBelowMs: 0 }] }), {
    log: () => undefined,
  });
  const url = await s.listen();
  await s.ready();
  try {
    crashWorkerForTesting(s.models.get(CLS)!.engine!, 0, { failRestarts: 100 });
    assert.equal((await infer(url)).status, 503);
    let ready = 200;
    for (let i = 0; i < 200 && ready === 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = (await fetch(`${url}/v2/health/ready`)).status;
    }
    assert.equal(ready, 503);
    // Down for good only after the back-off (0.2 + 1 + 3 s).
    let reason = '';
    for (let i = 0; i < 400 && !/failed 4 times/.test(reason); i++) {
      await new Promise((r) => setTimeout(r, 50));
      reason = ((await (await fetch(`${url}/v2/models/${CLS}`)).json()) as { reason?: string }).reason ?? '';
    }
    assert.match(reason, /worker 0 crashed and its replacement failed 4 times/);
    const meta = (await (await fetch(`${url}/v2/models/${CLS}`)).json()) as { state: string; inputs: unknown[] };
    assert.equal(meta.state, 'UNAVAILABLE');
    assert.equal(meta.inputs.length, 1);
    assert.equal((await fetch(`${url}/v2/models/${CLS}/ready`)).status, 503);
    const index = (await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json()) as Array<{
      state: string;
      reason?: string;
    }>;
    assert.equal(index[0]?.state, 'UNAVAILABLE');
    assert.match(index[0]?.reason ?? '', /replacement failed/);
    const refused = await infer(url);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, new RegExp(`rtinfer_model_ready\\{model="${CLS}"\\} 0`));
    assert.match(metrics, new RegExp(`rtinfer_model_workers\\{model="${CLS}",state="down"\\} 1`));
  } finally {
    await s.close();
  }
});

test('a client that leaves while its request waits in the queue: the request is withdrawn, never run', async () => {
  const engine = server.models.get(CLS)?.engine;
  assert.ok(engine);
  const before = engine.stats().counts;
  // 16 rows run for several ms on the one worker (over the calling thread's bound): 8 of them queue.
  const m = encodeInferRequest([x(16)]);
  const head = [
    `POST /v2/models/${CLS}/infer HTTP/1.1`,
    'host: 127.0.0.1',
    `content-length: ${m.body.length}`,
    ...Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  const request = Buffer.concat([Buffer.from(`${head}\r\n\r\n`), m.body]);
  const sockets = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.on('error', reject);
        }),
    ),
  );
  const answered = sockets.map(
    (s) =>
      new Promise<string>((resolve) => {
        let text = '';
        s.on('data', (d: Buffer) => (text += d.toString('latin1')));
        s.on('close', () => resolve(text));
      }),
  );
  for (const s of sockets) s.write(request);
  // Once the server has them (the first runs, the rest queue), the last six leave.
  for (let i = 0; i < 200 && engine.stats().queueDepth < 2; i++) await new Promise((r) => setTimeout(r, 5));
  for (const s of sockets.slice(2)) s.destroy();
  for (const s of sockets.slice(0, 2)) s.end();
  await Promise.all(answered);
  for (let i = 0; i < 200 && engine.stats().queueDepth > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const after = engine.stats().counts;
  assert.ok(after.aborted - before.aborted >= 1, `withdrawn: ${JSON.stringify({ before, after })}`);
  assert.ok(after.ok - before.ok + (after.aborted - before.aborted) <= 8, 'a withdrawn request is not also run');
  await stillServes();
});
