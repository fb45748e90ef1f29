/**
 * bench --video: the search for the largest fps sustained with no drop. The search's bracketing
 * on a fixed capacity, then a real run: a 2 s clip made by ffmpeg from ../shared/models/coco139.jpg,
 * yolox_nano, the bench report's `video.maxFps`, its text line, and the HTML page in Chromium.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { runBench } from '../../src/loadgen/bench.js';
import { renderBenchHtml } from '../../src/report/html-report.js';
import {
  MAX_FPS,
  MAX_PROBES,
  MIN_FPS,
  renderVideoBench,
  searchMaxFps,
  type FpsProbe,
} from '../../src/video/video-bench.js';
import { withPage } from '../helpers/browser.js';
import { SHARED_MODELS, sharedModel } from '../helpers/models.js';
import { ffmpeg, skipWithoutFfmpeg } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-max-fps-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A machine that sustains up to `capacity` fps: drops above it. */
const machine =
  (capacity: number, asked: number[]) =>
  async (fps: number): Promise<FpsProbe> => {
    asked.push(fps);
    const dropped = fps > capacity ? Math.ceil(fps - capacity) : 0;
    return {
      fps,
      framesIn: 10,
      processed: 10 - Math.min(9, dropped),
      dropped,
      late: 0,
      sourceBehind: 0,
      captureToResultP99Ms: 10,
      sustained: dropped === 0,
    };
  };
const first = (fps: number, capacity: number): FpsProbe => ({
  fps,
  framesIn: 10,
  processed: 10,
  dropped: fps > capacity ? 1 : 0,
  late: 0,
  sourceBehind: 0,
  captureToResultP99Ms: 10,
  sustained: fps <= capacity,
});

test('the max-fps search brackets the capacity by doubling or halving from the first run, then bisects to within 10 %, in at most MAX_PROBES runs', async () => {
  for (const [start, capacity] of [
    [30, 12.5],
    [30, 95],
    [5, 47],
    [60, 1.3],
  ] as const) {
    const asked: number[] = [];
    const r = await searchMaxFps(machine(capacity, asked), first(start, capacity), 1000);
    assert.equal(r.bound, 'found', `${start} → ${capacity}: ${JSON.stringify(r)}`);
    assert.ok(r.fps <= capacity, `${r.fps} sustained at most the capacity ${capacity}`);
    assert.ok(r.failedFps! > capacity);
    assert.ok(asked.length <= MAX_PROBES, `${asked.length} runs`);
    assert.equal(r.probes.length, asked.length + 1, 'the first run is a probe too');
    // Within 10 % unless the runs ran out first.
    if (asked.length < MAX_PROBES) assert.ok(r.failedFps! <= r.fps * 1.1 + 1, JSON.stringify(r));
  }
  // A model faster than the cap, and one that drops at any rate.
  const fast = await searchMaxFps(machine(10_000, []), first(240, 10_000), 1000);
  assert.deepEqual([fast.bound, fast.fps, fast.failedFps], ['at-cap', MAX_FPS, null]);
  const slow = await searchMaxFps(machine(0.1, []), first(30, 0.1), 1000);
  assert.deepEqual([slow.bound, slow.fps], ['below-min', 0]);
  assert.equal(Math.min(...slow.probes.map((p) => p.fps)), MIN_FPS);
  // From a rate to start at (no first run): 8 → 16 → 32 fail → bisect.
  const asked: number[] = [];
  const r = await searchMaxFps(machine(20, asked), 8, 1000);
  assert.deepEqual(asked.slice(0, 3), [8, 16, 32]);
  assert.ok(r.fps >= 18 && r.fps <= 20, JSON.stringify(r));
});

test('a sustained run above a failed rate (luck on a noisy machine) does not raise the answer', async () => {
  // 30 drops, 15 holds, 21 holds by luck but 18 drops: the answer stays below the smallest failure.
  const outcomes = new Map([
    [15, true],
    [21, true],
    [18, false],
    [17, false],
    [16, true],
  ]);
  const probe = async (fps: number): Promise<FpsProbe> => ({
    fps,
    framesIn: 10,
    processed: 10,
    dropped: outcomes.get(fps) ? 0 : 1,
    late: 0,
    sourceBehind: 0,
    captureToResultP99Ms: 1,
    sustained: outcomes.get(fps) ?? false,
  });
  const r = await searchMaxFps(probe, first(30, 0), 1000);
  assert.ok(r.failedFps !== null && r.fps < r.failedFps, JSON.stringify(r));
});

test('bench --video on a clip of coco139.jpg with yolox_nano: video.maxFps is the largest probed rate with no drop, in the text and the HTML report', async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  const model = sharedModel(t, 'yolox_nano.onnx');
  if (model === undefined) return;
  const image = `${SHARED_MODELS}coco139.jpg`;
  if (!existsSync(image)) {
    t.skip('../shared/models/coco139.jpg not found: test skipped');
    return;
  }
  // 2 s at 30 fps, 640x360, the picture panned so frames differ.
  const clip = path.join(dir, 'coco.mp4');
  await ffmpeg(
    '-loop',
    '1',
    '-i',
    image,
    '-vf',
    "scale=640:426,crop=640:360:0:'mod(t*30\\,66)',format=yuv420p",
    '-t',
    '2',
    '-r',
    '30',
    '-c:v',
    'libx264',
    clip,
  );
  const { report } = await runBench({
    model,
    video: { file: clip, fps: 30 },
    warmup: { minQueries: 1, minDurationMs: 0 },
    durationMs: 0,
    minQueries: 10,
    maxQueries: 10,
  });
  const v = report.video!;
  const m = v.maxFps!;
  assert.ok(m, 'the search ran');
  assert.equal(m.probes[0]!.fps, 30, 'the paced run at --fps is the first probe');
  assert.equal(m.probes[0]!.dropped, v.summary.dropped);
  assert.ok(m.probes.length >= 2 && m.probes.length <= MAX_PROBES + 1, `${m.probes.length} probes`);
  for (const p of m.probes) {
    assert.equal(p.sustained, p.dropped === 0 && p.sourceBehind === 0 && p.processed > 0, JSON.stringify(p));
    assert.ok(p.framesIn >= 4 && p.processed + p.dropped === p.framesIn, JSON.stringify(p));
  }
  if (m.bound === 'found') {
    assert.ok(
      m.probes.some((p) => p.fps === m.fps && p.sustained),
      'the answer was measured with no drop',
    );
    assert.ok(m.failedFps! > m.fps);
    assert.ok(m.probes.some((p) => p.fps === m.failedFps && !p.sustained));
  }
  const text = renderVideoBench(v);
  assert.match(text, /max fps with no drop: .* · \d+ runs \(2 s probes\): 30[✓✗]/);

  const file = path.join(dir, 'report.html');
  writeFileSync(file, renderBenchHtml(report));
  await withPage(t, async ({ page, errors, screenshot }) => {
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('#video-max-fps');
    const line = (await page.textContent('#video-max-fps')) ?? '';
    if (m.bound === 'found')
      assert.match(
        line,
        new RegExp(
          `^${m.fps} fps sustained with no drop; ${m.failedFps} fps drops frames \\(${m.probes.length} paced runs`,
        ),
      );
    assert.equal(await page.$$eval('#video-probes tbody tr', (rows) => rows.length), m.probes.length);
    assert.match((await page.textContent('#video-verdict')) ?? '', /keep up with 30 fps/);
    await screenshot('bench-video');
    assert.deepEqual(errors, []);
  });
});
