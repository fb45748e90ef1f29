/**
 * The live dashboard in a real browser (Debian Chromium): a real server with the PP-OCR text
 * detector and a token, a small bounded loopback load, the page opened as a newcomer would (the
 * URL with ?token=), charts that show data and keep updating, and the try-it panel with a picked
 * and a dropped image. Screenshot: test-artifacts/dashboard.png (and docs/img/dashboard.png with
 * RTINFER_DOCS_SCREENSHOTS=1, which is how the README's picture is made).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { encodeInferRequest } from '../../src/protocol/kserve-v2.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { chartStates, waitForCharts, withPage } from '../helpers/browser.js';
import { OCR_CLS, OCR_DET, ROOT } from '../helpers/models.js';

const TOKEN = 'dash-s3cret';
let server: RtinferServer;
let base: string;
let textPng: Buffer;

before(async () => {
  server = createRtinferServer(
    validateConfig({
      port: 0,
      token: TOKEN,
      models: [
        { path: OCR_DET, name: 'ocr-det', batching: { maxBatchSize: 2 }, warmupShapes: { x: [1, 3, 160, 480] } },
      ],
    }),
  );
  base = await server.listen();
  await server.ready();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="200"><rect width="100%" height="100%" fill="white"/><text x="24" y="90" font-size="56" font-family="sans-serif">rtinfer</text><text x="24" y="160" font-size="40" font-family="sans-serif">live dashboard</text></svg>`;
  textPng = await sharp(Buffer.from(svg)).png().toBuffer();
});
after(async () => server.close());

/** Two client loops of v2 requests (and an image now and then) until stopped: a few dozen a second at most. */
function startLoad(): { stop(): Promise<number> } {
  let running = true;
  let answered = 0;
  const t = {
    name: 'x',
    type: 'float32' as const,
    dims: [1, 3, 160, 480],
    data: new Float32Array(3 * 160 * 480).fill(0.5),
  };
  const loop = async (i: number): Promise<void> => {
    for (let n = 0; running; n++) {
      const r =
        i === 0 && n % 5 === 4
          ? await fetch(`${base}/api/models/ocr-det/predict`, {
              method: 'POST',
              body: textPng,
              headers: { authorization: `Bearer ${TOKEN}` },
            })
          : await (() => {
              const m = encodeInferRequest([t]);
              return fetch(`${base}/v2/models/ocr-det/infer`, {
                method: 'POST',
                body: m.body,
                headers: { ...m.headers, authorization: `Bearer ${TOKEN}` },
              });
            })();
      await r.arrayBuffer();
      if (r.status === 200) answered++;
      // Leaves the two cores some room for the browser: this is a view of the load, not a stress test.
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  };
  const loops = [loop(0), loop(1)];
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return answered;
    },
  };
}

test('the dashboard shows live charts that update under load, and the try-it panel runs a picked and a dropped image', async (t) => {
  const load = startLoad();
  try {
    await withPage(
      t,
      async ({ page, errors, blocked, screenshot }) => {
        const res = await page.goto(`${base}/?token=${TOKEN}`);
        assert.equal(res?.status(), 200);
        // Latency, throughput, queue and the last-minute distribution.
        await waitForCharts(page, 4, 15_000);
        assert.equal(await page.getAttribute('#live-status', 'data-state'), 'live');
        const first = await chartStates(page);
        assert.deepEqual(
          first.map((c) => c.kind),
          ['timeseries', 'timeseries', 'timeseries', 'histogram'],
        );
        for (const c of first)
          assert.ok(c.points > 0 && c.paintedPixels > 0, `${c.id} drew nothing: ${JSON.stringify(c)}`);
        const ticks0 = Number(await page.getAttribute('body', 'data-ticks'));
        await page.waitForFunction(`Number(document.body.dataset.ticks) >= ${ticks0 + 2}`, undefined, {
          timeout: 8000,
        });
        const later = await chartStates(page);
        const latency = (states: typeof first): number => states.find((c) => c.id === 'model-0-latency')?.points ?? 0;
        const rate = (states: typeof first): number => states.find((c) => c.id === 'model-0-rate')?.points ?? 0;
        assert.ok(latency(later) > latency(first), `latency points grew: ${latency(first)} → ${latency(later)}`);
        assert.ok(
          rate(later) >= rate(first) + 2 * 3,
          `throughput points grew by 2 ticks × 3 series: ${rate(first)} → ${rate(later)}`,
        );
        assert.match(
          (await page.textContent('#model-0-batches')) ?? '',
          /batches in the last minute, by size: \d+ × \d/,
        );
        // How the server laid the model out, and why.
        assert.match((await page.textContent('#model-0-deployment')) ?? '', /\d+ instances? × \d+ threads?/);

        // Try it: pick a file...
        await page.setInputFiles('#tryit-file', { name: 'text.png', mimeType: 'image/png', buffer: textPng });
        await page.waitForSelector('#tryit-result[data-state="done"]', { timeout: 15_000 });
        assert.ok(Number(await page.getAttribute('#tryit-result', 'data-detections')) >= 1, 'text regions found');
        assert.match((await page.getAttribute('#tryit-image', 'src')) ?? '', /^data:image\/png;base64,/);
        assert.equal(
          await page.$eval('#tryit-image', (img) => (img as unknown as { naturalWidth: number }).naturalWidth),
          480,
        );
        assert.equal(await page.$$eval('#tryit-split > span', (s) => s.length), 5);
        const legend = (await page.textContent('#tryit .legend')) ?? '';
        for (const stage of ['decode', 'preprocess', 'inference', 'postprocess'])
          assert.match(legend, new RegExp(`${stage} [\\d.]+ ms`));
        // ...and drop one.
        await page.evaluate(`document.getElementById('tryit-result').dataset.state = 'idle'`);
        const dropped = await page.evaluateHandle(
          `(() => { const b = Uint8Array.from(atob('${textPng.toString('base64')}'), (c) => c.charCodeAt(0)); const dt = new DataTransfer(); dt.items.add(new File([b], 'dropped.png', { type: 'image/png' })); return dt; })()`,
        );
        await page.dispatchEvent('#tryit-drop', 'drop', { dataTransfer: dropped });
        await page.waitForSelector('#tryit-result[data-state="done"]', { timeout: 15_000 });
        assert.match((await page.textContent('#tryit-status')) ?? '', /^dropped\.png → ocr-det/);

        const docs = process.env['RTINFER_DOCS_SCREENSHOTS'] === '1';
        // The README's picture shows a longer window than the test needs.
        if (docs)
          await page.waitForFunction(`Number(document.body.dataset.ticks) >= ${ticks0 + 20}`, undefined, {
            timeout: 40_000,
          });
        const file = await screenshot('dashboard');
        if (docs) {
          mkdirSync(`${ROOT}docs/img`, { recursive: true });
          copyFileSync(file, `${ROOT}docs/img/dashboard.png`);
        }
        assert.deepEqual(errors, []);
        assert.deepEqual(blocked, [], 'the page fetched nothing but its own server');
      },
      { allowOrigins: [new URL(base).origin], viewport: { width: 1280, height: 900 } },
    );
  } finally {
    const answered = await load.stop();
    assert.ok(answered > 0);
  }
});

test('BAD CALL - the dashboard without the token, or with a wrong one in its URL, is refused with 401', async (t) => {
  const r = await fetch(`${base}/`);
  assert.equal(r.status, 401);
  await r.body?.cancel();
  await withPage(
    t,
    async ({ page }) => {
      // A page opened with a stale token: the page itself is refused.
      const res = await page.goto(`${base}/?token=stale`);
      assert.equal(res?.status(), 401);
    },
    { allowOrigins: [new URL(base).origin] },
  );
});

test('the try-it panel runs a classifier too: no annotation to ask for, the picked image and its classes are shown', async (t) => {
  const cls = createRtinferServer(
    validateConfig({
      port: 0,
      models: [{ path: OCR_CLS, name: 'textline-orientation', warmupShapes: { x: [1, 3, 48, 192] } }],
    }),
  );
  const url = await cls.listen();
  t.after(() => cls.close());
  await cls.ready();
  await withPage(
    t,
    async ({ page, errors }) => {
      await page.goto(`${url}/`);
      await page.waitForSelector('#tryit-model');
      assert.equal(await page.textContent('#tryit-model'), 'textline-orientation (classify)');
      await page.setInputFiles('#tryit-file', { name: 'line.png', mimeType: 'image/png', buffer: textPng });
      await page.waitForSelector('#tryit-result[data-state="done"]', { timeout: 15_000 });
      assert.match((await page.getAttribute('#tryit-image', 'src')) ?? '', /^blob:/);
      assert.equal(
        Number(await page.getAttribute('#tryit-result', 'data-detections')),
        2,
        'both orientation classes, 0 and 180',
      );
      assert.match((await page.textContent('#tryit-detections')) ?? '', /class.*score.*(0|180)/s);
      assert.deepEqual(errors, []);
    },
    { allowOrigins: [new URL(url).origin] },
  );
});
