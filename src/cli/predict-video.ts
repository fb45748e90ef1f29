/**
 * `rtinfer predict MODEL VIDEO|URL|/dev/videoN|-`: the frame loop (src/video/run-video.ts) with its
 * outputs, each a listener on the frame records: JSON lines (--json), a live progress line (stderr
 * on a terminal), an annotated video (--save FILE). Ctrl-C stops the loop; the summary is printed.
 */
import { ERROR_CATALOGUE, RtinferError, isRtinferError, type ErrorCode } from '../errors.js';
import { STAGE_NAMES } from '../vision/stages.js';
import { formatMs, formatTable, round3 } from '../util/format.js';
import type { OpenedVisionModel } from '../vision/open-model.js';
import type { VisionResult } from '../vision/pipeline.js';
import type { ImageSource } from '../vision/types.js';
import { renderResult } from '../vision/render.js';
import { resultJson, type MaskFormat } from '../vision/result-json.js';
import { openVideo, type OpenedVideo } from '../video/open-source.js';
import { runVideo, type FrameRecord, type VideoSummary } from '../video/run-video.js';
import { isLive, VIDEO_EXTENSIONS, type VideoInput } from '../video/source.js';
import { VideoWriter } from '../video/video-writer.js';
import { parseIntOption, parseNumberOption, stringValue, type OptionSpec, type ParsedValues } from './args.js';
import { checkWritable } from './output.js';

export const VIDEO_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'realtime',
    type: 'boolean',
    description:
      'video: keep only the newest frame when inference falls behind (default for cameras, ' +
      'streams and stdin); a file is paced at its frame rate',
  },
  { name: 'all-frames', type: 'boolean', description: 'video: process every frame, never drop (default for files)' },
  { name: 'every', type: 'string', value: 'N', description: 'video file: process every Nth frame' },
  { name: 'fps', type: 'string', value: 'F', description: 'video file: process about F frames per second of video' },
  { name: 'max-frames', type: 'string', value: 'N', description: 'video: stop after N frames read' },
  {
    name: 'deadline',
    type: 'string',
    value: 'MS',
    description:
      'video: a frame is late when its result takes longer than this after capture (default: the frame interval)',
  },
  {
    name: 'open-timeout',
    type: 'string',
    value: 'S',
    description: 'video: seconds to wait for a source to open or for the next frame (default 10)',
  },
  {
    name: 'frame-size',
    type: 'string',
    value: 'WxH',
    description: 'stdin (-): raw frames of this size instead of MJPEG',
  },
  { name: 'pix-fmt', type: 'string', value: 'F', description: 'stdin raw frames: rgb24 (default), rgba or gray' },
  {
    name: 'resize',
    type: 'string',
    value: 'ffmpeg|sharp',
    description: 'video: resize frames in ffmpeg (default) or decode full frames and resize with sharp',
  },
];

function positive(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return parseNumberOption(option, text, 'a positive number', (n) => n > 0);
}

/** bench --video's options from the command line. */
export function videoOptionsFrom(
  file: string,
  fps: string | undefined,
  deadline: string | undefined,
): { file: string; fps?: number; deadlineMs?: number } {
  const f = positive('fps', fps);
  const d = positive('deadline', deadline);
  return { file, ...(f !== undefined ? { fps: f } : {}), ...(d !== undefined ? { deadlineMs: d } : {}) };
}

/** The video flags of `rtinfer predict`, checked before anything is opened. */
interface VideoFlags {
  realtime: boolean;
  every: number | undefined;
  fps: number | undefined;
  maxFrames: number | undefined;
  deadlineMs: number | undefined;
  openTimeoutMs: number;
  resize: 'ffmpeg' | 'sharp';
  rawFrame: { width: number; height: number; pixelFormat: string } | undefined;
  save: string | undefined;
}

async function videoFlags(values: ParsedValues, live: boolean): Promise<VideoFlags> {
  const text = (n: string): string | undefined => stringValue(values, n);
  if (values['realtime'] === true && values['all-frames'] === true)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--realtime and --all-frames exclude each other');
  const realtime = values['realtime'] === true || (live && values['all-frames'] !== true);
  const every = text('every') === undefined ? undefined : parseIntOption('every', text('every') ?? '', 1);
  const fps = positive('fps', text('fps'));
  if (realtime && (every !== undefined || fps !== undefined))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      '--every and --fps choose frames of a file processed in full; ' +
        "with --realtime the model's speed decides (use --all-frames)",
    );
  const maxFrames =
    text('max-frames') === undefined ? undefined : parseIntOption('max-frames', text('max-frames') ?? '', 1);
  const deadlineMs = positive('deadline', text('deadline'));
  const openTimeoutMs = (positive('open-timeout', text('open-timeout')) ?? 10) * 1000;
  const resize = text('resize') ?? 'ffmpeg';
  if (resize !== 'ffmpeg' && resize !== 'sharp')
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --resize '${resize}' (expected ffmpeg or sharp)`);
  const frameSize = text('frame-size');
  let rawFrame: VideoFlags['rawFrame'];
  if (frameSize !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(frameSize);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
      throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --frame-size '${frameSize}' (expected WxH, e.g. 640x480)`);
    rawFrame = { width: Number(m[1]), height: Number(m[2]), pixelFormat: text('pix-fmt') ?? 'rgb24' };
  }
  const save = text('save');
  if (save !== undefined) {
    if (!VIDEO_EXTENSIONS.includes(save.slice(save.lastIndexOf('.')).toLowerCase()))
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `invalid --save '${save}' for a video source (expected a video file name: out.mp4, .mkv, .webm, .avi)`,
      );
    await checkWritable('save', save);
  }
  return { realtime, every, fps, maxFrames, deadlineMs, openTimeoutMs, resize, rawFrame, save };
}

/** The line naming the source and the mode, printed before the first frame. */
function sourceLine(input: VideoInput, video: OpenedVideo, realtime: boolean, paceFps: number | undefined): string {
  const info = video.info;
  const what = info
    ? `${info.width}x${info.height}${info.fps ? ` @ ${round3(info.fps)} fps` : ''} ${info.codec}`
    : 'MJPEG';
  const pace = paceFps ? `, paced at ${round3(paceFps)} fps` : '';
  const mode = realtime ? `realtime (latest frame wins${pace})` : 'all frames';
  return `${input.location}: ${input.kind} ${what} · ${mode} · ${video.path}\n`;
}

/** Unreported runs before the first frame, as for images: the first runs pay allocation and JIT. */
async function warmUp(model: OpenedVisionModel, warmupText: string | undefined): Promise<void> {
  const warmup = warmupText === undefined ? 3 : parseIntOption('warmup', warmupText, 0, 1000);
  const W = model.config.width ?? 640;
  const H = model.config.height ?? 480;
  for (let i = 0; i < warmup; i++)
    await model
      .predict({ data: new Uint8Array(W * H * 3).fill(114), width: W, height: H, channels: 3 })
      .catch(() => undefined);
}

/**
 * The outputs of each frame record: a JSON line (--json), a frame of the annotated video (--save), the
 * progress line on a terminal, and the counters it shows.
 */
class FrameOutputs {
  readonly seen = { in: 0, done: 0, dropped: 0, lat: 0 };
  readonly started = Date.now();
  #lastDraw = 0;
  #lastPicture: Uint8Array | undefined;
  #written = -1;

  constructor(
    readonly out: NodeJS.WritableStream,
    readonly json: boolean,
    readonly masks: MaskFormat,
    readonly writer: VideoWriter | undefined,
    readonly progressOn: boolean,
  ) {}

  async onFrame(rec: FrameRecord, r: VisionResult | undefined, image: ImageSource | undefined): Promise<void> {
    const seen = this.seen;
    seen.in = Math.max(seen.in, rec.frame + 1);
    if (rec.status === 'dropped') seen.dropped++;
    if (rec.status === 'done') {
      seen.done++;
      seen.lat = rec.latencyMs ?? 0;
    }
    if (this.json) {
      const body =
        r !== undefined ? resultJson(r, r.transform.original.width, r.transform.original.height, this.masks) : {};
      this.out.write(JSON.stringify({ ...rec, ...body }) + '\n');
    }
    if (this.writer !== undefined && r !== undefined && image !== undefined)
      await this.#save(this.writer, rec, r, image);
    const now = Date.now();
    if (this.progressOn && now - this.#lastDraw > 200) {
      this.#lastDraw = now;
      const secs = (now - this.started) / 1000;
      process.stderr.write(
        `\r\x1b[2K${seen.in} frames · ${seen.done} processed · ${seen.dropped} dropped ` +
          `· ${(seen.done / secs).toFixed(1)} fps · last ${formatMs(seen.lat)} ms capture-to-result`,
      );
    }
  }

  async #save(writer: VideoWriter, rec: FrameRecord, r: VisionResult, image: ImageSource): Promise<void> {
    const picture = await renderResult(image, r, { format: 'png' });
    if (picture === undefined) return;
    // Frames dropped before this one show the last result, so the video keeps its timing.
    if (this.#lastPicture !== undefined)
      for (let k = this.#written + 1; k < rec.frame; k++) await writer.write(this.#lastPicture);
    await writer.write(picture);
    this.#lastPicture = picture;
    this.#written = rec.frame;
  }
}

/** `rtinfer predict` on a video: flags checked, the source opened, every frame through the model, the summary. */
export async function predictVideo(
  input: VideoInput,
  model: OpenedVisionModel,
  values: ParsedValues,
  ctx: { modelPath: string; masks: MaskFormat; json: boolean; stdout: NodeJS.WritableStream },
): Promise<number> {
  const flags = await videoFlags(values, isLive(input));
  const { realtime, every, fps, maxFrames, deadlineMs, rawFrame, save } = flags;
  // Drawing needs the whole frame: --save decodes full frames and lets the pipeline resize them.
  const video = await openVideo(input, model.config, {
    resize: save !== undefined ? 'sharp' : flags.resize,
    openTimeoutMs: flags.openTimeoutMs,
    ...(rawFrame ? { rawFrame } : {}),
    ...(maxFrames !== undefined ? { maxFrames } : {}),
  });
  const sourceFps = video.info?.fps ?? null;
  const paceFps = realtime && input.kind === 'file' ? (sourceFps ?? 30) : undefined;
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  const writer = save !== undefined ? new VideoWriter(save, sourceFps ?? 30) : undefined;
  const out = ctx.stdout;
  const outputs = new FrameOutputs(out, ctx.json, ctx.masks, writer, !ctx.json && process.stderr.isTTY === true);
  // stdin says nothing of itself until its bytes come: its line waits for a first frame, so an empty or
  // garbled stdin gets the error alone.
  let sourceShown = ctx.json;
  const showSource = (): void => {
    if (!sourceShown) out.write(sourceLine(input, video, realtime, paceFps));
    sourceShown = true;
  };
  if (input.kind !== 'stdin') showSource();
  await warmUp(model, stringValue(values, 'warmup'));
  let summary: VideoSummary;
  try {
    summary = await runVideo(video.frames, (image) => model.predict(image), {
      realtime,
      sourceFps,
      ...(paceFps !== undefined ? { paceFps } : {}),
      ...(every !== undefined ? { every } : {}),
      ...(fps !== undefined ? { fps } : {}),
      ...(maxFrames !== undefined ? { maxFrames } : {}),
      ...(deadlineMs !== undefined ? { deadlineMs } : {}),
      signal: ac.signal,
      onFrame: (rec, r, image) => {
        showSource();
        return outputs.onFrame(rec, r, image);
      },
    });
    if (writer !== undefined) await writer.close();
  } catch (error) {
    writer?.kill();
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
    if (outputs.progressOn) process.stderr.write('\r\x1b[2K');
  }
  if (input.kind === 'stdin' && summary.framesIn === 0) {
    const e = summary.error;
    if (e !== undefined && e.code in ERROR_CATALOGUE) throw new RtinferError(e.code as ErrorCode, e.message);
    throw new RtinferError(
      'RTI_ERR_VIDEO_UNSUPPORTED',
      e?.message ?? 'stdin: no image on it (expected MJPEG, or raw frames with --frame-size WxH)',
    );
  }
  showSource();
  if (ctx.json) out.write(JSON.stringify(videoReport(input, video, summary, writer, ctx.modelPath, model)) + '\n');
  else out.write(renderVideoSummary(summary, writer ? `${writer.file} (${writer.frames} frames)` : undefined) + '\n');
  if (summary.error !== undefined) {
    process.stderr.write(`rtinfer predict: ${summary.error.message}\n`);
    return 1;
  }
  return summary.failed > 0 ? 1 : 0;
}

/** The `rtinfer.predict/1` report of a video run (--json's last line). */
function videoReport(
  input: VideoInput,
  video: OpenedVideo,
  summary: VideoSummary,
  writer: VideoWriter | undefined,
  modelPath: string,
  model: OpenedVisionModel,
): object {
  const info = video.info;
  return {
    schema: 'rtinfer.predict/1',
    model: modelPath,
    head: model.head.name,
    task: model.head.task,
    source: {
      location: input.location,
      kind: input.kind,
      path: video.path,
      ...(info
        ? { width: info.width, height: info.height, fps: info.fps, codec: info.codec, pixelFormat: info.pixelFormat }
        : {}),
    },
    video: summary,
    ...(writer ? { saved: { file: writer.file, frames: writer.frames } } : {}),
  };
}

export function renderVideoSummary(s: VideoSummary, saved?: string): string {
  const c = s.captureToResultMs;
  const lines = [
    '',
    `frames: ${s.framesIn} in, ${s.processed} processed, ${s.dropped} dropped, ${s.skipped} ` +
      `skipped${s.failed ? `, ${s.failed} failed` : ''} · ${s.achievedFps.toFixed(1)} fps achieved ` +
      `over ${(s.wallMs / 1000).toFixed(1)} s`,
    `capture-to-result: p50 ${formatMs(c.p50)} · p90 ${formatMs(c.p90)} · p99 ${formatMs(c.p99)} · ` +
      `max ${formatMs(c.max)} ` +
      `ms${s.deadlineMs !== null ? ` · ${s.late} over the ${formatMs(s.deadlineMs)} ms deadline` : ''}`,
    ...(s.sourceBehind && s.sourceBehind.frames > 0
      ? [
          `the source fell behind the pace: ${s.sourceBehind.frames} frames arrived over a frame interval ` +
            `late (worst ${formatMs(s.sourceBehind.maxLagMs)} ms)`,
        ]
      : []),
    ...(s.decoderCpuMs
      ? [
          `ffmpeg decode and resize: ${formatMs(s.decoderCpuMs.perFrame)} ms CPU per frame read (its ` +
            `start-up included), ${formatMs(s.decoderCpuMs.total)} ms in all`,
        ]
      : []),
    '',
    formatTable(
      [
        ['stage (ms)', 'p50', 'p90', 'p99', 'mean'],
        ...STAGE_NAMES.map((st) => [
          st,
          ...(['p50', 'p90', 'p99', 'mean'] as const).map((k) => formatMs(s.stagesMs[st][k])),
        ]),
      ],
      '  ',
    ),
  ];
  if (saved) lines.push('', `saved ${saved}`);
  return lines.join('\n');
}

/** Whether an error is one the video path raises for its input (so the caller can print it alone). */
export function isVideoError(error: unknown): boolean {
  return isRtinferError(error) && error.code.startsWith('RTI_ERR_VIDEO_');
}
