/**
 * A video source opened for a model: probed (size, rate), then ffmpeg started so that it hands
 * over frames already resized and cropped to the model's content region (the "prescaled" path:
 * decode and resize in one ffmpeg process, only model-size pixels cross the pipe), or full frames
 * when they are needed whole (drawing them for --save; `resize: 'sharp'` to compare).
 */
import { access, constants } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { RtinferError } from '../errors.js';
import type { PreprocessConfig } from '../vision/config.js';
import { planTransform } from '../vision/geometry.js';
import { probeVideo, type VideoInfo } from './ffmpeg.js';
import { ffmpegFrames, stdinFrames, type Frame } from './frames.js';
import type { VideoInput } from './source.js';

export interface OpenVideoOptions {
  /**
   * Where frames are resized: 'ffmpeg' (default, the prescaled path) or 'sharp' (full frames, resized
   * by the pipeline).
   */
  resize?: 'ffmpeg' | 'sharp';
  openTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** stdin: raw frames of this size and pixel format instead of MJPEG. */
  rawFrame?: { width: number; height: number; pixelFormat: string };
  stdin?: Readable;
  /** Stop ffmpeg after this many frames (`-frames:v`). */
  maxFrames?: number;
}

export interface OpenedVideo {
  input: VideoInput;
  /** Probed description; for stdin only what the options say (MJPEG sizes are known per frame). */
  info: VideoInfo | null;
  /** 'ffmpeg-prescaled', 'ffmpeg-full' or 'stdin-mjpeg' / 'stdin-raw'. */
  path: string;
  frames: AsyncIterable<Frame>;
}

const RAW_FORMATS: Record<string, 1 | 3 | 4> = { rgb24: 3, rgba: 4, gray: 1 };

export async function openVideo(
  input: VideoInput,
  config: PreprocessConfig,
  o: OpenVideoOptions = {},
): Promise<OpenedVideo> {
  const openTimeoutMs = o.openTimeoutMs ?? 10_000;
  const stallTimeoutMs = o.stallTimeoutMs ?? openTimeoutMs;
  if (input.kind === 'stdin') {
    if (o.rawFrame !== undefined) {
      const channels = RAW_FORMATS[o.rawFrame.pixelFormat];
      if (channels === undefined)
        throw new RtinferError(
          'RTI_ERR_VIDEO_UNSUPPORTED',
          `stdin: unsupported pixel format '${o.rawFrame.pixelFormat}' for raw frames ` +
            `(expected ${Object.keys(RAW_FORMATS).join(', ')}; or send MJPEG)`,
        );
      const { width, height } = o.rawFrame;
      return {
        input,
        info: { width, height, fps: null, codec: 'rawvideo', pixelFormat: o.rawFrame.pixelFormat, frames: null },
        path: 'stdin-raw',
        frames: stdinFrames({ stream: o.stdin ?? process.stdin, raw: { width, height, channels } }),
      };
    }
    return { input, info: null, path: 'stdin-mjpeg', frames: stdinFrames({ stream: o.stdin ?? process.stdin }) };
  }
  if (input.kind === 'file' || input.kind === 'camera') {
    try {
      await access(input.location, constants.R_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RtinferError(
        'RTI_ERR_VIDEO_NOT_FOUND',
        code === 'ENOENT'
          ? `${input.location}: no such ${input.kind === 'camera' ? 'camera device' : 'file'}`
          : `${input.location}: cannot read it (${code ?? 'error'})`,
      );
    }
  }
  const info = await probeVideo(input, openTimeoutMs);
  const original = { width: info.width, height: info.height };
  const extra = o.maxFrames !== undefined ? ['-frames:v', String(o.maxFrames)] : [];
  if ((o.resize ?? 'ffmpeg') === 'sharp') {
    return {
      input,
      info,
      path: 'ffmpeg-full',
      frames: ffmpegFrames({ input, original, extra, openTimeoutMs, stallTimeoutMs }),
    };
  }
  const t = planTransform(info.width, info.height, config);
  const prescale = {
    resized: t.resized,
    crop: { x: t.cropX, y: t.cropY, width: t.content.width, height: t.content.height },
  };
  return {
    input,
    info,
    path: 'ffmpeg-prescaled',
    frames: ffmpegFrames({ input, original, prescale, extra, openTimeoutMs, stallTimeoutMs }),
  };
}
