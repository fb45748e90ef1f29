/**
 * An annotated video through a second ffmpeg: PNG frames (what render.ts draws) on its stdin as an
 * image2pipe stream, encoded to the file's container (H.264 in mp4/mkv/mov, VP9 in webm). Writes
 * wait for the pipe to drain, so a slow encoder slows the writer instead of growing a buffer.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { RtinferError } from '../errors.js';
import { ffmpegMissing, ffmpegPath, stderrTail } from './ffmpeg.js';

export class VideoWriter {
  readonly file: string;
  #child: ChildProcessWithoutNullStreams;
  #closed: Promise<number | null>;
  #stderr: () => string;
  #spawnError: NodeJS.ErrnoException | undefined;
  frames = 0;

  constructor(file: string, fps: number) {
    this.file = file;
    const ext = path.extname(file).toLowerCase();
    const codec =
      ext === '.webm'
        ? ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8']
        : ext === '.avi'
          ? ['-c:v', 'mjpeg', '-q:v', '3']
          : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23'];
    // yuv420p for players; H.264 4:2:0 needs even sides, hence the pad of at most one pixel.
    const pix =
      ext === '.avi' ? ['-pix_fmt', 'yuvj420p'] : ['-pix_fmt', 'yuv420p', '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'];
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'image2pipe',
      '-c:v',
      'png',
      '-framerate',
      String(fps),
      '-i',
      'pipe:0',
      ...codec,
      ...pix,
      file,
    ];
    this.#child = spawn(ffmpegPath(), args, {
      stdio: ['pipe', 'ignore', 'pipe'],
    }) as unknown as ChildProcessWithoutNullStreams;
    this.#stderr = stderrTail(this.#child);
    this.#closed = new Promise((resolve) => {
      this.#child.on('error', (e: NodeJS.ErrnoException) => {
        this.#spawnError = e;
        resolve(null);
      });
      this.#child.on('close', (code) => resolve(code));
    });
    // EPIPE when ffmpeg exits early: reported by close() from its exit status and message.
    this.#child.stdin.on('error', () => undefined);
  }

  /** Appends one encoded picture (PNG). */
  async write(png: Uint8Array): Promise<void> {
    if (this.#child.stdin.destroyed || this.#child.exitCode !== null) return;
    this.frames++;
    if (!this.#child.stdin.write(png))
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#child.stdin.off('drain', done);
          this.#child.off('close', done);
          resolve();
        };
        this.#child.stdin.once('drain', done);
        this.#child.once('close', done);
      });
  }

  /** Finishes the file; a one-line error when ffmpeg could not write it. */
  async close(): Promise<void> {
    this.#child.stdin.end();
    const code = await this.#closed;
    if (this.#spawnError !== undefined)
      throw this.#spawnError.code === 'ENOENT'
        ? ffmpegMissing(ffmpegPath())
        : new RtinferError('RTI_ERR_IO_WRITE', `cannot write --save ${this.file}: ${this.#spawnError.message}`);
    if (code !== 0) {
      const last =
        this.#stderr()
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .at(-1) ?? `ffmpeg exit ${String(code)}`;
      throw new RtinferError('RTI_ERR_IO_WRITE', `cannot write --save ${this.file}: ${last}`);
    }
  }

  /** Stops at once (an error elsewhere): the partial file is left as ffmpeg leaves it. */
  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}
