/**
 * The dashboard's camera panel in a real browser: Debian Chromium with its fake camera
 * (`--use-fake-device-for-media-stream`, a moving test pattern; `--use-fake-ui-for-media-stream`
 * grants the permission) against a real `rtinfer serve` with the PP-OCR text detector and a token.
 * Frames go over the real WebSocket stream; the page must show answered frames with their round
 * trip and the server's drop count, and Stop must end the camera and the stream. Without the
 * permission, the panel says so. Screenshot: test-artifacts/dashboard-camera.png.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer, type RtinferServer } from '../../src/server/server.js';
import { withPage } from '../helpers/browser.js';
import { OCR_DET } from '../helpers/models.js';

const TOKEN = 'cam-s3cret';
const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
let server: RtinferServer;
let base: string;

before(async () => {
  server = createRtinferServer(
    validateConfig({
      port: 0,
      token: TOKEN,
      models: [{ path: OCR_DET, name: 'ocr-det', warmupShapes: { x: [1, 3, 480, 640] } }],
    }),
  );
  base = await server.listen();
  await server.ready();
});
after(async () => server.close());

test('the camera panel streams the fake camera to the model: results arrive with their round trip and drop count, and Stop ends it', async (t) => {
  await withPage(
    t,
    async ({ page, errors, blocked, screenshot }) => {
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.waitForSelector('#tryit-camera');
      assert.equal(await page.getAttribute('#tryit-camera', 'data-state'), 'off');
      await page.click('#tryit-camera');
      await page.waitForSelector('#tryit-camera[data-state="on"]', { timeout: 15_000 });
      assert.match((await page.textContent('#tryit-camera-message')) ?? '', /Camera on: \d+x\d+ frames to ocr-det/);
      // A few answered frames: the stream runs, frame after frame.
      await page.waitForFunction(
        `Number(document.getElementById('tryit-camera-stats').dataset.frames) >= 5`,
        undefined,
        { timeout: 60_000 },
      );
      const stats: Record<string, string> = await page.$eval('#tryit-camera-stats', (el) => ({
        ...(el as unknown as { dataset: Record<string, string> }).dataset,
        text: el.textContent ?? '',
      }));
      assert.ok(Number(stats['frames']) >= 5, JSON.stringify(stats));
      assert.ok(Number(stats['sent']) >= Number(stats['frames']), 'no more answers than frames sent');
      assert.ok(Number(stats['rttMs']) > 0, `a round trip was measured: ${JSON.stringify(stats)}`);
      assert.match(
        stats['text'] ?? '',
        /\d+ frames answered of \d+ sent · round trip [\d.]+ ms \(server [\d.]+ ms\) · \d+ dropped by the server/,
      );
      // The answered frame is drawn: the canvas is shown, at the camera's size, with pixels on it.
      const drawn = await page.$eval('#tryit-camera-canvas', (c) => {
        const canvas = c as unknown as {
          hidden: boolean;
          width: number;
          height: number;
          dataset: Record<string, string>;
          getContext(
            k: '2d',
          ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
        };
        const px = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        if (px) for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
        return {
          hidden: canvas.hidden,
          width: canvas.width,
          height: canvas.height,
          painted,
          frame: Number(canvas.dataset['frame']),
          detections: Number(canvas.dataset['detections']),
        };
      });
      assert.equal(drawn.hidden, false);
      assert.ok(drawn.width >= 320 && drawn.height >= 240, JSON.stringify(drawn));
      assert.equal(drawn.painted, drawn.width * drawn.height, 'the whole frame is drawn');
      assert.ok(drawn.frame >= 1);
      // The fake camera's picture shows a running clock: the text detector finds it and its box is drawn.
      assert.ok(drawn.detections >= 1, `text found on the fake camera's clock: ${JSON.stringify(drawn)}`);
      await screenshot('dashboard-camera');

      // Stop: the button turns back, counting stops, the camera track and the stream end.
      await page.click('#tryit-camera');
      await page.waitForSelector('#tryit-camera[data-state="off"]', { timeout: 5000 });
      assert.match((await page.textContent('#tryit-camera-message')) ?? '', /^Stopped: \d+ frames answered\./);
      assert.equal(
        await page.$eval('#tryit-camera-video', (v) => (v as unknown as { srcObject: unknown }).srcObject === null),
        true,
      );
      const sentAtStop = Number(await page.getAttribute('#tryit-camera-stats', 'data-sent'));
      await page.waitForTimeout(700);
      assert.equal(
        Number(await page.getAttribute('#tryit-camera-stats', 'data-sent')),
        sentAtStop,
        'no frame sent after Stop',
      );
      assert.equal(await page.textContent('#tryit-camera'), 'Start camera');
      assert.deepEqual(errors, []);
      assert.deepEqual(blocked, []);
    },
    { allowOrigins: [new URL(base).origin], launchArgs: FAKE_CAMERA },
  );
});

test('BAD CALL - the camera panel without camera permission says so, and the button stays usable', async (t) => {
  await withPage(
    t,
    async ({ page }) => {
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.waitForSelector('#tryit-camera');
      await page.click('#tryit-camera');
      await page.waitForSelector('#tryit-camera[data-state="error"]', { timeout: 15_000 });
      const text = (await page.textContent('#tryit-camera-message')) ?? '';
      assert.match(text, /Camera permission was refused|No camera was found/);
      assert.equal(await page.getAttribute('#tryit-camera-message', 'class'), 'error');
      assert.equal(await page.$eval('#tryit-camera', (b) => (b as unknown as { disabled: boolean }).disabled), false);
    },
    // The fake device without the fake permission prompt: headless Chromium refuses the request.
    { allowOrigins: [new URL(base).origin], launchArgs: ['--use-fake-device-for-media-stream'] },
  );
});
