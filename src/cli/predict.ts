/** `rtinfer predict`: run a vision model on images, with the per-stage speed split. */
import { writeFile } from 'node:fs/promises';
import { makeDir } from '../util/make-dir.js';
import path from 'node:path';
import { RtinferError, firstLine, isRtinferError } from '../errors.js';
import { STAGE_NAMES, type StageName } from '../vision/stages.js';
import { formatMs, formatTable, round3 } from '../util/format.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { renderResult } from '../vision/render.js';
import { resultJson, type MaskFormat } from '../vision/result-json.js';
import { isHeadName, HEAD_NAMES } from '../vision/heads/registry.js';
import { loadLabels } from '../vision/labels.js';
import { openVisionModel, type OpenVisionOptions, type OpenedVisionModel } from '../vision/open-model.js';
import type { SpeedMs, VisionResult } from '../vision/pipeline.js';
import {
  parseCommand,
  parseIntOption,
  parseNumberOption,
  stringValue,
  type CommandSpec,
  type ParsedValues,
} from './args.js';
import { classifySource, scanImageArgs, skippedNote } from '../video/source.js';
import { predictVideo, VIDEO_OPTIONS } from './predict-video.js';
import { SESSION_OPTIONS, sessionSettingsFrom } from './session-flags.js';

export const PREDICT_SCHEMA = 'rtinfer.predict/1';

export const PREDICT_COMMAND: CommandSpec = {
  name: 'predict',
  summary: 'detections, classes or text boxes for images, with decode/preprocess/inference/postprocess times',
  usage:
    'rtinfer predict <model.onnx> <image|folder|glob|list.txt...|video|URL|/dev/videoN|-> ' +
    '[--task T] [--conf 0.25] [--iou 0.45] [--imgsz N] [--save DIR|out.mp4] [--json]',
  maxPositionals: 10_000,
  options: [
    {
      name: 'task',
      type: 'string',
      value: 'T',
      description: `${HEAD_NAMES.join(' | ')} (default: detected from outputs and metadata)`,
    },
    {
      name: 'conf',
      type: 'string',
      value: 'X',
      description: "score threshold (default: the head's, e.g. 0.25 for YOLO)",
    },
    { name: 'iou', type: 'string', value: 'X', description: "NMS IoU threshold (default: the head's)" },
    { name: 'max-det', type: 'string', value: 'N', description: 'detections kept per image' },
    { name: 'agnostic', type: 'boolean', description: 'class-agnostic NMS' },
    {
      name: 'imgsz',
      type: 'string',
      value: 'N|HxW',
      description: 'model input size for dynamic models (e.g. 640 or 480x640)',
    },
    {
      name: 'max-pixels',
      type: 'string',
      value: 'N',
      description: 'refuse images with more pixels than N (default 40000000)',
    },
    {
      name: 'labels',
      type: 'string',
      value: 'FILE',
      description: 'class names, one per line (overrides the model metadata)',
    },
    { name: 'top-k', type: 'string', value: 'N', description: 'classifiers: classes to report (default 5)' },
    {
      name: 'save',
      type: 'string',
      value: 'DIR',
      description: 'write annotated images (boxes, keypoints, masks) or output images (image-to-image models) to DIR',
    },
    {
      name: 'masks',
      type: 'string',
      value: 'rle|polygon',
      description: 'segmentation masks in --json as COCO RLE (default) or polygons',
    },
    {
      name: 'warmup',
      type: 'string',
      value: 'N',
      description: 'unreported runs on the first image before timing (default 3; 0 shows the cold start)',
    },
    {
      name: 'json',
      type: 'boolean',
      description: 'print the rtinfer.predict/1 JSON (video: one JSON line per frame, then the summary)',
    },
    ...VIDEO_OPTIONS,
    ...SESSION_OPTIONS,
  ],
  examples: [
    'rtinfer predict yolox_nano.onnx coco139.jpg --save out/',
    'rtinfer predict yolox_nano.onnx clip.mp4 --save annotated.mp4',
    'rtinfer predict yolox_nano.onnx /dev/video0 --json   # realtime: newest frame wins',
    'rtinfer predict version-RFB-320.onnx faces1.jpg --conf 0.9 --json',
  ],
};

function fraction(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return parseNumberOption(option, text, 'a number from 0 to 1', (n) => n >= 0 && n <= 1);
}

function imageSize(text: string | undefined): { width: number; height: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)(?:x(\d+))?$/.exec(text);
  if (!m)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --imgsz '${text}' (expected N or HxW, e.g. 640 or 480x640)`);
  const h = Number(m[1]);
  const w = Number(m[2] ?? m[1]);
  if (h < 1 || w < 1) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --imgsz '${text}'`);
  return { width: w, height: h };
}

interface ItemReport {
  image: string;
  width?: number;
  height?: number;
  detections?: Array<{
    label: string;
    classId: number;
    score: number;
    box: number[];
    keypoints?: unknown[];
    mask?: unknown;
    polygon?: unknown;
  }>;
  classes?: Array<{ index: number; label: string; score: number }>;
  texts?: Array<{ score: number; box: number[]; text?: string }>;
  segments?: Array<{ classId: number; label: string; pixels: number }>;
  output?: { width: number; height: number; channels: number; range: string; luminance: boolean; scale: number };
  speedMs?: SpeedMs;
  error?: { code: string; message: string };
}

function itemOf(image: string, r: VisionResult, masks: MaskFormat): ItemReport {
  const { width, height } = r.transform.original;
  const speedMs = Object.fromEntries(STAGE_NAMES.map((s) => [s, round3(r.speedMs[s])])) as unknown as SpeedMs;
  const body = resultJson(r, width, height, masks);
  // The image-to-image description is `output` here: `image` names the input file.
  const { image: output, ...rest } = body as { image?: ItemReport['output'] };
  return { image, width, height, ...rest, ...(output ? { output } : {}), speedMs } as ItemReport;
}

/** The image flags of `rtinfer predict`, checked in order (each error names its flag), and the model's options. */
async function predictFlags(values: ParsedValues): Promise<{
  open: OpenVisionOptions;
  save: string | undefined;
  json: boolean;
  masks: MaskFormat;
  warmup: number;
}> {
  const text = (n: string): string | undefined => stringValue(values, n);
  const task = text('task');
  if (task !== undefined && !isHeadName(task) && !['detect', 'classify', 'text', 'semantic', 'image'].includes(task)) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --task '${task}' (expected one of ${HEAD_NAMES.join(', ')})`,
    );
  }
  const size = imageSize(text('imgsz'));
  const maxPixels =
    text('max-pixels') === undefined ? undefined : parseIntOption('max-pixels', text('max-pixels') ?? '', 1);
  const conf = fraction('conf', text('conf'));
  const iou = fraction('iou', text('iou'));
  const maxDet = text('max-det') === undefined ? undefined : parseIntOption('max-det', text('max-det') ?? '', 1);
  const topK = text('top-k') === undefined ? undefined : parseIntOption('top-k', text('top-k') ?? '', 1);
  const labelsFile = text('labels');
  const labels = labelsFile === undefined ? undefined : await loadLabels(labelsFile);
  const save = text('save');
  const json = values['json'] === true;
  const masksText = text('masks') ?? 'rle';
  if (masksText !== 'rle' && masksText !== 'polygon')
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --masks '${masksText}' (expected rle or polygon)`);
  const masks: MaskFormat = masksText;
  const warmup = text('warmup') === undefined ? 3 : parseIntOption('warmup', text('warmup') ?? '', 0, 1000);
  const open: OpenVisionOptions = {
    session: sessionSettingsFrom(values),
    ...(task !== undefined ? { task } : {}),
    ...(size || maxPixels !== undefined
      ? {
          preprocess: {
            ...(size ? { width: size.width, height: size.height } : {}),
            ...(maxPixels !== undefined ? { maxPixels } : {}),
          },
        }
      : {}),
    decode: {
      ...(conf !== undefined ? { scoreThreshold: conf } : {}),
      ...(iou !== undefined ? { iouThreshold: iou } : {}),
      ...(maxDet !== undefined ? { maxDetections: maxDet } : {}),
      ...(topK !== undefined ? { k: topK } : {}),
      ...(values['agnostic'] === true ? { agnostic: true } : {}),
    },
    ...(labels ? { labels } : {}),
  };
  return { open, save, json, masks, warmup };
}

type StageSummary = Record<string, { p50: number; p90: number; p99: number } | null>;

/** Each image through the model after the warm-up runs: its report, its stage times, its picture under --save. */
async function runImages(
  model: OpenedVisionModel,
  images: readonly string[],
  o: { save: string | undefined; masks: MaskFormat; warmup: number },
): Promise<{ items: ItemReport[]; summary: StageSummary; worst: number; saved: number }> {
  const items: ItemReport[] = [];
  const stage = Object.fromEntries(STAGE_NAMES.map((s) => [s, new LatencyRecorder()])) as Record<
    StageName,
    LatencyRecorder
  >;
  let worst = 0;
  let saved = 0;
  if (o.save !== undefined)
    await makeDir(o.save).catch((error: unknown) => {
      throw new RtinferError('RTI_ERR_IO_WRITE', `cannot create the --save folder ${o.save}: ${firstLine(error)}`);
    });
  // As `yolo predict` does: the first runs pay one-off allocation and JIT costs.
  for (let i = 0; i < o.warmup; i++) await model.predict(images[0] as string).catch(() => undefined);
  for (const image of images) {
    try {
      const r = await model.predict(image);
      items.push(itemOf(image, r, o.masks));
      for (const s of STAGE_NAMES) stage[s].record(r.speedMs[s] * 1000);
      const picture = o.save !== undefined ? await renderResult(image, r, { format: 'png' }) : undefined;
      if (o.save !== undefined && picture !== undefined) {
        await writeFile(path.join(o.save, `${path.parse(image).name}.png`), picture);
        saved++;
      }
    } catch (error) {
      // One bad image fails its own line, not the run.
      items.push({
        image,
        error: {
          code: isRtinferError(error) ? error.code : 'error',
          message: isRtinferError(error) ? error.message : firstLine(error),
        },
      });
      worst = Math.max(worst, isRtinferError(error) && error.kind === 'usage' ? 2 : 1);
    }
  }
  const summary = Object.fromEntries(
    STAGE_NAMES.map((s) => [
      s,
      stage[s].count
        ? {
            p50: round3(stage[s].valueAtQuantileUs(0.5) / 1000),
            p90: round3(stage[s].valueAtQuantileUs(0.9) / 1000),
            p99: round3(stage[s].valueAtQuantileUs(0.99) / 1000),
          }
        : null,
    ]),
  );
  return { items, summary, worst, saved };
}

/**
 * `rtinfer predict`: the flags parsed and checked in order, the model opened (a video goes to predictVideo),
 * what was decided printed, then each image run and reported.
 */
export async function predictCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(PREDICT_COMMAND, argv);
  const [modelPath, ...args] = positionals;
  const video = args.length === 1 ? classifySource(args[0] as string) : undefined;
  // Folders and globs: their non-images are listed, skipped and counted, not run.
  const scan =
    video === undefined || video.kind === 'images' ? await scanImageArgs(args) : { images: args, skipped: [] };
  const images = scan.images;
  if (modelPath === undefined || images.length === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      `rtinfer predict needs a model and at least one image (usage: ${PREDICT_COMMAND.usage})`,
    );
  const { open, save, json, masks, warmup } = await predictFlags(values);
  const model = await openVisionModel(modelPath, open);
  if (video !== undefined && video.kind !== 'images') {
    try {
      return await predictVideo(video, model, values, { modelPath, masks, json, stdout: io.stdout });
    } finally {
      await model.close();
    }
  }
  // What was decided and why, before anything runs (issue #14).
  if (!json)
    io.stdout.write(
      [
        `rtinfer predict · ${modelPath} · head ${model.head.name}`,
        ...model.explanation.map((l) => `  ${l}`),
        ...(scan.skipped.length ? [skippedNote(scan.skipped, 50)] : []),
      ].join('\n') + '\n',
    );
  let run: Awaited<ReturnType<typeof runImages>>;
  try {
    run = await runImages(model, images, { save, masks, warmup });
  } finally {
    await model.close();
  }
  const { items, summary, worst, saved } = run;
  if (json) {
    const failed = items.filter((i) => i.error).length;
    const counts = { images: items.length, done: items.length - failed, failed, skipped: scan.skipped.length };
    io.stdout.write(
      JSON.stringify(
        {
          schema: PREDICT_SCHEMA,
          model: modelPath,
          head: model.head.name,
          headReason: model.headReason,
          task: model.head.task,
          plan: model.explanation,
          results: items,
          speedMs: summary,
          counts,
          skipped: scan.skipped,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    io.stdout.write(renderPredict(items, summary, scan.skipped.length) + '\n');
    // Where the pictures went: a relative --save is relative to the working directory, not the images.
    if (save !== undefined)
      io.stdout.write(`\n${saved} annotated image${saved === 1 ? '' : 's'} saved to ${path.resolve(save)}\n`);
  }
  return worst;
}

function renderPredict(items: ItemReport[], summary: StageSummary, skipped: number): string {
  const out: string[] = [];
  for (const it of items) {
    if (it.error) {
      out.push('', `${it.image}: ERROR ${it.error.message}`);
      continue;
    }
    const rows: string[][] = [];
    if (it.detections)
      for (const d of it.detections)
        rows.push([
          d.label,
          d.score.toFixed(3),
          `[${d.box.join(', ')}]`,
          [d.keypoints ? `${d.keypoints.length} keypoints` : '', d.mask ? 'mask' : '', d.polygon ? 'rotated' : '']
            .filter(Boolean)
            .join(', '),
        ]);
    if (it.classes) for (const c of it.classes) rows.push([c.label, c.score.toFixed(3), `#${c.index}`]);
    if (it.texts)
      for (const t of it.texts)
        rows.push([
          t.text === undefined ? 'text' : JSON.stringify(t.text),
          t.score.toFixed(3),
          `[${t.box.join(', ')}]`,
        ]);
    if (it.segments)
      for (const g of it.segments)
        rows.push([
          g.label,
          `${g.pixels} px`,
          `${((100 * g.pixels) / ((it.width ?? 1) * (it.height ?? 1))).toFixed(1)} %`,
        ]);
    const o = it.output;
    const what = it.detections
      ? `${it.detections.length} detection${it.detections.length === 1 ? '' : 's'}`
      : it.classes
        ? 'top classes'
        : it.segments
          ? `${it.segments.length} classes present`
          : o
            ? `an image ${o.width}x${o.height}x${o.channels} (×${o.scale}, ` +
              `values ${o.range}${o.luminance ? ", luminance: combined with the input's chroma by --save" : ''})`
            : it.texts?.some((t) => t.text !== undefined)
              ? 'text line read'
              : `${it.texts?.length ?? 0} text box${it.texts?.length === 1 ? '' : 'es'}`;
    out.push('', `${it.image} (${it.width}x${it.height}): ${what}`);
    if (rows.length) out.push(formatTable(rows, '  '));
    const s = it.speedMs;
    if (s)
      out.push(
        `  Speed: ${formatMs(s.decode)}ms decode, ${formatMs(s.preprocess)}ms ` +
          `preprocess, ${formatMs(s.inference)}ms inference, ${formatMs(s.postprocess)}ms postprocess`,
      );
  }
  const ok = items.filter((i) => !i.error).length;
  if (ok > 1) {
    out.push('', `over ${ok} images (ms)`);
    out.push(
      formatTable(
        [
          ['stage', 'p50', 'p90', 'p99'],
          ...STAGE_NAMES.map((s) => [
            s,
            ...['p50', 'p90', 'p99'].map((k) => formatMs((summary[s] as Record<string, number> | null)?.[k] ?? NaN)),
          ]),
        ],
        '  ',
      ),
    );
  }
  const failed = items.length - ok;
  if (items.length > 1 || failed > 0 || skipped > 0)
    out.push(
      '',
      `${items.length} image${items.length === 1 ? '' : 's'}: ${ok} done, ${failed} ` +
        `failed, ${skipped} non-image ${skipped === 1 ? 'entry' : 'entries'} skipped`,
    );
  return out.join('\n');
}
