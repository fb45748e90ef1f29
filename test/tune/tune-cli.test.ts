import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { tuneCommand } from '../../src/cli/tune.js';
import { isRtinferError } from '../../src/errors.js';
import { loadConfigFile } from '../../src/server/config.js';
import { pathToFileURL } from 'node:url';
import type { TuneReport } from '../../src/tune/tune.js';
import type { TunePageReport } from '../../web/tune/tune-types.js';
import { chartStates, waitForCharts, withPage } from '../helpers/browser.js';
import { OCR_CLS, OCR_DET, sharedModel } from '../helpers/models.js';

// Compile-time: the page's view of the report must accept what the library writes.
const _pageFits = (r: TuneReport): TunePageReport => r;

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-tune-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function tune(...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      stdout += String(chunk);
      done();
    },
  });
  const code = await tuneCommand(args, { stdout: sink });
  return { code, stdout };
}

async function refused(args: string[], code: string, message: RegExp): Promise<void> {
  await assert.rejects(
    tune(...args),
    (e: unknown) => isRtinferError(e) && e.code === code && message.test(e.message) && !e.message.includes('\n'),
  );
}

describe('rtinfer tune: bad calls', () => {
  it('BAD CALL - no --slo, a malformed one, a bad budget, a bad --out, no model', async () => {
    await refused([OCR_CLS], 'RTI_ERR_ARG_MISSING', /^--slo is required: expected like "p99<=50ms"$/);
    await refused(
      [OCR_CLS, '--slo', 'p99=50'],
      'RTI_ERR_ARG_INVALID',
      /^--slo: expected like "p99<=50ms", got 'p99=50'$/,
    );
    await refused(
      [OCR_CLS, '--slo', 'p99<=50ms', '--budget', 'soon'],
      'RTI_ERR_ARG_INVALID',
      /^--budget: expected a duration/,
    );
    await refused(
      [OCR_CLS, '--slo', 'p99<=50ms', '--max-accuracy-drop', 'lots'],
      'RTI_ERR_ARG_INVALID',
      /^--max-accuracy-drop: expected/,
    );
    await refused(
      [OCR_CLS, '--slo', 'p99<=50ms', '--out', 'serve.txt'],
      'RTI_ERR_ARG_INVALID',
      /--out 'serve.txt' \(expected a \.yaml, \.yml or \.json file\)/,
    );
    await refused(
      [OCR_CLS, '--slo', 'p99<=50ms', '--out', '/nonexistent-dir/x.yaml'],
      'RTI_ERR_IO_WRITE',
      /cannot write --out/,
    );
    await refused(
      [OCR_CLS, '--slo', 'p99<=50ms', '--scenario', 'offline'],
      'RTI_ERR_ARG_INVALID',
      /--scenario 'offline'/,
    );
    await refused(['--slo', 'p99<=50ms'], 'RTI_ERR_ARG_MISSING', /needs at least one model/);
    await refused(
      [path.join(dir, 'missing.onnx'), '--slo', 'p99<=50ms', '--budget', '5s'],
      'RTI_ERR_MODEL_NOT_FOUND',
      /missing\.onnx/,
    );
  });
});

describe('rtinfer tune: resolution variants with their accuracy', () => {
  it('single-stream over two resolutions of the PP-OCR detector, accuracy on an image, a JSON config out', async (t) => {
    const image = sharedModel(t, 'coco139.jpg');
    if (!image) return;
    const out = path.join(dir, 'tuned.json');
    const html = path.join(dir, 'tune.html');
    const { stdout } = await tune(
      OCR_DET,
      '--slo',
      'p90<=2s',
      '--scenario',
      'single-stream',
      '--resolutions',
      '320,256',
      '--images',
      image,
      '--budget',
      '14s',
      '--json',
      '--out',
      out,
      '--html',
      html,
    );
    const r = JSON.parse(stdout) as TuneReport;
    assert.deepEqual(
      r.space.variants.map((v) => v.id),
      ['ch_PP-OCRv4_det_infer@320x320', 'ch_PP-OCRv4_det_infer@256x256'],
    );
    assert.ok(r.accuracy);
    assert.equal(r.accuracy.reference, OCR_DET);
    const lower = r.accuracy.variants.find((v) => v.variant.endsWith('@256x256'));
    assert.equal(lower?.metric, 'map50-agreement', lower?.note);
    assert.ok(lower.score !== null && lower.score >= 0 && lower.score <= 1);
    assert.equal(r.accuracy.variants.find((v) => v.variant.endsWith('@320x320'))?.reference, true);
    assert.ok(
      r.candidates.every((c) => c.candidate.instances === 1 && c.candidate.maxBatchSize === 1),
      'single-stream: one instance, no batching',
    );
    assert.ok(r.chosen, r.verdict.text);
    const config = await loadConfigFile(out);
    assert.equal(config.models[0]?.path, OCR_DET);
    assert.deepEqual(config.models[0]?.warmupShapes, { x: [1, 3, ...(r.chosen.variant.resolution ?? [])] });
    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!doctype html>[\s\S]*rtinfer tune[\s\S]*<\/html>\n$/);
    assert.match(
      page,
      /id="rtinfer-data"/,
      'the uPlot page (npm run build makes dist/web/tune.js), not the plain fallback',
    );
    await withPage(t, async (s) => {
      await s.page.goto(pathToFileURL(html).href);
      await waitForCharts(s.page, 1);
      const [chart] = await chartStates(s.page);
      assert.equal(chart?.kind, 'tradeoff');
      assert.ok((chart?.points ?? 0) >= 1 && (chart?.paintedPixels ?? 0) > 0);
      assert.equal(await s.page.locator('#candidates tbody tr').count(), r.candidates.length);
      assert.match((await s.page.locator('#verdict').textContent()) ?? '', /MET/);
      assert.deepEqual(s.errors, []);
      assert.deepEqual(s.blocked, []);
      await s.screenshot('tune-report');
    });
  });
});
