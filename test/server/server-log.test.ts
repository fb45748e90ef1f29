/**
 * The server's log through pino, read back from a real file: JSON access lines for REST and gRPC
 * requests (method, path without the query, model, status, bytes, the server's split), errors in
 * the same stream, nothing when the access log is off; the text format on one line per request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createGrpcTarget } from '../../src/loadgen/grpc-target.js';
import { encodeInferRequest } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createServerLog } from '../../src/server/server-log.js';
import { createRtinferServer } from '../../src/server/server.js';
import { OCR_CLS } from '../helpers/models.js';

const CLS = 'ch_ppocr_mobile_v2.0_cls_infer';
const dir = mkdtempSync(path.join(tmpdir(), 'rtinfer-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Log lines: tests read the fields they assert on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Line = any;

async function waitForLines(file: string, atLeast: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    let lines: string[] = [];
    try {
      lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      // not written yet
    }
    if (lines.length >= atLeast) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${file}: fewer than ${atLeast} lines`);
}

test('JSON access lines for REST and gRPC, errors in the same stream, the query never logged', async () => {
  const file = path.join(dir, 'json.log');
  const log = createServerLog({ format: 'json', access: true, destination: file });
  const server = createRtinferServer(
    validateConfig({
      port: 0,
      grpcPort: 0,
      models: [{ path: OCR_CLS, instances: 1, threads: 1, warmupShapes: { x: [1, 3, 48, 192] } }],
    }),
    { logger: log },
  );
  try {
    const base = await server.listen();
    await server.ready();
    const x = { name: 'x', type: 'float32' as const, dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) };
    const msg = encodeInferRequest([x], { binaryInputs: true, binaryOutputs: true });
    assert.equal(
      (
        await fetch(`${base}/v2/models/${CLS}/infer?token=hidden`, {
          method: 'POST',
          body: msg.body,
          headers: msg.headers,
        })
      ).status,
      200,
    );
    assert.equal((await fetch(`${base}/v2/models/nope`)).status, 404);
    const target = await createGrpcTarget(`grpc://127.0.0.1:${server.grpcPort}/${CLS}`);
    await target.infer({ x }, true);
    target.close();
    log.error(new Error('something broke\nsecond line'));
    await log.flush();
    const lines = (await waitForLines(file, 5)).map((l) => JSON.parse(l) as Line);
    const rest = lines.find((l) => l.msg === 'request' && l.protocol === 'http' && l.endpoint === 'infer');
    assert.ok(rest, JSON.stringify(lines));
    assert.equal(rest.method, 'POST');
    assert.equal(rest.path, `/v2/models/${CLS}/infer`, 'no query string (it may carry a token)');
    assert.equal(rest.model, CLS);
    assert.equal(rest.status, 200);
    assert.ok(rest.bytes > 0);
    assert.ok(rest.timing.inference > 0 && rest.timing.total >= rest.timing.inference);
    assert.equal(rest.level, 'info');
    assert.match(rest.time, /^\d{4}-\d\d-\d\dT/);
    assert.ok(lines.some((l) => l.msg === 'request' && l.path === '/v2/models/nope' && l.status === 404));
    const g = lines.find((l) => l.protocol === 'grpc' && l.path === 'ModelInfer');
    assert.ok(g && g.status === 200 && g.model === CLS && g.timing.inference > 0, JSON.stringify(g));
    const err = lines.find((l) => l.level === 'error');
    assert.equal(err.err.message, 'something broke', 'one line');
    assert.ok(!readFileSync(file, 'utf8').includes('hidden'));
  } finally {
    await server.close();
  }
});

test('no access lines when the access log is off; text lines are one per request', async () => {
  const off = path.join(dir, 'off.log');
  const quiet = createServerLog({ format: 'json', destination: off });
  quiet.access({ protocol: 'http', method: 'GET', path: '/x', endpoint: 'health', status: 200, ms: 1 });
  quiet.info('started');
  await quiet.flush();
  const lines = await waitForLines(off, 1);
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]!).msg, 'started');

  const textFile = path.join(dir, 'text.log');
  const text = createServerLog({ format: 'text', access: true, destination: textFile });
  text.access({
    protocol: 'http',
    method: 'POST',
    path: '/v2/models/m/infer',
    endpoint: 'infer',
    model: 'm',
    status: 503,
    ms: 1.23456,
  });
  await text.flush();
  const [line] = await waitForLines(textFile, 1);
  assert.match(line!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: request POST \/v2\/models\/m\/infer 503 model=m 1\.235ms$/);
});
