/**
 * rtinfer serve's gRPC endpoint over real HTTP/2 on 127.0.0.1, driven by a client built only from
 * KServe's official grpc_predict_v2.proto (../shared/kserve/; the generated descriptor when the
 * workplace's folder is absent): every RPC, raw and typed tensors giving REST's answers, the error
 * codes, the token, deadlines, the message limit, and a port that survives garbage: stalled, cut
 * short, ambiguous or value-less requests and clients that leave.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runBench } from '../../src/loadgen/bench.js';
import { runSweep } from '../../src/loadgen/sweep.js';
import { GrpcH2Client } from '../../src/loadgen/grpc-client.js';
import { targetExitCode, tuneTarget } from '../../src/cli/tune-target.js';
import { parseSlo } from '../../src/tune/slo.js';
import { parseTargetUrl } from '../../src/loadgen/remote-target.js';
import { GRPC_PREDICT_V2 } from '../../src/protocol/grpc-predict-v2.js';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { inferCodec } from '../helpers/grpc-codec.js';
import { OCR_CLS } from '../helpers/models.js';

const PROTO = fileURLToPath(new URL('../../../shared/kserve/grpc_predict_v2.proto', import.meta.url));
const CLS = 'ch_ppocr_mobile_v2.0_cls_infer';
const TOKEN = 's3cret';
const OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

// Messages as the generic client gives them: tests read the fields they assert on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = any;
type Call = (req: Msg, meta?: grpc.Metadata, options?: grpc.CallOptions) => Promise<Msg>;

let server: RtinferServer;
let tokenServer: RtinferServer;
/** A server with a short request timeout, whose metrics only the hardening tests move. */
let strict: RtinferServer;
let strictBase: string;
let strictClient: grpc.Client & Record<string, unknown>;
let base: string;
let client: grpc.Client & Record<string, unknown>;
let tokenClient: grpc.Client & Record<string, unknown>;

function makeClient(port: number): grpc.Client & Record<string, unknown> {
  const definition = existsSync(PROTO)
    ? protoLoader.loadSync(PROTO, OPTIONS)
    : protoLoader.fromJSON(GRPC_PREDICT_V2 as Parameters<typeof protoLoader.fromJSON>[0], OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as Msg;
  return new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
  });
}

function rpc(c: grpc.Client & Record<string, unknown>, method: string): Call {
  return (req, meta = new grpc.Metadata(), options = {}) =>
    new Promise((resolve, reject) => {
      (
        c[method] as (
          r: Msg,
          m: grpc.Metadata,
          o: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, res: Msg) => void,
        ) => void
      ).call(c, req, meta, options, (e, res) => (e ? reject(e) : resolve(res)));
    });
}

async function code(p: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details };
  }
  assert.fail('the call succeeded');
}

const pixels = (): Float32Array => Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => (i % 255) / 255);

const INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

/** A gRPC frame: the compressed flag, the 4-byte big-endian length (`length` to announce another), the message. */
function frame(m: Buffer, flag = 0, length = m.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(length, 1);
  return Buffer.concat([prefix, m]);
}

interface RawAnswer {
  /** grpc-status as sent ('undefined' when none came). */
  status: string;
  message: string;
  body: Buffer;
  timing: string | undefined;
  ms: number;
}

/**
 * One call over raw HTTP/2: `body` written, then the request ended, or with `end: false` left open
 * (the call then ends only when the server answers and resets the stream); `leave` is called with
 * the stream 50 ms after the body is written (the client going away).
 */
function rawCall(
  session: http2.ClientHttp2Session,
  body: Buffer,
  options: {
    headers?: Record<string, string>;
    path?: string;
    end?: boolean;
    leave?: (stream: http2.ClientHttp2Stream) => void;
  } = {},
): Promise<RawAnswer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const s = session.request({
      ':method': 'POST',
      ':path': options.path ?? INFER_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.headers,
    });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    const guard = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within 10 s (${options.path ?? INFER_PATH})`));
    }, 10_000);
    s.on('response', (h) => (head = h));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('trailers', (t) => (head = { ...head, ...t }));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(guard);
      resolve({
        status: String(head['grpc-status']),
        message: decodeURIComponent(String(head['grpc-message'] ?? '')),
        body: Buffer.concat(chunks),
        timing: head['server-timing'] as string | undefined,
        ms: performance.now() - t0,
      });
    });
    if (options.end === false) s.write(body);
    else s.end(body);
    const leave = options.leave;
    if (leave) setTimeout(() => leave(s), 50);
  });
}

/** A server's request counts for one gRPC endpoint by status, from its /metrics. */
async function grpcCounts(at: string, endpoint = 'grpc_infer'): Promise<Record<string, number>> {
  const text = await (await fetch(`${at}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, labels, n] of text.matchAll(/^rtinfer_requests_total\{([^}]*)\} (\d+)/gm)) {
    if (!labels!.includes(`endpoint="${endpoint}"`)) continue;
    const status = /outcome="(\d+)"/.exec(labels!)?.[1];
    if (status !== undefined) counts[status] = (counts[status] ?? 0) + Number(n);
  }
  return counts;
}

/** The counts added since `before`, by status. */
function added(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Protobuf's base-128 varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field: its tag, its length, its bytes. */
function pb(field: number, ...parts: Array<Buffer | string>): Buffer {
  const value = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  return Buffer.concat([varint(field * 8 + 2), varint(value.length), value]);
}

before(async () => {
  if (!existsSync(PROTO))
    console.log(
      `# ${PROTO} is missing (the workplace's shared folder): the client is built from the generated descriptor instead`,
    );
  server = createRtinferServer(
    validateConfig({
      port: 0,
      grpcPort: 0,
      maxBodyBytes: 200_000,
      models: [{ path: OCR_CLS, warmupShapes: { x: [1, 3, 48, 192] }, instances: 1, threads: 1 }],
    }),
  );
  base = await server.listen();
  tokenServer = createRtinferServer(
    validateConfig({ port: 0, grpcPort: 0, token: TOKEN, models: [{ path: OCR_CLS, instances: 1, threads: 1 }] }),
  );
  await tokenServer.listen();
  strict = createRtinferServer(
    validateConfig({
      port: 0,
      grpcPort: 0,
      requestTimeoutMs: 300,
      models: [{ path: OCR_CLS, instances: 1, threads: 1 }],
    }),
  );
  strictBase = await strict.listen();
  await Promise.all([server.ready(), tokenServer.ready(), strict.ready()]);
  client = makeClient(server.grpcPort!);
  tokenClient = makeClient(tokenServer.grpcPort!);
  strictClient = makeClient(strict.grpcPort!);
});

after(async () => {
  client?.close();
  tokenClient?.close();
  strictClient?.close();
  await Promise.all([server?.close(), tokenServer?.close(), strict?.close()]);
});

test('health and metadata RPCs answer as the protocol says', async () => {
  assert.deepEqual(await rpc(client, 'ServerLive')({}), { live: true });
  assert.deepEqual(await rpc(client, 'ServerReady')({}), { ready: true });
  assert.deepEqual(await rpc(client, 'ModelReady')({ name: CLS, version: '' }), { ready: true });
  const meta = await rpc(client, 'ServerMetadata')({});
  assert.equal(meta.name, 'rtinfer');
  assert.ok(meta.extensions.includes('statistics'));
  const m = await rpc(client, 'ModelMetadata')({ name: CLS });
  assert.equal(m.platform, 'onnxruntime_onnx');
  assert.deepEqual(m.versions, ['1']);
  assert.deepEqual(
    m.inputs.map((t: Msg) => [t.name, t.datatype, t.shape]),
    [['x', 'FP32', [-1, 3, -1, -1]]],
  );
  assert.equal((await code(rpc(client, 'ModelMetadata')({ name: 'nope' }))).code, grpc.status.NOT_FOUND);
  assert.equal((await code(rpc(client, 'ModelReady')({ name: CLS, version: '9' }))).code, grpc.status.NOT_FOUND);
});

test('ModelInfer with raw and with typed contents gives the scores REST gives', async () => {
  const data = pixels();
  const bin = encodeInferRequest([{ name: 'x', type: 'float32', dims: [1, 3, 48, 192], data }], {
    binaryInputs: true,
    binaryOutputs: true,
  });
  const r = await fetch(`${base}/v2/models/${CLS}/infer`, { method: 'POST', body: bin.body, headers: bin.headers });
  const rest = decodeInferResponse(Buffer.from(await r.arrayBuffer()), r.headers.get(HEADER_LENGTH) ?? undefined)[0]!
    .data as Float32Array;

  const raw = await rpc(
    client,
    'ModelInfer',
  )({
    model_name: CLS,
    id: 'r1',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] }],
    raw_input_contents: [Buffer.from(data.buffer)],
  });
  assert.equal(raw.id, 'r1');
  assert.equal(raw.model_name, CLS);
  assert.deepEqual(raw.outputs[0].shape, [1, 2]);
  assert.equal(raw.outputs[0].datatype, 'FP32');
  const rawOut = raw.raw_output_contents[0] as Buffer;
  const fromRaw = new Float32Array(rawOut.buffer.slice(rawOut.byteOffset, rawOut.byteOffset + rawOut.byteLength));
  assert.deepEqual(Array.from(fromRaw), Array.from(rest));

  const typed = await rpc(
    client,
    'ModelInfer',
  )({
    model_name: CLS,
    model_version: '1',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], contents: { fp32_contents: Array.from(data) } }],
  });
  assert.equal(typed.raw_output_contents.length, 0, 'a typed request is answered typed');
  const fromTyped: number[] = typed.outputs[0].contents.fp32_contents;
  fromTyped.forEach((v, i) => assert.ok(Math.abs(v - rest[i]!) < 1e-6));
});

test('the gRPC port opens wide HTTP/2 flow-control windows, so a large message is not held up by WINDOW_UPDATE round trips', async () => {
  const h2 = http2.connect(`http://127.0.0.1:${server.grpcPort!}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      h2.once('remoteSettings', resolve);
      h2.once('error', reject);
    });
    assert.ok((settings.initialWindowSize ?? 0) >= 1 << 20, `stream window ${settings.initialWindowSize}`);
    // The connection window arrives as a WINDOW_UPDATE right after the settings.
    for (let i = 0; i < 50 && h2.state.remoteWindowSize! < 1 << 20; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(h2.state.remoteWindowSize! >= 1 << 20, `connection window ${h2.state.remoteWindowSize}`);
  } finally {
    h2.close();
  }
});

test('BAD CALL - gRPC errors carry the codes the protocol expects, and the server keeps serving', async () => {
  const infer = rpc(client, 'ModelInfer');
  const x = (shape: number[], n = 3 * 48 * 192): Msg => ({
    model_name: CLS,
    inputs: [{ name: 'x', datatype: 'FP32', shape }],
    raw_input_contents: [Buffer.alloc(n * 4)],
  });
  const cases: Array<[Msg, grpc.status, RegExp]> = [
    [{ ...x([1, 3, 48, 192]), model_name: 'nope' }, grpc.status.NOT_FOUND, /unknown model/],
    [x([1, 3, 48, 190]), grpc.status.INVALID_ARGUMENT, /bytes/],
    [
      { ...x([1, 3, 48, 192]), raw_input_contents: [], inputs: [{ name: 'x', datatype: 'FP16', shape: [1] }] },
      grpc.status.INVALID_ARGUMENT,
      /raw_input_contents/,
    ],
    [
      { ...x([1, 3, 48, 192]), inputs: [{ name: 'x', datatype: 'FP33', shape: [1, 3, 48, 192] }] },
      grpc.status.INVALID_ARGUMENT,
      /unknown datatype/,
    ],
    [
      { ...x([1, 3, 48, 192]), parameters: { priority: { int64_param: 99 } } },
      grpc.status.INVALID_ARGUMENT,
      /priority/,
    ],
    [{ ...x([1, 3, 48, 192]), outputs: [{ name: 'nope' }] }, grpc.status.INVALID_ARGUMENT, /not an output/],
    [
      { ...x([1, 3, 48, 192]), raw_input_contents: [Buffer.alloc(4), Buffer.alloc(4)] },
      grpc.status.INVALID_ARGUMENT,
      /every tensor needs one/,
    ],
  ];
  for (const [req, want, text] of cases) {
    const e = await code(infer(req));
    assert.equal(e.code, want, `${e.details}`);
    assert.match(e.details, text);
    assert.doesNotMatch(e.details, /at \w+ \(|onnxruntime/i, 'no stack, no runtime internals');
  }
  // Over the message limit (maxBodyBytes 200 kB here): RESOURCE_EXHAUSTED from the transport.
  const big = await code(infer(x([1, 3, 480, 192], 3 * 480 * 192)));
  assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
  // A deadline no inference can meet.
  const late = await code(infer(x([1, 3, 48, 192]), new grpc.Metadata(), { deadline: Date.now() + 0.01 }));
  assert.equal(late.code, grpc.status.DEADLINE_EXCEEDED);
  const timeout = await code(infer({ ...x([1, 3, 48, 192]), parameters: { timeout: { int64_param: 1 } } }));
  assert.equal(timeout.code, grpc.status.DEADLINE_EXCEEDED, timeout.details);
  // Counted from the x-request-start metadata: sent 80 ms ago with 50 ms to go, it is already late.
  const stamped = new grpc.Metadata();
  stamped.set('x-request-start', `t=${Math.round((performance.timeOrigin + performance.now() - 80) * 1000)}`);
  const sentLate = await code(
    infer({ ...x([1, 3, 48, 192]), parameters: { timeout: { int64_param: 50_000 } } }, stamped),
  );
  assert.equal(sentLate.code, grpc.status.DEADLINE_EXCEEDED, sentLate.details);
  // Its age counts from the stamp: 80 ms and whatever the call took on a busy machine.
  const age = Number(/\((\d+\.\d) ms of 50 ms\)/.exec(sentLate.details)?.[1]);
  assert.ok(age >= 80 && age < 10_000, sentLate.details);
  // Envoy's timeout in front bounds the deadline.
  const proxied = new grpc.Metadata();
  proxied.set('x-envoy-expected-rq-timeout-ms', '0.01');
  const bounded = await code(infer(x([1, 3, 48, 192]), proxied));
  assert.ok([grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE].includes(bounded.code), bounded.details);
  const ok = await infer(x([1, 3, 48, 192]));
  assert.deepEqual(ok.outputs[0].shape, [1, 2]);
});

test('BAD CALL - the token travels as authorization metadata; without it UNAUTHENTICATED, health stays public', async () => {
  const req = {
    model_name: CLS,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] }],
    raw_input_contents: [Buffer.from(pixels().buffer)],
  };
  assert.equal((await code(rpc(tokenClient, 'ModelInfer')(req))).code, grpc.status.UNAUTHENTICATED);
  const wrong = new grpc.Metadata();
  wrong.set('authorization', 'Bearer nope');
  assert.equal((await code(rpc(tokenClient, 'ModelMetadata')({ name: CLS }, wrong))).code, grpc.status.UNAUTHENTICATED);
  assert.deepEqual(await rpc(tokenClient, 'ServerLive')({}), { live: true });
  const right = new grpc.Metadata();
  right.set('authorization', `Bearer ${TOKEN}`);
  const out = await rpc(tokenClient, 'ModelInfer')(req, right);
  assert.deepEqual(out.outputs[0].shape, [1, 2]);
});

test('BAD CALL - garbage on the gRPC port does not take the server down', async () => {
  for (const bytes of [
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\xff\xff\xff\xff'),
    Buffer.alloc(4096, 0xfe),
  ]) {
    await new Promise<void>((resolve) => {
      const s = net.connect(server.grpcPort!, '127.0.0.1', () => s.end(bytes));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 1000).unref();
    });
  }
  assert.deepEqual(await rpc(client, 'ServerLive')({}), { live: true });
});

test('statistics (Triton shape) count gRPC and REST requests alike', async () => {
  const r = await fetch(`${base}/v2/models/${CLS}/stats`);
  assert.equal(r.status, 200);
  const body = (await r.json()) as Msg;
  const s = body.model_stats[0];
  assert.equal(s.name, CLS);
  assert.equal(s.version, '1');
  assert.ok(s.inference_count >= 3, `inference_count ${s.inference_count}`);
  assert.ok(s.inference_stats.success.count >= 3);
  assert.ok(s.inference_stats.success.ns > 0);
  assert.ok(s.inference_stats.fail.count >= 1, 'the refused calls count as failures');
  assert.ok(s.inference_stats.compute_infer.ns > 0);
  assert.equal(s.batch_stats[0].batch_size, 1);
  const all = (await (await fetch(`${base}/v2/models/stats`)).json()) as Msg;
  assert.equal(all.model_stats.length, 1);
  assert.equal((await fetch(`${base}/v2/models/nope/stats`)).status, 404);
});

test('rtinfer bench --target grpc://: every answer counted, the server split from trailing metadata, refusals as refusals', async () => {
  const target = `grpc://127.0.0.1:${server.grpcPort}/${CLS}`;
  const { report } = await runBench({
    target,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    scenario: 'concurrency',
    concurrency: 2,
    durationMs: 400,
    minQueries: 30,
    warmup: { minQueries: 2, minDurationMs: 0 },
  });
  assert.ok(report.throughput.queries >= 30);
  assert.deepEqual(report.refused, {});
  const st = report.serverTiming?.stagesMs;
  assert.ok(st && st['inference'] && st['total'], JSON.stringify(report.serverTiming));
  assert.ok(st['total'].p50 >= st['inference'].p50);
  await assert.rejects(
    runBench({ target: `grpc://127.0.0.1:${server.grpcPort}/nope`, durationMs: 100 }),
    /NOT_FOUND.*unknown model/,
  );
  assert.throws(() => parseTargetUrl('grpc://127.0.0.1/x'), /give the port/);
  assert.throws(() => parseTargetUrl('ftp://127.0.0.1:1/x'), /expected http/);
});

test('bench --target, server scenario: each query carries its due time as X-Request-Start, over gRPC and REST', async () => {
  for (const target of [`grpc://127.0.0.1:${server.grpcPort}/${CLS}`, `${base}/v2/models/${CLS}`]) {
    const run = (scenario: 'server' | 'concurrency') =>
      runBench({
        target,
        shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
        scenario,
        qps: 100,
        concurrency: 1,
        durationMs: 400,
        minQueries: 20,
        warmup: { minQueries: 2, minDurationMs: 0 },
      });
    const open = (await run('server')).report;
    // The server's split names the time from the stamp to the arrival: the generator's lag and the socket.
    const before = open.serverTiming?.stagesMs['before'];
    assert.ok(before && before.p50 >= 0 && before.p50 < 100, `${target}: ${JSON.stringify(open.serverTiming)}`);
    assert.equal(open.refused['RTI_ERR_ENGINE_DEADLINE_EXPIRED'] ?? 0, 0);
    // A closed loop has no schedule to stamp.
    const closed = (await run('concurrency')).report;
    assert.equal(closed.serverTiming?.stagesMs['before'], undefined, target);
  }
});

test("sweep --target over gRPC and REST: the load axis only, queue and inference from the server's split", async () => {
  for (const target of [`grpc://127.0.0.1:${server.grpcPort}/${CLS}`, `${base}/v2/models/${CLS}`]) {
    const report = await runSweep({
      target,
      shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
      concurrency: [1, 2],
      durationMs: 250,
      minQueries: 10,
    });
    assert.equal(report.points.length, 2);
    assert.equal(report.model.label, target);
    for (const p of report.points) {
      assert.equal(p.instances, 0);
      assert.ok(p.queries >= 10 && p.throughput > 0);
      assert.ok(p.inferenceMs > 0, `${target}: inference from Server-Timing`);
      assert.ok(p.latencyMs.p50 >= p.inferenceMs);
    }
  }
  await assert.rejects(
    runSweep({ target: `${base}/v2/models/${CLS}`, threads: [1, 2] }),
    /the server has its own layout/,
  );
});

test('tune --target: the highest rate within a p99 SLO of a served model, over gRPC', async () => {
  const lines: string[] = [];
  const r = await tuneTarget(
    `grpc://127.0.0.1:${server.grpcPort}/${CLS}`,
    parseSlo('p99<=200ms'),
    [{ name: 'x', dims: [1, 3, 48, 192] }],
    (l) => lines.push(l),
    { probeDurationMs: 300, durationMs: 600, minQueries: 60 },
  );
  assert.ok(r.report.peak && r.report.peak.probes.length >= 1, JSON.stringify(r.report.peak));
  assert.ok(r.qps > 0, r.text);
  assert.match(r.text, /verdict: (met|NOT met)/);
  assert.equal(targetExitCode(r), r.met ? 0 : 4);
  assert.ok(lines.some((l) => l.includes('its own layout')));
  await assert.rejects(
    tuneTarget(`grpc://127.0.0.1:${server.grpcPort}/${CLS}`, parseSlo('p90<=20ms'), [], () => undefined),
    /the SLO bounds p99/,
  );
});

test('BAD CALL - property: arbitrary ModelInfer requests and raw gRPC bytes get a status, never a crash or internals', async () => {
  const TYPES = ['BOOL', 'UINT8', 'INT8', 'INT32', 'INT64', 'UINT64', 'FP16', 'FP32', 'FP64', 'BYTES', 'XX'];
  const param = fc.oneof(
    fc.record({ bool_param: fc.boolean() }),
    fc.record({ int64_param: fc.integer({ min: -1e9, max: 1e9 }) }),
    fc.record({ string_param: fc.string({ maxLength: 8 }) }),
  );
  const tensor = fc.record({
    name: fc.oneof(fc.constant('x'), fc.string({ maxLength: 6 })),
    datatype: fc.constantFrom(...TYPES),
    shape: fc.oneof(fc.constant([1, 3, 48, 192]), fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 4 })),
    contents: fc.option(
      fc.record(
        {
          fp32_contents: fc.array(fc.float({ noNaN: true }), { maxLength: 20 }),
          int64_contents: fc.array(fc.integer(), { maxLength: 5 }),
        },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    ),
  });
  const request = fc.record({
    model_name: fc.oneof(fc.constant(CLS), fc.string({ maxLength: 10 })),
    model_version: fc.constantFrom('', '1', '2', 'x'),
    parameters: fc.dictionary(fc.constantFrom('priority', 'timeout', 'deadline_ms', 'other'), param, { maxKeys: 3 }),
    inputs: fc.array(tensor, { maxLength: 3 }),
    outputs: fc.array(fc.record({ name: fc.oneof(fc.constant('softmax_0.tmp_0'), fc.string({ maxLength: 5 })) }), {
      maxLength: 2,
    }),
    raw_input_contents: fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 }),
  });
  const infer = rpc(client, 'ModelInfer');
  await fc.assert(
    fc.asyncProperty(request, async (req) => {
      try {
        await infer(req, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
      } catch (e) {
        const err = e as grpc.ServiceError;
        assert.notEqual(err.code, grpc.status.INTERNAL, err.details);
        assert.notEqual(err.code, grpc.status.UNKNOWN, err.details);
        assert.doesNotMatch(err.details ?? '', /\n|at \w+ \(|onnxruntime/i);
      }
    }),
    { numRuns: 150, seed: 17 },
  );
  // Raw bytes as a ModelInfer message: undecodable ones are the transport's INTERNAL, the server stays up.
  const raw = new GrpcH2Client(`127.0.0.1:${server.grpcPort}`);
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        const r = await raw.call('/inference.GRPCInferenceService/ModelInfer', Buffer.from(bytes), 10_000);
        assert.ok(Number.isInteger(r.status));
        assert.doesNotMatch(r.details, /at \w+ \(/);
      }),
      { numRuns: 150, seed: 18 },
    );
  } finally {
    raw.close();
  }
  assert.deepEqual(await rpc(client, 'ServerLive')({}), { live: true });
});

test('ModelInfer answered on the stream and through grpc-js alike: a gzip-compressed call, no message, two messages, a compressed flag without an encoding, an undecodable message, an unreadable grpc-timeout', async () => {
  const data = pixels();
  const req = {
    model_name: CLS,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] }],
    raw_input_contents: [Buffer.from(data.buffer)],
  };
  const plain = await rpc(client, 'ModelInfer')(req);
  // A compressed call is grpc-js's to decompress: the same answer.
  const gzipClient = new (
    client.constructor as new (a: string, c: grpc.ChannelCredentials, o: object) => typeof client
  )(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip,
  });
  try {
    const zipped = await rpc(gzipClient, 'ModelInfer')(req);
    assert.deepEqual(zipped.raw_output_contents, plain.raw_output_contents);
  } finally {
    gzipClient.close();
  }
  // Raw HTTP/2 calls: the status each gets, and the message and trailers of a good one.
  const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
  const call = (body: Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> =>
    rawCall(session, body, { headers });
  try {
    const infer = (
      grpc.loadPackageDefinition(
        protoLoader.fromJSON(GRPC_PREDICT_V2 as Parameters<typeof protoLoader.fromJSON>[0], OPTIONS),
      ) as Msg
    ).inference.GRPCInferenceService.service.ModelInfer;
    const message = infer.requestSerialize(req) as Buffer;
    const good = await call(frame(message), { 'grpc-timeout': '5S' });
    assert.equal(good.status, '0');
    assert.match(good.timing ?? '', /inference;dur=/);
    assert.deepEqual(infer.responseDeserialize(good.body.subarray(5)).raw_output_contents, plain.raw_output_contents);
    // No message at all is a request cardinality violation: UNIMPLEMENTED, as gRPC's status code table says.
    assert.equal((await call(Buffer.alloc(0))).status, String(grpc.status.UNIMPLEMENTED));
    assert.equal(
      (await call(Buffer.concat([frame(message), frame(message)]))).status,
      String(grpc.status.UNIMPLEMENTED),
    );
    const flagged = frame(message);
    flagged[0] = 1; // "compressed", though the call names no encoding
    const compressed = await call(flagged);
    assert.equal(compressed.status, String(grpc.status.INTERNAL));
    assert.match(compressed.message, /compressed message/);
    const undecodable = await call(frame(Buffer.from([0xff, 0xff, 0xff])));
    assert.equal(undecodable.status, String(grpc.status.INVALID_ARGUMENT));
    assert.match(undecodable.message, /cannot be decoded/);
    // A timeout header that is not one is grpc-js's to refuse.
    assert.equal((await call(frame(message), { 'grpc-timeout': 'soon' })).status, String(grpc.status.INTERNAL));
  } finally {
    session.close();
  }
  assert.deepEqual(await rpc(client, 'ServerLive')({}), { live: true });
});

test('a call cancelled while it waits in the queue is withdrawn, never run', async () => {
  const engine = tokenServer.models.get(CLS)?.engine;
  assert.ok(engine);
  const before = engine.stats().counts;
  const meta = new grpc.Metadata();
  meta.set('authorization', `Bearer ${TOKEN}`);
  // 16 rows run for several ms on the one worker (over the calling thread's bound): most of the 8 queue.
  const rows = 16;
  const raw = Buffer.from(Float32Array.from({ length: rows * 3 * 48 * 192 }, (_, i) => (i % 255) / 255).buffer);
  const req = {
    model_name: CLS,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, 3, 48, 192] }],
    raw_input_contents: [raw],
  };
  const infer = tokenClient['ModelInfer'] as (
    r: Msg,
    m: grpc.Metadata,
    cb: (e: grpc.ServiceError | null, res: Msg) => void,
  ) => grpc.ClientUnaryCall;
  const settled: Array<Promise<grpc.status>> = [];
  const calls = Array.from({ length: 8 }, () => {
    let call!: grpc.ClientUnaryCall;
    settled.push(
      new Promise(
        (resolve) => (call = infer.call(tokenClient, req, meta, (e) => resolve(e ? e.code : grpc.status.OK))),
      ),
    );
    return call;
  });
  // Once the server has the calls (the first runs, the rest queue), the last six are cancelled.
  for (let i = 0; i < 200 && engine.stats().queueDepth < 2; i++) await new Promise((r) => setTimeout(r, 5));
  for (const c of calls.slice(2)) c.cancel();
  const codes = await Promise.all(settled);
  assert.deepEqual(codes.slice(2), new Array(6).fill(grpc.status.CANCELLED));
  for (let i = 0; i < 200 && engine.stats().queueDepth > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const after = engine.stats().counts;
  assert.ok(after.aborted - before.aborted >= 1, `withdrawn: ${JSON.stringify({ before, after })}`);
  assert.ok(after.ok - before.ok + (after.aborted - before.aborted) <= 8, 'a withdrawn call is not also run');
});

test('BAD CALL - a request whose message stalls is answered DEADLINE_EXCEEDED after requestTimeoutMs and its stream reset, on the direct path and through grpc-js', async () => {
  const before = await grpcCounts(strictBase);
  const beforeMeta = await grpcCounts(strictBase, 'grpc_ModelMetadata');
  const session = http2.connect(`http://127.0.0.1:${strict.grpcPort}`);
  try {
    // A prefix announcing 4096 bytes, then nothing: the stream stays open until the server ends it.
    const stalled = frame(Buffer.alloc(0), 0, 4096);
    const gzipped = frame(Buffer.alloc(0), 1, 4096);
    const answers = await Promise.all([
      rawCall(session, stalled, { end: false }),
      // A compressed call is grpc-js's (the direct path declines it), as is every other method.
      rawCall(session, gzipped, { end: false, headers: { 'grpc-encoding': 'gzip' } }),
      rawCall(session, stalled, { end: false, path: '/inference.GRPCInferenceService/ModelMetadata' }),
    ]);
    for (const a of answers) {
      assert.equal(a.status, String(grpc.status.DEADLINE_EXCEEDED), a.message);
      assert.equal(a.message, 'the request message did not arrive within 300 ms (requestTimeoutMs)');
      assert.ok(a.ms >= 250 && a.ms < 5000, `${a.ms} ms`);
    }
    // A request that arrives in time is not cut when its answer takes longer.
    const ok = await rpc(
      strictClient,
      'ModelInfer',
    )({
      model_name: CLS,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] }],
      raw_input_contents: [Buffer.from(pixels().buffer)],
    });
    assert.deepEqual(ok.outputs[0].shape, [1, 2]);
  } finally {
    session.close();
  }
  assert.deepEqual(added(before, await grpcCounts(strictBase)), { '200': 1, '408': 2 });
  assert.deepEqual(added(beforeMeta, await grpcCounts(strictBase, 'grpc_ModelMetadata')), { '408': 1 });
});

/** Waits until the strict server's ModelInfer counts have moved by at least `n` since `before`. */
async function countsMoved(before: Record<string, number>, n: number): Promise<Record<string, number>> {
  let moved: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    moved = added(before, await grpcCounts(strictBase));
    if (Object.values(moved).reduce((a, b) => a + b, 0) >= n) return moved;
    await new Promise((r) => setTimeout(r, 20));
  }
  return moved;
}

test('a client that leaves before its answer is counted as 499 (client closed request), on the direct path and through grpc-js', async () => {
  // Mid-message, the client resets its stream (RST_STREAM alone: a stream's close() would half-close it
  // first, a request cut short that the server may answer before the reset comes), or drops the connection.
  let before = await grpcCounts(strictBase);
  const session = http2.connect(`http://127.0.0.1:${strict.grpcPort}`);
  const own = http2.connect(`http://127.0.0.1:${strict.grpcPort}`);
  own.on('error', () => undefined);
  try {
    const partial = frame(Buffer.alloc(10), 0, 4096);
    const reset = (s: http2.ClientHttp2Stream): void => void s.destroy();
    await Promise.all([
      rawCall(session, partial, { end: false, leave: reset }),
      rawCall(own, partial, { end: false, leave: () => own.destroy() }),
      rawCall(session, partial, { end: false, leave: reset, headers: { 'grpc-encoding': 'gzip' } }),
    ]);
  } finally {
    session.close();
  }
  assert.deepEqual(await countsMoved(before, 3), { '499': 3 });

  // Calls cancelled while they wait in the queue (or run): 499 whichever way they came, never 500 or 503.
  const engine = strict.models.get(CLS)?.engine;
  assert.ok(engine);
  const rows = 16;
  const req = {
    model_name: CLS,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, 3, 48, 192] }],
    raw_input_contents: [
      Buffer.from(Float32Array.from({ length: rows * 3 * 48 * 192 }, (_, i) => (i % 255) / 255).buffer),
    ],
  };
  const gzipClient = new (
    strictClient.constructor as new (a: string, c: grpc.ChannelCredentials, o: object) => typeof strictClient
  )(`127.0.0.1:${strict.grpcPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip,
  });
  try {
    for (const c of [strictClient, gzipClient]) {
      before = await grpcCounts(strictBase);
      const infer = c['ModelInfer'] as (r: Msg, cb: (e: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall;
      const settled: Array<Promise<void>> = [];
      const calls = Array.from({ length: 6 }, () => {
        let call!: grpc.ClientUnaryCall;
        settled.push(new Promise((resolve) => (call = infer.call(c, req, () => resolve()))));
        return call;
      });
      for (let i = 0; i < 200 && engine.stats().queueDepth < 2; i++) await new Promise((r) => setTimeout(r, 5));
      for (const call of calls.slice(1)) call.cancel();
      await Promise.all(settled);
      // The first call and any answered before its cancel arrived are 200s; the rest 499s.
      const moved = await countsMoved(before, 6);
      assert.ok((moved['499'] ?? 0) >= 1, JSON.stringify(moved));
      assert.deepEqual(
        Object.keys(moved).filter((s) => s !== '200' && s !== '499'),
        [],
        JSON.stringify(moved),
      );
    }
  } finally {
    gzipClient.close();
  }
});

test('BAD CALL - a parameter map entry without its value is an InferParameter with none set: refused by name as a request parameter, ignored on tensors, never a decoder crash', async () => {
  const shape = Buffer.concat([1, 3, 48, 192].map(varint));
  // inputs[0] with a `binary_data_size` entry and outputs[0] with a `classification` entry, both key only.
  const good = Buffer.concat([
    pb(1, CLS),
    pb(5, pb(1, 'x'), pb(2, 'FP32'), pb(3, shape), pb(4, pb(1, 'binary_data_size'))),
    pb(6, pb(1, 'softmax_0.tmp_0'), pb(2, pb(1, 'classification'))),
    pb(7, Buffer.from(pixels().buffer)),
  ]);
  const session = http2.connect(`http://127.0.0.1:${strict.grpcPort}`);
  try {
    const ok = await rawCall(session, frame(good));
    assert.equal(ok.status, '0', ok.message);
    const keyOnly = Buffer.concat([good, pb(4, pb(1, 'priority'))]);
    const gzip = { headers: { 'grpc-encoding': 'gzip' } };
    for (const [body, options, name] of [
      [frame(keyOnly), {}, 'priority'],
      // An entry with neither key nor value: the key is '' then.
      [frame(Buffer.concat([good, Buffer.from([0x22, 0x00])])), {}, ''],
      // Through grpc-js (a compressed call): the same decoder, the same answer.
      [frame(gzipSync(keyOnly), 1), gzip, 'priority'],
    ] as const) {
      const a = await rawCall(session, body, options);
      assert.equal(a.status, String(grpc.status.INVALID_ARGUMENT), a.message);
      assert.equal(a.message, `parameter '${name}' has no value: set bool_param, int64_param or string_param`);
    }
  } finally {
    session.close();
  }
});

test('BAD CALL - an input given both raw and typed, or a message cut short, is INVALID_ARGUMENT naming the problem', async () => {
  const data = pixels();
  const both = await code(
    rpc(
      strictClient,
      'ModelInfer',
    )({
      model_name: CLS,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], contents: { fp32_contents: Array.from(data) } }],
      raw_input_contents: [Buffer.from(data.buffer)],
    }),
  );
  assert.equal(both.code, grpc.status.INVALID_ARGUMENT, both.details);
  assert.equal(both.details, "inputs[0] 'x': given both in raw_input_contents and in contents: send one");
  const session = http2.connect(`http://127.0.0.1:${strict.grpcPort}`);
  try {
    const gzip = { 'grpc-encoding': 'gzip' };
    const cut = 'the request ends inside its message: the prefix announces 1000 bytes, 3 came';
    for (const [body, headers, text] of [
      [frame(Buffer.from('abc'), 0, 1000), {}, cut],
      [Buffer.from([0, 0]), {}, "the request ends inside a message's 5-byte prefix (2 bytes came)"],
      // Through grpc-js (a compressed call's).
      [frame(Buffer.from('abc'), 1, 1000), gzip, cut],
    ] as const) {
      const a = await rawCall(session, body, { headers });
      assert.equal(a.status, String(grpc.status.INVALID_ARGUMENT), a.message);
      assert.equal(a.message, text);
    }
  } finally {
    session.close();
  }
});

test('shutdown: a ModelInfer whose message is still arriving when close() starts is answered, not refused', async () => {
  const s = createRtinferServer(
    validateConfig({ port: 0, grpcPort: 0, models: [{ path: OCR_CLS, instances: 1, threads: 1 }] }),
  );
  await s.listen();
  await s.ready();
  const message = frame(
    inferCodec().requestSerialize({
      model_name: CLS,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] }],
      raw_input_contents: [Buffer.from(pixels().buffer)],
    }),
  );
  const session = http2.connect(`http://127.0.0.1:${s.grpcPort}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': INFER_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (head = { ...head, ...t }));
    stream.on('data', () => undefined);
    const ended = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.write(message.subarray(0, 1000));
    await new Promise((r) => setTimeout(r, 100));
    const closed = s.close();
    await new Promise((r) => setTimeout(r, 100));
    stream.end(message.subarray(1000));
    await ended;
    await closed;
    assert.equal(String(head['grpc-status']), '0', decodeURIComponent(String(head['grpc-message'] ?? '')));
  } finally {
    session.destroy();
    await s.close();
  }
});
