/**
 * `rtinfer serve` as a process: SIGTERM with requests in flight (and a dashboard's event stream
 * open) answers them all, then exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { encodeInferRequest } from '../../src/protocol/kserve-v2.js';
import { OCR_DET, ROOT } from '../helpers/models.js';

test('SIGTERM with requests in flight loses none, ends open dashboard streams, then the process exits 0', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'serve', OCR_DET, '--port', '0'], { cwd: ROOT });
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
  const requests = Array.from({ length: 5 }, () => fetch(`${url}/v2/models/${name}/infer`, { method: 'POST', body: m.body, headers: m.headers }).then((r) => r.status));
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
  assert.match(out, /SIGTERM: draining/);
  assert.match(out, /stopped/);
});
