/**
 * Frames from a video source as an async generator. ffmpeg decodes (and, on the prescaled path,
 * resizes and crops to the model's content size) and writes rgb24 on a pipe; stdin carries MJPEG
 * or raw frames read here. Reading is pull-based: while nobody asks for the next frame, the pipe
 * fills and ffmpeg blocks (a bounded buffer: the OS pipe, 64 KiB on Linux, plus one frame here).
 * Leaving the loop (return, throw, Ctrl-C) kills ffmpeg; a source that sends nothing for the
 * open or stall timeout is killed and reported, never waited on forever.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { RtinferError } from '../errors.js';
import type { ImageSource } from '../vision/types.js';
import { errorFromStderr, ffmpegMissing, ffmpegPath, inputArgs, stderrTail } from './ffmpeg.js';
import type { VideoInput } from './source.js';
import { MjpegSplitter, RawFrameSplitter } from './split.js';

export interface Frame {
  /** 0-based position in the source, counting every frame read (kept or not). */
  index: number;
  /** performance.now() when the frame's last byte arrived. */
  arrivedMs: number;
  image: ImageSource;
  /** CPU time (user + system, ms) the decoding ffmpeg has used so far; Linux only (/proc). */
  decoderCpuMs?: number;
}

// USER_HZ is 100 on every Linux architecture Node runs on (sysconf(_SC_CLK_TCK)).
const CLOCK_TICK_MS = 10;

/** utime + stime of a process from /proc/PID/stat, in ms; undefined where there is no /proc. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the 14th
    // field, stime the 15th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * CLOCK_TICK_MS;
  } catch {
    return undefined;
  }
}

export interface FfmpegFrameOptions {
  input: VideoInput;
  /** The source's size (from probing): what results are reported in. */
  original: { width: number; height: number };
  /**
   * Prescaled: ffmpeg resizes to `resized` and crops `crop` out of it (the model's content region,
   * planTransform's), so only model-size pixels cross the pipe. Absent: full frames (for drawing).
   */
  prescale?: {
    resized: { width: number; height: number };
    crop: { x: number; y: number; width: number; height: number };
  };
  /** Extra ffmpeg options after the input (e.g. `-frames:v N`). */
  extra?: string[];
  openTimeoutMs: number;
  stallTimeoutMs: number;
}

/** The ffmpeg command line for `o`, for messages and tests. */
export function ffmpegArgs(o: FfmpegFrameOptions): string[] {
  const filters: string[] = [];
  if (o.prescale !== undefined) {
    const { resized, crop } = o.prescale;
    // bilinear: what cv2.INTER_LINEAR (YOLO, PP-OCR) and the sharp path's 'linear' kernel do.
    filters.push(`scale=${resized.width}:${resized.height}:flags=bilinear`);
    if (crop.x !== 0 || crop.y !== 0 || crop.width !== resized.width || crop.height !== resized.height)
      filters.push(`crop=${crop.width}:${crop.height}:${crop.x}:${crop.y}`);
  }
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    ...inputArgs(o.input, o.openTimeoutMs),
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    // Every decoded frame once, no duplication to a constant rate.
    '-fps_mode',
    'passthrough',
    ...(filters.length ? ['-vf', filters.join(',')] : []),
    ...(o.extra ?? []),
    '-pix_fmt',
    'rgb24',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
}

/** A timer that kills on expiry and says why; disarmed while the consumer holds a frame. */
function watchdog(kill: () => void): {
  arm(ms: number, why: 'open' | 'stall'): void;
  disarm(): void;
  readonly fired: 'open' | 'stall' | undefined;
} {
  let timer: NodeJS.Timeout | undefined;
  let fired: 'open' | 'stall' | undefined;
  return {
    arm(ms, why) {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fired = why;
        kill();
      }, ms);
    },
    disarm() {
      clearTimeout(timer);
    },
    get fired() {
      return fired;
    },
  };
}

export async function* ffmpegFrames(o: FfmpegFrameOptions): AsyncGenerator<Frame> {
  const size = o.prescale?.crop ?? o.original;
  const child = spawn(ffmpegPath(), ffmpegArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = stderrTail(child);
  let spawnError: NodeJS.ErrnoException | undefined;
  const closed = new Promise<number | null>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  const dog = watchdog(() => child.kill('SIGKILL'));
  const splitter = new RawFrameSplitter(size.width * size.height * 3);
  let index = 0;
  try {
    dog.arm(o.openTimeoutMs, 'open');
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      for (const data of splitter.push(chunk)) {
        const arrivedMs = performance.now();
        dog.disarm();
        const image =
          o.prescale !== undefined
            ? { data, width: size.width, height: size.height, channels: 3 as const, original: o.original }
            : { data, width: size.width, height: size.height, channels: 3 as const };
        const decoderCpuMs = processCpuMs(child.pid);
        yield { index: index++, arrivedMs, image, ...(decoderCpuMs !== undefined ? { decoderCpuMs } : {}) };
        dog.arm(o.stallTimeoutMs, 'stall');
      }
    }
    const code = await closed;
    if (spawnError !== undefined)
      throw spawnError.code === 'ENOENT'
        ? ffmpegMissing(ffmpegPath())
        : new RtinferError('RTI_ERR_VIDEO_OPEN', `${o.input.location}: cannot start ffmpeg (${spawnError.message})`);
    if (dog.fired === 'open')
      throw new RtinferError(
        'RTI_ERR_VIDEO_OPEN',
        `${o.input.location}: no frame within ${(o.openTimeoutMs / 1000).toFixed(0)} s of opening (--open-timeout)`,
      );
    if (dog.fired === 'stall')
      throw new RtinferError(
        'RTI_ERR_VIDEO_DECODE',
        `${o.input.location}: stalled, no frame for ${(o.stallTimeoutMs / 1000).toFixed(0)} s after ` +
          `frame ${index} (--open-timeout)`,
      );
    if (code !== 0) throw errorFromStderr(o.input, stderr(), index === 0);
    // A damaged file decodes to its end with ffmpeg exiting 0 and errors logged (concealed frames):
    // for a file that is corrupt data, said after its frames. A live stream's glitches are not fatal.
    const logged = stderr()
      .split('\n')
      .map((l) => l.replace(/^\[[^\]]*\]\s*/, '').trim())
      .filter(Boolean);
    if (o.input.kind === 'file' && logged.length > 0)
      throw new RtinferError(
        'RTI_ERR_VIDEO_DECODE',
        `${o.input.location}: corrupt or truncated video (${logged[0]}); ${index} frames decoded`,
      );
    if (splitter.rest() > 0)
      throw new RtinferError('RTI_ERR_VIDEO_DECODE', `${o.input.location}: truncated frame after frame ${index}`);
  } finally {
    dog.disarm();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export interface StdinFrameOptions {
  stream: Readable;
  /** Raw frames of this size and channel count; absent: MJPEG. */
  raw?: { width: number; height: number; channels: 1 | 3 | 4 };
}

/** Frames from stdin: MJPEG (each JPEG decoded by the pipeline's sharp path) or fixed-size raw frames. */
export async function* stdinFrames(o: StdinFrameOptions): AsyncGenerator<Frame> {
  let index = 0;
  if (o.raw !== undefined) {
    const { width, height, channels } = o.raw;
    const splitter = new RawFrameSplitter(width * height * channels);
    for await (const chunk of o.stream as AsyncIterable<Buffer>) {
      for (const data of splitter.push(chunk))
        yield { index: index++, arrivedMs: performance.now(), image: { data, width, height, channels } };
    }
    if (splitter.rest() > 0)
      throw new RtinferError(
        'RTI_ERR_VIDEO_DECODE',
        `stdin: truncated raw frame after frame ${index} (${splitter.rest()} of ${splitter.frameBytes} bytes)`,
      );
    return;
  }
  const splitter = new MjpegSplitter();
  let bytes = 0;
  for await (const chunk of o.stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    let frames: Buffer[];
    try {
      frames = splitter.push(chunk);
    } catch (error) {
      throw new RtinferError('RTI_ERR_VIDEO_UNSUPPORTED', `stdin: ${(error as Error).message}`);
    }
    for (const data of frames) yield { index: index++, arrivedMs: performance.now(), image: data };
  }
  if (index === 0 && bytes > 0)
    throw new RtinferError(
      'RTI_ERR_VIDEO_UNSUPPORTED',
      'stdin: no JPEG in it (expected MJPEG, or raw frames with --frame-size WxH)',
    );
  if (splitter.pending()) throw new RtinferError('RTI_ERR_VIDEO_DECODE', `stdin: truncated JPEG after frame ${index}`);
}
