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
import { round3 } from '../util/format.js';

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
  const run = new VideoRun(predict, o);
  let failure: RtinferError | Error | undefined;
  try {
    if (o.realtime) await latestFrameWins(run, frames);
    else await allFrames(run, frames);
  } catch (error) {
    if (isRtinferError(error) && error.kind !== 'refused' && /VIDEO/.test(error.code)) failure = error;
    else throw error;
  }
  return run.summary(failure);
}

type Captured = Frame & { captureMs: number };

/** One run's clock, counts and recorders, and what it does with each frame. */
class VideoRun {
  readonly t0 = performance.now();
  readonly counts = { framesIn: 0, processed: 0, dropped: 0, skipped: 0, failed: 0, late: 0 };
  readonly #latency = new LatencyRecorder();
  readonly #stages = Object.fromEntries(STAGE_NAMES.map((s) => [s, new LatencyRecorder()])) as Record<
    StageName,
    LatencyRecorder
  >;
  readonly #deadlineMs: number | undefined;
  readonly #behind = { frames: 0, maxLagMs: 0 };
  readonly #limit: number;
  #lastDone = -1;
  #inOrder = true;
  #decoderCpu: number | undefined;

  constructor(
    readonly predict: (image: ImageSource) => Promise<VisionResult>,
    readonly o: VideoRunOptions,
  ) {
    this.#deadlineMs =
      o.deadlineMs ?? (o.paceFps ? 1000 / o.paceFps : o.sourceFps && o.realtime ? 1000 / o.sourceFps : undefined);
    this.#limit = o.maxFrames ?? Infinity;
  }

  /** ms from the run's start, rounded. */
  at(ms: number): number {
    return round3(ms - this.t0);
  }

  mediaTime(i: number): number | null {
    return this.o.sourceFps ? round3(i / this.o.sourceFps) : null;
  }

  aborted(): boolean {
    return this.o.signal?.aborted === true;
  }

  async emit(rec: FrameRecord, r?: VisionResult, image?: ImageSource): Promise<void> {
    if (this.o.onFrame) await this.o.onFrame(rec, r, image);
  }

  /** A frame's record with no result: skipped or dropped. */
  passed(f: Captured, status: 'skipped' | 'dropped'): FrameRecord {
    return { frame: f.index, t: this.mediaTime(f.index), captureMs: this.at(f.captureMs), status };
  }

  async handle(f: Captured): Promise<void> {
    const start = performance.now();
    const rec: FrameRecord = {
      frame: f.index,
      t: this.mediaTime(f.index),
      captureMs: this.at(f.captureMs),
      status: 'done',
      startMs: this.at(start),
    };
    if (f.index < this.#lastDone) this.#inOrder = false;
    this.#lastDone = f.index;
    try {
      const r = await this.predict(f.image);
      const end = performance.now();
      this.counts.processed++;
      rec.endMs = this.at(end);
      rec.latencyMs = round3(end - f.captureMs);
      this.#latency.record((end - f.captureMs) * 1000);
      for (const s of STAGE_NAMES) this.#stages[s].record(r.speedMs[s] * 1000);
      rec.speedMs = Object.fromEntries(STAGE_NAMES.map((s) => [s, round3(r.speedMs[s])])) as unknown as SpeedMs;
      if (this.#deadlineMs !== undefined) {
        rec.late = end - f.captureMs > this.#deadlineMs;
        if (rec.late) this.counts.late++;
      }
      await this.emit(rec, r, f.image);
    } catch (error) {
      // One frame that fails (a corrupt JPEG on stdin) fails its own record, not the run.
      if (!isRtinferError(error) || error.kind !== 'usage') throw error;
      this.counts.failed++;
      rec.status = 'failed';
      rec.endMs = this.at(performance.now());
      rec.error = { code: error.code, message: error.message };
      await this.emit(rec);
    }
  }

  /** Frames with their capture time: arrival, or the pace's schedule (waiting for it). */
  async *captured(frames: AsyncIterable<Frame>): AsyncGenerator<Captured> {
    const o = this.o;
    for await (const f of frames) {
      if (this.aborted() || this.counts.framesIn >= this.#limit) return;
      this.counts.framesIn++;
      if (f.decoderCpuMs !== undefined) this.#decoderCpu = f.decoderCpuMs;
      let captureMs = f.arrivedMs;
      if (o.paceFps) {
        const due = this.t0 + (f.index * 1000) / o.paceFps;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait, undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
        captureMs = Math.max(due, f.arrivedMs);
        const lag = f.arrivedMs - due;
        if (lag > 1000 / o.paceFps) this.#behind.frames++;
        this.#behind.maxLagMs = Math.max(this.#behind.maxLagMs, lag);
      }
      yield { ...f, captureMs };
    }
  }

  summary(failure: RtinferError | Error | undefined): VideoSummary {
    const o = this.o;
    const counts = this.counts;
    const wallMs = performance.now() - this.t0;
    const cap = summarize(this.#latency);
    const decoderCpu = this.#decoderCpu;
    return {
      mode: o.realtime ? 'realtime' : 'all-frames',
      paceFps: o.paceFps ?? null,
      deadlineMs: this.#deadlineMs === undefined ? null : round3(this.#deadlineMs),
      ...counts,
      wallMs: round3(wallMs),
      achievedFps: round3(counts.processed / (wallMs / 1000)),
      inOrder: this.#inOrder,
      captureToResultMs: { ...cap, max: round3(this.#latency.count ? this.#latency.maxUs / 1000 : 0) },
      stagesMs: Object.fromEntries(STAGE_NAMES.map((s) => [s, summarize(this.#stages[s])])) as Record<
        StageName,
        StageSummary
      >,
      ...(o.paceFps ? { sourceBehind: { frames: this.#behind.frames, maxLagMs: round3(this.#behind.maxLagMs) } } : {}),
      ...(decoderCpu !== undefined && counts.framesIn > 0
        ? { decoderCpuMs: { total: decoderCpu, perFrame: round3(decoderCpu / counts.framesIn) } }
        : {}),
      ...(failure
        ? { error: { code: isRtinferError(failure) ? failure.code : 'error', message: firstLine(failure) } }
        : {}),
    };
  }
}

/** All frames: the next frame is pulled only when the model is free; `every` / `fps` skip some. */
async function allFrames(run: VideoRun, frames: AsyncIterable<Frame>): Promise<void> {
  for await (const f of run.captured(frames)) {
    if (!keepFrame(f.index, run.o)) {
      run.counts.skipped++;
      await run.emit(run.passed(f, 'skipped'));
      continue;
    }
    await run.handle(f);
    if (run.aborted()) break;
  }
}

/**
 * Latest frame wins: a reader keeps only the newest frame in a one-frame slot while the model
 * works; a frame replaced before the model took it is dropped, and its record is emitted before
 * the next frame is handled.
 */
async function latestFrameWins(run: VideoRun, frames: AsyncIterable<Frame>): Promise<void> {
  const slot = new LatestSlot<Captured>();
  const drops: FrameRecord[] = [];
  const reader = (async () => {
    try {
      for await (const f of run.captured(frames)) {
        const old = slot.put(f);
        if (old !== undefined) {
          run.counts.dropped++;
          drops.push(run.passed(old, 'dropped'));
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
      for (const d of drops.splice(0)) await run.emit(d);
      if (f === undefined || run.aborted()) break;
      await run.handle(f);
    }
  } finally {
    slot.close();
    await reader;
    for (const d of drops.splice(0)) await run.emit(d);
  }
}
