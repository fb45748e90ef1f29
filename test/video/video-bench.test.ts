/** bench --video: the camera-rate scenario as an addition to the rtinfer.bench/1 report. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runBench } from '../../src/loadgen/bench.js';
import type { VideoSummary } from '../../src/video/run-video.js';
import { videoVerdict } from '../../src/video/video-bench.js';
import { OCR_DET } from '../helpers/models.js';
import { ffmpeg, skipWithoutFfmpeg } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-video-bench-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const summary = (o: Partial<VideoSummary>): VideoSummary => ({
  mode: 'realtime',
  paceFps: 30,
  deadlineMs: 33.333,
  framesIn: 30,
  processed: 30,
  dropped: 0,
  skipped: 0,
  failed: 0,
  late: 0,
  wallMs: 1000,
  achievedFps: 30,
  inOrder: true,
  captureToResultMs: { p50: 10, p90: 12, p99: 15, mean: 10, max: 16 },
  stagesMs: {
    decode: { p50: 0, p90: 0, p99: 0, mean: 0 },
    preprocess: { p50: 0, p90: 0, p99: 0, mean: 0 },
    inference: { p50: 0, p90: 0, p99: 0, mean: 0 },
    postprocess: { p50: 0, p90: 0, p99: 0, mean: 0 },
  },
  ...o,
});

test('the verdict: keeps up only with no drop and at most 1 % late; the p99 goal is 2x the single-stream p99', () => {
  assert.equal(videoVerdict(summary({}), 30, 10).keepsUp, true);
  assert.equal(videoVerdict(summary({}), 30, 10).p99WithinTwiceSingleStream, true);
  assert.equal(videoVerdict(summary({}), 30, 7).p99WithinTwiceSingleStream, false);
  assert.equal(videoVerdict(summary({ processed: 29, dropped: 1 }), 30, 10).keepsUp, false);
  assert.equal(videoVerdict(summary({ processed: 100, late: 1 }), 30, 10).keepsUp, true);
  assert.equal(videoVerdict(summary({ processed: 100, late: 2 }), 30, 10).keepsUp, false);
  assert.match(
    videoVerdict(summary({ processed: 10, dropped: 20, achievedFps: 10 }), 30, 10).text,
    /does not keep up with 30 fps: 20 of 30 frames dropped/,
  );
});

test("bench --video --fps: the usual report over the clip's frames plus `video` with drops, capture-to-result and a verdict", async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  const clip = path.join(dir, 'clip.mp4');
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-frames:v', '20', '-pix_fmt', 'yuv420p', clip);
  const { report } = await runBench({
    model: OCR_DET,
    video: { file: clip, fps: 60 },
    warmup: { minQueries: 1, minDurationMs: 0 },
    durationMs: 0,
    minQueries: 5,
    maxQueries: 5,
  });
  assert.equal(report.schema, 'rtinfer.bench/1');
  assert.ok(report.latencyMs.p99 > 0);
  assert.equal(report.pipeline?.images, 20, "single-stream over the clip's frames");
  const v = report.video!;
  assert.deepEqual([v.width, v.height, v.sourceFps, v.fps, v.path], [320, 240, 30, 60, 'ffmpeg-prescaled']);
  assert.equal(v.summary.framesIn, 20);
  assert.equal(v.summary.processed + v.summary.dropped, 20);
  assert.equal(v.summary.deadlineMs, 16.667);
  assert.equal(v.singleStreamP99Ms, report.latencyMs.p99);
  // The PP-OCR detector at 640x480 cannot run a frame in 16.7 ms on CPU: it must fall behind.
  assert.equal(v.verdict.keepsUp, false);
  assert.ok(v.summary.dropped > 0);
});
