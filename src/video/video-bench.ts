/**
 * `rtinfer bench MODEL --video FILE --fps 30`: a camera-rate scenario. Two measurements:
 *
 * 1. single-stream over the clip's first frames (extracted by ffmpeg to JPEG, so the whole
 *    pipeline with its decode runs per frame): the usual rtinfer.bench/1 report, the model's
 *    single-stream latency on this footage;
 * 2. the clip paced at --fps (open loop: frame i is captured at t0 + i / fps whether or not frame
 *    i − 1 is done, as a camera delivers, MLPerf MultiStream's point), latest-frame-wins: frames
 *    processed, dropped, late (a frame's deadline is the next frame's arrival unless --deadline),
 *    capture-to-result percentiles, and a verdict on whether the model keeps up.
 *
 * 3. a search for the largest fps this machine sustains with no drop (`maxFps`): short paced runs
 *    (probes of about `probeMs` each), the rate doubled or halved from the run in (2) until one
 *    rate is sustained and another is not, then bisected, at most MAX_PROBES runs in all. A rate is
 *    sustained when no frame is dropped and ffmpeg itself delivers every frame on time.
 *
 * (2) and (3) go in the report as `video`, an addition: rtinfer.bench/1 keys are unchanged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RtinferError } from '../errors.js';
import { formatMs } from '../util/format.js';
import { openVisionModel } from '../vision/open-model.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { errorFromStderr, ffmpegMissing, ffmpegPath } from './ffmpeg.js';
import { openVideo } from './open-source.js';
import { runVideo, type VideoSummary } from './run-video.js';
import type { VideoInput } from './source.js';

export interface VideoBenchOptions {
  file: string;
  /** The camera rate frames arrive at (default: the file's own rate). */
  fps?: number;
  deadlineMs?: number;
  /** Length of the paced run (default: the whole clip, at most 60 s). */
  durationMs?: number;
  session?: SessionSettings;
  task?: string;
  signal?: AbortSignal;
  /** The max-fps search: false to skip it; probeMs is each probe run's length (default 2000). */
  maxFpsSearch?: false | { probeMs?: number };
}

export interface FpsProbe {
  fps: number;
  framesIn: number;
  processed: number;
  dropped: number;
  late: number;
  sourceBehind: number;
  captureToResultP99Ms: number;
  sustained: boolean;
}

export interface MaxFpsResult {
  /** The largest probed rate with no drop (0 when even MIN_FPS drops frames). */
  fps: number;
  /**
   * found: a sustained and a failed rate within 10 % of each other (or MAX_PROBES used between
   * them); at-cap: sustained up to MAX_FPS; below-min: MIN_FPS already drops frames.
   */
  bound: 'found' | 'at-cap' | 'below-min';
  /** The smallest rate that dropped a frame, when one did. */
  failedFps: number | null;
  probeMs: number;
  probes: FpsProbe[];
}

export interface VideoBenchResult {
  file: string;
  width: number;
  height: number;
  sourceFps: number | null;
  fps: number;
  path: string;
  summary: VideoSummary;
  /** The model's single-stream p99 (ms) on this clip's frames, from the same report. */
  singleStreamP99Ms: number;
  verdict: { keepsUp: boolean; text: string; p99WithinTwiceSingleStream: boolean };
  /** The largest fps sustained with no drop (absent when the search was turned off). */
  maxFps?: MaxFpsResult;
}

export const MAX_PROBES = 8;
export const MIN_FPS = 0.5;
export const MAX_FPS = 480;

/** A paced run at `fps` is sustained when no frame was dropped and the source kept the pace. */
export function probeOf(fps: number, s: VideoSummary): FpsProbe {
  const behind = s.sourceBehind?.frames ?? 0;
  return {
    fps,
    framesIn: s.framesIn,
    processed: s.processed,
    dropped: s.dropped,
    late: s.late,
    sourceBehind: behind,
    captureToResultP99Ms: s.captureToResultMs.p99,
    sustained: s.processed > 0 && s.dropped === 0 && behind === 0 && !s.error,
  };
}

const roundFps = (f: number): number => (f >= 10 ? Math.round(f) : Math.round(f * 10) / 10);

/**
 * The largest fps for which `probe` is sustained: from `first` (an already measured probe, or the
 * rate to start at), doubling while sustained and halving while not until the two bracket the
 * answer, then bisecting until the bracket is within 10 % or MAX_PROBES runs are spent.
 */
export async function searchMaxFps(
  probe: (fps: number) => Promise<FpsProbe>,
  first: FpsProbe | number,
  probeMs: number,
): Promise<MaxFpsResult> {
  const probes: FpsProbe[] = [];
  let lo: number | undefined;
  let hi: number | undefined;
  // hi: the smallest rate that dropped; lo: the largest sustained rate below it (a sustained run
  // above a failed one is luck on a noisy machine, not capacity).
  const record = (p: FpsProbe): void => {
    probes.push(p);
    const failed = probes.filter((q) => !q.sustained).map((q) => q.fps);
    hi = failed.length ? Math.min(...failed) : undefined;
    const ok = probes.filter((q) => q.sustained && (hi === undefined || q.fps < hi)).map((q) => q.fps);
    lo = ok.length ? Math.max(...ok) : undefined;
  };
  let next: number;
  if (typeof first === 'number') next = roundFps(Math.min(MAX_FPS, Math.max(MIN_FPS, first)));
  else {
    // The main run counts as a probe but not against MAX_PROBES: it is already paid for.
    record(first);
    next = roundFps(first.sustained ? Math.min(MAX_FPS, first.fps * 2) : Math.max(MIN_FPS, first.fps / 2));
    if (first.sustained && first.fps >= MAX_FPS) next = NaN;
  }
  let runs = 0;
  while (runs < MAX_PROBES && Number.isFinite(next)) {
    runs++;
    record(await probe(next));
    if (lo === undefined) {
      if (next <= MIN_FPS) break;
      next = roundFps(Math.max(MIN_FPS, next / 2));
    } else if (hi === undefined) {
      if (lo >= MAX_FPS) break;
      next = roundFps(Math.min(MAX_FPS, lo * 2));
    } else {
      if (hi <= lo * 1.1) break;
      const mid = roundFps(Math.sqrt(lo * hi));
      // Rounding can land on a rate already measured: the bracket is as narrow as rounding allows.
      if (mid <= lo || mid >= hi) break;
      next = mid;
    }
  }
  const bound = lo === undefined ? 'below-min' : hi === undefined ? 'at-cap' : 'found';
  return { fps: lo ?? 0, bound, failedFps: hi ?? null, probeMs, probes };
}

/** The clip's first `count` frames as JPEG files in a temporary folder (the caller removes it). */
export async function extractFrames(file: string, count: number): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rtinfer-frames-'));
  try {
    await promisify(execFile)(ffmpegPath(), [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-i',
      file,
      '-frames:v',
      String(count),
      '-q:v',
      '2',
      path.join(dir, 'f%05d.jpg'),
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw ffmpegMissing(ffmpegPath());
    throw errorFromStderr({ kind: 'file', location: file }, e.stderr ?? e.message, true);
  }
  return dir;
}

/** Keeps up: nothing dropped and at most 1 % of frames late. */
export function videoVerdict(s: VideoSummary, fps: number, singleStreamP99Ms: number): VideoBenchResult['verdict'] {
  const lateShare = s.processed ? s.late / s.processed : 1;
  const keepsUp = s.processed > 0 && s.dropped === 0 && lateShare <= 0.01 && (s.sourceBehind?.frames ?? 0) === 0;
  const p99WithinTwiceSingleStream = s.captureToResultMs.p99 <= 2 * singleStreamP99Ms;
  const text = keepsUp
    ? `keeps up with ${fps} fps: no frame dropped, ${s.late} of ${s.processed} late`
    : `does not keep up with ${fps} fps: ${s.dropped} of ${s.framesIn} frames dropped, ${s.late} ` +
      `of ${s.processed} late; it processed ${s.achievedFps.toFixed(1)} fps`;
  return { keepsUp, text, p99WithinTwiceSingleStream };
}

export async function runVideoBench(
  model: string,
  o: VideoBenchOptions,
  singleStreamP99Ms: number,
): Promise<VideoBenchResult> {
  const input: VideoInput = { kind: 'file', location: o.file };
  const opened = await openVisionModel(model, {
    ...(o.session ? { session: o.session } : {}),
    ...(o.task ? { task: o.task } : {}),
  });
  try {
    const probe = await openVideo(input, opened.config, { maxFrames: 1 });
    for await (const f of probe.frames) void f;
    const info = probe.info!;
    const fps = o.fps ?? info.fps ?? 30;
    if (!(fps > 0)) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --fps ${fps}`);
    const maxFrames = Math.max(1, Math.round(((o.durationMs ?? 60_000) / 1000) * fps));
    const video = await openVideo(input, opened.config, { maxFrames });
    // Warm the session on one frame first: the paced run measures the steady state.
    await opened
      .predict({
        data: new Uint8Array(info.width * info.height * 3),
        width: info.width,
        height: info.height,
        channels: 3,
      })
      .catch(() => undefined);
    const summary = await runVideo(video.frames, (image) => opened.predict(image), {
      realtime: true,
      paceFps: fps,
      sourceFps: info.fps,
      maxFrames,
      ...(o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    if (summary.error) throw new RtinferError(summary.error.code as never, summary.error.message);
    const result: VideoBenchResult = {
      file: o.file,
      width: info.width,
      height: info.height,
      sourceFps: info.fps,
      fps,
      path: video.path,
      summary,
      singleStreamP99Ms,
      verdict: videoVerdict(summary, fps, singleStreamP99Ms),
    };
    if (o.maxFpsSearch !== false) {
      const probeMs = o.maxFpsSearch?.probeMs ?? 2000;
      const probe = async (rate: number): Promise<FpsProbe> => {
        o.signal?.throwIfAborted();
        const frames = Math.max(4, Math.round((probeMs / 1000) * rate));
        const run = await openVideo(input, opened.config, { maxFrames: frames });
        const s = await runVideo(run.frames, (image) => opened.predict(image), {
          realtime: true,
          paceFps: rate,
          sourceFps: info.fps,
          maxFrames: frames,
          ...(o.signal ? { signal: o.signal } : {}),
        });
        if (s.error) throw new RtinferError(s.error.code as never, s.error.message);
        return probeOf(rate, s);
      };
      result.maxFps = await searchMaxFps(probe, probeOf(fps, summary), probeMs);
    }
    return result;
  } finally {
    await opened.close();
  }
}

export function renderVideoBench(v: VideoBenchResult): string {
  const s = v.summary;
  const c = s.captureToResultMs;
  return [
    '',
    `video ${v.file} (${v.width}x${v.height}${v.sourceFps ? ` @ ${v.sourceFps} fps` : ''}) replayed ` +
      `at ${v.fps} fps, latest frame wins, ${v.path}`,
    `  frames: ${s.framesIn} in, ${s.processed} processed, ${s.dropped} dropped, ${s.late} late ` +
      `(deadline ${formatMs(s.deadlineMs ?? NaN)} ms) · ${s.achievedFps.toFixed(1)} fps processed`,
    `  capture-to-result: p50 ${formatMs(c.p50)} · p90 ${formatMs(c.p90)} · ` +
      `p99 ${formatMs(c.p99)} ms (single-stream p99 ${formatMs(v.singleStreamP99Ms)} ms; goal ≤ 2× ` +
      `: ${v.verdict.p99WithinTwiceSingleStream ? 'met' : 'missed'})`,
    ...(s.sourceBehind && s.sourceBehind.frames > 0
      ? [
          `  the source fell behind the pace: ${s.sourceBehind.frames} frames arrived over a frame interval ` +
            `late (worst ${formatMs(s.sourceBehind.maxLagMs)} ms): ffmpeg cannot decode ${v.fps} fps here`,
        ]
      : []),
    ...(s.decoderCpuMs
      ? [`  ffmpeg decode and resize: ${formatMs(s.decoderCpuMs.perFrame)} ms CPU per frame (start-up included)`]
      : []),
    `  verdict: ${v.verdict.text}`,
    ...(v.maxFps ? [maxFpsLine(v.maxFps)] : []),
  ].join('\n');
}

export function maxFpsLine(m: MaxFpsResult): string {
  const what =
    m.bound === 'below-min'
      ? `frames drop even at ${MIN_FPS} fps`
      : m.bound === 'at-cap'
        ? `${m.fps} fps or more (the search stops at ${MAX_FPS})`
        : `${m.fps} fps (${m.failedFps} fps drops frames)`;
  const probes = m.probes
    .map((p) =>
      p.sustained
        ? `${p.fps}✓`
        : `${p.fps}✗${p.dropped ? ` ${p.dropped} dropped` : ''}${p.sourceBehind ? ` ${p.sourceBehind} behind` : ''}`,
    )
    .join(' · ');
  return `  max fps with no drop: ${what} · ${m.probes.length} runs (${m.probeMs / 1000} s probes): ${probes}`;
}
