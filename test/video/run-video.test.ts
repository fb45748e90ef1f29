import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import type { Frame } from '../../src/video/frames.js';
import { LatestSlot } from '../../src/video/latest-slot.js';
import { keepFrame, runVideo, type FrameRecord } from '../../src/video/run-video.js';
import type { VisionResult } from '../../src/vision/pipeline.js';
import { planTransform } from '../../src/vision/geometry.js';
import { DEFAULT_PREPROCESS } from '../../src/vision/config.js';
import type { ImageSource } from '../../src/vision/types.js';

async function* frames(n: number, gapMs = 0, fail?: RtinferError): AsyncGenerator<Frame> {
  for (let i = 0; i < n; i++) {
    if (gapMs) await sleep(gapMs);
    yield { index: i, arrivedMs: performance.now(), image: new Uint8Array([i]) };
  }
  if (fail) throw fail;
}

/** A deliberately slow model: `ms` per frame, a detection-less result. */
function slowModel(ms: number, seen: number[]): (image: ImageSource) => Promise<VisionResult> {
  return async (image) => {
    seen.push((image as Uint8Array)[0]!);
    await sleep(ms);
    return {
      task: 'detect',
      detections: [],
      transform: planTransform(10, 10, DEFAULT_PREPROCESS),
      speedMs: { decode: 0, preprocess: 0, inference: ms, postprocess: 0 },
    };
  };
}

test('the latest-frame slot keeps only the newest item and hands back the one it replaced', async () => {
  const s = new LatestSlot<number>();
  assert.equal(s.put(1), undefined);
  assert.equal(s.put(2), 1);
  assert.equal(await s.take(), 2);
  const later = s.take();
  s.put(3);
  assert.equal(await later, 3);
  s.put(4);
  s.close(new Error('end'));
  assert.equal(await s.take(), 4, 'what arrived before the error is still delivered');
  await assert.rejects(s.take(), /end/);
});

test('realtime, paced at 100 fps with a 35 ms model: the newest frame wins, every frame is accounted for once, in order', async () => {
  const seen: number[] = [];
  const records: FrameRecord[] = [];
  const s = await runVideo(frames(30), slowModel(35, seen), {
    realtime: true,
    paceFps: 100,
    sourceFps: 100,
    onFrame: (r) => void records.push(r),
  });
  assert.equal(s.framesIn, 30);
  assert.equal(s.processed + s.dropped, 30);
  assert.ok(s.dropped >= 15, `most frames dropped: ${s.dropped}`);
  assert.ok(s.processed >= 3, `processed ${s.processed}`);
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    seen,
    'processed in capture order',
  );
  assert.equal(s.inOrder, true);
  assert.deepEqual(
    records.map((r) => r.frame).sort((a, b) => a - b),
    [...Array(30).keys()],
    'one record per frame',
  );
  assert.equal(records.filter((r) => r.status === 'dropped').length, s.dropped);
  assert.ok(s.captureToResultMs.p50 >= 35, `capture-to-result includes the model time: ${s.captureToResultMs.p50}`);
  // Frame 29 is the last one: the newest always wins, so it is processed, not dropped.
  assert.equal(seen.at(-1), 29);
  assert.equal(s.deadlineMs, 10);
  assert.equal(s.late, s.processed, 'a 35 ms model misses every 10 ms deadline');
});

test('all frames: nothing dropped however slow the model; --every and --fps skip by choice', async () => {
  const seen: number[] = [];
  const s = await runVideo(frames(12, 1), slowModel(5, seen), { realtime: false, sourceFps: 30 });
  assert.deepEqual([s.framesIn, s.processed, s.dropped, s.skipped], [12, 12, 0, 0]);
  assert.deepEqual(seen, [...Array(12).keys()]);
  const every = await runVideo(frames(10), slowModel(0, []), { realtime: false, every: 3 });
  assert.deepEqual([every.processed, every.skipped], [4, 6]);
  assert.deepEqual(
    [...Array(30).keys()].filter((i) => keepFrame(i, { fps: 10, sourceFps: 30 })),
    [0, 3, 6, 9, 12, 15, 18, 21, 24, 27],
  );
  assert.equal([...Array(30).keys()].filter((i) => keepFrame(i, { fps: 7.5, sourceFps: 30 })).length, 8);
});

test('a source that fails mid-stream: the frames before it are processed and the summary carries the error', async () => {
  const s = await runVideo(frames(5, 0, new RtinferError('RTI_ERR_VIDEO_DECODE', 'x.ts: corrupt')), slowModel(0, []), {
    realtime: false,
  });
  assert.equal(s.processed, 5);
  assert.deepEqual(s.error, { code: 'RTI_ERR_VIDEO_DECODE', message: 'x.ts: corrupt' });
  const r = await runVideo(frames(5, 0, new RtinferError('RTI_ERR_VIDEO_DECODE', 'stalled')), slowModel(0, []), {
    realtime: true,
  });
  assert.equal(r.error?.code, 'RTI_ERR_VIDEO_DECODE');
  assert.equal(r.processed + r.dropped, 5);
});
