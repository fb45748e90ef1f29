/**
 * bench/video: real-time video with yolox_nano on this machine's 2 cores.
 *
 * The clip: 10 s of 1920x1080 at 30 fps, H.264, made by ffmpeg from ../shared/models/coco139.jpg
 * panned slowly so that frames differ (cached in the system's temporary folder).
 *
 * 1. The model's single-stream p99: the whole pipeline (JPEG decode, preprocess, inference,
 *    postprocess) over the clip's first 60 frames as JPEG files, one at a time, as
 *    `rtinfer bench --video` measures it.
 * 2. Realtime: the clip released at its 30 fps (open loop, as a camera), latest frame wins, on the
 *    ffmpeg scale-in-decoder path: achieved fps, dropped, capture-to-result p50/p99 against 2× the
 *    single-stream p99 (the goal), whether every processed frame came out in capture order, and
 *    the share of CPU time in ffmpeg (decode and scale) against the rest (this process: the
 *    pipeline, onnxruntime's threads included).
 * 3. A/B, alternating in blocks (A B A B ...), all frames: A = ffmpeg decodes and scales to the
 *    model's content region (only model-size pixels cross the pipe); B = ffmpeg decodes full
 *    1080p frames and sharp resizes them in the pipeline. Per frame: the cost of getting the pixels
 *    to the model (ffmpeg CPU + the pipeline's decode stage, where B's sharp resize runs), and the
 *    frames processed per second; reported as B / A ratios with each block's values.
 *
 * Goal (issue #19): capture-to-result p99 ≤ 2 × the single-stream p99 in realtime mode, and no
 * frame processed out of order.
 *
 *   npm run bench:video            (BENCH_VIDEO_BLOCKS=3 pairs, BENCH_VIDEO_BLOCK_FRAMES=45)
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatMs, formatTable } from '../src/util/format.js';
import { ffmpegPath } from '../src/video/ffmpeg.js';
import { openVideo } from '../src/video/open-source.js';
import { runVideo, type FrameRecord, type VideoSummary } from '../src/video/run-video.js';
import type { VideoInput } from '../src/video/source.js';
import { extractFrames } from '../src/video/video-bench.js';
import { openVisionModel } from '../src/vision/open-model.js';
import { quantile } from './support/quantile.js';

const SHARED = fileURLToPath(new URL('../../shared/models/', import.meta.url));
const MODEL = path.join(SHARED, 'yolox_nano.onnx');
const IMAGE = path.join(SHARED, 'coco139.jpg');
const FPS = 30;
const SECONDS = 10;
const BLOCKS = Number(process.env['BENCH_VIDEO_BLOCKS'] ?? 3);
const BLOCK_FRAMES = Number(process.env['BENCH_VIDEO_BLOCK_FRAMES'] ?? 45);
const SINGLE_STREAM_QUERIES = 120;
const GOAL_RATIO = 2;

const run = promisify(execFile);

async function makeClip(): Promise<string> {
  const dir = path.join(os.tmpdir(), 'rtinfer-bench-video');
  mkdirSync(dir, { recursive: true });
  const clip = path.join(dir, `coco139-1080p${FPS}-${SECONDS}s.mp4`);
  if (!existsSync(clip)) {
    // 1920x1278 scaled picture, a 1080-high window sliding down 40 px/s and back: every frame differs.
    await run(ffmpegPath(), [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-loop',
      '1',
      '-i',
      IMAGE,
      '-vf',
      "scale=1920:1278,crop=1920:1080:0:'mod(t*40\\,198)',format=yuv420p",
      '-t',
      String(SECONDS),
      '-r',
      String(FPS),
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      clip + '.part.mp4',
    ]);
    rmSync(clip, { force: true });
    await run('mv', [clip + '.part.mp4', clip]);
  }
  return clip;
}

/** Nearest-rank percentile of ms values. */
function pct(values: readonly number[], q: number): number {
  return quantile(Float64Array.from(values).sort(), q);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

if (!existsSync(MODEL) || !existsSync(IMAGE)) {
  console.log(`bench:video needs ${MODEL} and ${IMAGE}: not found, nothing measured`);
  process.exit(0);
}
try {
  await run(ffmpegPath(), ['-version']);
} catch {
  console.log('bench:video needs ffmpeg (apt-get install ffmpeg, or RTINFER_FFMPEG): not found, nothing measured');
  process.exit(0);
}

const clip = await makeClip();
const input: VideoInput = { kind: 'file', location: clip };
const model = await openVisionModel(MODEL);
const load = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
console.log(`rtinfer bench:video · yolox_nano (${model.head.name} head) on ${clip}`);
console.log(
  `  clip 1920x1080 @ ${FPS} fps, ${SECONDS} s, H.264 (coco139.jpg panned) · ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'cpu'}) · load average ${load}`,
);
console.log(
  `  node ${process.version} · onnxruntime defaults (intra-op threads: one per core) · A/B: ${BLOCKS} pairs of ${BLOCK_FRAMES}-frame blocks, A B alternating`,
);

// 1. Single-stream p99 over the clip's first 60 frames as JPEGs (the whole pipeline per frame).
const jpegDir = await extractFrames(clip, 60);
let singleP50 = 0;
let singleP99 = 0;
try {
  const files = readdirSync(jpegDir)
    .sort()
    .map((f) => path.join(jpegDir, f));
  for (let i = 0; i < 5; i++) await model.predict(files[i % files.length]!);
  const ms: number[] = [];
  for (let i = 0; i < SINGLE_STREAM_QUERIES; i++) {
    const t0 = performance.now();
    await model.predict(files[i % files.length]!);
    ms.push(performance.now() - t0);
  }
  singleP50 = pct(ms, 0.5);
  singleP99 = pct(ms, 0.99);
} finally {
  rmSync(jpegDir, { recursive: true, force: true });
}
console.log('');
console.log(
  `single-stream (${SINGLE_STREAM_QUERIES} frames one at a time, JPEG decode included): p50 ${formatMs(singleP50)} ms · p99 ${formatMs(singleP99)} ms`,
);

// 2. Realtime at the clip's 30 fps, prescaled in ffmpeg.
const records: FrameRecord[] = [];
const video = await openVideo(input, model.config);
const cpu0 = cpuMs();
const rt = await runVideo(video.frames, (image) => model.predict(image), {
  realtime: true,
  paceFps: FPS,
  sourceFps: video.info?.fps ?? FPS,
  onFrame: (r) => void records.push(r),
});
const nodeCpu = cpuMs() - cpu0;
const done = records.filter((r) => r.status === 'done');
let outOfOrder = 0;
for (let i = 1; i < done.length; i++)
  if (done[i]!.frame <= done[i - 1]!.frame || (done[i]!.endMs ?? 0) < (done[i - 1]!.endMs ?? 0)) outOfOrder++;
const ffmpegCpu = rt.decoderCpuMs?.total ?? NaN;
const ffShare = ffmpegCpu / (ffmpegCpu + nodeCpu);
const c = rt.captureToResultMs;
console.log('');
console.log(`realtime (paced at ${FPS} fps, latest frame wins, ${video.path}):`);
console.log(
  formatTable(
    [
      [
        'frames in',
        'processed',
        'dropped',
        'late',
        'fps achieved',
        'c2r p50 ms',
        'c2r p99 ms',
        'c2r max ms',
        'out of order',
        'source behind',
      ],
      [
        String(rt.framesIn),
        String(rt.processed),
        String(rt.dropped),
        String(rt.late),
        rt.achievedFps.toFixed(1),
        formatMs(c.p50),
        formatMs(c.p99),
        formatMs(c.max),
        String(outOfOrder),
        String(rt.sourceBehind?.frames ?? 0),
      ],
    ],
    '  ',
  ),
);
const st = rt.stagesMs;
console.log(
  `  per processed frame (mean ms): decode ${formatMs(st.decode.mean)} · preprocess ${formatMs(st.preprocess.mean)} · inference ${formatMs(st.inference.mean)} · postprocess ${formatMs(st.postprocess.mean)}`,
);
console.log(
  `  CPU: ffmpeg (decode + scale) ${formatMs(ffmpegCpu)} ms = ${formatMs(rt.decoderCpuMs?.perFrame ?? NaN)} ms per frame read · this process (pipeline, onnxruntime) ${formatMs(nodeCpu)} ms · ffmpeg's share ${(100 * ffShare).toFixed(1)} %, the rest ${(100 * (1 - ffShare)).toFixed(1)} %`,
);

// 3. A/B blocks, all frames: ffmpeg scale-in-decoder (A) against full frames + sharp (B).
interface Block {
  which: 'A' | 'B';
  fps: number;
  ffmpegPerFrame: number;
  decodeStage: number;
  inference: number;
  pixelCost: number;
}
async function block(which: 'A' | 'B'): Promise<Block> {
  const v = await openVideo(input, model.config, {
    resize: which === 'A' ? 'ffmpeg' : 'sharp',
    maxFrames: BLOCK_FRAMES,
  });
  const s: VideoSummary = await runVideo(v.frames, (image) => model.predict(image), {
    realtime: false,
    sourceFps: v.info?.fps ?? FPS,
    maxFrames: BLOCK_FRAMES,
  });
  if (s.error) throw new Error(`${which}: ${s.error.message}`);
  const ffmpegPerFrame = s.decoderCpuMs?.perFrame ?? NaN;
  return {
    which,
    fps: s.achievedFps,
    ffmpegPerFrame,
    decodeStage: s.stagesMs.decode.mean,
    inference: s.stagesMs.inference.mean,
    pixelCost: ffmpegPerFrame + s.stagesMs.decode.mean,
  };
}
await block('A'); // warm both paths once, unmeasured
await block('B');
const blocks: Block[] = [];
for (let i = 0; i < BLOCKS; i++) {
  blocks.push(await block('A'));
  blocks.push(await block('B'));
}
console.log('');
console.log(
  `A/B (all ${BLOCK_FRAMES} frames of each block, none dropped): A = ffmpeg scales in the decoder, B = full 1080p frames resized by sharp`,
);
console.log(
  formatTable(
    [
      ['block', 'path', 'fps', 'ffmpeg CPU ms/frame', 'decode stage ms', 'pixels to model ms/frame', 'inference ms'],
      ...blocks.map((b, i) => [
        String(Math.floor(i / 2) + 1),
        b.which,
        b.fps.toFixed(1),
        formatMs(b.ffmpegPerFrame),
        formatMs(b.decodeStage),
        formatMs(b.pixelCost),
        formatMs(b.inference),
      ]),
    ],
    '  ',
  ),
);
const pairs = Array.from({ length: BLOCKS }, (_, i) => ({ a: blocks[2 * i]!, b: blocks[2 * i + 1]! }));
const costRatios = pairs.map((p) => p.b.pixelCost / p.a.pixelCost).sort((x, y) => x - y);
const fpsRatios = pairs.map((p) => p.a.fps / p.b.fps).sort((x, y) => x - y);
const med = (xs: number[]): number => xs[Math.floor(xs.length / 2)]!;
console.log(
  `  pixels-to-model cost B / A: median ${med(costRatios).toFixed(2)}× (pairs ${costRatios.map((r) => r.toFixed(2)).join(', ')}) · frames per second A / B: median ${med(fpsRatios).toFixed(2)}× (pairs ${fpsRatios.map((r) => r.toFixed(2)).join(', ')})`,
);

await model.close();

const p99Ok = c.p99 <= GOAL_RATIO * singleP99;
const orderOk = outOfOrder === 0 && rt.inOrder;
console.log('');
console.log(
  `verdict: capture-to-result p99 ${formatMs(c.p99)} ms ${p99Ok ? '<=' : '>'} ${GOAL_RATIO} × single-stream p99 ${formatMs(singleP99)} ms = ${formatMs(GOAL_RATIO * singleP99)} ms: ${p99Ok ? 'MET' : 'NOT MET'}`,
);
console.log(
  `verdict: no frame out of order (${done.length} processed): ${orderOk ? 'MET' : `NOT MET (${outOfOrder})`}`,
);
console.log(
  `verdict: ${rt.dropped === 0 ? 'keeps up with' : 'does not keep up with'} ${FPS} fps here (${rt.achievedFps.toFixed(1)} fps processed, ${rt.dropped} of ${rt.framesIn} dropped); the scale-in-decoder path costs ${(1 / med(costRatios)).toFixed(2)} of the sharp path's pixel cost`,
);
