/**
 * rtinfer serve over real HTTP on 127.0.0.1 (ephemeral ports): every v2 endpoint, happy and error
 * paths, the binary extension both ways, auth, overload answers, metrics, and a drain that loses
 * nothing.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import { createHttpTarget } from '../../src/loadgen/http-target.js';
import { runBench } from '../../src/loadgen/bench.js';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { OCR_CLS, OCR_DET } from '../helpers/models.js';
import { parseAnswer } from '../helpers/raw-http.js';

let server: RtinferServer;
let base: string;
const CLS = 'ch_ppocr_mobile_v2.0_cls_infer';
// Parsed JSON answers: tests read fields they assert on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

before(async () => {
  server = createRtinferServer(
    validateConfig({
      port: 0,
      models: [{ path: OCR_CLS, batching: { maxBatchSize: 4 }, warmupShapes: { x: [1, 3, 48, 192] } }],
    }),
  );
  base = await server.listen();
  await server.ready();
});
after(async () => server.close());

async function req(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; json: Json; headers: Headers; body: Buffer }> {
  const r = await fetch(base + path, init);
  const body = Buffer.from(await r.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: r.status, json, headers: r.headers, body };
}

const x = (): { name: string; type: 'float32'; dims: number[]; data: Float32Array } => ({
  name: 'x',
  type: 'float32',
  dims: [1, 3, 48, 192],
  data: Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => (i % 255) / 255),
});

test('health, server metadata, model metadata and readiness answer as the v2 protocol says', async () => {
  assert.deepEqual((await req('/v2/health/live')).json, { live: true });
  assert.deepEqual((await req('/v2/health/ready')).json, { ready: true });
  const meta = await req('/v2');
  assert.equal(meta.json.name, 'rtinfer');
  assert.ok(meta.json.extensions.includes('binary_tensor_data'));
  const m = await req(`/v2/models/${CLS}`);
  assert.equal(m.status, 200);
  assert.deepEqual(m.json.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }]);
  assert.equal((await req(`/v2/models/${CLS}/versions/1`)).status, 200);
  assert.equal((await req(`/v2/models/${CLS}/versions/7`)).status, 404);
  assert.deepEqual((await req(`/v2/models/${CLS}/ready`)).json, { name: CLS, ready: true });
  const index = await req('/v2/repository/index', { method: 'POST' });
  assert.deepEqual(index.json, [{ name: CLS, version: '1', state: 'READY' }]);
});

test('infer with binary tensors both ways, and with JSON, gives the same scores', async () => {
  const bin = encodeInferRequest([x()], { binaryInputs: true, binaryOutputs: true });
  const r1 = await req(`/v2/models/${CLS}/infer`, { method: 'POST', body: bin.body, headers: bin.headers });
  assert.equal(r1.status, 200, r1.body.toString());
  assert.ok(r1.headers.get(HEADER_LENGTH), 'binary response');
  assert.match(
    r1.headers.get('server-timing') ?? '',
    /^receive;dur=[\d.]+, decode;dur=[\d.]+, queue;dur=[\d.]+, inference;dur=[\d.]+, hop;dur=[\d.]+, encode;dur=[\d.]+, total;dur=[\d.]+$/,
  );
  const out1 = decodeInferResponse(r1.body, r1.headers.get(HEADER_LENGTH) ?? undefined);
  const json = encodeInferRequest([x()], { binaryInputs: false, binaryOutputs: false, id: 'req-7' });
  const r2 = await req(`/v2/models/${CLS}/infer`, { method: 'POST', body: json.body, headers: json.headers });
  assert.equal(r2.status, 200);
  assert.equal(r2.json.id, 'req-7');
  assert.deepEqual(r2.json.outputs[0].shape, [1, 2]);
  const a = Array.from(out1[0]!.data as Float32Array);
  const b = r2.json.outputs[0].data as number[];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-6));
});

/** The classifier as 'cls_main' on the HTTP thread (placement main, one thread). */
const mainThreadServer = (): RtinferServer =>
  createRtinferServer(
    validateConfig({
      port: 0,
      models: [
        { path: OCR_CLS, name: 'cls_main', placement: 'main', threads: 1, warmupShapes: { x: [1, 3, 48, 192] } },
      ],
    }),
  );

test('placement main: a model served on the HTTP thread answers as in workers, says where it runs, and shuts down cleanly', async () => {
  const main = mainThreadServer();
  try {
    const url = await main.listen();
    await main.ready();
    const meta = (await (await fetch(`${url}/v2/models/cls_main`)).json()) as Json;
    assert.deepEqual([meta.deployment.placement, meta.deployment.instances, meta.deployment.threads], ['main', 1, 1]);
    const bin = encodeInferRequest([x()], { binaryInputs: true, binaryOutputs: true });
    const [onMain, onWorker] = await Promise.all([
      fetch(`${url}/v2/models/cls_main/infer`, { method: 'POST', body: bin.body, headers: bin.headers }),
      fetch(`${base}/v2/models/${CLS}/infer`, { method: 'POST', body: bin.body, headers: bin.headers }),
    ]);
    assert.equal(onMain.status, 200);
    const a = decodeInferResponse(
      Buffer.from(await onMain.arrayBuffer()),
      onMain.headers.get(HEADER_LENGTH) ?? undefined,
    );
    const b = decodeInferResponse(
      Buffer.from(await onWorker.arrayBuffer()),
      onWorker.headers.get(HEADER_LENGTH) ?? undefined,
    );
    Array.from(a[0]!.data as Float32Array).forEach((v, i) =>
      assert.ok(Math.abs(v - (b[0]!.data as Float32Array)[i]!) < 1e-6),
    );
  } finally {
    await main.close();
  }
});

test('binary bodies are read into pooled buffers the engine hands back; reuse never mixes two requests', async () => {
  const inputA = x();
  const inputB = { ...x(), data: Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => ((i * 7919) % 1000) / 1000) };
  // JSON requests never use the pool: they give the reference answers.
  const reference = async (url: string, model: string, t: ReturnType<typeof x>): Promise<number[]> => {
    const m = encodeInferRequest([t], { binaryInputs: false, binaryOutputs: false });
    const r = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: m.body, headers: m.headers });
    return ((await r.json()) as Json).outputs[0].data as number[];
  };
  const main = mainThreadServer();
  try {
    const mainUrl = await main.listen();
    await main.ready();
    for (const [s, url, model] of [
      [server, base, CLS],
      [main, mainUrl, 'cls_main'],
    ] as const) {
      const refA = await reference(url, model, inputA);
      const refB = await reference(url, model, inputB);
      assert.ok(Math.abs(refA[0]! - refB[0]!) > 1e-3, 'the two inputs must answer differently to catch a mix-up');
      for (let i = 0; i < 8; i++) {
        const [t, ref] = i % 2 === 0 ? [inputA, refA] : [inputB, refB];
        const m = encodeInferRequest([t], { binaryInputs: true, binaryOutputs: true });
        const r = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: m.body, headers: m.headers });
        assert.equal(r.status, 200);
        const out = decodeInferResponse(Buffer.from(await r.arrayBuffer()), r.headers.get(HEADER_LENGTH) ?? undefined);
        Array.from(out[0]!.data as Float32Array).forEach((v, k) =>
          assert.ok(Math.abs(v - ref[k]!) < 1e-6, `${model} #${i}`),
        );
      }
      assert.ok(s.buffers.pooledBytes > 0, `${model}: the body buffers came back to the pool`);
    }
  } finally {
    await main.close();
  }
});

test('BAD CALL - malformed requests get 400 naming the field; unknown paths 404; wrong methods 405', async () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    req(`/v2/models/${CLS}/infer`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
  const cases: Array<[Promise<{ status: number; json: Json }>, number, RegExp]> = [
    [post('{not json'), 400, /not valid JSON/],
    [post('{"inputs": 3}'), 400, /'inputs' must be an array/],
    [post('{"inputs":[{"name":"x","datatype":"FP99","shape":[1],"data":[1]}]}'), 400, /inputs\[0\]\.datatype 'FP99'/],
    [
      post('{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,2,2],"data":[1,2]}]}'),
      400,
      /inputs\[0\] 'x': 2 values, shape \[1,3,2,2\] needs 12/,
    ],
    [post('{"inputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1]}]}'), 400, /unknown input 'y'/],
    [
      post('{"inputs":[{"name":"x","datatype":"INT32","shape":[1,3,2,2],"data":[1,2,3,4,5,6,7,8,9,10,11,12]}]}'),
      400,
      /is int32, but the model takes float32/,
    ],
    [
      post('{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,2,2],"parameters":{"binary_data_size":48}}]}', {
        [HEADER_LENGTH]: '5',
      }),
      400,
      /not valid JSON|binary_data_size/,
    ],
    [
      post(
        '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,2,2],"data":[1,2,3,4,5,6,7,8,9,10,11,12]}],"outputs":[{"name":"nope"}]}',
      ),
      400,
      /outputs\[0\]\.name 'nope' is not an output/,
    ],
    [
      post(
        '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,2,2],"data":[1,2,3,4,5,6,7,8,9,10,11,12]}],"parameters":{"timeout":-1}}',
      ),
      400,
      /parameters\.timeout/,
    ],
    [req('/v2/models/nope/infer', { method: 'POST', body: '{}' }), 404, /unknown model 'nope'/],
    [req('/v2/nothing'), 404, /no endpoint GET \/v2\/nothing/],
    [req(`/v2/models/${CLS}/infer`), 405, /GET is not allowed/],
  ];
  for (const [p, status, pattern] of cases) {
    const r = await p;
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error, pattern);
  }
  // HEAD is GET without its body; the path in an error is the client's, a leading // included.
  const head = await fetch(`${base}/v2/health/live`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const wrong = await fetch(`${base}/v2/health/live`, { method: 'POST' });
  assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
  const doubled = await req('//v2/nothing');
  assert.equal(doubled.status, 404);
  assert.match(doubled.json.error, /no endpoint GET \/\/v2\/nothing/);
});

test('bodies over the limit answer 413; overload answers 429 with Retry-After or 504, never hangs', async () => {
  const small = createRtinferServer(
    validateConfig({
      port: 0,
      maxBodyBytes: 2048,
      models: [{ path: OCR_DET, maxQueueSize: 2, warmupShapes: { x: [1, 3, 320, 320] } }],
    }),
  );
  const url = await small.listen();
  await small.ready();
  try {
    const big = await fetch(`${url}/v2/models/ch_PP-OCRv4_det_infer/infer`, {
      method: 'POST',
      body: Buffer.alloc(10_000),
    });
    assert.equal(big.status, 413);
    assert.match(((await big.json()) as { error: string }).error, /over the limit of 2048 bytes/);
  } finally {
    await small.close();
  }
  // One instance, as the queue-full check assumes: the auto hint may start two and absorb the burst.
  const busy = createRtinferServer(
    validateConfig({
      port: 0,
      models: [{ path: OCR_DET, instances: 1, maxQueueSize: 2, warmupShapes: { x: [1, 3, 320, 320] } }],
    }),
  );
  const u = await busy.listen();
  await busy.ready();
  try {
    // 960×960 runs for ~10× the warm-up's 320×320, so the first is still running when the last arrives.
    const t = { name: 'x', type: 'float32' as const, dims: [1, 3, 960, 960], data: new Float32Array(3 * 960 * 960) };
    const send = (params: Record<string, number> = {}) => {
      const m = encodeInferRequest([t], { parameters: params });
      return fetch(`${u}/v2/models/ch_PP-OCRv4_det_infer/infer`, { method: 'POST', body: m.body, headers: m.headers });
    };
    const answers = await Promise.all(Array.from({ length: 8 }, () => send()));
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.includes(429), statuses.join());
    assert.ok(answers.filter((a) => a.status === 429).every((a) => a.headers.get('retry-after') === '1'));
    assert.ok(statuses.every((s) => s === 200 || s === 429));
    // A deadline shorter than one inference: refused at once (503) rather than answered late.
    const late = await send({ timeout: 100 });
    assert.ok(late.status === 503 || late.status === 504, String(late.status));
    const metrics = await (await fetch(`${u}/metrics`)).text();
    assert.match(metrics, /rtinfer_requests_total\{model="ch_PP-OCRv4_det_infer",endpoint="infer",outcome="429"\} \d+/);
  } finally {
    await busy.close();
  }
});

test('with a token every endpoint but the health checks needs Authorization: Bearer', async () => {
  const guarded = createRtinferServer(
    validateConfig({ port: 0, token: 's3cret', models: [{ path: OCR_CLS, warmupShapes: { x: [1, 3, 48, 192] } }] }),
  );
  const u = await guarded.listen();
  await guarded.ready();
  try {
    assert.equal((await fetch(`${u}/v2/health/ready`)).status, 200);
    const no = await fetch(`${u}/v2/models/${CLS}`);
    assert.equal(no.status, 401);
    assert.equal(no.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await fetch(`${u}/v2/models/${CLS}`, { headers: { authorization: 'Bearer wrong!' } })).status, 401);
    assert.equal((await fetch(`${u}/metrics`)).status, 401);
    assert.equal((await fetch(`${u}/v2/models/${CLS}`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
  } finally {
    await guarded.close();
  }
});

test('metrics expose requests by outcome, latency histograms, batch sizes, queue depth and event-loop lag', async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  for (const name of [
    'rtinfer_requests_total',
    'rtinfer_request_duration_seconds_bucket',
    'rtinfer_queue_duration_seconds_bucket',
    'rtinfer_inference_duration_seconds_bucket',
    'rtinfer_batch_size_bucket',
    'rtinfer_queue_depth',
    'rtinfer_inflight_requests',
    'rtinfer_event_loop_lag_seconds',
    'rtinfer_stream_frames_dropped_total',
  ]) {
    assert.match(text, new RegExp(`^(# TYPE )?${name}`, 'm'), name);
  }
  assert.match(text, new RegExp(`rtinfer_requests_total\\{model="${CLS}",endpoint="infer",outcome="400"\\} \\d+`));
});

test("rtinfer's own load generator drives the server over loopback; the engine batches concurrent requests", async () => {
  const target = await createHttpTarget(`${base}/v2/models/${CLS}`);
  target.close();
  const { report } = await runBench({
    target: `${base}/v2/models/${CLS}`,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    scenario: 'concurrency',
    concurrency: 4,
    durationMs: 500,
    minQueries: 40,
    warmup: { minQueries: 2, minDurationMs: 0 },
  });
  assert.ok(report.throughput.queries >= 40);
  assert.deepEqual(report.refused, {});
  // The server's own split comes back in Server-Timing and lands in the report.
  const st = report.serverTiming?.stagesMs;
  assert.ok(st && st['inference'] && st['total'], JSON.stringify(report.serverTiming));
  assert.ok(st['inference'].p50 > 0 && st['total'].p50 >= st['inference'].p50);
  assert.ok(report.latencyMs.p50 >= st['total'].p50 * 0.5);
  const stats = server.models.get(CLS)?.engine?.stats();
  assert.ok((stats?.meanBatchRequests ?? 0) > 1, 'concurrent HTTP requests shared batches');
});

test('large JSON answers wait for the encoder: 16 at once all answer 200, and no run is thrown away', async () => {
  // PP-OCR det at 320x320 answers 102,400 values: ~1.2 MB of JSON each, encoded off the HTTP thread,
  // more slowly than two instances run them, so the answers pile up in the encoder.
  const s = createRtinferServer(
    validateConfig({ port: 0, models: [{ path: OCR_DET, warmupShapes: { x: [1, 3, 320, 320] } }] }),
  );
  const u = await s.listen();
  try {
    await s.ready();
    const t = { name: 'x', type: 'float32' as const, dims: [1, 3, 320, 320], data: new Float32Array(3 * 320 * 320) };
    const m = encodeInferRequest([t], { binaryOutputs: false });
    const statuses = await Promise.all(
      Array.from({ length: 16 }, () =>
        fetch(`${u}/v2/models/ch_PP-OCRv4_det_infer/infer`, { method: 'POST', body: m.body, headers: m.headers }).then(
          async (r) => (await r.arrayBuffer(), r.status),
        ),
      ),
    );
    assert.deepEqual(statuses, Array(16).fill(200));
    const runs = (await s.metrics.inference.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
    assert.equal(runs, 16, 'every run was answered');
  } finally {
    await s.close();
  }
});

test('close() while a request body is still arriving: the request was accepted, and is answered from its engine', async () => {
  const s = createRtinferServer(
    validateConfig({ port: 0, models: [{ path: OCR_CLS, warmupShapes: { x: [1, 3, 48, 192] } }] }),
  );
  const u = new URL(await s.listen());
  try {
    await s.ready();
    const t = { name: 'x', type: 'float32' as const, dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) };
    const m = encodeInferRequest([t]);
    const body = Buffer.from(m.body);
    const socket = net.connect(Number(u.port), u.hostname);
    let raw = '';
    socket.on('data', (d: Buffer) => (raw += d.toString('latin1')));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const headers = Object.entries(m.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `POST /v2/models/${CLS}/infer HTTP/1.1\r\nhost: ${u.host}\r\ncontent-length: ${body.length}\r\n${headers}\r\n`,
    );
    socket.write(body.subarray(0, 1000));
    // The server is reading the body (its bytes are reserved) before the shutdown begins.
    const budget = (s as unknown as { bodyBudget: { held: number } }).bodyBudget;
    for (let i = 0; i < 400 && budget.held === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(budget.held > 0, 'the server has begun reading the body');
    const closed = s.close();
    await new Promise((r) => setTimeout(r, 100));
    // Not end(): node:http takes a client's half-close for leaving, and its answer could be dropped.
    socket.write(body.subarray(1000));
    await closed;
    await ended;
    const answer = parseAnswer(raw);
    assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  } finally {
    await s.close();
  }
});

test('close() with requests in flight answers all of them, then refuses new connections', async () => {
  // One instance: the four queue behind one another, so all are inside before the first is answered
  // (with the auto hint's two instances, a loaded machine answered the first before the last arrived).
  const s = createRtinferServer(
    validateConfig({
      port: 0,
      models: [{ path: OCR_DET, instances: 1, threads: 1, warmupShapes: { x: [1, 3, 320, 320] } }],
    }),
  );
  const u = await s.listen();
  try {
    await s.ready();
    // 960×960 runs ~10× the warm-up's 320×320 (hundreds of ms on one thread), so the four overlap.
    const t = { name: 'x', type: 'float32' as const, dims: [1, 3, 960, 960], data: new Float32Array(3 * 960 * 960) };
    const m = encodeInferRequest([t]);
    const inflight = Array.from({ length: 4 }, () =>
      fetch(`${u}/v2/models/ch_PP-OCRv4_det_infer/infer`, { method: 'POST', body: m.body, headers: m.headers }).then(
        (r) => r.status,
      ),
    );
    // Close once all four have reached the server (in flight or already answered: on a loaded runner
    // the client may still be sending the last while the first is answered) and some are still in flight.
    const sum = async (metric: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> =>
      (await metric.get()).values.reduce((total, v) => total + v.value, 0);
    const inside = (): Promise<number> => sum(s.metrics.inflight);
    const arrived = async (): Promise<number> => (await inside()) + (await sum(s.metrics.requests));
    for (let i = 0; i < 2000 && (await arrived()) < 4; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await arrived(), 4);
    assert.ok((await inside()) >= 1, 'at least one request is still in flight when close() starts');
    await s.close();
    assert.deepEqual(await Promise.all(inflight), [200, 200, 200, 200]);
    await assert.rejects(fetch(`${u}/v2/health/live`));
  } finally {
    // A failed assertion must not leave the server (and this test file) running.
    await s.close();
  }
});

test('inference workers are niced by default (5), the JSON codec 5 more; a config can set any of 0-19', () => {
  assert.equal(validateConfig({ models: ['a.onnx'] }).workerNice, 5);
  assert.equal(validateConfig({ models: ['a.onnx'], workerNice: 0 }).workerNice, 0);
  assert.equal(validateConfig({ models: ['a.onnx'], workerNice: 19 }).workerNice, 19);
});

test('BAD CALL - configuration errors name the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{}, /config models: expected a non-empty list/],
    [{ models: [{ path: 'a.onnx', instances: 0 }] }, /config models\[0\]\.instances: expected an integer from 1/],
    [
      { models: [{ path: 'a.onnx', batching: { mode: 'fast' } }] },
      /models\[0\]\.batching\.mode: expected adaptive or static/,
    ],
    [{ models: [{ path: 'a.onnx' }, { path: 'b/a.onnx' }] }, /'a' is used twice/],
    [{ models: ['a.onnx'], port: 70000 }, /config port: expected an integer from 0 to 65535/],
    [{ models: ['a.onnx'], memoryTrimIntervalMs: -1 }, /config memoryTrimIntervalMs: expected an integer from 0/],
    [{ models: [{ path: 'a.onnx', inlineBelowMs: 'x' }] }, /models\[0\]\.inlineBelowMs: expected a number of ms >= 0/],
    [{ models: [{ path: 'a.onnx', name: 'a/b' }] }, /may hold only letters/],
    [{ models: [{ path: 'a.onnx', colour: 'red' }] }, /models\[0\]\.colour: unknown field/],
    [{ models: [{ path: 'a.onnx', hint: 'fast' }] }, /models\[0\]\.hint: expected one of latency, throughput, auto/],
    [{ models: [{ path: 'a.onnx', placement: 'gpu' }] }, /models\[0\]\.placement: expected worker or main/],
    [
      { models: [{ path: 'a.onnx', placement: 'main', instances: 2 }] },
      /models\[0\]\.placement: 'main' runs one session on the HTTP thread: instances must be 1/,
    ],
    [{ models: ['a.onnx'], allowedHosts: [''] }, /config allowedHosts: expected a list of non-empty strings/],
    [{ models: ['a.onnx'], maxStreams: -1 }, /config maxStreams: expected an integer from 0/],
    [{ models: ['a.onnx'], workerNice: 20 }, /config workerNice: expected an integer from 0 to 19/],
  ];
  for (const [raw, pattern] of cases)
    assert.throws(
      () => validateConfig(raw),
      (e: unknown) => e instanceof RtinferError && pattern.test(e.message),
    );
});
