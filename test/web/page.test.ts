/** The self-contained page around the built web bundles (no browser needed). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { RtinferError } from '../../src/errors.js';
import { readWebAsset, renderPage, webAsset } from '../../src/report/web-assets.js';
import { jsonForScript } from '../../src/util/html.js';
import { formatNumber, formatTick } from '../../web/shared/format.js';
import { OCR_CLS, ROOT } from '../helpers/models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-page-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('renderPage inlines the built script and styles and embeds the data so nothing ends the elements early', () => {
  const data = { label: '</script><script>alert(1)</script><!-- </style> \u2028', n: 1 };
  const html = renderPage({ title: 'a </title> & b', entry: 'report', data });
  assert.ok(html.includes(webAsset('report.css')), 'CSS inlined');
  assert.ok(html.includes(webAsset('report.js').slice(0, 200)), 'JS inlined');
  assert.match(html, /<title>a &lt;\/title&gt; &amp; b<\/title>/);
  // Exactly the three script/style elements the page has, whatever the data says.
  assert.equal((html.match(/<\/script/gi) ?? []).length, 2);
  assert.equal((html.match(/<\/style/gi) ?? []).length, 1);
  assert.equal((html.match(/<!--/g) ?? []).length, 0);
  const json = /<script type="application\/json" id="rtinfer-data">(.*?)<\/script>/s.exec(html)?.[1];
  assert.deepEqual(JSON.parse(json ?? ''), data);
  assert.equal(jsonForScript('<'), '"\\u003c"');
  assert.doesNotMatch(html, /<script src=|<link |https?:\/\//, 'nothing fetched');
});

test('BAD CALL - a missing build is a one-line RtinferError that says to build', () => {
  assert.throws(
    () => readWebAsset([dir, path.join(dir, 'nowhere')], 'report.js'),
    (e: unknown) =>
      e instanceof RtinferError &&
      e.code === 'RTI_ERR_WEB_ASSETS_MISSING' &&
      /report\.js is not built .*: run npm run build$/.test(e.message) &&
      !e.message.includes('\n'),
  );
});

test('BAD CALL - bench --html to an unwritable path fails before the run, in one line', async () => {
  const file = path.join(dir, 'no-such-dir', 'r.html');
  const r = await promisify(execFile)(
    process.execPath,
    [path.join(ROOT, 'dist/cli/main.js'), 'bench', OCR_CLS, '--html', file],
    { cwd: ROOT },
  ).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }),
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^rtinfer bench: cannot write --html .*r\.html: its folder does not exist \(ENOENT\)\n$/);
});

test('chart number formatting: null and non-finite give an empty label (log axes leave some ticks unlabelled), ticks drop trailing zeros', () => {
  assert.equal(formatNumber(null), '');
  assert.equal(formatNumber(undefined), '');
  assert.equal(formatNumber(Number.NaN), '');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(1.5), '1.500');
  assert.equal(formatNumber(0.000123), '0.000123');
  assert.deepEqual([null, 0, 1, 2.5, 10, 12.5, 100, 500, 1500, 0.1, 0.25].map(formatTick), [
    '',
    '0',
    '1',
    '2.5',
    '10',
    '12.5',
    '100',
    '500',
    '1500',
    '0.1',
    '0.25',
  ]);
});
