/**
 * `rtinfer bench <model> --images DIR`: the whole vision pipeline (decode, preprocess, inference,
 * postprocess) over real images, one at a time, rotating through them. Reported end to end as
 * the usual rtinfer.bench/1 latency, plus p50/p90/p99 per stage: in practice decode, resize and
 * NMS often cost as much as the model.
 */
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { inspectModel } from '../runtime/model-info.js';
import { createSession, readModel } from '../runtime/session.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { DEFAULT_PREPROCESS } from '../vision/config.js';
import { decodeImage } from '../vision/decode.js';
import { createVisionPipeline, type VisionPipelineOptions } from '../vision/pipeline.js';
import { scanImages, type ImageScan } from '../video/source.js';
import type { BenchOptions } from './bench.js';
import type { ColdStart } from './bench-report.js';
import { runSingleStream, type Phase, type SingleStreamRun } from './single-stream.js';
import { STAGE_NAMES, summarize, type StageName, type StageSummary } from '../vision/stages.js';

/** Image files of a directory (sorted), or the given files. */
export async function listImages(source: string | readonly string[]): Promise<string[]> {
  return (await scanImageSource(source)).images;
}

/** As listImages, with a folder's (or glob's) non-image entries in `skipped`: listed and counted, not run. */
export async function scanImageSource(source: string | readonly string[]): Promise<ImageScan> {
  if (typeof source !== 'string') return { images: [...source], skipped: [] };
  // A glob (dir/*.jpg) or a list file (.txt): expanded as rtinfer predict does.
  if (/[*?]/.test(source) || /\.(txt|list)$/i.test(source)) return scanImages(source);
  let info;
  try {
    info = await stat(source);
  } catch {
    throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `--images ${source}: no such file or directory`);
  }
  if (!info.isDirectory()) return { images: [source], skipped: [] };
  return scanImages(source).catch((error: unknown) => {
    throw error instanceof RtinferError ? new RtinferError(error.code, `--images ${error.message}`) : error;
  });
}

/**
 * Every image decoded once before the measurement: the first that does not decode is refused by name
 * (its RTI_ERR_IMAGE_* error, a usage error). Refused rather than skipped: a run over fewer images
 * than asked measures something else, and a file that failed mid-run ended the measurement after one
 * query with an all-zero report.
 */
async function checkImages(images: readonly string[]): Promise<void> {
  for (const image of images) {
    try {
      await decodeImage(image, DEFAULT_PREPROCESS);
    } catch (error) {
      if (error instanceof RtinferError) throw new RtinferError(error.code, `--images: ${error.message}`);
      throw error;
    }
  }
}

export interface ImagesRun {
  label: string;
  path: string | null;
  bytes: number;
  head: string;
  images: string[];
  /** Folder entries that are not images: skipped, not run. */
  skipped: string[];
  coldStart: ColdStart<number>;
  warm: { queries: number; ms: number };
  run: SingleStreamRun;
  stages: Record<StageName, StageSummary>;
  inputs: Awaited<ReturnType<typeof createSession>>['inputs'];
  outputs: Awaited<ReturnType<typeof createSession>>['outputs'];
}

export async function runImagesPipeline(
  o: BenchOptions & { images: string | readonly string[]; task?: VisionPipelineOptions['task'] },
  warmup: Phase,
  phase: Phase,
): Promise<ImagesRun> {
  const { images, skipped } = await scanImageSource(o.images);
  if (o.model === undefined) throw new RtinferError('RTI_ERR_ARG_MISSING', '--images needs a model');
  await checkImages(images);
  const model = await readModel(o.model);
  const rt = await createSession(model, o.session ?? {});
  try {
    const metadata = inspectModel(model.bytes, model.label).metadata;
    const pipeline = createVisionPipeline({ session: rt, metadata, ...(o.task ? { task: o.task } : {}) });
    const stages = Object.fromEntries(STAGE_NAMES.map((s) => [s, new LatencyRecorder()])) as Record<
      StageName,
      LatencyRecorder
    >;
    let record = false;
    const predict = async (image: string): Promise<unknown> => {
      const r = await pipeline.predict(image);
      if (record) for (const s of STAGE_NAMES) stages[s].record(r.speedMs[s] * 1000);
      return r;
    };
    const t0 = performance.now();
    try {
      await predict(images[0] as string);
    } catch (error) {
      throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `first image failed: ${firstLine(error)}`, { cause: error });
    }
    const firstInferenceMs = performance.now() - t0;
    const warm = await runSingleStream(predict, images, { phase: warmup, ...(o.signal ? { signal: o.signal } : {}) });
    record = true;
    const run = await runSingleStream(predict, images, {
      phase,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return {
      label: model.label,
      path: model.path ?? null,
      bytes: model.bytes.length,
      head: pipeline.head.name,
      images,
      skipped,
      coldStart: { readMs: model.readMs, sessionCreateMs: rt.createMs, firstInferenceMs },
      warm: { queries: warm.queries, ms: warm.wallMs },
      run,
      stages: Object.fromEntries(STAGE_NAMES.map((s) => [s, summarize(stages[s])])) as Record<StageName, StageSummary>,
      inputs: rt.inputs,
      outputs: rt.outputs,
    };
  } finally {
    await rt.release();
  }
}
