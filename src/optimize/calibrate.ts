/**
 * Calibration: the float model is run on the user's data with every tensor to quantize added to
 * its graph outputs (in a copy of the model, which is never written), and each tensor's range is
 * taken by min-max, percentile or entropy (ranges.ts).
 *
 * The data are images, through the model's own vision preprocessing (the same resize, layout and
 * normalisation `rtinfer predict` uses), or .npy tensors for models that are not vision models.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { RtinferError, firstLine, isRtinferError } from '../errors.js';
import { inspectModel } from '../runtime/model-info.js';
import { parseNpy } from '../runtime/npy.js';
import { TensorDataType, encodeModel, type OnnxGraph, type OnnxModel } from '../runtime/onnx-schema.js';
import { createSession, type RuntimeSession } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { IMAGE_EXTENSIONS } from '../accuracy/image-list.js';
import { createVisionPipeline } from '../vision/pipeline.js';
import { preprocess } from '../vision/preprocess.js';
import {
  Histogram,
  MinMax,
  clipToThreshold,
  entropyThreshold,
  mseRange,
  percentileRange,
  DEFAULT_PERCENTILE,
  type CalibrationMethod,
  type Range,
} from './ranges.js';

type Feeds = Record<string, Tensor>;
type Model = OnnxModel & { graph: OnnxGraph };

/**
 * Files named by `--calibrate` arguments: a folder (its image and .npy files, sorted, not
 * recursive), a glob with * and ? in its last part (`calib/*.jpg`), or a file.
 */
export async function listCalibrationFiles(specs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const spec of specs) {
    const base = path.basename(spec);
    if (/[*?]/.test(base)) {
      const dir = path.dirname(spec);
      const pattern = new RegExp(
        `^${base
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      );
      const names = await readdir(dir).catch((error: unknown) => {
        throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `calibration folder not found: ${dir}`, { cause: error });
      });
      const matched = names.filter((n) => pattern.test(n)).sort();
      if (matched.length === 0)
        throw new RtinferError('RTI_ERR_ACCURACY_NO_IMAGES', `no calibration file matches ${spec}`);
      out.push(...matched.map((n) => path.join(dir, n)));
      continue;
    }
    const info = await stat(spec).catch((error: unknown) => {
      throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `calibration data not found: ${spec}`, { cause: error });
    });
    if (!info.isDirectory()) {
      out.push(spec);
      continue;
    }
    const names = (await readdir(spec, { withFileTypes: true }))
      .filter((e) => e.isFile() && [...IMAGE_EXTENSIONS, '.npy'].includes(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    if (names.length === 0)
      throw new RtinferError('RTI_ERR_ACCURACY_NO_IMAGES', `no calibration files (images or .npy) in folder ${spec}`);
    out.push(...names.map((n) => path.join(spec, n)));
  }
  if (out.length === 0) throw new RtinferError('RTI_ERR_ACCURACY_NO_IMAGES', 'no calibration data given');
  return out;
}

/** Splits files into calibration and held-out evaluation sets: every third file is held out. */
export function splitCalibration(
  files: readonly string[],
  holdOut = true,
): { calibration: string[]; evaluation: string[] } {
  if (!holdOut || files.length < 3) return { calibration: [...files], evaluation: [] };
  return { calibration: files.filter((_, i) => i % 3 !== 2), evaluation: files.filter((_, i) => i % 3 === 2) };
}

/** Model feeds for each file: images through the model's preprocessing, .npy files as the input tensor. */
export async function loadCalibrationFeeds(
  files: readonly string[],
  runtime: RuntimeSession,
  metadata: Record<string, string>,
  label: string,
): Promise<Feeds[]> {
  const npy = files.filter((f) => f.toLowerCase().endsWith('.npy'));
  if (npy.length > 0 && npy.length < files.length)
    throw new RtinferError('RTI_ERR_INPUT_DATA', 'calibration data mixes .npy files and images: give one kind');
  const input = runtime.inputs[0]!;
  if (npy.length > 0) {
    if (runtime.inputs.length !== 1)
      throw new RtinferError(
        'RTI_ERR_INPUT_DATA',
        `${label} has ${runtime.inputs.length} inputs; calibration from .npy files supports single-input models`,
      );
    const feeds: Feeds[] = [];
    for (const f of npy) {
      const a = parseNpy(await readFile(f), f);
      const fits =
        a.dtype === input.dtype &&
        a.dims.length === input.shape.length &&
        input.shape.every((d, i) => typeof d !== 'number' || d <= 0 || d === a.dims[i]);
      if (!fits) {
        throw new RtinferError(
          'RTI_ERR_INPUT_DATA',
          `calibration data ${path.basename(f)} is ${a.dtype} [${a.dims.join(',')}] but input '${input.name}' ` +
            `of ${label} is ${input.dtype} [${input.shape.join(',')}]`,
        );
      }
      feeds.push({ [input.name]: new Tensor(a.dtype as 'float32', a.data as Float32Array, a.dims) });
    }
    return feeds;
  }
  let pipeline;
  try {
    pipeline = createVisionPipeline({ session: runtime, metadata });
  } catch (error) {
    if (isRtinferError(error) && error.code === 'RTI_ERR_HEAD_MISMATCH') {
      throw new RtinferError(
        'RTI_ERR_INPUT_DATA',
        `calibration images do not fit ${label}: it is not a vision model rtinfer can preprocess for ` +
          `(${error.message}); give .npy tensors instead`,
        { cause: error },
      );
    }
    throw error;
  }
  const feeds: Feeds[] = [];
  for (const f of files) {
    const pre = await preprocess(f, pipeline.config);
    const t = pre.tensor;
    const dims = input.shape.length === 4 ? t.dims : t.dims.slice(1);
    feeds.push({ [input.name]: new Tensor(t.type, t.data, dims) });
  }
  return feeds;
}

export interface RangeOptions {
  method: CalibrationMethod;
  /** For 'percentile' (default DEFAULT_PERCENTILE). */
  percentile?: number;
  session?: SessionSettings;
}

export interface CollectedRanges {
  /** By the method asked for. */
  ranges: Map<string, Range>;
  /** Observed min and max (what 'minmax' gives). */
  observed: Map<string, Range>;
}

/** A session on a copy of `model` whose graph outputs also list the node outputs among `tensors`. */
async function calibrationSession(
  model: Model,
  tensors: readonly string[],
  session: SessionSettings,
): Promise<RuntimeSession> {
  const inputs = new Set(model.graph.input.map((v) => v.name ?? ''));
  const existing = new Set(model.graph.output.map((v) => v.name ?? ''));
  const extra = tensors.filter((t) => !inputs.has(t) && !existing.has(t));
  const augmented: Model = {
    ...model,
    graph: {
      ...model.graph,
      output: [
        ...model.graph.output,
        ...extra.map((name) => ({ name, type: { tensor_type: { elem_type: TensorDataType.FLOAT } } })),
      ],
    },
  };
  try {
    return await createSession({ label: 'calibration model', bytes: encodeModel(augmented), readMs: 0 }, session);
  } catch (error) {
    throw new RtinferError('RTI_ERR_SESSION_CREATE', `cannot run the model for calibration: ${firstLine(error)}`, {
      cause: error,
    });
  }
}

/** Runs every feed and shows `visit` each float tensor in `wanted`, graph inputs (from the feed) and outputs. */
async function visitTensors(
  runtime: RuntimeSession,
  feeds: readonly Feeds[],
  wanted: ReadonlySet<string>,
  visit: (name: string, data: Float32Array) => void,
): Promise<void> {
  for (const f of feeds) {
    let out;
    try {
      out = await runtime.session.run(f);
    } catch (error) {
      throw new RtinferError('RTI_ERR_INPUT_DATA', `calibration data does not fit the model: ${firstLine(error)}`, {
        cause: error,
      });
    }
    for (const [name, t] of Object.entries(f))
      if (wanted.has(name) && t.type === 'float32') visit(name, t.data as Float32Array);
    for (const [name, t] of Object.entries(out))
      if (wanted.has(name) && t.type === 'float32') visit(name, t.data as Float32Array);
  }
}

/**
 * Ranges of `tensors` (node outputs or graph inputs of `model`) over the calibration feeds. Node
 * outputs are read by adding them to a copy of the model as graph outputs; graph inputs are read
 * from the feeds. A first pass finds each tensor's min and max; the histogram methods need a second.
 */
export async function collectRanges(
  model: Model,
  tensors: readonly string[],
  feeds: readonly Feeds[],
  o: RangeOptions,
): Promise<CollectedRanges> {
  const runtime = await calibrationSession(model, tensors, o.session ?? {});
  const wanted = new Set(tensors);
  try {
    const minmax = new Map<string, MinMax>();
    await visitTensors(runtime, feeds, wanted, (name, data) => {
      let m = minmax.get(name);
      if (m === undefined) minmax.set(name, (m = new MinMax()));
      m.add(data);
    });
    const observed = new Map<string, Range>([...minmax].map(([name, m]) => [name, m.range()]));
    if (o.method === 'minmax') return { ranges: observed, observed };
    const ranges = new Map<string, Range>();
    const histograms = new Map<string, Histogram>();
    for (const [name, m] of minmax) {
      const [lo, hi] = m.range();
      histograms.set(
        name,
        o.method === 'entropy' ? new Histogram(0, Math.max(-lo, hi), true) : new Histogram(lo, hi, false),
      );
    }
    await visitTensors(runtime, feeds, wanted, (name, data) => histograms.get(name)?.add(data));
    for (const [name, h] of histograms) {
      const seen = observed.get(name)!;
      ranges.set(
        name,
        o.method === 'entropy'
          ? clipToThreshold(seen, entropyThreshold(h))
          : o.method === 'mse'
            ? mseRange(h)
            : percentileRange(h, o.percentile ?? DEFAULT_PERCENTILE),
      );
    }
    return { ranges, observed };
  } finally {
    await runtime.release();
  }
}

/** The model's metadata, for the vision pipeline. */
export function metadataOf(bytes: Uint8Array, label: string): Record<string, string> {
  return inspectModel(bytes, label).metadata;
}
