/**
 * The model repository (serve --model-dir) on a real folder of tiny real models: version k of
 * model "add" adds k to its input, so every answer says which version ran. Triton's layout and a
 * flat file, version policies, explicit load/unload over REST, versions side by side, a failed load
 * that leaves the old version serving, an unload that drains, polling that picks up a new version,
 * and names that cannot reach outside the folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { scanRepository, servedVersions } from '../../src/server/repository.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { buildModel, node } from '../fixtures/onnx-builder.js';

const root = mkdtempSync(path.join(tmpdir(), 'rtinfer-repo-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** y = x + k, x float32 [1, 4]. */
function addModel(k: number): Uint8Array {
  const c = new Float32Array([k, k, k, k]);
  return buildModel({
    nodes: [node('Add', ['x', 'k'], ['y'])],
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, 4] }],
    initializers: [{ name: 'k', dims: [4], data_type: 1, raw_data: new Uint8Array(c.buffer) }],
  });
}

function put(dir: string, rel: string, content: Uint8Array | string): void {
  const file = path.join(dir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

function repo(name: string): string {
  const dir = path.join(root, name);
  put(dir, 'add/1/model.onnx', addModel(1));
  put(dir, 'add/2/model.onnx', addModel(2));
  put(dir, 'add/config.yaml', 'instances: 1\nthreads: 1\n');
  put(dir, 'flat.onnx', addModel(10));
  put(dir, 'notes.txt', 'not a model');
  return dir;
}

async function infer(
  base: string,
  model: string,
  version?: string,
): Promise<{ status: number; y?: number; error?: string }> {
  const msg = encodeInferRequest([{ name: 'x', type: 'float32', dims: [1, 4], data: new Float32Array(4) }], {
    binaryInputs: true,
    binaryOutputs: true,
  });
  const r = await fetch(`${base}/v2/models/${model}${version ? `/versions/${version}` : ''}/infer`, {
    method: 'POST',
    body: msg.body,
    headers: msg.headers,
  });
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200) return { status: r.status, error: (JSON.parse(body.toString()) as { error: string }).error };
  return {
    status: 200,
    y: (decodeInferResponse(body, r.headers.get(HEADER_LENGTH) ?? undefined)[0]!.data as Float32Array)[0]!,
  };
}

const post = async (base: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
  const r = await fetch(base + p, { method: 'POST', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: await r.json() };
};

test('scanning: Triton layout, flat files, config files and version policies', async () => {
  const dir = repo('scan');
  put(dir, 'all/3/model.onnx', addModel(3));
  put(dir, 'all/12/model.onnx', addModel(12));
  put(dir, 'all/config.json', JSON.stringify({ versionPolicy: 'all' }));
  put(dir, 'bad/1/model.onnx', addModel(1));
  put(dir, 'bad/config.yaml', 'path: /etc/passwd\n');
  put(dir, 'empty/1/readme', 'no model here');
  const scan = await scanRepository(dir);
  assert.deepEqual([...scan.keys()], ['add', 'all', 'bad', 'flat']);
  assert.deepEqual(servedVersions(scan.get('add')!), ['2'], 'the latest 1 by default');
  assert.deepEqual(servedVersions(scan.get('all')!), ['12', '3']);
  assert.deepEqual(scan.get('add')!.settings, { instances: 1, threads: 1 });
  assert.match(scan.get('bad')!.problem ?? '', /'path' comes from the repository's layout/);
  assert.deepEqual(servedVersions(scan.get('flat')!), ['1']);
  await assert.rejects(scanRepository(path.join(root, 'nope')), /model repository not found/);
});

test('explicit control: load, versions side by side, a failed load keeps the old version, unload drains, index tells it all', async () => {
  const dir = repo('explicit');
  put(dir, 'add/config.yaml', 'instances: 1\nthreads: 1\nversionPolicy: all\n');
  const server: RtinferServer = createRtinferServer(
    validateConfig({ port: 0, modelRepository: { dir, control: 'explicit', load: ['flat'] } }),
  );
  try {
    const base = await server.listen();
    await server.ready();
    assert.equal((await infer(base, 'flat')).y, 10);
    const notLoaded = await infer(base, 'add');
    assert.equal(notLoaded.status, 404);
    assert.match(notLoaded.error ?? '', /not loaded \(POST \/v2\/repository\/models\/add\/load\)/);
    let index = (await post(base, '/v2/repository/index')).json;
    assert.deepEqual(index, [
      { name: 'add', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'flat', version: '1', state: 'READY' },
    ]);

    assert.deepEqual(await post(base, '/v2/repository/models/add/load'), { status: 200, json: {} });
    assert.equal((await infer(base, 'add')).y, 2, 'the latest version by default');
    assert.equal((await infer(base, 'add', '1')).y, 1);
    assert.equal((await infer(base, 'add', '2')).y, 2);
    assert.equal((await infer(base, 'add', '3')).status, 404);
    const meta = (await (await fetch(`${base}/v2/models/add`)).json()) as { versions: string[] };
    assert.deepEqual(meta.versions, ['2', '1']);

    // A broken new version: the load fails with the reason, and both old versions keep serving.
    put(dir, 'add/3/model.onnx', 'not onnx at all');
    const failed = await post(base, '/v2/repository/models/add/load');
    assert.equal(failed.status, 400);
    assert.match((failed.json as { error: string }).error, /cannot load 'add'/);
    assert.equal((await infer(base, 'add')).y, 2);
    assert.equal((await infer(base, 'add', '1')).y, 1);
    index = (await post(base, '/v2/repository/index', { ready: true })).json;
    assert.deepEqual(
      (index as Array<{ name: string; version: string }>).map((e) => `${e.name}/${e.version}`),
      ['add/2', 'add/1', 'flat/1'],
    );

    // Unload while requests come in: each is answered (a result, or 404 once the model is gone;
    // 503 if it reached a draining engine), none is lost.
    const inflight = Array.from({ length: 8 }, () => infer(base, 'add'));
    const unloaded = post(base, '/v2/repository/models/add/unload');
    const answers = await Promise.all(inflight);
    assert.deepEqual(await unloaded, { status: 200, json: {} });
    assert.ok(
      answers.every(
        (a) => a.status === 200 || a.status === 503 || (a.status === 404 && /not loaded/.test(a.error ?? '')),
      ),
      JSON.stringify(answers),
    );
    assert.equal((await infer(base, 'add')).status, 404);
    index = (await post(base, '/v2/repository/index')).json;
    assert.deepEqual((index as Array<{ name: string }>)[0], { name: 'add', state: 'UNAVAILABLE', reason: 'unloaded' });
    assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200, 'the server is ready with what it has');
  } finally {
    await server.close();
  }
});

test('BAD CALL - repository requests: unknown names, paths, bad bodies, and load/unload outside explicit control', async () => {
  const dir = repo('bad-calls');
  const explicit = createRtinferServer(validateConfig({ port: 0, modelRepository: { dir, control: 'explicit' } }));
  const none = createRtinferServer(validateConfig({ port: 0, modelRepository: { dir, control: 'none' } }));
  try {
    const base = await explicit.listen();
    const baseNone = await none.listen();
    await Promise.all([explicit.ready(), none.ready()]);
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['/v2/repository/models/nope/load', undefined, 404, /no model 'nope' in the repository/],
      ['/v2/repository/models/..%2F..%2Fetc/load', undefined, 404, /no model/],
      ['/v2/repository/models/notes.txt/load', undefined, 404, /no model/],
      ['/v2/repository/models/nope/unload', undefined, 404, /no model/],
      ['/v2/repository/index', { ready: 'yes' }, 400, /"ready" must be true or false/],
    ];
    for (const [p, body, status, text] of cases) {
      const r = await post(base, p, body);
      assert.equal(r.status, status, `${p}: ${JSON.stringify(r.json)}`);
      assert.match((r.json as { error: string }).error, text);
    }
    const raw = await fetch(`${base}/v2/repository/index`, { method: 'POST', body: '{not json' });
    assert.equal(raw.status, 400);
    // With control none every model is loaded at start, and load/unload are refused.
    assert.equal((await infer(baseNone, 'add')).y, 2);
    const refused = await post(baseNone, '/v2/repository/models/add/unload');
    assert.equal(refused.status, 400);
    assert.match((refused.json as { error: string }).error, /only with --model-control explicit/);
    assert.equal((await infer(baseNone, 'add')).y, 2);
  } finally {
    await Promise.all([explicit.close(), none.close()]);
  }
});

test('poll control: a new version on disk is served at the next pass; a removed model is unloaded', async () => {
  const dir = repo('poll');
  const server = createRtinferServer(
    validateConfig({ port: 0, modelRepository: { dir, control: 'poll', pollSeconds: 0.2 } }),
  );
  try {
    const base = await server.listen();
    await server.ready();
    assert.equal((await infer(base, 'add')).y, 2);
    put(dir, 'add/5/model.onnx', addModel(5));
    rmSync(path.join(dir, 'flat.onnx'));
    let y: number | undefined;
    let flat = 200;
    for (let i = 0; i < 100 && (y !== 5 || flat !== 404); i++) {
      await new Promise((r) => setTimeout(r, 100));
      y = (await infer(base, 'add')).y;
      flat = (await infer(base, 'flat')).status;
    }
    assert.equal(y, 5, 'the new latest version serves');
    assert.equal(flat, 404, 'the removed model is gone');
    assert.equal((await infer(base, 'add', '2')).status, 404, 'the latest-1 policy retired version 2');
  } finally {
    await server.close();
  }
});
