/**
 * `rtinfer tune --variants auto`: the tuner makes int8 (calibrated on the user's images), fp16 and
 * fixed-shape variants of the model itself, checks each one's accuracy against the original and
 * searches them with it. Real models, real onnxruntime.
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, it, type TestContext } from 'node:test';
import { tuneCommand } from '../../src/cli/tune.js';
import { isRtinferError } from '../../src/errors.js';
import { encodeNpy } from '../../src/runtime/npy.js';
import { loadConfigFile } from '../../src/server/config.js';
import { AUTO_VARIANT_KINDS, parseVariantsOption } from '../../src/tune/auto-variants.js';
import { renderTuneText } from '../../src/tune/tune-text.js';
import { runTune, type TuneReport } from '../../src/tune/tune.js';
import { withPage } from '../helpers/browser.js';
import { OCR_CLS, SILERO, sharedModel } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-tune-auto-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CALIB = fileURLToPath(new URL('../../../shared/images/calib/', import.meta.url));
const CLS_SHAPE = 'x=1x3x48x192';

/** The first `n` of ../shared/images/calib copied into a folder of their own, or undefined after a visible skip. */
function calibFolder(t: TestContext, name: string, n: number): string | undefined {
  if (!existsSync(CALIB)) {
    t.skip('../shared/images/calib not found: test skipped');
    return undefined;
  }
  const out = path.join(dir, name);
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(CALIB)
    .filter((x) => x.endsWith('.jpg'))
    .sort()
    .slice(0, n))
    copyFileSync(path.join(CALIB, f), path.join(out, f));
  return out;
}

async function tune(...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      stdout += String(chunk);
      done();
    },
  });
  const code = await tuneCommand([...args, '--no-store'], { stdout: sink });
  return { code, stdout };
}

async function refused(args: string[], code: string, message: RegExp): Promise<void> {
  await assert.rejects(tune(...args), (e: unknown) => {
    assert.ok(isRtinferError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    assert.equal(e.kind, 'usage', 'a usage error: exit code 2');
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

/** Every made variant has its accuracy; the chosen configuration is one of the candidates measured; a variant over the bound is dropped with the reason. */
function checkConsistent(r: TuneReport, bound: number | null): void {
  const auto = r.autoVariants;
  assert.ok(auto);
  for (const m of auto.made) {
    assert.ok(existsSync(m.model), `${m.kind} written at ${m.model}`);
    assert.equal(path.dirname(m.model), auto.dir);
    assert.ok((m.accuracy ?? []).length > 0, `${m.kind} has its accuracy`);
    for (const a of m.accuracy ?? []) {
      assert.ok(a.score !== null && a.drop !== null, `${a.variant}: ${a.note ?? ''}`);
      if (bound !== null && a.drop > bound + 1e-12) {
        assert.ok(
          m.status?.dropped.some((d) => /accuracy drop .* > /.test(d)),
          `${a.variant} (drop ${a.drop}) dropped with the reason`,
        );
        assert.ok(r.search.pruned.variants.some((p) => p.variant === a.variant && /^accuracy drop/.test(p.reason)));
        assert.notEqual(r.chosen?.variant.id, a.variant);
      }
    }
  }
  assert.ok(r.chosen, r.verdict.text);
  assert.ok(
    r.candidates.some((c) => c.key === r.chosen?.key),
    'the chosen configuration is one of the candidates',
  );
  assert.ok(r.space.variants.some((v) => v.id === r.chosen?.variant.id && v.model === r.chosen.variant.model));
  assert.equal(r.chosen.config.path, r.chosen.variant.model, "the config points at the chosen variant's file");
}

describe('tune --variants: arguments', () => {
  it('parses auto and lists of kinds', () => {
    assert.deepEqual(parseVariantsOption('auto'), [...AUTO_VARIANT_KINDS]);
    assert.deepEqual(parseVariantsOption('fp16, fixed,fp16'), ['fp16', 'fixed']);
  });

  it('BAD CALL - unknown --variants, --calibrate without --variants or without int8, --variants with --target, an empty folder, a glob matching nothing', async () => {
    const base = [OCR_CLS, '--slo', 'p99<=50ms', '--budget', '10s'];
    const empty = path.join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    await refused(
      [...base, '--variants', 'fast'],
      'RTI_ERR_ARG_INVALID',
      /^invalid --variants 'fast' \(expected auto, or a list of int8, fp16, fixed\)$/,
    );
    await refused([...base, '--variants', 'int8,int4'], 'RTI_ERR_ARG_INVALID', /^invalid --variants 'int8,int4'/);
    await refused([...base, '--variants', ''], 'RTI_ERR_ARG_INVALID', /^invalid --variants ''/);
    await refused(
      [...base, '--calibrate', empty],
      'RTI_ERR_ARG_INVALID',
      /^--calibrate only applies with --variants auto/,
    );
    await refused(
      [...base, '--variants-dir', empty],
      'RTI_ERR_ARG_INVALID',
      /^--variants-dir only applies with --variants auto/,
    );
    await refused(
      [...base, '--variants', 'auto', '--calibration-method', 'best'],
      'RTI_ERR_ARG_INVALID',
      /^invalid --calibration-method 'best' \(expected one of minmax, percentile, entropy, mse\)$/,
    );
    await refused(
      ['--target', 'http://127.0.0.1:9/v2/models/m', '--slo', 'p99<=50ms', '--variants', 'auto'],
      'RTI_ERR_ARG_INVALID',
      /^--variants cannot be used with --target/,
    );
    await refused(
      [...base, '--variants', 'fp16', '--calibrate', empty],
      'RTI_ERR_ARG_INVALID',
      /^--calibrate is only used for the int8 variant/,
    );
    await refused(
      [...base, '--variants', 'auto', '--calibrate', empty],
      'RTI_ERR_ACCURACY_NO_IMAGES',
      /^no calibration files \(images or \.npy\) in folder .*empty$/,
    );
    await refused(
      [...base, '--variants', 'auto', '--calibrate', path.join(empty, '*.jpg')],
      'RTI_ERR_ACCURACY_NO_IMAGES',
      /^no calibration file matches .*\*\.jpg$/,
    );
    await refused(
      [...base, '--variants', 'auto', '--calibrate', path.join(dir, 'nowhere')],
      'RTI_ERR_IMAGE_NOT_FOUND',
      /^calibration data not found: .*nowhere$/,
    );
  });

  it('BAD CALL - calibration data that does not fit: an undecodable image, tensors of another shape, images for a model that is not a vision model', async (t) => {
    const base = ['--slo', 'p99<=50ms', '--budget', '10s', '--variants', 'auto'];
    const temps = (): number => readdirSync(os.tmpdir()).filter((f) => f.startsWith('rtinfer-tune-variants-')).length;
    const before = temps();
    const bad = path.join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(path.join(bad, 'a.jpg'), 'not an image');
    await refused([OCR_CLS, ...base, '--calibrate', bad], 'RTI_ERR_IMAGE_UNSUPPORTED', /a\.jpg: not an image/);
    const npy = path.join(dir, 'wrong.npy');
    writeFileSync(npy, encodeNpy('float32', [1, 1, 48, 192], new Float32Array(48 * 192)));
    await refused(
      [OCR_CLS, ...base, '--calibrate', npy],
      'RTI_ERR_INPUT_DATA',
      /^calibration data wrong\.npy is float32 \[1,1,48,192\] but input 'x' of .*ch_ppocr_mobile_v2\.0_cls_infer\.onnx is float32/,
    );
    // A second image that does not decode fails the int8 calibration itself: its temporary folder goes too.
    const late = path.join(dir, 'late');
    mkdirSync(late, { recursive: true });
    writeFileSync(
      path.join(late, 'a.png'),
      await sharp({ create: { width: 192, height: 48, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    writeFileSync(path.join(late, 'b.png'), 'not an image either');
    await refused(
      [OCR_CLS, ...base, '--calibrate', late, '--shape', CLS_SHAPE],
      'RTI_ERR_IMAGE_UNSUPPORTED',
      /b\.png: not an image/,
    );
    assert.equal(temps(), before, 'a failed run leaves no variants folder behind');
    const image = sharedModel(t, 'coco139.jpg');
    if (!image) return;
    await refused(
      [SILERO, ...base, '--calibrate', image],
      'RTI_ERR_INPUT_DATA',
      /^calibration images do not fit .*silero_vad\.onnx: it is not a vision model/,
    );
  });
});

describe('tune --variants auto on the PP-OCR classifier', () => {
  it('without calibration data: int8 skipped with the reason, fp16 and fixed shapes made, fp16 dropped by a tight accuracy bound with the reason', async () => {
    const variantsDir = path.join(dir, 'no-calib');
    const phases: string[] = [];
    const r = await runTune({
      models: [OCR_CLS],
      slo: 'p99<=200ms',
      scenario: 'single-stream',
      budgetMs: 10_000,
      shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
      maxAccuracyDrop: 0.00001,
      axes: { threads: [1], graphOptimizationLevel: ['all'], executionMode: ['sequential'] },
      autoVariants: { dir: variantsDir },
      onPhase: (p) => phases.push(p),
    });
    const auto = r.autoVariants;
    assert.ok(auto);
    assert.equal(auto.dir, variantsDir);
    assert.equal(auto.budget, 'counted in --budget');
    assert.ok(auto.elapsedMs > 0 && auto.elapsedMs <= r.elapsedMs);
    assert.deepEqual(
      auto.made.map((m) => m.kind),
      ['fp16', 'fixed'],
    );
    assert.deepEqual(
      auto.skipped.map((s) => s.kind),
      ['int8'],
    );
    assert.match(auto.skipped[0]?.reason ?? '', /^no calibration data: .*--calibrate/);
    assert.ok(
      phases.some((p) => /int8 skipped: no calibration data/.test(p)),
      'the skip is said as it happens',
    );
    assert.match(auto.accuracyOn, /synthetic inputs \(tensor error\)/);
    assert.deepEqual(
      auto.made.find((m) => m.kind === 'fixed')?.shapes,
      [{ name: 'x', dims: [1, 3, 48, 192] }],
      'fixed at the traffic shape',
    );
    assert.deepEqual(
      r.space.variants.map((v) => v.id),
      ['ch_ppocr_mobile_v2.0_cls_infer', 'ch_ppocr_mobile_v2.0_cls_infer.fp16', 'ch_ppocr_mobile_v2.0_cls_infer.fixed'],
    );
    // The original is the reference, whatever the file sizes.
    assert.equal(r.accuracy?.reference, OCR_CLS);
    const fp16 = auto.made.find((m) => m.kind === 'fp16');
    assert.equal(fp16?.accuracy?.[0]?.metric, 'tensor-error');
    assert.ok((fp16?.accuracy?.[0]?.drop ?? 0) > 0.00001, 'float16 is not bit-exact');
    assert.match(fp16?.status?.dropped.join() ?? '', /^accuracy drop \d+\.\d+ % > 0\.00 %$/);
    assert.ok(!r.candidates.some((c) => c.candidate.variant.endsWith('.fp16')), 'a dropped variant is not measured');
    checkConsistent(r, 0.00001);
    const text = renderTuneText(r);
    assert.match(text, /variants {2}made from .* \(counted in --budget\); accuracy on seeded synthetic inputs/);
    assert.match(text, /fp16 .* DROPPED: accuracy drop/);
    assert.match(text, /int8 {2}skipped: no calibration data/);
    assert.match(text, /\n {2}model {5}\S+\.onnx \((as given|the fixed variant made by --variants auto)\)/);
  });

  it('with calibration images (CLI): int8 calibrated on two thirds, every variant checked on the held-out third, the serve config points at the chosen file', async (t) => {
    const calib = calibFolder(t, 'calib-cls', 6);
    if (!calib) return;
    const out = path.join(dir, 'cls-serve.yaml');
    const html = path.join(dir, 'cls-tune.html');
    const { code, stdout } = await tune(
      OCR_CLS,
      '--variants',
      'auto',
      '--calibrate',
      calib,
      '--calibration-method',
      'minmax',
      '--shape',
      CLS_SHAPE,
      '--scenario',
      'single-stream',
      '--slo',
      'p99<=200ms',
      '--max-accuracy-drop',
      '50%',
      '--budget',
      '25s',
      '--json',
      '--out',
      out,
      '--html',
      html,
    );
    const r = JSON.parse(stdout) as TuneReport;
    assert.equal(code, r.verdict.met ? 0 : 4);
    const auto = r.autoVariants;
    assert.ok(auto);
    assert.equal(auto.dir, path.join(dir, 'cls-serve.variants'), 'next to --out');
    assert.deepEqual(auto.made.map((m) => m.kind).sort(), ['fixed', 'fp16', 'int8']);
    assert.equal(auto.method, 'minmax');
    assert.deepEqual(auto.calibration, { files: 4, heldOut: 2 });
    assert.match(auto.accuracyOn, /the 2 held-out calibration image\(s\)/);
    for (const m of auto.made) {
      assert.equal(m.accuracy?.[0]?.metric, 'top1-agreement', m.accuracy?.[0]?.note);
      assert.equal(m.accuracy?.[0]?.images, 2, 'accuracy on the held-out images only');
    }
    assert.deepEqual(auto.made.find((m) => m.kind === 'int8')?.transforms, ['int8-minmax']);
    checkConsistent(r, 0.5);
    assert.ok(r.chosen);
    const config = await loadConfigFile(out);
    assert.equal(config.models[0]?.path, r.chosen.variant.model);
    const header = readFileSync(out, 'utf8');
    assert.match(
      header,
      new RegExp(`^# model ${r.chosen.variant.model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`, 'm'),
    );
    // The page lists every variant made, with its accuracy and what became of it.
    await withPage(t, async (s) => {
      await s.page.goto(pathToFileURL(html).href);
      const rows = s.page.locator('#variants tbody tr');
      assert.equal(await rows.count(), auto.made.length + auto.skipped.length);
      for (const [i, m] of auto.made.entries()) {
        const row = (await rows.nth(i).textContent()) ?? '';
        assert.ok(row.includes(m.model), `${m.kind}: ${m.model}`);
        assert.match(row, /top1-agreement/);
        // Its fate as the report says: chosen, dropped with the reason, or searched.
        assert.match(
          row,
          m.status?.chosen ? /chosen/ : m.status?.dropped.length ? /dropped: / : /searched \(\d+ measured\)/,
        );
      }
      assert.deepEqual(s.errors, []);
    });
  });
});

describe('tune --variants auto on yolox_nano', () => {
  it('int8 from a glob of COCO images, fp16; detection agreement per variant, an accuracy bound drops what loses more', async (t) => {
    const model = sharedModel(t, 'yolox_nano.onnx');
    if (!model) return;
    const calib = calibFolder(t, 'calib-yolox', 9);
    if (!calib) return;
    const r = await runTune({
      models: [model],
      slo: 'p99<=2s',
      scenario: 'single-stream',
      budgetMs: 40_000,
      maxAccuracyDrop: 0.1,
      axes: { threads: [2], graphOptimizationLevel: ['all'], executionMode: ['sequential'] },
      autoVariants: { calibrate: [path.join(calib, '*.jpg')], dir: path.join(dir, 'yolox-variants') },
    });
    const auto = r.autoVariants;
    assert.ok(auto);
    assert.deepEqual(auto.calibration, { files: 6, heldOut: 3 });
    assert.ok(auto.made.some((m) => m.kind === 'int8') && auto.made.some((m) => m.kind === 'fp16'));
    // yolox_nano's input is 1x3x416x416 already: nothing to fix.
    assert.match(auto.skipped.find((s) => s.kind === 'fixed')?.reason ?? '', /no symbolic dimension/);
    for (const m of auto.made) assert.equal(m.accuracy?.[0]?.metric, 'map50-agreement', m.accuracy?.[0]?.note);
    checkConsistent(r, 0.1);
  });
});
