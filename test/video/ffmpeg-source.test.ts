/** Video sources through real ffmpeg on clips it makes here; real models where results matter. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { predictCommand } from '../../src/cli/predict.js';
import { isRtinferError } from '../../src/errors.js';
import { openVideo } from '../../src/video/open-source.js';
import type { Frame } from '../../src/video/frames.js';
import { classifySource, expandImages, type VideoInput } from '../../src/video/source.js';
import { DEFAULT_PREPROCESS } from '../../src/vision/config.js';
import { openVisionModel } from '../../src/vision/open-model.js';
import type { RawImage } from '../../src/vision/types.js';
import { OCR_DET, sharedModel, SHARED_MODELS } from '../helpers/models.js';
import { ffmpeg, hasFfmpeg, probeFrames, skipWithoutFfmpeg } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-video-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const clip = path.join(dir, 'testsrc.mp4');
const coco = path.join(dir, 'coco.mkv');
before(async () => {
  if (!hasFfmpeg()) return;
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-frames:v', '30', '-pix_fmt', 'yuv420p', clip);
  // Lossless (FFV1, RGB) so the frames are the JPEG's decoded pixels. Only with the workplace's shared
  // images: the tests that use this clip skip (and say so) without them.
  if (existsSync(`${SHARED_MODELS}coco139.jpg`))
    await ffmpeg(
      '-loop',
      '1',
      '-i',
      `${SHARED_MODELS}coco139.jpg`,
      '-frames:v',
      '5',
      '-r',
      '30',
      '-c:v',
      'ffv1',
      '-pix_fmt',
      'bgr0',
      coco,
    );
});

const file = (location: string): VideoInput => ({ kind: 'file', location });
async function collect(frames: AsyncIterable<Frame>): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of frames) out.push(f);
  return out;
}
const codeOf =
  (code: string) =>
  (e: unknown): boolean =>
    isRtinferError(e) && e.code === code;

test('sources are told apart from their text: video files, streams, cameras, stdin, and image folders, globs and lists', async () => {
  assert.deepEqual(
    ['a.mp4', 'b.MKV', 'rtsp://h/s', 'http://h/x.mjpg', '/dev/video0', '-', 'img.jpg', 'dir', 'x/*.jpg'].map(
      (s) => classifySource(s).kind,
    ),
    ['file', 'file', 'stream', 'stream', 'camera', 'stdin', 'images', 'images', 'images'],
  );
  const d = mkdtempSync(path.join(dir, 'imgs-'));
  for (const n of ['b.jpg', 'a.jpg', 'c.png', 'notes.md']) writeFileSync(path.join(d, n), '');
  assert.deepEqual(
    (await expandImages(`${d}/*.jpg`)).map((p) => path.basename(p)),
    ['a.jpg', 'b.jpg'],
  );
  assert.deepEqual(
    (await expandImages(d)).map((p) => path.basename(p)),
    ['a.jpg', 'b.jpg', 'c.png'],
  );
  writeFileSync(path.join(d, 'list.txt'), 'c.png\n# comment\n\na.jpg\n');
  assert.deepEqual(
    (await expandImages(path.join(d, 'list.txt'))).map((p) => path.basename(p)),
    ['c.png', 'a.jpg'],
  );
});

test('a 30-frame clip: 30 frames in order, prescaled by ffmpeg to the letterbox content (640x480 of 320x240), or whole for sharp', async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  const v = await openVideo(file(clip), DEFAULT_PREPROCESS);
  assert.equal(v.path, 'ffmpeg-prescaled');
  assert.deepEqual([v.info?.width, v.info?.height, v.info?.fps], [320, 240, 30]);
  const frames = await collect(v.frames);
  assert.deepEqual(
    frames.map((f) => f.index),
    [...Array(30).keys()],
  );
  const img = frames[0]!.image as RawImage;
  assert.deepEqual(
    [img.width, img.height, img.channels, img.data.length, img.original],
    [640, 480, 3, 640 * 480 * 3, { width: 320, height: 240 }],
  );
  const whole = await collect(
    (await openVideo(file(clip), DEFAULT_PREPROCESS, { resize: 'sharp', maxFrames: 5 })).frames,
  );
  assert.equal(whole.length, 5);
  assert.deepEqual(
    [(whole[0]!.image as RawImage).width, (whole[0]!.image as RawImage).height, (whole[0]!.image as RawImage).original],
    [320, 240, undefined],
  );
});

test("yolox_nano: the prescaled frames give the still image's detections, boxes in the original frame's pixels", async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  const modelPath = sharedModel(t, 'yolox_nano.onnx');
  if (!modelPath) return;
  const model = await openVisionModel(modelPath);
  try {
    const still = await model.predict(`${SHARED_MODELS}coco139.jpg`);
    const frames = await collect((await openVideo(file(coco), model.config, { maxFrames: 1 })).frames);
    const r = await model.predict(frames[0]!.image);
    assert.equal(r.task, 'detect');
    assert.equal(still.task, 'detect');
    if (r.task !== 'detect' || still.task !== 'detect') return;
    assert.deepEqual([r.transform.original.width, r.transform.original.height], [640, 426]);
    const strong = still.detections.filter((d) => d.score > 0.5);
    assert.ok(strong.length >= 2);
    for (const d of strong) {
      const m = r.detections.find((x) => x.label === d.label && x.box.every((v, i) => Math.abs(v - d.box[i]!) < 4));
      assert.ok(
        m,
        `${d.label} [${d.box.map(Math.round).join(',')}] found in the frame: ${JSON.stringify(r.detections.slice(0, 4).map((x) => [x.label, x.box.map(Math.round)]))}`,
      );
      assert.ok(Math.abs(m.score - d.score) < 0.05);
    }
  } finally {
    await model.close();
  }
});

test('rtinfer predict on a clip: --json gives one line per frame then the rtinfer.predict/1 summary; --save writes every frame annotated at the source size', async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  const modelPath = sharedModel(t, 'yolox_nano.onnx');
  if (!modelPath) return;
  const saved = path.join(dir, 'annotated.mp4');
  let out = '';
  const stdout = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  const code = await predictCommand([modelPath, coco, '--json', '--save', saved, '--warmup', '1'], { stdout });
  assert.equal(code, 0);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const summary = lines.at(-1);
  assert.equal(summary.schema, 'rtinfer.predict/1');
  assert.deepEqual(
    [summary.video.framesIn, summary.video.processed, summary.video.dropped, summary.video.mode],
    [5, 5, 0, 'all-frames'],
  );
  assert.deepEqual(
    lines.slice(0, -1).map((l) => l.frame),
    [...Array(5).keys()],
  );
  const first = lines[0];
  assert.ok(first.detections.some((d: { label: string }) => d.label === 'tv'));
  assert.ok(first.latencyMs >= first.speedMs.inference && first.endMs >= first.startMs);
  for (const k of ['p50', 'p90', 'p99']) assert.ok(summary.video.captureToResultMs[k] > 0, k);
  assert.deepEqual(summary.saved, { file: saved, frames: 5 });
  assert.deepEqual(await probeFrames(saved), { frames: 5, width: 640, height: 426 });
});

test('realtime from a file (paced at its 30 fps) with a model slower than 33 ms: frames dropped, the rest in order, counts add up', async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  let out = '';
  const stdout = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  // The PP-OCR detector on 640x480 frames takes well over 33 ms on CPU.
  const code = await predictCommand([OCR_DET, clip, '--realtime', '--json', '--warmup', '1'], { stdout });
  assert.equal(code, 0);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const v = lines.at(-1).video;
  assert.equal(v.mode, 'realtime');
  assert.equal(v.paceFps, 30);
  assert.equal(v.framesIn, 30);
  assert.equal(v.processed + v.dropped, 30);
  assert.ok(v.dropped > 0, `dropped ${v.dropped}`);
  const done = lines.filter((l) => l.status === 'done').map((l) => l.frame);
  assert.deepEqual(
    [...done].sort((a, b) => a - b),
    done,
  );
  assert.equal(v.inOrder, true);
});

test('MJPEG and raw frames on stdin; an unsupported raw pixel format is refused', async () => {
  const jpeg = (v: number): Promise<Buffer> =>
    sharp({ create: { width: 32, height: 16, channels: 3, background: { r: v, g: v, b: v } } })
      .jpeg()
      .toBuffer();
  const stream = Readable.from([Buffer.concat(await Promise.all([jpeg(0), jpeg(100), jpeg(200)]))]);
  const mj = await openVideo({ kind: 'stdin', location: '-' }, DEFAULT_PREPROCESS, { stdin: stream });
  assert.equal((await collect(mj.frames)).length, 3);
  const raw = await openVideo({ kind: 'stdin', location: '-' }, DEFAULT_PREPROCESS, {
    stdin: Readable.from([Buffer.alloc(4 * 2 * 3 * 2 + 1)]),
    rawFrame: { width: 4, height: 2, pixelFormat: 'rgb24' },
  });
  await assert.rejects(
    collect(raw.frames),
    (e) => codeOf('RTI_ERR_VIDEO_DECODE')(e) && /truncated raw frame after frame 2/.test((e as Error).message),
  );
  await assert.rejects(
    openVideo({ kind: 'stdin', location: '-' }, DEFAULT_PREPROCESS, {
      rawFrame: { width: 4, height: 2, pixelFormat: 'yuv420p' },
    }),
    codeOf('RTI_ERR_VIDEO_UNSUPPORTED'),
  );
});

test('BAD CALL - missing file, not a video, refused stream, silent stream, ffmpeg missing: one-line errors with stable codes, bounded waits', async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  await assert.rejects(
    openVideo(file(path.join(dir, 'nope.mp4')), DEFAULT_PREPROCESS),
    (e) => codeOf('RTI_ERR_VIDEO_NOT_FOUND')(e) && /nope\.mp4: no such file/.test((e as Error).message),
  );
  await assert.rejects(
    openVideo({ kind: 'camera', location: '/dev/video99' }, DEFAULT_PREPROCESS),
    codeOf('RTI_ERR_VIDEO_NOT_FOUND'),
  );
  const junk = path.join(dir, 'junk.mp4');
  writeFileSync(junk, 'this is not a video');
  await assert.rejects(
    openVideo(file(junk), DEFAULT_PREPROCESS),
    (e) => codeOf('RTI_ERR_VIDEO_UNSUPPORTED')(e) && !(e as Error).message.includes('\n'),
  );
  await assert.rejects(
    openVideo({ kind: 'stream', location: 'http://127.0.0.1:9/x.mp4' }, DEFAULT_PREPROCESS),
    codeOf('RTI_ERR_VIDEO_OPEN'),
  );
  // A server that accepts and never answers: the open timeout ends it.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  const t0 = Date.now();
  await assert.rejects(
    openVideo({ kind: 'stream', location: `http://127.0.0.1:${port}/live` }, DEFAULT_PREPROCESS, {
      openTimeoutMs: 800,
    }),
    codeOf('RTI_ERR_VIDEO_OPEN'),
  );
  assert.ok(Date.now() - t0 < 5000, `gave up in ${Date.now() - t0} ms`);
  const saved = process.env['RTINFER_FFPROBE'];
  process.env['RTINFER_FFPROBE'] = path.join(dir, 'no-ffprobe');
  try {
    await assert.rejects(
      openVideo(file(clip), DEFAULT_PREPROCESS),
      (e) => codeOf('RTI_ERR_VIDEO_FFMPEG_MISSING')(e) && /apt-get install ffmpeg/.test((e as Error).message),
    );
  } finally {
    if (saved === undefined) delete process.env['RTINFER_FFPROBE'];
    else process.env['RTINFER_FFPROBE'] = saved;
  }
});

test('a video with a corrupt tail: its frames first, then RTI_ERR_VIDEO_DECODE with the summary still printed and exit 1', async (t) => {
  if (skipWithoutFfmpeg(t)) return;
  const ts = path.join(dir, 'cut.ts');
  await ffmpeg(
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=30',
    '-frames:v',
    '60',
    '-c:v',
    'mpeg2video',
    '-f',
    'mpegts',
    path.join(dir, 'full.ts'),
  );
  const { readFileSync } = await import('node:fs');
  const full = readFileSync(path.join(dir, 'full.ts'));
  writeFileSync(ts, full.subarray(0, Math.floor(full.length / 2)));
  let out = '';
  const stdout = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  const code = await predictCommand([OCR_DET, ts, '--json', '--warmup', '0', '--every', '10'], { stdout });
  assert.equal(code, 1);
  const v = JSON.parse(out.trim().split('\n').at(-1)!).video;
  assert.ok(v.framesIn > 5 && v.framesIn < 60, `frames before the cut: ${v.framesIn}`);
  assert.equal(v.error.code, 'RTI_ERR_VIDEO_DECODE');
});
