/**
 * ffmpeg and ffprobe as subprocesses: where they are, how an input is named to them (camera,
 * stream, file), probing a video's size and rate with a bounded wait, and turning what they print
 * on failure into one-line errors from the catalogue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { RtinferError } from '../errors.js';
import type { VideoInput } from './source.js';

export const FFMPEG_HINT =
  'apt-get install ffmpeg (Debian/Ubuntu), brew install ffmpeg (macOS), or set RTINFER_FFMPEG and ' +
  'RTINFER_FFPROBE to the binaries';

/** ffmpeg's ways of saying a file is not a video it can decode. */
const NOT_DECODABLE = new RegExp(
  'Invalid data found|could not find codec|moov atom not found|does not contain any stream|Unknown input format',
  'i',
);

export function ffmpegPath(): string {
  return process.env['RTINFER_FFMPEG'] ?? 'ffmpeg';
}

export function ffprobePath(): string {
  return process.env['RTINFER_FFPROBE'] ?? 'ffprobe';
}

export function ffmpegMissing(binary: string): RtinferError {
  return new RtinferError(
    'RTI_ERR_VIDEO_FFMPEG_MISSING',
    `${binary} not found: video, camera and stream sources need it (${FFMPEG_HINT})`,
  );
}

/** ffmpeg options that go before `-i` for this input: the demuxer of a camera, timeouts of a stream. */
export function inputArgs(input: VideoInput, openTimeoutMs: number): string[] {
  const us = String(Math.round(openTimeoutMs * 1000));
  if (input.kind === 'camera') return ['-f', 'v4l2', '-i', input.location];
  if (input.kind === 'stream') {
    // RTSP over TCP (UDP loses packets behind NAT); both protocols take a socket timeout in µs.
    if (/^rtsps?:/i.test(input.location)) return ['-rtsp_transport', 'tcp', '-timeout', us, '-i', input.location];
    if (/^https?:/i.test(input.location)) return ['-rw_timeout', us, '-i', input.location];
    return ['-i', input.location];
  }
  return ['-i', input.location];
}

export interface VideoInfo {
  width: number;
  height: number;
  /** Frames per second as the container declares it (r_frame_rate); null when unknown (some streams). */
  fps: number | null;
  codec: string;
  pixelFormat: string;
  /** Frame count when the container says (mp4 does, mkv and streams do not). */
  frames: number | null;
}

/** A one-line error for what ffmpeg or ffprobe printed when it could not open or decode `input`. */
export function errorFromStderr(input: VideoInput, stderr: string, opening: boolean): RtinferError {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines.at(-1) ?? 'no message';
  const where = input.location;
  if (/No such file or directory/i.test(stderr))
    return new RtinferError('RTI_ERR_VIDEO_NOT_FOUND', `${where}: no such file or device`);
  if (/Permission denied/i.test(stderr))
    return new RtinferError('RTI_ERR_VIDEO_NOT_FOUND', `${where}: permission denied`);
  if (opening && input.kind === 'file' && NOT_DECODABLE.test(stderr)) {
    return new RtinferError('RTI_ERR_VIDEO_UNSUPPORTED', `${where}: not a video ffmpeg can decode (${last})`);
  }
  if (opening)
    return new RtinferError(
      input.kind === 'file' ? 'RTI_ERR_VIDEO_UNSUPPORTED' : 'RTI_ERR_VIDEO_OPEN',
      `${where}: cannot open ${input.kind} (${last})`,
    );
  return new RtinferError('RTI_ERR_VIDEO_DECODE', `${where}: decoding stopped (${last})`);
}

/** Collects the last `limit` characters a child writes on stderr (messages can be long; we keep the tail). */
export function stderrTail(child: ChildProcess, limit = 8192): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    text = (text + s).slice(-limit);
  });
  return () => text;
}

function rate(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const [n, d] = text.split('/').map(Number);
  if (n === undefined || !(n > 0)) return null;
  const r = d === undefined ? n : d > 0 ? n / d : NaN;
  // ffprobe says 90000/1 or 1000/1 for streams whose rate it does not know (timebase, not a rate).
  return Number.isFinite(r) && r > 0 && r <= 1000 ? r : null;
}

/** Width, height and rate of the first video stream, or a one-line error; never waits more than `timeoutMs`. */
export async function probeVideo(input: VideoInput, timeoutMs: number): Promise<VideoInfo> {
  const args = [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=width,height,r_frame_rate,avg_frame_rate,pix_fmt,codec_name,nb_frames',
    '-of',
    'json',
    ...inputArgs(input, timeoutMs),
  ];
  const child = spawn(ffprobePath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = stderrTail(child);
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => (stdout += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? ffmpegMissing(ffprobePath()) : error),
    );
    child.on('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  if (timedOut)
    throw new RtinferError(
      'RTI_ERR_VIDEO_OPEN',
      `${input.location}: no answer within ${Math.round(timeoutMs / 1000)} s while opening (--open-timeout)`,
    );
  if (code !== 0) throw errorFromStderr(input, stderr(), true);
  let parsed: { streams?: Array<Record<string, unknown>> };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    throw new RtinferError('RTI_ERR_VIDEO_UNSUPPORTED', `${input.location}: ffprobe gave no readable description`);
  }
  const s = parsed.streams?.[0];
  const width = Number(s?.['width']);
  const height = Number(s?.['height']);
  if (s === undefined || !(width > 0 && height > 0))
    throw new RtinferError('RTI_ERR_VIDEO_UNSUPPORTED', `${input.location}: no video stream in it`);
  const frames = Number(s['nb_frames']);
  return {
    width,
    height,
    fps: rate(s['avg_frame_rate']) ?? rate(s['r_frame_rate']),
    codec: String(s['codec_name'] ?? 'unknown'),
    pixelFormat: String(s['pix_fmt'] ?? 'unknown'),
    frames: Number.isInteger(frames) && frames > 0 ? frames : null,
  };
}
