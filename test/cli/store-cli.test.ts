/**
 * The run store, compare and the exit codes through the built command (npm run build first), on a
 * tiny Identity model so each run takes well under a second.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Writable } from 'node:stream';
import { runsCommand } from '../../src/cli/runs.js';
import { SqliteRunStore } from '../../src/store/sqlite-store.js';
import { LatencyRecorder } from '../../src/stats/latency-recorder.js';
import { identityModel } from '../fixtures/onnx-builder.js';
import { rtinferWith } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-store-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = path.join(dir, 'tiny.onnx');
writeFileSync(MODEL, identityModel([{ name: 'x', dtype: 'float32', shape: [1, 64] }]));
// Long enough to claim p90 and stable enough at any load (the stability limit is raised): a valid run.
const VALID = ['--duration', '0.25s', '--min-queries', '100', '--warmup', '20', '--stability-percentage', '1000'];
let n = 0;
const storeFile = (): string => path.join(dir, `store${++n}`, 'runs.db');
const cli = (store: string, ...args: string[]) => rtinferWith({ env: { RTINFER_STORE: store } }, ...args);
/** `rtinfer runs` in this process (the store's own commands start no onnxruntime: no need for a child). */
async function runs(store: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      stdout += String(chunk);
      done();
    },
  });
  const code = await runsCommand([...args, '--store', store], { stdout: sink });
  return { code, stdout };
}

test('bench records the run: report, histogram, model sha256, label, tags and git commit; runs lists, shows, exports and removes it', async () => {
  const store = storeFile();
  const r = await cli(store, 'bench', MODEL, ...VALID, '--label', 'first', '--tag', 'branch=main', '--tag', 'ci=1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\nstored as run 1 in /);
  const list = await runs(store, '--json');
  assert.equal(list.code, 0);
  const rows = JSON.parse(list.stdout);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].label, 'first');
  assert.deepEqual(rows[0].tags, { branch: 'main', ci: '1' });
  assert.equal(rows[0].model.sha256, createHash('sha256').update(readFileSync(MODEL)).digest('hex'));
  assert.match(rows[0].gitCommit, /^[0-9a-f]{40}$/, 'the tests run in the repository: HEAD is recorded');
  assert.equal(rows[0].valid, true);
  const show = await runs(store, 'show', '1', '--json');
  const run = JSON.parse(show.stdout);
  assert.equal(
    JSON.parse((await runs(store, 'show', 'last', '--json')).stdout).id,
    run.id,
    'show takes last, as compare does',
  );
  await assert.rejects(runs(store, 'show', '1', '2'), /runs show takes one run/);
  await assert.rejects(runs(store, 'bogus'), /unknown runs action 'bogus' \(expected list, show, export, rm/);
  for (const day of ['2026-13-45', '2026-02-30'])
    await assert.rejects(runs(store, '--since', day), new RegExp(`invalid --since '${day}'`));
  assert.equal(run.report.schema, 'rtinfer.bench/1');
  assert.equal(LatencyRecorder.decode(run.histogram).count, run.report.throughput.queries);
  const text = await runs(store, '--tag', 'branch=main', '--model', 'tiny');
  assert.equal(JSON.parse((await runs(store, '--tag', 'branch=dev', '--json')).stdout).length, 0);
  assert.match(text.stdout, /tiny\.onnx.*valid\s+first\s+branch=main ci=1/);
  const csv = await runs(store, 'export', '--format', 'csv');
  assert.equal(
    csv.stdout.split('\n')[0],
    'id,started_at,kind,scenario,model,model_path,model_sha256,setting,label,tags,git_commit,valid,p50_ms,p90_ms,p99_ms,qps,cold_start_ms',
  );
  assert.equal(csv.stdout.trim().split('\n').length, 2);
  const html = path.join(dir, 'history.html');
  const h = await runs(store, '--html', html);
  assert.equal(h.code, 0);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /<script type="application\/json" id="rtinfer-data">\{"kind":"history"/);
  assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(page.replace(/uPlot|github\.com\/leeoniya/g, '')), 'self-contained');
  const rm = await runs(store, 'rm', '1');
  assert.equal(rm.code, 0);
  assert.equal((await runs(store, 'rm', '1')).code, 1, 'removing a run that is not there fails');
});

test('--no-store creates no store; --store PATH wins over RTINFER_STORE', async () => {
  const store = storeFile();
  const r = await cli(
    store,
    'bench',
    MODEL,
    '--duration',
    '0.1s',
    '--min-queries',
    '5',
    '--warmup',
    '1',
    '--no-store',
    '--json',
  );
  assert.ok(r.code === 0 || r.code === 3, r.stderr);
  assert.equal(existsSync(store), false);
  assert.equal(existsSync(path.dirname(store)), false);
  const other = path.join(dir, 'explicit.db');
  const s = await cli(
    store,
    'bench',
    MODEL,
    '--duration',
    '0.1s',
    '--min-queries',
    '5',
    '--warmup',
    '1',
    '--store',
    other,
    '--json',
  );
  assert.ok(s.code === 0 || s.code === 3, s.stderr);
  assert.equal(s.stderr, '', '--json keeps stderr clean');
  assert.ok(existsSync(other));
  assert.equal(existsSync(store), false);
  assert.equal((await cli(store, 'bench', MODEL, '--no-store', '--store', other)).code, 2);
});

test('EXPECTED FAILURE - a corrupt store fails in one line before measuring and is not touched; an unwritable one too', async () => {
  const store = storeFile();
  const bad = path.join(path.dirname(store));
  rmSync(bad, { recursive: true, force: true });
  writeFileSync(path.join(dir, 'not-a-dir'), 'x');
  const corrupt = path.join(dir, 'corrupt.db');
  const bytes = Buffer.from('garbage '.repeat(1000));
  writeFileSync(corrupt, bytes);
  const r = await cli(corrupt, 'bench', MODEL, '--duration', '5s');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^rtinfer bench: run store .*corrupt\.db is not a valid rtinfer database .*\n$/);
  assert.equal(r.stdout, '', 'no measurement was made');
  assert.deepEqual(readFileSync(corrupt), bytes);
  const u = await cli(path.join(dir, 'not-a-dir', 'runs.db'), 'bench', MODEL, '--duration', '5s');
  assert.equal(u.code, 1);
  assert.match(u.stderr, /^rtinfer bench: cannot create the folder of the run store .*--no-store\n$/);
});

test('exit codes: 3 for an INVALID run, 4 for a latency bound not met, 5 for a regression against --baseline', async () => {
  const store = storeFile();
  // 10 queries cannot claim p90 (44 are needed): INVALID.
  const invalid = await cli(
    store,
    'bench',
    MODEL,
    '--min-queries',
    '10',
    '--max-queries',
    '10',
    '--warmup',
    '1',
    '--json',
  );
  assert.equal(invalid.code, 3, invalid.stderr);
  assert.equal(JSON.parse(invalid.stdout).validity.valid, false);
  // Every answer takes more than 1 µs: the bound fails on a valid run.
  const bound = await cli(
    store,
    'bench',
    MODEL,
    '--scenario',
    'server',
    '--qps',
    '1000',
    '--latency-bound',
    '0.001',
    '--duration',
    '0.6s',
    '--min-queries',
    '500',
    '--warmup',
    '20',
    '--stability-percentage',
    '1000',
    '--json',
  );
  const report = JSON.parse(bound.stdout);
  assert.equal(report.server.pass, false);
  assert.equal(bound.code, report.validity.valid ? 4 : 3, bound.stderr);
  // A baseline 10x faster than anything this model can do: a regression, exit 5.
  const s = new SqliteRunStore(store);
  const fast = new LatencyRecorder();
  for (let i = 0; i < 2000; i++) fast.record(1);
  const base = JSON.parse(invalid.stdout);
  base.throughput.qps = 1e6;
  const id = await s.add({
    kind: 'bench',
    scenario: 'single-stream',
    model: { label: 'tiny.onnx', path: MODEL, sha256: null },
    setting: { key: 'x', text: 'x' },
    label: 'fast',
    tags: {},
    gitCommit: null,
    startedAt: new Date().toISOString(),
    valid: true,
    figures: { p50Ms: 0.001, p90Ms: 0.001, p99Ms: 0.001, qps: 1e6, coldStartMs: 1 },
    report: base,
    settings: {},
    env: {},
    histogram: fast.encode(),
  });
  await s.close();
  const reg = await cli(store, 'bench', MODEL, ...VALID, '--baseline', String(id), '--threshold', '5%');
  assert.equal(reg.code, 5, reg.stderr + reg.stdout.slice(-2000));
  assert.match(reg.stdout, /compared with baseline \d+:[\s\S]*REGRESSION beyond 5\.0%/);
  // Against itself (the run just stored, as 'last' of this model and setting) there is no regression at 500 %.
  const same = await cli(store, 'bench', MODEL, ...VALID, '--baseline', 'last', '--threshold', '500%');
  assert.equal(same.code, 0, same.stderr + same.stdout.slice(-1500));
  assert.match(same.stdout, /compared with baseline \d+:/);
  const missing = await cli(store, 'bench', MODEL, ...VALID, '--baseline', '999');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no stored run '999'/);
  assert.equal((await cli(store, 'bench', MODEL, '--threshold', '5%')).code, 2, '--threshold without --baseline');
});

test('compare: two stored runs, two report files (exit 5 on a regression, rtinfer.compare/1 JSON, --html), and --run in blocks', async () => {
  const store = storeFile();
  const a = await cli(store, 'bench', MODEL, ...VALID, '--label', 'a', '--json');
  assert.equal(a.code, 0, a.stderr);
  const fileA = path.join(dir, 'a.json');
  writeFileSync(fileA, a.stdout);
  // B: the same report with every latency 1.5x: a regression by construction.
  const slow = JSON.parse(a.stdout);
  const rec = LatencyRecorder.decode(slow.latencyHistogram);
  const scaled = new LatencyRecorder();
  for (const v of rec.values()) scaled.record(v * 1.5 + 20);
  slow.latencyHistogram = scaled.encode();
  slow.throughput.qps /= 1.5;
  const fileB = path.join(dir, 'b.json');
  writeFileSync(fileB, JSON.stringify(slow));
  const html = path.join(dir, 'compare.html');
  const c = await cli(store, 'compare', fileA, fileB, '--json', '--html', html);
  assert.equal(c.code, 5, c.stderr);
  const j = JSON.parse(c.stdout);
  assert.equal(j.schema, 'rtinfer.compare/1');
  assert.deepEqual(
    j.metrics.map((m: { metric: string }) => m.metric),
    ['p50', 'p90', 'p99', 'throughput', 'coldStart'],
  );
  assert.equal(j.regression, true);
  assert.ok(j.metrics[0].ratio > 1.4 && j.metrics[0].significant === true);
  assert.match(readFileSync(html, 'utf8'), /"kind":"compare"/);
  const b = await cli(store, 'bench', MODEL, ...VALID, '--label', 'b', '--json');
  assert.equal(b.code, 0, b.stderr);
  // Two real runs: what is checked here is that stored runs resolve and compare; whether b reads as a
  // regression is the machine's business (one CI run under load read a p99 over 6x: exit 5).
  const stored = await cli(store, 'compare', 'label:a', 'last', '--threshold', '500%');
  assert.ok(stored.code === 0 || stored.code === 5, `exit ${stored.code}: ${stored.stderr}`);
  assert.match(stored.stdout, /^A: run 1 · /);
  assert.match(stored.stdout, /\nB: run 2 · /);
  assert.equal((await cli(store, 'compare', 'label:nope', 'last')).code, 2);
  const missingFile = await cli(store, 'compare', fileA, path.join(dir, 'missing.json'));
  assert.equal(missingFile.code, 2);
  assert.match(missingFile.stderr, /cannot read report .*missing\.json: ENOENT/);
  const run = await cli(
    store,
    'compare',
    '--run',
    MODEL,
    MODEL,
    '--duration',
    '0.6s',
    '--blocks',
    '4',
    '--warmup',
    '0.1s',
    '--threshold',
    '500%',
    '--json',
  );
  assert.equal(run.code, 0, run.stderr);
  const rj = JSON.parse(run.stdout);
  assert.equal(rj.interleaved.blocks, 4);
  assert.equal(rj.a.blocks, 4);
  assert.equal(rj.metrics[0].test, 'mann-whitney-blocks');
  assert.equal(
    (await cli(store, 'compare', '--run', MODEL, MODEL, '--blocks', '2')).code,
    2,
    'the test needs >= 3 blocks',
  );
});

test('BAD CALL - compare refuses runs of different models with different inputs; --force compares them without a regression', async () => {
  const store = storeFile();
  const other = path.join(dir, 'wide.onnx');
  writeFileSync(other, identityModel([{ name: 'y', dtype: 'float32', shape: [1, 4096] }]));
  const files: string[] = [];
  for (const [i, model] of [MODEL, other].entries()) {
    const r = await cli(store, 'bench', model, ...VALID, '--json', '--no-store');
    assert.equal(r.code, 0, r.stderr);
    files.push(path.join(dir, `work${i}.json`));
    writeFileSync(files[i]!, r.stdout);
  }
  const refused = await cli(store, 'compare', files[0]!, files[1]!);
  assert.equal(refused.code, 2, refused.stderr);
  assert.equal(refused.stdout, '');
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(
    refused.stderr,
    /^rtinfer compare: A and B are runs of different models with different inputs: .*tiny\.onnx \(x=1x64\) and .*wide\.onnx \(y=1x4096\): not a regression of one model \(--force compares them anyway\)/,
  );
  const forced = await cli(store, 'compare', files[0]!, files[1]!, '--force', '--threshold', '0%');
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /verdict: different workloads, no regression verdict/);
  assert.match(forced.stdout, /warning: A and B are runs of different models with different inputs/);
  assert.doesNotMatch(forced.stdout, /REGRESSION/);
});
