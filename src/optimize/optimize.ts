/**
 * `rtinfer optimize` as a library call: read a float model, apply the transforms asked for (fixed
 * shapes, static int8 or fp16, onnxruntime's offline graph optimization), write the result
 * atomically, and report what it cost and gained against the original (size, op counts, A/B
 * latency, accuracy on held-out images, cold start).
 */
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Tensor } from 'onnxruntime-node';
import { RtinferError, firstLine } from '../errors.js';
import { buildSamples } from '../runtime/inputs.js';
import { imageSizeFromMetadata } from '../runtime/metadata.js';
import { inspectModel, parseOnnxModel } from '../runtime/model-info.js';
import { encodeModel, type OnnxGraph, type OnnxModel } from '../runtime/onnx-schema.js';
import { createSession, openSession, readModel, type LoadedModel } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import { createReferenceCache, measureAccuracy, type AccuracyReport } from '../accuracy/accuracy.js';
import { measureAb, measureColdStart, type AbLatency, type ColdStart } from './ab-latency.js';
import { listCalibrationFiles, loadCalibrationFeeds, splitCalibration, type CollectedRanges } from './calibrate.js';
import { convertToFloat16 } from './fp16.js';
import { fixShapes } from './fixed-shapes.js';
import { checkQuantizable, quantizeStatic, type QuantizeOptions, type QuantizeResult } from './quantize.js';
import { nodeSensitivity, type NodeSensitivity } from './sensitivity.js';
import type { ActivationType } from './qdq-rewrite.js';
import type { CalibrationMethod } from './ranges.js';

type Model = OnnxModel & { graph: OnnxGraph };

export interface Int8Options {
  /** Calibration data: folders, globs or files (images or .npy). */
  calibrate: string[];
  method?: CalibrationMethod;
  percentile?: number;
  /** Node names and op types kept in float. */
  exclude?: string[];
  /** Quantize the detection head's decode too. */
  quantizeHead?: boolean;
  /** Quantize the stem (up to the first depthwise Conv) too. */
  quantizeStem?: boolean;
  /** Quantize SiLU as QLinearSigmoid + QLinearMul (default: one float QuickGelu between Q/DQ). */
  quantizeSilu?: boolean;
  activationType?: ActivationType;
  perChannel?: boolean;
  /** Hold every third calibration file out for the accuracy check (default true). */
  holdOut?: boolean;
  /** Rank the quantized Conv/Gemm/MatMul nodes by the accuracy they cost (sensitivity.ts). */
  sensitivity?: boolean;
  /**
   * Keep the costliest nodes in float, 1, 2, 4, ... of them, until the accuracy drop against the
   * original, checked on the calibration images (never the held-out ones), is at most this.
   */
  maxAccuracyDrop?: number;
}

export interface OptimizeOptions {
  model: string;
  out: string;
  int8?: Int8Options;
  fp16?: boolean;
  /** Bind symbolic input dimensions. */
  shapes?: ShapeOverride[];
  /** Save onnxruntime's offline-optimized graph. */
  graphOpt?: boolean;
  /** Measure latency and accuracy against the original (default true). */
  measure?: boolean;
  /** Images for the accuracy check; default: the held-out calibration images. */
  images?: string[];
  /** Session settings for calibration and measurement (threads). */
  session?: SessionSettings;
  /** A/B blocks (default 10) of runsPerBlock runs (default 10). */
  blocks?: number;
  runsPerBlock?: number;
  onPhase?: (text: string) => void;
}

export interface OpCount {
  opType: string;
  before: number;
  after: number;
}

export interface OptimizeReport {
  schema: 'rtinfer.optimize/1';
  model: string;
  out: string;
  transforms: string[];
  size: { before: number; after: number };
  ops: OpCount[];
  nodes: { before: number; after: number };
  quantization?: {
    method: CalibrationMethod;
    activationType: ActivationType;
    perChannel: boolean;
    calibrationFiles: number;
    evaluationFiles: number;
    quantizedNodes: Record<string, number>;
    keptFloat: Array<{ node: string; why: string }>;
    qdqDomain: string;
  };
  sensitivity?: { baseline: number; samples: number; nodes: NodeSensitivity[] };
  autoExclude?: {
    maxAccuracyDrop: number;
    checkedOn: string;
    steps: Array<{ excluded: number; metric: string; drop: number }>;
    excluded: string[];
    met: boolean;
  };
  fixedShapes?: Record<string, number>;
  latency?: AbLatency | { error: string };
  accuracy?: AccuracyReport | { error: string };
  coldStart?: ColdStart | { error: string };
  notes: string[];
}

/** Calibration samples the sensitivity analysis runs each variant on. */
const SENSITIVITY_SAMPLES = 4;

/**
 * Keeps the `k` costliest nodes in float for k = 0, 1, 2, 4, ... until the accuracy drop on the
 * calibration images is within `maxDrop`; each variant is written to a temporary file for the
 * accuracy check. The held-out images are never used here, so the final report stays honest.
 */
async function autoExclude(
  model: Model,
  feeds: ReadonlyArray<Record<string, Tensor>>,
  ranges: CollectedRanges,
  qOptions: QuantizeOptions,
  ranked: readonly NodeSensitivity[],
  maxDrop: number,
  ctx: { reference: string; images: string[]; phase: (line: string) => void },
): Promise<{ result?: QuantizeResult; report: NonNullable<OptimizeReport['autoExclude']> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtinfer-auto-exclude-'));
  const cache = createReferenceCache();
  const steps: Array<{ excluded: number; metric: string; drop: number }> = [];
  const costly = ranked.filter((n) => n.cost > 0).map((n) => n.block);
  let last: { result: QuantizeResult; excluded: string[] } | undefined;
  try {
    for (let k = 0; ; k = k === 0 ? 1 : k * 2) {
      const excluded = costly.slice(0, k).flat();
      const result = await quantizeStatic(model, feeds, {
        ...qOptions,
        ranges,
        names: [...(qOptions.names ?? []), ...excluded],
      });
      const file = path.join(dir, `k${k}.onnx`);
      await writeFile(file, encodeModel(result.model));
      const a = await measureAccuracy({
        model: file,
        reference: ctx.reference,
        ...(ctx.images.length > 0 ? { images: ctx.images } : {}),
        cache,
      });
      steps.push({ excluded: k, metric: a.metric, drop: a.drop });
      ctx.phase(
        `auto-exclude: ${k} block(s) in float: ${a.metric} drop ${(a.drop * 100).toFixed(1)}% ` +
          `on the calibration images`,
      );
      last = { result, excluded };
      if (a.drop <= maxDrop)
        return {
          result,
          report: { maxAccuracyDrop: maxDrop, checkedOn: checkedOn(ctx.images), steps, excluded, met: true },
        };
      if (k >= costly.length) break;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    ...(last ? { result: last.result } : {}),
    report: {
      maxAccuracyDrop: maxDrop,
      checkedOn: checkedOn(ctx.images),
      steps,
      excluded: last?.excluded ?? [],
      met: false,
    },
  };
}

function checkedOn(images: readonly string[]): string {
  return images.length > 0 ? `${images.length} calibration image(s)` : 'synthetic inputs (tensor error)';
}

function sameFile(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

/** Writes `bytes` to `file` through a temporary file in the same folder, so a failure never leaves half a model. */
export async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw new RtinferError(
      'RTI_ERR_IO_WRITE',
      `cannot write --out ${file}: ${(error as NodeJS.ErrnoException).code ?? firstLine(error)}`,
      { cause: error },
    );
  }
}

/** onnxruntime's offline optimization of `bytes`, as the bytes it saves. */
export async function ortOptimized(bytes: Uint8Array, session: SessionSettings = {}): Promise<Uint8Array> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtinfer-graph-opt-'));
  try {
    const file = path.join(dir, 'optimized.onnx');
    const s = await openSession(bytes, {
      graphOptimizationLevel: 'all',
      optimizedModelPath: file,
      logLevel: 'fatal',
      intraOpThreads: session.intraOpThreads,
    });
    await s.release();
    return new Uint8Array(await readFile(file));
  } catch (error) {
    throw new RtinferError('RTI_ERR_SESSION_CREATE', `onnxruntime could not optimize the graph: ${firstLine(error)}`, {
      cause: error,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function opCounts(
  before: Uint8Array,
  after: Uint8Array,
  label: string,
): { ops: OpCount[]; nodes: { before: number; after: number } } {
  const a = inspectModel(before, label);
  const b = inspectModel(after, 'optimized');
  const names = new Set([...a.operators.map((o) => o.opType), ...b.operators.map((o) => o.opType)]);
  const get = (list: typeof a.operators, op: string): number => list.find((o) => o.opType === op)?.count ?? 0;
  const ops = [...names]
    .map((opType) => ({ opType, before: get(a.operators, opType), after: get(b.operators, opType) }))
    .sort((x, y) => y.after + y.before - (x.after + x.before) || x.opType.localeCompare(y.opType));
  return { ops, nodes: { before: a.nodeCount, after: b.nodeCount } };
}

/** One seeded random sample at the given shapes (defaults for dynamic dims, as `rtinfer bench`). */
async function syntheticFeeds(loaded: LoadedModel, shapes: readonly ShapeOverride[]): Promise<Record<string, Tensor>> {
  const rt = await createSession(loaded, {});
  try {
    const size = imageSizeFromMetadata(inspectModel(loaded.bytes, loaded.label).metadata);
    const resolved = resolveShapes(rt.inputs, shapes, size ? { imageSize: size } : {}).shapes;
    return (await buildSamples(rt.inputs, resolved, { fill: 'random', files: [], samples: 1, seed: 1 })).samples[0]!;
  } finally {
    await rt.release();
  }
}

async function tryPart<T>(what: string, notes: string[], f: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await f();
  } catch (error) {
    notes.push(`${what} failed: ${firstLine(error)}`);
    return { error: firstLine(error) };
  }
}

export async function optimizeModel(o: OptimizeOptions): Promise<OptimizeReport> {
  const phase = o.onPhase ?? (() => {});
  checkOptions(o);
  const loaded = await readModel(o.model);
  let model: Model = parseOnnxModel(loaded.bytes, loaded.label);
  const transforms: string[] = [];
  const notes: string[] = [];
  const report: Partial<OptimizeReport> = {};
  let evaluation: string[] = o.images ?? [];
  // The latency comparison runs on a real calibration sample where there is one, so a model with
  // dynamic dims is timed at the size its preprocessing gives (the PP-OCR classifier at 48x192),
  // not at a default.
  let latencyFeeds: Record<string, Tensor> | undefined;

  if ((o.shapes ?? []).length > 0) {
    const fixed = fixShapes(model, o.shapes!);
    model = fixed.model;
    report.fixedShapes = fixed.bound;
    transforms.push('fixed-shapes');
  }
  if (o.int8 !== undefined) {
    const int8 = await quantizeInt8(model, loaded, o, o.int8, phase);
    if (o.images === undefined) evaluation = int8.heldOutImages;
    Object.assign(report, int8.report);
    model = int8.model;
    latencyFeeds = int8.latencyFeeds;
    transforms.push(`int8-${o.int8.method ?? 'minmax'}`);
    if (int8.report.quantization.qdqDomain === 'com.microsoft')
      notes.push(
        "the model imports opset < 13, so per-channel QuantizeLinear/DequantizeLinear are onnxruntime's " +
          'com.microsoft ones: the file runs on onnxruntime',
      );
  }
  if (o.fp16) {
    phase('converting to float16');
    const converted = await convertToFloat16(model);
    model = converted.model;
    transforms.push('fp16');
    if (converted.keptFloat.length > 0)
      notes.push(
        `kept in float32 (no float16 kernel in onnxruntime's CPU provider): ${converted.keptFloat.join(', ')}`,
      );
  }
  let bytes = encodeModel(model);
  if (o.graphOpt) {
    phase("saving onnxruntime's optimized graph");
    bytes = await ortOptimized(bytes, o.session ?? {});
    transforms.push('graph-opt');
    notes.push(
      'the pre-optimized graph was saved at level all: it may hold layouts specific to this CPU, so use it on ' +
        'the machine type it was made on',
    );
  }
  await checkLoads(bytes, o);
  await writeAtomic(o.out, bytes);
  phase(`wrote ${o.out}`);

  const counts = opCounts(loaded.bytes, bytes, loaded.label);
  const out: OptimizeReport = {
    schema: 'rtinfer.optimize/1',
    model: o.model,
    out: o.out,
    transforms,
    size: { before: loaded.bytes.length, after: bytes.length },
    ops: counts.ops,
    nodes: counts.nodes,
    ...report,
    notes,
  };
  if (o.measure === false) return out;
  const optimized: LoadedModel = { label: o.out, path: path.resolve(o.out), bytes, readMs: 0 };
  await measureAgainstOriginal(out, o, { loaded, optimized, latencyFeeds, evaluation, phase });
  return out;
}

function checkOptions(o: OptimizeOptions): void {
  if (sameFile(o.model, o.out))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --out '${o.out}': it is the input model; write the optimized model to another file`,
    );
  if (o.int8 !== undefined && o.fp16)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--int8 and --fp16 cannot be combined: choose one precision');
  if (o.int8 === undefined && !o.fp16 && (o.shapes ?? []).length === 0 && !o.graphOpt) {
    throw new RtinferError('RTI_ERR_ARG_MISSING', 'nothing to do: give --int8, --fp16, --shape or --graph-opt');
  }
}

interface Int8Step {
  model: Model;
  /** The first calibration sample, to time the latency comparison on. */
  latencyFeeds: Record<string, Tensor> | undefined;
  /** The held-out calibration images (not .npy tensors), for the accuracy check. */
  heldOutImages: string[];
  report: Pick<OptimizeReport, 'sensitivity' | 'autoExclude'> & {
    quantization: NonNullable<OptimizeReport['quantization']>;
  };
}

/** Calibrates on the non-held-out files and quantizes, with the sensitivity and auto-exclude parts. */
async function quantizeInt8(
  model: Model,
  loaded: LoadedModel,
  o: OptimizeOptions,
  q: Int8Options,
  phase: (text: string) => void,
): Promise<Int8Step> {
  // Checked before any calibration work: --exclude names, and that something is left to quantize.
  checkQuantizable(model, q.exclude ?? [], q.quantizeHead ?? false, q.quantizeStem ?? false);
  const files = await listCalibrationFiles(q.calibrate);
  const split = splitCalibration(files, q.holdOut ?? true);
  phase(
    `calibrating on ${split.calibration.length} file(s)` +
      (split.evaluation.length > 0 ? `, ${split.evaluation.length} held out for the accuracy check` : '') +
      ` (${q.method ?? 'minmax'})`,
  );
  const floatBytes = encodeModel(model);
  const runtime = await createSession({ label: loaded.label, bytes: floatBytes, readMs: 0 }, o.session ?? {});
  let feeds;
  try {
    feeds = await loadCalibrationFeeds(
      split.calibration,
      runtime,
      inspectModel(loaded.bytes, loaded.label).metadata,
      loaded.label,
    );
  } finally {
    await runtime.release();
  }
  const qOptions: QuantizeOptions = {
    method: q.method ?? 'minmax',
    ...(q.percentile !== undefined ? { percentile: q.percentile } : {}),
    names: q.exclude ?? [],
    quantizeHead: q.quantizeHead ?? false,
    quantizeStem: q.quantizeStem ?? false,
    quantizeSilu: q.quantizeSilu ?? false,
    activationType: q.activationType ?? 'uint8',
    perChannel: q.perChannel ?? true,
    ...(o.session ? { session: o.session } : {}),
  };
  let result = await quantizeStatic(model, feeds, qOptions);
  const report: Pick<OptimizeReport, 'sensitivity' | 'autoExclude'> = {};
  if (q.sensitivity || q.maxAccuracyDrop !== undefined) {
    const sample = feeds.slice(0, SENSITIVITY_SAMPLES);
    const s = await nodeSensitivity(model, sample, result.ranges, qOptions, (done, total) => {
      if (done === total || done % 20 === 0) phase(`sensitivity: ${done}/${total} nodes`);
    });
    report.sensitivity = { baseline: s.baseline, samples: sample.length, nodes: s.nodes };
    if (q.maxAccuracyDrop !== undefined) {
      const auto = await autoExclude(model, feeds, result.ranges, qOptions, s.nodes, q.maxAccuracyDrop, {
        reference: o.model,
        images: split.calibration.filter((f) => !f.toLowerCase().endsWith('.npy')),
        phase,
      });
      report.autoExclude = auto.report;
      if (auto.result !== undefined) result = auto.result;
    }
  }
  const quantized = result.model;
  return {
    model: quantized,
    latencyFeeds: feeds[0],
    heldOutImages: split.evaluation.filter((f) => !f.toLowerCase().endsWith('.npy')),
    report: {
      ...report,
      quantization: {
        method: q.method ?? 'minmax',
        activationType: q.activationType ?? 'uint8',
        perChannel: q.perChannel ?? true,
        calibrationFiles: split.calibration.length,
        evaluationFiles: split.evaluation.length,
        quantizedNodes: result.quantizedOps,
        keptFloat: [...result.plan.keptFloat].map(([node, why]) => ({ node, why })),
        qdqDomain: quantized.opset_import.some((x) => x.domain === 'com.microsoft') ? 'com.microsoft' : 'ai.onnx',
      },
    },
  };
}

/** A last check before writing: the result must load. */
async function checkLoads(bytes: Uint8Array, o: OptimizeOptions): Promise<void> {
  try {
    const check = await createSession({ label: o.out, bytes, readMs: 0 }, o.session ?? {});
    await check.release();
  } catch (error) {
    throw new RtinferError(
      'RTI_ERR_SESSION_CREATE',
      `the optimized model does not load in onnxruntime, so ${o.out} was not written: ${firstLine(error)}`,
      { cause: error },
    );
  }
}

/**
 * Latency (A/B), accuracy and, where the graph or shapes changed, cold start of the written model
 * against the original, into `out`; a part that fails is recorded as { error } with a note.
 */
async function measureAgainstOriginal(
  out: OptimizeReport,
  o: OptimizeOptions,
  ctx: {
    loaded: LoadedModel;
    optimized: LoadedModel;
    latencyFeeds: Record<string, Tensor> | undefined;
    evaluation: string[];
    phase: (text: string) => void;
  },
): Promise<void> {
  const { loaded, optimized, latencyFeeds, evaluation, phase } = ctx;
  const notes = out.notes;
  phase('measuring latency (original and optimized in alternating blocks)');
  const abOptions = {
    ...(o.session ? { session: o.session } : {}),
    ...(o.blocks ? { blocks: o.blocks } : {}),
    ...(o.runsPerBlock ? { runsPerBlock: o.runsPerBlock } : {}),
  };
  out.latency = await tryPart('latency', notes, async () => {
    const feeds = latencyFeeds ?? (await syntheticFeeds(loaded, o.shapes ?? []));
    return measureAb(loaded, optimized, { original: feeds, optimized: feeds }, abOptions);
  });
  phase(
    evaluation.length > 0
      ? `accuracy against the original on ${evaluation.length} image(s) not used for calibration`
      : 'accuracy against the original (outputs on synthetic inputs)',
  );
  out.accuracy = await tryPart('accuracy', notes, () =>
    measureAccuracy({
      model: o.out,
      reference: o.model,
      ...(evaluation.length > 0 ? { images: evaluation } : {}),
      ...(o.shapes && o.shapes.length > 0 ? { shapes: o.shapes } : {}),
    }),
  );
  if (o.graphOpt || (o.shapes ?? []).length > 0) {
    phase('measuring cold start');
    // A pre-optimized graph is loaded with optimization off: that is what it is for (onnxruntime's
    // advice for offline-optimized models), and rtinfer's --graph-opt disabled session flag does it.
    const optimizedSession: SessionSettings = {
      ...o.session,
      ...(o.graphOpt ? { graphOptimizationLevel: 'disabled' as const } : {}),
    };
    out.coldStart = await tryPart('cold start', notes, () =>
      measureColdStart(
        { model: loaded, ...(o.session ? { session: o.session } : {}) },
        { model: optimized, session: optimizedSession },
      ),
    );
    if (o.graphOpt)
      notes.push(
        'cold start of the optimized file measured with graph optimization disabled (session flag --graph-opt ' +
          'disabled), the original at the default (all)',
      );
  }
}
