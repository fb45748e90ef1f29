/** Short videos made by ffmpeg itself (no binary fixtures), and a visible skip when ffmpeg is absent. */
import { execFile, execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { ffmpegPath, ffprobePath } from '../../src/video/ffmpeg.js';

const run = promisify(execFile);

let available: boolean | undefined;
export function hasFfmpeg(): boolean {
  if (available === undefined) {
    try {
      execFileSync(ffmpegPath(), ['-version'], { stdio: 'ignore' });
      execFileSync(ffprobePath(), ['-version'], { stdio: 'ignore' });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** True after marking the test skipped (with how to get ffmpeg) when it is not installed. */
export function skipWithoutFfmpeg(t: TestContext): boolean {
  if (hasFfmpeg()) return false;
  t.skip(
    'ffmpeg/ffprobe not found (apt-get install ffmpeg, or set RTINFER_FFMPEG / RTINFER_FFPROBE): video test skipped',
  );
  return true;
}

/** Runs ffmpeg quietly with `args` (ending with the output file). */
export async function ffmpeg(...args: string[]): Promise<void> {
  await run(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

/** Frame count, size and rate of a video, counted by decoding it. */
export async function probeFrames(file: string): Promise<{ frames: number; width: number; height: number }> {
  const { stdout } = await run(ffprobePath(), [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=nb_read_frames,width,height',
    '-of',
    'json',
    file,
  ]);
  const s = (JSON.parse(stdout) as { streams: Array<{ nb_read_frames: string; width: number; height: number }> })
    .streams[0]!;
  return { frames: Number(s.nb_read_frames), width: s.width, height: s.height };
}
