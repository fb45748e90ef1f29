/**
 * A folder (or glob) holding more than images, given to `rtinfer predict` and `bench --images`: the
 * non-images are listed, skipped and counted; a file named like an image that is not one fails its
 * own result line. Real files, the real PP-OCR detector, the real command code.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { predictCommand } from '../../src/cli/predict.js';
import { runBench } from '../../src/loadgen/bench.js';
import { renderBenchText } from '../../src/report/bench-text.js';
import { scanImageArgs } from '../../src/video/source.js';
import { OCR_DET } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-non-images-'));
const mixed = path.join(dir, 'mixed');
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  mkdirSync(path.join(mixed, 'sub'), { recursive: true });
  for (const [i, word] of ['LATENCY', 'BUDGET'].entries()) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="160"><rect width="100%" height="100%" fill="white"/><text x="20" y="90" font-size="48" font-family="sans-serif">${word}</text></svg>`;
    const image = sharp(Buffer.from(svg));
    await (i === 0 ? image.jpeg() : image.png()).toFile(path.join(mixed, i === 0 ? 'a.jpg' : 'b.PNG'));
  }
  writeFileSync(path.join(mixed, 'notes.txt'), 'not an image');
  writeFileSync(path.join(mixed, 'data.csv'), 'a,b\n1,2\n');
  writeFileSync(path.join(mixed, 'clip.gif.part'), 'partial download');
});

/** Runs `rtinfer predict` in this process and returns its exit code and stdout. */
async function predict(...argv: string[]): Promise<{ code: number; stdout: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await predictCommand(argv, { stdout: out });
  return { code, stdout: Buffer.concat(chunks).toString('utf8') };
}

test('a folder is scanned into its images and its non-image entries (files and subfolders), both sorted; a glob likewise', async () => {
  const scan = await scanImageArgs([mixed]);
  assert.deepEqual(
    scan.images.map((p) => path.basename(p)),
    ['a.jpg', 'b.PNG'],
  );
  assert.deepEqual(
    scan.skipped.map((p) => path.basename(p)),
    ['clip.gif.part', 'data.csv', 'notes.txt', 'sub'],
  );
  const glob = await scanImageArgs([path.join(mixed, '*a*')]);
  assert.deepEqual(
    glob.images.map((p) => path.basename(p)),
    ['a.jpg'],
  );
  assert.deepEqual(
    glob.skipped.map((p) => path.basename(p)),
    ['clip.gif.part', 'data.csv'],
  );
  // A plain file argument is taken as given (it fails its own line if it is not an image); a .txt is a list file.
  assert.deepEqual(await scanImageArgs([path.join(mixed, 'data.csv')]), {
    images: [path.join(mixed, 'data.csv')],
    skipped: [],
  });
});

test('predict on a mixed folder lists the skipped non-images, runs the images, and counts both in the summary (text and --json)', async () => {
  const text = await predict(OCR_DET, mixed, '--warmup', '0');
  assert.equal(text.code, 0, text.stdout);
  assert.match(text.stdout, /^4 non-image entries skipped: clip\.gif\.part, data\.csv, notes\.txt, sub$/m);
  assert.match(text.stdout, /a\.jpg \(320x160\): \d+ text box(es)?/);
  assert.match(text.stdout, /b\.PNG \(320x160\): \d+ text box(es)?/);
  assert.match(text.stdout, /^2 images: 2 done, 0 failed, 4 non-image entries skipped$/m);
  assert.doesNotMatch(text.stdout, /notes\.txt: ERROR/);

  const json = await predict(OCR_DET, mixed, '--warmup', '0', '--json');
  const j = JSON.parse(json.stdout) as {
    results: Array<{ image: string }>;
    counts: Record<string, number>;
    skipped: string[];
  };
  assert.deepEqual(
    j.results.map((r) => path.basename(r.image)),
    ['a.jpg', 'b.PNG'],
  );
  assert.deepEqual(j.counts, { images: 2, done: 2, failed: 0, skipped: 4 });
  assert.deepEqual(
    j.skipped,
    ['clip.gif.part', 'data.csv', 'notes.txt', 'sub'].map((n) => path.join(mixed, n)),
  );
});

test('BAD INPUT - a file named like an image that is not one fails its own line (counted as failed, exit 2); a folder with no image at all is an error naming what it skipped', async () => {
  const withBroken = path.join(dir, 'broken');
  mkdirSync(withBroken);
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
    .png()
    .toFile(path.join(withBroken, 'ok.png'));
  writeFileSync(path.join(withBroken, 'fake.jpg'), 'this is text, not a JPEG');
  writeFileSync(path.join(withBroken, 'readme.md'), '# hi');
  const r = await predict(OCR_DET, withBroken, '--warmup', '0');
  // Exit 2, as for any input the user must fix (an unsupported image is a usage error).
  assert.equal(r.code, 2);
  assert.match(r.stdout, /fake\.jpg: ERROR /);
  assert.match(r.stdout, /^2 images: 1 done, 1 failed, 1 non-image entry skipped$/m);

  const none = path.join(dir, 'none');
  mkdirSync(none);
  writeFileSync(path.join(none, 'a.txt'), 'x');
  writeFileSync(path.join(none, 'b.json'), '{}');
  await assert.rejects(
    () => predict(OCR_DET, none),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'RTI_ERR_IMAGE_NOT_FOUND');
      assert.match(
        e.message,
        /none: no \.jpg, \.png or \.webp files in it \(2 non-image entries skipped: a\.txt, b\.json\)/,
      );
      return true;
    },
  );
  await assert.rejects(
    () => runBench({ model: OCR_DET, images: none }),
    /--images .*none: no \.jpg, \.png or \.webp files in it \(2 non-image entries skipped/,
  );
});

test('bench --images on a mixed folder: the images are run, the non-images are in report.pipeline.skipped and listed in the text report', async () => {
  const { report } = await runBench({
    model: OCR_DET,
    images: mixed,
    warmup: { minQueries: 1, minDurationMs: 0 },
    durationMs: 0,
    minQueries: 4,
    maxQueries: 4,
  });
  assert.equal(report.pipeline?.images, 2);
  assert.deepEqual(
    report.pipeline?.skipped,
    ['clip.gif.part', 'data.csv', 'notes.txt', 'sub'].map((n) => path.join(mixed, n)),
  );
  assert.match(
    renderBenchText(report),
    /^skipped {5}4 non-image entries skipped: clip\.gif\.part, data\.csv, notes\.txt, sub$/m,
  );
  // A folder of images only: no `skipped` key, as before.
  const only = path.join(dir, 'only');
  mkdirSync(only);
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
    .jpeg()
    .toFile(path.join(only, 'x.jpg'));
  const plain = await runBench({
    model: OCR_DET,
    images: only,
    warmup: { minQueries: 1, minDurationMs: 0 },
    durationMs: 0,
    minQueries: 2,
    maxQueries: 2,
  });
  assert.equal('skipped' in (plain.report.pipeline ?? {}), false);
});
