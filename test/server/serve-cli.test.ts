/**
 * `rtinfer serve` as a process: SIGTERM with requests in flight (and a dashboard's event stream
 * open) answers them all, then exits 0; a stalled client cannot hold the exit past the drain bound;
 * a second signal exits at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { encodeInferRequest } from '../../src/protocol/kserve-v2.js';
import { OCR_CLS, OCR_DET, ROOT } from '../helpers/models.js';
import { rawExchange } from '../helpers/raw-http.js';

async function startServe(...args: string[]) {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist/cli/main.js'), 'serve', OCR_CLS, '--port', '0', '--shape', 'x=1x3x48x192', ...args],
    { cwd: ROOT },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, at: Date.now() })),
  );
  for (let i = 0; i < 600 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  const url = /listening on (http:\/\/[\d.:]+)/.exec(out)?.[1];
  assert.ok(url && out.includes('ready'), out);
  return { child, exited, port: Number(new URL(url).port), output: () => out };
}

const STALLED = `POST /v2/models/ch_ppocr_mobile_v2.0_cls_infer/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 110000\r\n\r\n{"inp`;

test('SIGTERM with a stalled upload: the upload gets a 503 and the process exits within --drain-timeout', async () => {
  const s = await startServe('--drain-timeout', '1s');
  // With no layout given, serve measured one at the shape it was told traffic has. The layout line
  // comes after "ready", maybe in a later read of the pipe.
  for (let i = 0; i < 100 && !/ × \d+ threads? \(/.test(s.output()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(
    s.output(),
    /model ch_ppocr_mobile_v2\.0_cls_infer: \d+ instances? × \d+ threads? \(auto: .* at x=1x3x48x192\): the (latency|throughput) layout\)/,
  );
  const stalled = rawExchange(s.port, STALLED, 15_000);
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  s.child.kill('SIGTERM');
  const answer = await stalled;
  assert.equal(answer.status, 503, answer.raw);
  const { code, at } = await s.exited;
  assert.equal(code, 0);
  assert.ok(at - t0 < 1000 + 3000, `exited ${at - t0} ms after SIGTERM`);
});

test('a second SIGTERM exits at once, whatever the drain bound', async () => {
  const s = await startServe();
  const stalled = rawExchange(s.port, STALLED, 15_000);
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  s.child.kill('SIGTERM');
  const { code, at } = await s.exited;
  assert.equal(code, 143);
  assert.ok(at - t0 < 3000, `exited ${at - t0} ms after the first SIGTERM`);
  assert.match(s.output(), /SIGTERM again: exiting now/);
  await stalled;
});

test('--ignore-request-start: a request stamped 10 s ago with 5 s to go is still served', async () => {
  const s = await startServe('--ignore-request-start');
  try {
    const m = encodeInferRequest(
      [{ name: 'x', type: 'float32', dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) }],
      { parameters: { deadline_ms: 5000 } },
    );
    const r = await fetch(`http://127.0.0.1:${s.port}/v2/models/ch_ppocr_mobile_v2.0_cls_infer/infer`, {
      method: 'POST',
      body: m.body,
      headers: { ...m.headers, 'x-request-start': `t=${Date.now() * 1000 - 10_000_000}` },
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.ok(!(r.headers.get('server-timing') ?? '').includes('before'));
    await r.arrayBuffer();
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

test('SIGTERM with requests in flight loses none, ends open dashboard streams, then the process exits 0', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'serve', OCR_DET, '--port', '0'], {
    cwd: ROOT,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  for (let i = 0; i < 600 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  const url = /listening on (http:\/\/[\d.:]+)/.exec(out)?.[1];
  assert.ok(url && out.includes('ready'), out);
  assert.match(out, new RegExp(`dashboard ${url}/ \\(`), 'serve prints the dashboard URL');
  // An open SSE stream must not hold the shutdown up: the server ends it.
  const live = await fetch(`${url}/api/live`);
  const stream = live.text();
  const t = { name: 'x', type: 'float32' as const, dims: [1, 3, 320, 320], data: new Float32Array(3 * 320 * 320) };
  const m = encodeInferRequest([t]);
  const name = 'ch_PP-OCRv4_det_infer';
  const requests = Array.from({ length: 5 }, () =>
    fetch(`${url}/v2/models/${name}/infer`, { method: 'POST', body: m.body, headers: m.headers }).then((r) => r.status),
  );
  // Signal once all five are inside the server (a request still in the client is not in flight).
  const inside = async (): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return Number(/rtinfer_inflight_requests\{model="[^"]+"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  for (let i = 0; i < 400 && (await inside()) < 5; i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGTERM');
  assert.deepEqual(await Promise.all(requests), [200, 200, 200, 200, 200]);
  assert.equal(await exited, 0);
  assert.match(await stream, /^event: snapshot$/m);
  assert.match(out, /SIGTERM: shutting down within 30000 ms/);
  assert.match(out, /stopped/);
});

test('--log-format json --access-log --grpc-port 0: start-up, access and shutdown as JSON lines on stdout', async () => {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'dist/cli/main.js'),
      'serve',
      OCR_CLS,
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--shape',
      'x=1x3x48x192',
      '--instances',
      '1',
      '--threads',
      '1',
      '--log-format',
      'json',
      '--access-log',
    ],
    { cwd: ROOT },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  for (let i = 0; i < 600 && !lines().some((l) => l['msg'] === 'ready'); i++)
    await new Promise((r) => setTimeout(r, 50));
  const url = lines().find((l) => l['msg'] === 'listening')?.['url'] as string;
  assert.ok(url, out);
  assert.ok(
    lines().some((l) => l['msg'] === 'grpc listening' && /^127\.0\.0\.1:\d+$/.test(String(l['address']))),
    out,
  );
  assert.equal((await fetch(`${url}/v2/health/live`)).status, 200);
  for (let i = 0; i < 40 && !out.includes('/v2/health/live'); i++) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const all = lines();
  assert.ok(
    all.some((l) => l['msg'] === 'request' && l['path'] === '/v2/health/live' && l['status'] === 200),
    out,
  );
  assert.ok(
    all.some((l) => l['msg'] === 'layout' && l['instances'] === 1),
    out,
  );
  assert.equal(all.at(-1)?.['msg'], 'stopped');
});

test('BAD CALL - serve --log-format xml, --grpc-port 70000 and --worker-nice 20 are usage errors', async () => {
  for (const args of [
    ['--log-format', 'xml'],
    ['--grpc-port', '70000'],
    ['--worker-nice', '20'],
  ]) {
    const r = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'serve', OCR_CLS, ...args], { cwd: ROOT });
    let err = '';
    r.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => r.on('exit', resolve));
    assert.equal(code, 2, err);
    assert.match(err, args[0] === '--log-format' ? /log-format.*text.*json/ : new RegExp(args[0]!.slice(2)));
    assert.equal(err.trim().split('\n').length, 1, err);
  }
});
