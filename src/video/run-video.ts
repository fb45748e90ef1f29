/**
 * The frame loop: frames from a source through a `predict` function, one at a time, in order, with
 * per-frame times and the summary. Two ways to meet a source that is faster than the model:
 *
 * - realtime (latest-frame-wins): a reader takes every frame as it comes and keeps only the newest
 *   in a one-frame slot; a frame replaced before the model got to it is dropped. Cameras and
 *   streams default to this. With `paceFps` the frames of a file are released at that rate (open
 *   loop: frame i is captured at t0 + i / fps whether or not frame i − 1 is done), a camera's
 *   behaviour from a file.
 * - all frames: the loop pulls the next frame only when the model is free (the pipe's backpressure
 *   slows ffmpeg), so nothing is dropped; `every` / `fps` keep a subset (skipped, not dropped).
 *
 * Emits each frame's record through `onFrame`; the CLI turns them into JSON lines, a progress line
 * and an annotated video, each apart from this loop.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRtinferError, firstLine, type RtinferError } from '../errors.js';
import { STAGE_NAMES, summarize, type StageName, type StageSummary } from '../vision/stages.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import type { SpeedMs, VisionResult } from '../vision/pipeline.js';
import type { ImageSource } from '../vision/types.js';
import type { Frame } from './frames.js';
import { LatestSlot } from './latest-slot.js';

export interface VideoRunOptions {
  realtime: boolean;
  /** Release frames at this rate (frames per second): the capture time of frame i is t0 + i / paceFps. */
  paceFps?: number;
  /** The source's frame rate, for `fps` subsampling and media times. */
  sourceFps?: number | null;
  /** Keep every Nth frame (all-frames mode). */
  every?: number;
  /** Keep frames at about this rate of media time (all-frames mode). */
  fps?: number;
  /** Stop after this many frames read. */
  maxFrames?: number;
  /** A frame's deadline after its capture (default: the frame interval, when a rate is known). */
  deadlineMs?: number;
  signal?: AbortSignal;
  onFrame?: (
    record: FrameRecord,
    result: VisionResult | undefined,
    image: ImageSource | undefined,
  ) => void | Promise<void>;
}

export interface FrameRecord {
  frame: number;
  /** Media time in seconds (frame / source fps), when the rate is known. */
  t: number | null;
  /** ms from the run's start. */
  captureMs: number;
  status: 'done' | 'dropped' | 'skipped' | 'failed';
  startMs?: number;
  endMs?: number;
  /** endMs − captureMs: what a viewer of the frame waits for its result. */
  latencyMs?: number;
  /** Over the frame's deadline (its latency above `deadlineMs`). */
  late?: boolean;
  speedMs?: SpeedMs;
  error?: { code: string; message: string };
}

export interface VideoSummary {
  mode: 'realtime' | 'all-frames';
  paceFps: number | null;
  deadlineMs: number | null;
  framesIn: number;
  processed: number;
  dropped: number;
  skipped: number;
  failed: number;
  late: number;
  wallMs: number;
  /** processed / wall time. */
  achievedFps: number;
  /** Frames came out in capture order (always, by construction; checked all the same). */
  inOrder: boolean;
  captureToResultMs: StageSummary & { max: number };
  stagesMs: Record<StageName, StageSummary>;
  /**
   * Paced runs: frames the source itself delivered more than one frame interval after their due
   * time (ffmpeg decoding slower than the pace); their capture time is their arrival, so this lag
   * is not in capture-to-result. maxLagMs is the worst such lateness.
   */
  sourceBehind?: { frames: number; maxLagMs: number };
  /**
   * ffmpeg's own CPU time (decode, and resize on the prescaled path) up to the last frame read,
   * total and per frame read: the stage the per-frame split does not see. Linux only.
   */
  decoderCpuMs?: { total: number; perFrame: number };
  /** The source's failure, if it stopped early (the frames before it are counted above). */
  error?: { code: string; message: string };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Whether all-frames mode keeps frame `i`. */
export function keepFrame(i: number, o: Pick<VideoRunOptions, 'every' | 'fps' | 'sourceFps'>): boolean {
  if (o.every !== undefined && o.every > 1) return i % o.every === 0;
  if (o.fps !== undefined && o.sourceFps) {
    if (o.fps >= o.sourceFps) return true;
    // Keep a frame when it crosses into the next 1/fps interval of media time.
    const slot = (k: number): number => Math.floor((k * o.fps!) / o.sourceFps! + 1e-9);
    return i === 0 || slot(i) > slot(i - 1);
  }
  return true;
}

export async function runVideo(
  frames: AsyncIterable<Frame>,
  predict: (image: ImageSource) => Promise<VisionResult>,
  o: VideoRunOptions,
): Promise<VideoSummary> {
  const t0 = performance.now();
  const latency = new LatencyRecorder();
  const stages = Object.fromEntries(STAGE_NAMES.map((s) => [s, new LatencyRecorder()])) as Record<
    StageName,
    LatencyRecorder
  >;
  const deadlineMs =
    o.deadlineMs ?? (o.paceFps ? 1000 / o.paceFps : o.sourceFps && o.realtime ? 1000 / o.sourceFps : undefined);
  const counts = { framesIn: 0, processed: 0, dropped: 0, skipped: 0, failed: 0, late: 0 };
  let lastDone = -1;
  let inOrder = true;
  let failure: RtinferError | Error | undefined;
  let decoderCpu: number | undefined;
  const behind = { frames: 0, maxLagMs: 0 };
  const at = (ms: number): number => r3(ms - t0);
  const mediaTime = (i: number): number | null => (o.sourceFps ? r3(i / o.sourceFps) : null);
  type Captured = Frame & { captureMs: number };

  const emit = async (rec: FrameRecord, r?: VisionResult, image?: ImageSource): Promise<void> => {
    if (o.onFrame) await o.onFrame(rec, r, image);
  };

  async function handle(f: Captured): Promise<void> {
    const start = performance.now();
    const rec: FrameRecord = {
      frame: f.index,
      t: mediaTime(f.index),
      captureMs: at(f.captureMs),
      status: 'done',
      startMs: at(start),
    };
    if (f.index < lastDone) inOrder = false;
    lastDone = f.index;
    try {
      const r = await predict(f.image);
      const end = performance.now();
      counts.processed++;
      rec.endMs = at(end);
      rec.latencyMs = r3(end - f.captureMs);
      latency.record((end - f.captureMs) * 1000);
      for (const s of STAGE_NAMES) stages[s].record(r.speedMs[s] * 1000);
      rec.speedMs = Object.fromEntries(STAGE_NAMES.map((s) => [s, r3(r.speedMs[s])])) as unknown as SpeedMs;
      if (deadlineMs !== undefined) {
        rec.late = end - f.captureMs > deadlineMs;
        if (rec.late) counts.late++;
      }
      await emit(rec, r, f.image);
    } catch (error) {
      // One frame that fails (a corrupt JPEG on stdin) fails its own record, not the run.
      if (!isRtinferError(error) || error.kind !== 'usage') throw error;
      counts.failed++;
      rec.status = 'failed';
      rec.endMs = at(performance.now());
      rec.error = { code: error.code, message: error.message };
      await emit(rec);
    }
  }

  const aborted = (): boolean => o.signal?.aborted === true;
  const limit = o.maxFrames ?? Infinity;

  /** Frames with their capture time: arrival, or the pace's schedule (waiting for it). */
  async function* captured(): AsyncGenerator<Captured> {
    for await (const f of frames) {
      if (aborted() || counts.framesIn >= limit) return;
      counts.framesIn++;
      if (f.decoderCpuMs !== undefined) decoderCpu = f.decoderCpuMs;
      let captureMs = f.arrivedMs;
      if (o.paceFps) {
        const due = t0 + (f.index * 1000) / o.paceFps;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait, undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
        captureMs = Math.max(due, f.arrivedMs);
        const lag = f.arrivedMs - due;
        if (lag > 1000 / o.paceFps) behind.frames++;
        behind.maxLagMs = Math.max(behind.maxLagMs, lag);
      }
      yield { ...f, captureMs };
    }
  }

  try {
    if (!o.realtime) {
      for await (const f of captured()) {
        if (!keepFrame(f.index, o)) {
          counts.skipped++;
          await emit({ frame: f.index, t: mediaTime(f.index), captureMs: at(f.captureMs), status: 'skipped' });
          continue;
        }
        await handle(f);
        if (aborted()) break;
      }
    } else {
      const slot = new LatestSlot<Captured>();
      const drops: FrameRecord[] = [];
      const reader = (async () => {
        try {
          for await (const f of captured()) {
            const old = slot.put(f);
            if (old !== undefined) {
              counts.dropped++;
              drops.push({
                frame: old.index,
                t: mediaTime(old.index),
                captureMs: at(old.captureMs),
                status: 'dropped',
              });
            }
          }
          slot.close();
        } catch (error) {
          slot.close(error);
        }
      })();
      try {
        for (;;) {
          const f = await slot.take();
          for (const d of drops.splice(0)) await emit(d);
          if (f === undefined || aborted()) break;
          await handle(f);
        }
      } finally {
        slot.close();
        await reader;
        for (const d of drops.splice(0)) await emit(d);
      }
    }
  } catch (error) {
    if (isRtinferError(error) && error.kind !== 'refused' && /VIDEO/.test(error.code)) failure = error;
    else throw error;
  }
  const wallMs = performance.now() - t0;
  const cap = summarize(latency);
  return {
    mode: o.realtime ? 'realtime' : 'all-frames',
    paceFps: o.paceFps ?? null,
    deadlineMs: deadlineMs === undefined ? null : r3(deadlineMs),
    ...counts,
    wallMs: r3(wallMs),
    achievedFps: r3(counts.processed / (wallMs / 1000)),
    inOrder,
    captureToResultMs: { ...cap, max: r3(latency.count ? latency.maxUs / 1000 : 0) },
    stagesMs: Object.fromEntries(STAGE_NAMES.map((s) => [s, summarize(stages[s])])) as Record<StageName, StageSummary>,
    ...(o.paceFps ? { sourceBehind: { frames: behind.frames, maxLagMs: r3(behind.maxLagMs) } } : {}),
    ...(decoderCpu !== undefined && counts.framesIn > 0
      ? { decoderCpuMs: { total: decoderCpu, perFrame: r3(decoderCpu / counts.framesIn) } }
      : {}),
    ...(failure
      ? { error: { code: isRtinferError(failure) ? failure.code : 'error', message: firstLine(failure) } }
      : {}),
  };
}
