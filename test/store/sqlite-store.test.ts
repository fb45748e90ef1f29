import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { RtinferError } from '../../src/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { gitCommit, parseTag, resolveRun, storePath } from '../../src/store/record.js';
import type { NewRun } from '../../src/store/run-store.js';
import { SqliteRunStore } from '../../src/store/sqlite-store.js';
import { ROOT } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(dir, `s${++n}`, 'runs.db');

function run(over: Partial<NewRun> = {}): NewRun {
  return {
    kind: 'bench',
    scenario: 'single-stream',
    model: { label: 'tiny.onnx', path: '/m/tiny.onnx', sha256: 'ab'.repeat(32) },
    setting: { key: 'k1', text: 'single-stream x=1x4' },
    label: null,
    tags: {},
    gitCommit: null,
    startedAt: '2026-11-30T10:00:00.000Z',
    valid: true,
    figures: { p50Ms: 1, p90Ms: 2, p99Ms: 3, qps: 900, coldStartMs: 50 },
    report: { schema: 'rtinfer.bench/1', note: 'x' },
    settings: { session: {} },
    env: { cores: 2 },
    histogram: null,
    ...over,
  };
}

const code = (e: unknown): string => (e instanceof RtinferError ? e.code : String(e));

test('runs go in and come back with their report, tags and label; filters and rm work', async () => {
  const s = new SqliteRunStore(fresh());
  const a = await s.add(run({ label: 'base', tags: { branch: 'main', ci: '1' } }));
  const b = await s.add(
    run({
      model: { label: 'other.onnx', path: '/m/other.onnx', sha256: null },
      startedAt: '2026-12-01T10:00:00.000Z',
      valid: false,
      scenario: 'server',
    }),
  );
  assert.deepEqual([a, b], [1, 2]);
  const got = await s.get(a);
  assert.deepEqual(got?.report, { schema: 'rtinfer.bench/1', note: 'x' });
  assert.deepEqual(got?.tags, { branch: 'main', ci: '1' });
  assert.equal(got?.label, 'base');
  assert.equal(got?.valid, true);
  assert.deepEqual(
    (await s.list()).map((r) => r.id),
    [2, 1],
    'newest first',
  );
  assert.deepEqual(
    (await s.list({ model: 'other' })).map((r) => r.id),
    [2],
  );
  assert.deepEqual(
    (await s.list({ model: 'abab' })).map((r) => r.id),
    [1],
    'sha256 prefix',
  );
  assert.deepEqual(
    (await s.list({ tags: { branch: 'main' } })).map((r) => r.id),
    [1],
  );
  assert.deepEqual(
    (await s.list({ tags: { branch: 'dev' } })).map((r) => r.id),
    [],
  );
  assert.deepEqual(
    (await s.list({ scenario: 'server' })).map((r) => r.id),
    [2],
  );
  assert.deepEqual(
    (await s.list({ since: '2026-12-01T00:00:00.000Z' })).map((r) => r.id),
    [2],
  );
  assert.deepEqual(
    (await s.list({ until: '2026-11-30T23:59:59.999Z' })).map((r) => r.id),
    [1],
  );
  assert.equal((await resolveRun(s, 'label:base')).id, 1);
  assert.equal((await resolveRun(s, 'last')).id, 2);
  assert.equal((await resolveRun(s, 'last', { kind: 'bench', settingKey: 'k1', sha256: 'ab'.repeat(32) })).id, 1);
  await assert.rejects(resolveRun(s, '99'), (e) => code(e) === 'RTI_ERR_RUN_NOT_FOUND');
  await assert.rejects(resolveRun(s, 'yesterday'), (e) => code(e) === 'RTI_ERR_ARG_INVALID');
  assert.equal(await s.remove([1, 42]), 1);
  assert.equal(await s.get(1), undefined);
  await s.close();
});

test('the store is in WAL mode at the current schema version', async () => {
  const file = fresh();
  await new SqliteRunStore(file).close();
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.close();
});

test('a store at schema version 1, made by hand, is migrated and keeps its runs', async () => {
  const file = fresh();
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.exec(MIGRATIONS[0]!);
  db.pragma('user_version = 1');
  db.prepare(
    `INSERT INTO runs (created_at, rtinfer, kind, scenario, model_label, setting_key, setting_text, started_at, valid, p50_ms, report, settings, env)
     VALUES ('2026-01-01T00:00:00Z', '0.0.9', 'bench', 'single-stream', 'old.onnx', 'k', 'old', '2026-01-01T00:00:00Z', 1, 4.5, '{"schema":"rtinfer.bench/1"}', '{}', '{}')`,
  ).run();
  db.close();
  const s = new SqliteRunStore(file);
  const old = await s.get(1);
  assert.equal(old?.model.label, 'old.onnx');
  assert.equal(old?.figures.p50Ms, 4.5);
  assert.equal(old?.gitCommit, null);
  assert.deepEqual(old?.tags, {});
  const id = await s.add(run({ tags: { k: 'v' }, gitCommit: 'c'.repeat(40) }));
  assert.equal((await s.get(id))?.gitCommit, 'c'.repeat(40));
  await s.close();
  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  check.close();
});

test('EXPECTED FAILURE - a store from a newer rtinfer is refused in one line and left as it is', () => {
  const file = fresh();
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.exec('CREATE TABLE future (x)');
  db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  db.close();
  const before = readFileSync(file);
  assert.throws(
    () => new SqliteRunStore(file),
    (e: unknown) =>
      code(e) === 'RTI_ERR_STORE_VERSION' && !(e as Error).message.includes('\n') && /newer/.test((e as Error).message),
  );
  assert.deepEqual(readFileSync(file), before);
});

test('EXPECTED FAILURE - a file that is not a database is refused in one line and never overwritten', () => {
  for (const content of [
    Buffer.from('this is not sqlite, just a text file that happens to be named runs.db\n'.repeat(100)),
    Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080, 0xab)]),
  ]) {
    const file = fresh();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    assert.throws(
      () => new SqliteRunStore(file),
      (e: unknown) => code(e) === 'RTI_ERR_STORE_CORRUPT' && !(e as Error).message.includes('\n'),
    );
    assert.deepEqual(readFileSync(file), content);
    assert.equal(existsSync(`${file}-wal`), false);
  }
});

test('EXPECTED FAILURE - a store that cannot be created says so (read-only folder, a file in the way)', async (t) => {
  const blocker = path.join(dir, 'a-file');
  writeFileSync(blocker, 'x');
  assert.throws(
    () => new SqliteRunStore(path.join(blocker, 'runs.db')),
    (e: unknown) => code(e) === 'RTI_ERR_STORE_UNWRITABLE',
  );
  if (process.getuid?.() === 0) {
    t.diagnostic('running as root: folder permissions do not apply, the read-only folder case is not tested');
    return;
  }
  const ro = path.join(dir, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o555);
  try {
    assert.throws(
      () => new SqliteRunStore(path.join(ro, '.rtinfer', 'runs.db')),
      (e: unknown) => code(e) === 'RTI_ERR_STORE_UNWRITABLE',
    );
  } finally {
    chmodSync(ro, 0o755);
  }
});

test('two processes writing at once both land, every run', async () => {
  const file = fresh();
  await new SqliteRunStore(file).close();
  const script = `
    import { SqliteRunStore } from ${JSON.stringify(path.join(ROOT, 'src/store/sqlite-store.ts'))};
    const s = new SqliteRunStore(process.argv[1]);
    for (let i = 0; i < 40; i++) await s.add({ kind: 'bench', scenario: 'single-stream', model: { label: 'p' + process.argv[2], path: null, sha256: null }, setting: { key: 'k', text: 't' }, label: null, tags: { writer: process.argv[2], i: String(i) }, gitCommit: null, startedAt: new Date().toISOString(), valid: true, figures: { p50Ms: 1, p90Ms: 1, p99Ms: 1, qps: 1, coldStartMs: 1 }, report: { big: 'x'.repeat(20000) }, settings: {}, env: {}, histogram: null });
    await s.close();
  `;
  const exec = promisify(execFile);
  const spawnWriter = (w: string) =>
    exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file, w], {
      cwd: ROOT,
      timeout: 60_000,
    });
  await Promise.all([spawnWriter('1'), spawnWriter('2')]);
  const s = new SqliteRunStore(file);
  const rows = await s.list({ limit: 1000 });
  assert.equal(rows.length, 80);
  assert.equal(rows.filter((r) => r.tags['writer'] === '1').length, 40);
  assert.equal(rows.filter((r) => r.tags['writer'] === '2').length, 40);
  await s.close();
});

test('the store path: --store, then RTINFER_STORE, then .rtinfer/runs.db; --no-store is none', () => {
  assert.equal(storePath({ cwd: '/w', env: {} }), path.join('/w', '.rtinfer', 'runs.db'));
  assert.equal(storePath({ cwd: '/w', env: { RTINFER_STORE: 'x.db' } }), '/w/x.db');
  assert.equal(storePath({ cwd: '/w', env: { RTINFER_STORE: 'x.db' }, store: '/y.db' }), '/y.db');
  assert.equal(storePath({ noStore: true }), null);
  assert.deepEqual(parseTag('branch=feature/x=1'), ['branch', 'feature/x=1']);
  assert.throws(
    () => parseTag('=v'),
    (e: unknown) => code(e) === 'RTI_ERR_ARG_INVALID',
  );
  assert.match(gitCommit(ROOT) ?? '', /^[0-9a-f]{40}$/);
  assert.equal(gitCommit(os.tmpdir()), null);
});
