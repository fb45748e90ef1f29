/**
 * The built `rtinfer` command end to end: spawn it, parse --json, check exit codes and the one-line
 * messages for each kind of bad input. Needs `npm run build` first (npm test does it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, rtinfer } from '../helpers/cli.js';
import { OCR_CLS, ROOT, SILERO, sharedModel } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FAST = ['--duration', '0.3s', '--min-queries', '20', '--warmup', '3'];

before(() => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
});

test('bench with no model measures the bundled PP-OCRv4 detector and prints the rtinfer.bench/1 JSON', async () => {
  const r = await rtinfer('bench', '--json', '--duration', '0.5s', '--min-queries', '5', '--warmup', '1');
  const j = JSON.parse(r.stdout);
  assert.equal(r.code, j.validity.valid ? 0 : 3, `exit 3 for an INVALID run: ${r.stderr}`);
  assert.equal(j.schema, 'rtinfer.bench/1');
  assert.equal(j.model.default, true);
  assert.match(j.model.label, /PP-OCRv4/);
  assert.deepEqual(j.settings.shapes, { x: [1, 3, 640, 640] });
  const l = j.latencyMs;
  for (const k of ['mean', 'p50', 'p90', 'p95', 'p99', 'p999', 'max']) assert.ok(l[k] > 0, `latencyMs.${k}`);
  assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
  assert.ok(j.coldStart.readMs >= 0 && j.coldStart.sessionCreateMs > 0 && j.coldStart.firstInferenceMs > 0);
  assert.ok(j.throughput.qps > 0 && j.throughput.queries >= 5);
  assert.equal(typeof j.validity.valid, 'boolean');
  assert.ok(Array.isArray(j.validity.reasons));
  assert.equal(j.env.onnxruntime, '1.30.0');
  assert.ok(j.env.cores >= 1 && j.env.node.startsWith('v'));
  assert.equal(r.stderr, '', '--json keeps stderr clean');
});

test('bench on a sub-millisecond model: enough queries make p90 and p99 claimable, CSV has one row per query', async () => {
  const csv = path.join(dir, 'q.csv');
  const r = await rtinfer(
    'bench',
    SILERO,
    '--shape',
    'input=1x512',
    '--input',
    'sr=16000',
    '--duration',
    '1s',
    '--min-queries',
    '600',
    '--warmup',
    '20',
    '--json',
    '--csv',
    csv,
    '--stability-percentage',
    '100',
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.throughput.queries >= 600);
  assert.equal(j.earlyStopping.p90.satisfied, true);
  assert.equal(j.earlyStopping.p99.satisfied, true);
  assert.ok(j.earlyStopping.p99.estimateMs >= j.latencyMs.p99 * 0.99, 'the early-stopping p99 is conservative');
  assert.ok(j.confidence.p99.lowerMs <= j.latencyMs.p99 && j.latencyMs.p99 <= j.confidence.p99.upperMs * 1.001);
  // Stability is checked (3 windows) but its limit is loosened here: tests share 2 cores with each other.
  assert.equal(j.stability.windows.length, 3);
  assert.equal(j.validity.valid, true, j.validity.reasons.join('; '));
  assert.deepEqual(j.settings.input.samples, 8);
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'query,start_ms,latency_us');
  assert.equal(lines.length - 1, j.throughput.queries);
  const us = lines.slice(1).map((l) => Number(l.split(',')[2]));
  const sorted = [...us].sort((a, b) => a - b);
  const p50 = sorted[Math.ceil(0.5 * sorted.length) - 1]! / 1000;
  assert.ok(Math.abs(p50 - j.latencyMs.p50) / j.latencyMs.p50 < 0.01, `csv p50 ${p50} vs report ${j.latencyMs.p50}`);
});

test('a too-short run is reported, marked invalid with its reason, not dropped', async () => {
  const r = await rtinfer(
    'bench',
    OCR_CLS,
    '--shape',
    'x=1x3x48x192',
    '--duration',
    '5s',
    '--min-queries',
    '10',
    '--max-queries',
    '10',
    '--warmup',
    '1',
    '--json',
  );
  assert.equal(r.code, 3, `printed, with exit 3 (INVALID): ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  assert.equal(j.validity.valid, false);
  assert.match(j.validity.reasons.join(' '), /p90 .* need at least 44, ran 10/);
  assert.equal(j.throughput.queries, 10);
  assert.ok(j.latencyMs.p50 > 0);
});

test('the text report shows the table, the verdict and printed default shapes', async () => {
  const r = await rtinfer('bench', OCR_CLS, ...FAST);
  assert.equal(r.code, /validity\s+VALID/.test(r.stdout) ? 0 : 3, r.stderr);
  assert.match(r.stdout, /latency ms\s+mean\s+stddev\s+min\s+p50\s+p90\s+p95\s+p99\s+p99\.9\s+max/);
  assert.match(r.stdout, /cold start\s+read .* session .* first inference/);
  assert.match(r.stdout, /validity\s+(VALID|INVALID)/);
  assert.match(r.stdout, /default shape: input 'x' dim 2 .*= 640/);
});

test('info --json reports IO, opsets, parameters, operators and FLOPs at the chosen shape', async () => {
  const r = await rtinfer('info', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'rtinfer.info/1');
  assert.deepEqual(j.inputs[0].shape, [
    'p2o.DynamicDimension.0',
    3,
    'p2o.DynamicDimension.1',
    'p2o.DynamicDimension.2',
  ]);
  assert.deepEqual(j.shapes, { x: [1, 3, 640, 640] });
  assert.ok(j.parameters.count > 1e6 && j.parameters.bytes > 4e6);
  assert.ok(j.operators.some((o: { opType: string; count: number }) => o.opType === 'Conv' && o.count > 10));
  assert.deepEqual(j.opsetImports, [{ domain: 'ai.onnx', version: 11 }]);
  const small = JSON.parse((await rtinfer('info', '--json', '--shape', 'x=1x3x320x320')).stdout);
  const ratio = j.flops.total / small.flops.total;
  assert.ok(ratio > 3.9 && ratio < 4.1, `FLOPs scale with pixels: 640² / 320² = 4, got ${ratio}`);
  // silero_vad's Conv and LSTM sit inside If subgraphs: not a model of 0 FLOPs.
  const vad = await rtinfer('info', SILERO);
  assert.equal(vad.code, 0, vad.stderr);
  assert.match(vad.stdout, /FLOPs\s+not estimated: the model's work is inside If subgraphs/);
});

test('old exports that list weights as inputs keep the console clean', async (t) => {
  const rfb = sharedModel(t, 'version-RFB-320.onnx');
  if (!rfb) return;
  const r = await rtinfer('bench', rfb, ...FAST);
  assert.equal(r.code, /validity\s+VALID/.test(r.stdout) ? 0 : 3);
  assert.equal(r.stderr, '', 'no onnxruntime warnings about initializers');
  const info = await rtinfer('info', rfb);
  assert.match(info.stdout, /244 weights listed as graph inputs/);
});

test('BAD CALL - each bad input gets one line, exit 2 for usage and 1 for runtime, no stack trace', async () => {
  const notOnnx = path.join(dir, 'notes.onnx');
  writeFileSync(notOnnx, 'these are notes, not a model\n');
  const cases: Array<[string[], number, RegExp]> = [
    [['bench', '/no/such/model.onnx'], 2, /model file not found: \/no\/such\/model\.onnx/],
    [['info', '/no/such/model.onnx'], 2, /model file not found/],
    [['bench', notOnnx], 2, /notes\.onnx is not an ONNX model/],
    [['info', notOnnx], 2, /notes\.onnx is not an ONNX model/],
    [['bench', '--shape', 'x=1x3x640'], 2, /input 'x' 3 dimensions/],
    [['bench', '--shape', 'y=1x3x64x64'], 2, /input 'y', but the model's inputs are: x/],
    [['bench', '--shape', 'x=1x4x64x64'], 2, /fixes it at 3/],
    [['bench', '--bogus'], 2, /unknown option --bogus/],
    [
      ['bench', '--graph-opt', 'max'],
      2,
      /invalid --graph-opt 'max' \(expected one of disabled, basic, extended, all\)/,
    ],
    [['bench', '--duration', 'soon'], 2, /invalid --duration 'soon'/],
    [['bench', '--threads=-2'], 2, /invalid --threads '-2'/],
    [['bench', '--threads', '-2'], 2, /invalid --threads '-2'/],
    [['bench', '--threads='], 2, /invalid --threads ''/],
    [['sweep', OCR_CLS, '--qps', ''], 2, /invalid --qps ''/],
    [['bench', '--duration', '-soon'], 2, /option --duration needs a value/],
    [['bench', '--json=yes'], 2, /option --json takes no value/],
    [['bench', '--duration'], 2, /option --duration needs a value/],
    [['bench', '--ep', 'nosuch'], 2, /execution provider 'nosuch' is not in this onnxruntime-node build/],
    [['bench', 'a.onnx', 'b.onnx'], 2, /unexpected argument 'b\.onnx'/],
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
    [
      ['bench', '--scenario', 'bursty'],
      2,
      /invalid --scenario 'bursty' \(expected one of single-stream, multi-stream, server, offline, concurrency\)/,
    ],
    [['bench', OCR_CLS, '--scenario', 'server'], 2, /the server scenario needs --qps N/],
    [['bench', OCR_CLS, '--scenario', 'server', '--find-peak'], 2, /--find-peak needs --p99 MS/],
    [['bench', OCR_CLS, '--find-peak', '--p99', '20'], 2, /--find-peak needs --scenario server/],
    [['bench', '--target', 'http://127.0.0.1:1/models/x'], 2, /the path must be \/v2\/models\/NAME/],
    [['bench', OCR_CLS, '--target', 'http://127.0.0.1:1/v2/models/x'], 2, /either a model file or --target, not both/],
    [['bench', '--target', 'http://127.0.0.1:9/v2/models/x'], 1, /127\.0\.0\.1:9.*ECONNREFUSED/],
    [['sweep', OCR_CLS, '--concurrency', '1', '--qps', '5'], 2, /not both/],
    [['serve', OCR_CLS, '--shape', '1x3x48x192'], 2, /invalid --shape '1x3x48x192' for serve: name the input/],
    [['serve', OCR_CLS, '--hint', 'fast'], 2, /invalid --hint 'fast' \(expected one of latency, throughput, auto\)/],
    [['serve', OCR_CLS, '--placement', 'gpu'], 2, /invalid --placement 'gpu' \(expected one of worker, main\)/],
    [['serve', OCR_CLS, '--cors', 'app.example'], 2, /config cors: 'app\.example' is not an origin/],
    [['bench', OCR_CLS, '--hint', 'fast'], 2, /invalid --hint 'fast'/],
    [
      ['tune', OCR_CLS, '--slo', 'p99<=50ms', '--hint', 'auto'],
      2,
      /invalid --hint 'auto' \(expected one of latency, throughput\)/,
    ],
    [['sweep', OCR_CLS, '--batch', '0'], 2, /invalid --batch '0'/],
    [
      ['sweep', SILERO, '--batch', '1,2'],
      2,
      /--batch 1,2: .*silero_vad\.onnx cannot batch requests \(an input is a scalar\)/,
    ],
    [
      ['bench', OCR_CLS, '--csv', '/no/such/dir/out.csv'],
      1,
      /cannot write --csv \/no\/such\/dir\/out\.csv: its folder does not exist \(ENOENT\)$/m,
    ],
    [['sweep', OCR_CLS, '--html', '/no/such/dir/sweep.html'], 1, /cannot write --html \/no\/such\/dir\/sweep\.html/],
    [
      ['bench', SILERO, '--shape', 'input=1x1', ...FAST],
      1,
      /first inference failed at input=1x1 state=2x1x128 sr=scalar \(.*\): Pad reflect requires axis length >= 2.*--input NAME=VALUE$/m,
    ],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await rtinfer(...args);
    const label = args.join(' ');
    assert.equal(r.code, code, `${label}: exit ${r.code}, stderr ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('no model given'));
    assert.equal(lines.length, 1, `${label}: one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, pattern, label);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${label}: no stack trace`);
  }
});

test('--verbose adds the error code and stack; --help and --version answer', async () => {
  const r = await rtinfer('bench', '/no/such/model.onnx', '--verbose');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /RTI_ERR_MODEL_NOT_FOUND/);
  assert.match(r.stderr, /\n\s+at /);
  const help = await rtinfer('bench', '--help');
  assert.equal(help.code, 0);
  for (const opt of [
    '--shape',
    '--threads',
    '--inter-threads',
    '--ep',
    '--graph-opt',
    '--warmup',
    '--duration',
    '--min-queries',
    '--seed',
    '--input',
    '--json',
    '--csv',
  ]) {
    assert.ok(help.stdout.includes(opt), `help lists ${opt}`);
  }
  const version = await rtinfer('--version');
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
});

test('Ctrl-C during a run still prints the partial report, marked invalid, and exits 130', async () => {
  const { spawn } = await import('node:child_process');
  const interrupted = async (afterMs: number): Promise<{ code: number | null; stdout: string }> => {
    const child = spawn(process.execPath, [CLI, 'bench', OCR_CLS, '--duration', '60s', '--warmup', '1', '--json'], {
      cwd: ROOT,
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    await new Promise((r) => setTimeout(r, afterMs));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stdout };
  };
  // A signal that arrives while the command is still loading (over 2.5 s on a loaded runner) ends it
  // the default way, before it runs anything: that is a try too early, not the case under test.
  let run = await interrupted(2500);
  for (const wait of [6000, 12_000]) if (run.code === null) run = await interrupted(wait);
  const { code, stdout } = run;
  assert.equal(code, 130);
  const j = JSON.parse(stdout);
  assert.equal(j.validity.valid, false);
  assert.match(j.validity.reasons[0], /^interrupted after \d+ queries$/);
  assert.ok(j.throughput.queries > 0 && j.latencyMs.p50 > 0);
});

test('sweep --json and --html write the grid; bench --scenario concurrency reports the engine split', async () => {
  const html = path.join(dir, 'sweep.html');
  const r = await rtinfer(
    'sweep',
    OCR_CLS,
    '--shape',
    'x=1x3x48x192',
    '--batch',
    '1,4',
    '--concurrency',
    '2',
    '--duration',
    '0.2s',
    '--min-queries',
    '10',
    '--json',
    '--html',
    html,
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'rtinfer.sweep/1');
  assert.equal(j.points.length, 2);
  const page = readFileSync(html, 'utf8');
  assert.equal(
    JSON.parse(/<script type="application\/json" id="rtinfer-data">(.*?)<\/script>/s.exec(page)![1]!).report.points
      .length,
    2,
    'the page embeds the report',
  );
  const b = await rtinfer(
    'bench',
    OCR_CLS,
    '--shape',
    'x=1x3x48x192',
    '--scenario',
    'concurrency',
    '--concurrency',
    '3',
    '--batch',
    '4',
    '--duration',
    '0.3s',
    '--min-queries',
    '20',
    '--warmup',
    '3',
    '--json',
  );
  const jb = JSON.parse(b.stdout);
  assert.equal(b.code, jb.validity.valid ? 0 : 3, b.stderr);
  assert.equal(jb.scenario, 'concurrency');
  assert.equal(jb.engine.batching.maxBatchSize, 4);
  assert.deepEqual(jb.settings.scenario, { concurrency: 3, engine: { batching: { maxBatchSize: 4 } } });
  // No layout given: measured at start-up, as rtinfer serve does, and the report says how it chose.
  assert.equal(jb.engine.layout.hint, 'auto');
  assert.match(jb.engine.layout.reason, /^auto: .* at x=1x3x48x192/);
  // A performance hint lays the engine out when --instances and --threads are not given.
  const h = await rtinfer(
    'bench',
    OCR_CLS,
    '--shape',
    'x=1x3x48x192',
    '--scenario',
    'concurrency',
    '--hint',
    'throughput',
    '--duration',
    '0.3s',
    '--min-queries',
    '20',
    '--warmup',
    '3',
    '--json',
  );
  const jh = JSON.parse(h.stdout);
  assert.equal(h.code, jh.validity.valid ? 0 : 3, h.stderr);
  assert.deepEqual([jh.engine.instances, jh.engine.threadsPerInstance], [os.availableParallelism(), 1]);
  assert.deepEqual(jh.engine.layout, { hint: 'throughput' });
});
