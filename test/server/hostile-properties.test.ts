/**
 * Property-based runs (fast-check) of what hostile clients send: arbitrary v2 messages through the
 * codec, arbitrary HTTP requests and WebSocket bytes against a live server on 127.0.0.1. Bounded
 * in count and time. The properties: the process stays up, every refusal is a 4xx/5xx JSON
 * `{error}` without a stack or internal names, request bytes are given back, RSS stays bounded.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { isRtinferError } from '../../src/errors.js';
import { decodeInferRequest, encodeInferRequest, HEADER_LENGTH, type V2Tensor } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { OCR_CLS } from '../helpers/models.js';
import { closedWithin, httpText, rawExchange, wsFrame, wsHandshake } from '../helpers/raw-http.js';

const CLS = 'ch_ppocr_mobile_v2.0_cls_infer';
const V2_TYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
];
const INTERNALS = /\n\s+at |onnxruntime::|Non-zero status code|node_modules|\.ts:\d+/i;

let server: RtinferServer;
let base: string;
let port: number;

before(async () => {
  server = createRtinferServer(
    validateConfig({
      port: 0,
      maxBodyBytes: 4 * 1024 * 1024,
      wsPingIntervalMs: 1000,
      models: [{ path: OCR_CLS, warmupShapes: { x: [1, 3, 48, 192] } }],
    }),
    { log: () => undefined },
  );
  base = await server.listen();
  port = Number(new URL(base).port);
  await server.ready();
});
after(async () => server.close());

const good = (): V2Tensor => ({
  name: 'x',
  type: 'float32',
  dims: [1, 3, 48, 192],
  data: new Float32Array(3 * 48 * 192).fill(0.5),
});

async function stillServes(): Promise<void> {
  const m = encodeInferRequest([good()]);
  const r = await fetch(`${base}/v2/models/${CLS}/infer`, { method: 'POST', body: m.body, headers: m.headers });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
}

// ---- generators ----

const shapeArb = fc.oneof(
  fc.array(fc.integer({ min: -2, max: 8 }), { maxLength: 5 }),
  fc.constant([1, 3, 48, 192]),
  fc.array(fc.double(), { maxLength: 3 }),
  fc.anything(),
);
const dataArb = fc.oneof(
  fc.array(fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string()), { maxLength: 40 }),
  fc.anything(),
  fc.array(fc.array(fc.double(), { maxLength: 4 }), { maxLength: 4 }),
);
const paramsArb = fc.oneof(
  fc.constant(undefined),
  fc.record(
    { binary_data_size: fc.oneof(fc.nat(300), fc.integer({ min: -5, max: 5 }), fc.double(), fc.anything()) },
    { requiredKeys: [] },
  ),
  fc.anything(),
);
const tensorArb = fc.record(
  {
    name: fc.oneof(fc.constant('x'), fc.string({ maxLength: 12 }), fc.anything()),
    datatype: fc.oneof(fc.constantFrom(...V2_TYPES), fc.string({ maxLength: 6 }), fc.anything()),
    shape: shapeArb,
    data: dataArb,
    parameters: paramsArb,
  },
  { requiredKeys: [] },
);
const v2HeaderArb = fc.record(
  {
    id: fc.oneof(fc.string({ maxLength: 20 }), fc.anything()),
    parameters: fc.oneof(
      fc.record(
        {
          priority: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.double(), fc.anything()),
          timeout: fc.oneof(fc.double(), fc.nat(), fc.anything()),
          binary_data_output: fc.anything(),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    ),
    inputs: fc.oneof(fc.array(tensorArb, { maxLength: 4 }), fc.anything()),
    outputs: fc.oneof(
      fc.array(
        fc.record(
          { name: fc.oneof(fc.constant('softmax_0.tmp_0'), fc.anything()), parameters: fc.anything() },
          { requiredKeys: [] },
        ),
        { maxLength: 3 },
      ),
      fc.anything(),
    ),
  },
  { requiredKeys: [] },
);
/** A v2 body: JSON header, binary tail, and the Inference-Header-Content-Length claimed for it. */
const v2BodyArb = fc
  .tuple(
    v2HeaderArb,
    fc.uint8Array({ maxLength: 400 }),
    fc.oneof(
      fc.constant('exact'),
      fc.constant('none'),
      fc.string({ maxLength: 8 }),
      fc.integer({ min: -3, max: 5000 }).map(String),
    ),
  )
  .map(([json, tail, len]) => {
    const head = Buffer.from(JSON.stringify(json) ?? 'null');
    const body = Buffer.concat([head, Buffer.from(tail)]);
    const headerLength = len === 'exact' ? String(head.length) : len === 'none' ? undefined : len;
    return { body, headerLength };
  });

test('the v2 codec answers any message with its result or a one-line RTI_ERR_INPUT_DATA, never another throw', () => {
  fc.assert(
    fc.property(v2BodyArb, ({ body, headerLength }) => {
      try {
        decodeInferRequest(body, headerLength);
      } catch (error) {
        assert.ok(isRtinferError(error), `a foreign error escaped: ${String(error)}`);
        assert.equal(error.code, 'RTI_ERR_INPUT_DATA');
        assert.doesNotMatch(error.message, /\n/);
      }
    }),
    { numRuns: 3000, seed: 12 },
  );
});

test('binary and JSON v2 tensors of every numeric datatype survive encode then decode', () => {
  const numeric = fc.constantFrom('uint8', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64', 'bool');
  fc.assert(
    fc.property(
      numeric,
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
      fc.boolean(),
      (type, dims, binary) => {
        const n = dims.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: n }, (_, i) => (type === 'bool' ? i % 2 : (i * 7) % 100));
        const ctors = {
          uint8: Uint8Array,
          int8: Int8Array,
          int16: Int16Array,
          uint16: Uint16Array,
          int32: Int32Array,
          uint32: Uint32Array,
          float32: Float32Array,
          float64: Float64Array,
          bool: Uint8Array,
        };
        const data = new ctors[type](values);
        const m = encodeInferRequest([{ name: 't', type, dims, data }], { binaryInputs: binary });
        const back = decodeInferRequest(m.body, m.headers[HEADER_LENGTH]);
        assert.deepEqual(back.inputs[0]?.dims, dims);
        assert.deepEqual(Array.from(back.inputs[0]?.data as ArrayLike<number>), Array.from(data));
      },
    ),
    { numRuns: 300, seed: 3 },
  );
});

const token = fc.stringMatching(/^[A-Za-z0-9-]{1,16}$/);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
const targetArb = fc.oneof(
  fc.constantFrom(
    '/',
    '/v2',
    '/v2/health/ready',
    '/metrics',
    '/api/models',
    `/v2/models/${CLS}`,
    `/v2/models/${CLS}/infer`,
    `/v2/models/${CLS}/versions/1/infer`,
    `/api/models/${CLS}/predict`,
    '/v2/repository/index',
    '/api/live/snapshot',
  ),
  fc
    .tuple(
      fc.constantFrom('/v2/models/', '/api/models/', '/v2/models/x/versions/'),
      fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{0,20}$/),
      fc.constantFrom('', '/infer', '/ready', '/predict', '/stream'),
    )
    .map(([a, b, c]) => a + b + c),
  fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/),
);
const INFER = [`/v2/models/${CLS}/infer`, `/v2/models/${CLS}/versions/1/infer`, `/api/models/${CLS}/predict`];
const requestArb = fc.record({
  // Most runs go where bodies are parsed: the infer and predict endpoints.
  method: fc.oneof(
    { weight: 4, arbitrary: fc.constant('POST') },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'OPTIONS', 'PATCH') },
  ),
  target: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...INFER) }, { weight: 2, arbitrary: targetArb }),
  headers: fc.dictionary(token, headerValue, { maxKeys: 4 }),
  // The headers a deadline comes from: a stamp (ms from now, or any text), Envoy's timeout, rtinfer's.
  timing: fc.record(
    {
      start: fc.oneof(fc.integer({ min: -700_000, max: 60_000 }), headerValue),
      envoy: fc.oneof(fc.double().map(String), headerValue),
      deadline: fc.oneof(fc.double().map(String), headerValue),
    },
    { requiredKeys: [] },
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/octet-stream',
    'image/png',
    'multipart/form-data; boundary=xyz',
    'text/plain',
  ),
  body: fc.oneof(
    v2BodyArb.map((b) => ({ bytes: b.body, headerLength: b.headerLength })),
    fc.uint8Array({ maxLength: 2000 }).map((u) => ({ bytes: Buffer.from(u), headerLength: undefined })),
    fc.constant({
      bytes: encodeInferRequest([good()]).body,
      headerLength: encodeInferRequest([good()]).headers[HEADER_LENGTH],
    }),
  ),
});

test('arbitrary HTTP requests get an answer; refusals are JSON {error} without stacks or internals; the server stays up', async () => {
  const rssBefore = process.memoryUsage().rss;
  let answered = 0;
  await fc.assert(
    fc.asyncProperty(requestArb, async (r) => {
      const headers: Record<string, string> = { ...r.headers, 'content-type': r.contentType };
      delete headers['content-length'];
      delete headers['transfer-encoding'];
      delete headers['host'];
      delete headers['connection'];
      delete headers['expect'];
      if (r.body.headerLength !== undefined) headers[HEADER_LENGTH] = r.body.headerLength;
      const { start, envoy, deadline } = r.timing;
      if (start !== undefined)
        headers['x-request-start'] =
          typeof start === 'number'
            ? `t=${Math.round((performance.timeOrigin + performance.now() + start) * 1000)}`
            : start;
      if (envoy !== undefined) headers['x-envoy-expected-rq-timeout-ms'] = envoy;
      if (deadline !== undefined) headers['rtinfer-deadline-ms'] = deadline;
      const a = await rawExchange(port, httpText(r.method, r.target, headers, r.body.bytes), 5000);
      assert.ok(
        a.status >= 200 && a.status < 600,
        `no HTTP answer to ${r.method} ${r.target}: ${JSON.stringify(a.raw.slice(0, 200))}`,
      );
      answered++;
      if (a.status >= 400) {
        let json: unknown;
        assert.doesNotThrow(() => (json = JSON.parse(a.body)), `not JSON: ${a.body.slice(0, 200)}`);
        assert.equal(typeof (json as { error?: unknown }).error, 'string');
        assert.doesNotMatch(a.body, INTERNALS);
        assert.notEqual(a.status, 500, `a 500 for ${r.method} ${r.target}: ${a.body}`);
      }
    }),
    { numRuns: 400, seed: 7, interruptAfterTimeLimit: 90_000 },
  );
  assert.ok(answered >= 100, `${answered} requests answered`);
  await stillServes();
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^rtinfer_inflight_body_bytes 0$/m, 'every request gave its bytes back');
  const grownMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grownMb < 200, `RSS grew ${grownMb.toFixed(0)} MB`);
});

test('arbitrary WebSocket bytes on an open stream close at most that stream', async () => {
  const frameArb = fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.boolean())
      .map(([op, p, masked, fin]) => wsFrame(op, Buffer.from(p), { masked, fin })),
    fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 5 }), async (frames) => {
      const { socket, answer } = await wsHandshake(port, `/api/models/${CLS}/stream`);
      assert.equal(answer.status, 101);
      socket.on('data', () => undefined);
      for (const f of frames) if (!socket.destroyed) socket.write(f);
      await closedWithin(socket, 30);
      socket.destroy();
    }),
    { numRuns: 80, seed: 5, interruptAfterTimeLimit: 60_000 },
  );
  await new Promise((r) => setTimeout(r, 100));
  await stillServes();
});
