/**
 * `rtinfer tune --variants auto`: the tuner makes the model variants itself with `rtinfer
 * optimize`'s transforms (src/optimize), so "meet p99 <= X with at most Y accuracy loss" is one
 * command:
 *
 * - `int8`: static QDQ int8, calibrated on the user's data (`--calibrate DIR|GLOB`), every third
 *   file held out: the accuracy check runs on the held-out images, never on the calibration ones;
 * - `fp16`: float16 weights and compute, float32 interface;
 * - `fixed`: the symbolic input dimensions bound to the traffic shape, the shape the tuner measures
 *   at (the user's --shape, else the defaults `rtinfer bench` uses).
 *
 * The files go to one folder (the CLI's default: `<out>.variants/` next to `--out`, else a new
 * folder under the OS temp dir) and are kept: the serve config tune writes points at one of them.
 * Their creation counts in tune's --budget; a variant is not started once half the budget is spent
 * (one int8 calibration may run past it: it cannot be cut short).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { makeDir } from '../util/make-dir.js';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine, isRtinferError } from '../errors.js';
import type { CalibrationMethod } from '../optimize/ranges.js';
import type { TensorSpec } from '../runtime/session.js';
import { resolveShapes, type ShapeOverride } from '../runtime/shapes.js';

export const AUTO_VARIANT_KINDS = ['int8', 'fp16', 'fixed'] as const;
export type AutoVariantKind = (typeof AUTO_VARIANT_KINDS)[number];
/** Entropy (KL) calibration: the most accurate of the three in bench/optimize on all three models. */
export const DEFAULT_AUTO_METHOD: CalibrationMethod = 'entropy';
/** Fraction of --budget after which no further variant is started. */
export const AUTO_VARIANT_BUDGET_SHARE = 0.5;

/** `auto` (every kind) or a comma list of kinds; anything else is a one-line usage error. */
export function parseVariantsOption(text: string): AutoVariantKind[] {
  const t = text.trim();
  if (t === 'auto') return [...AUTO_VARIANT_KINDS];
  const parts = t.split(',').map((x) => x.trim());
  if (t === '' || parts.some((p) => !(AUTO_VARIANT_KINDS as readonly string[]).includes(p))) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --variants '${text}' (expected auto, or a list of ${AUTO_VARIANT_KINDS.join(', ')})`,
    );
  }
  return [...new Set(parts as AutoVariantKind[])];
}

export interface AutoVariantsOptions {
  /** Which variants to make (default all: what `--variants auto` asks for). */
  kinds?: AutoVariantKind[];
  /** Calibration data for int8: folders, globs or files (images or .npy). Without it int8 is skipped. */
  calibrate?: string[];
  /** Calibration method for int8 (default entropy). */
  method?: CalibrationMethod;
  /** Where the variants are written (created if missing); default a new folder under the OS temp dir. */
  dir?: string;
}

export interface AutoVariantMade {
  kind: AutoVariantKind;
  /** The file written. */
  model: string;
  /** The tuner's variant ids of this file (more than one with --resolutions). */
  variants: string[];
  bytes: number;
  transforms: string[];
  /** Creation time (counted in --budget). */
  elapsedMs: number;
  /** Fixed shapes: the dims bound. */
  shapes?: ShapeOverride[];
  notes: string[];
  /** Against the reference (the model the variants were made from), per variant id. */
  accuracy?: Array<{
    variant: string;
    metric: string | null;
    score: number | null;
    drop: number | null;
    images: number;
    note?: string;
  }>;
  /**
   * After the search: candidates measured, whether it holds the chosen one, and why it was dropped (accuracy bound,
   * SLO, screening).
   */
  status?: { measured: number; chosen: boolean; dropped: string[] };
}

export interface AutoVariantsReport {
  source: string;
  dir: string;
  kinds: AutoVariantKind[];
  method: CalibrationMethod | null;
  /** int8's data: files used to calibrate, files held out, and what the accuracy check ran on. */
  calibration: { files: number; heldOut: number } | null;
  accuracyOn: string;
  made: AutoVariantMade[];
  skipped: Array<{ kind: AutoVariantKind; reason: string }>;
  /** Creation of all variants, counted in --budget. */
  elapsedMs: number;
  budget: 'counted in --budget';
  notes: string[];
}

/** The calibration files named by --calibrate, split into calibration and held-out sets (checked before any work). */
export async function listAutoCalibration(
  calibrate: readonly string[],
): Promise<{ calibration: string[]; evaluation: string[] }> {
  const { listCalibrationFiles, splitCalibration } = await import('../optimize/calibrate.js');
  const files = await listCalibrationFiles(calibrate);
  const split = splitCalibration(files, true);
  return {
    calibration: split.calibration,
    evaluation: split.evaluation.filter((f) => !f.toLowerCase().endsWith('.npy')),
  };
}

function symbolic(spec: TensorSpec): boolean {
  return spec.shape.some((d) => typeof d !== 'number' || d <= 0);
}

/**
 * The calibration data fits the model: the first file goes through the model's preprocessing (or
 * is read as a tensor) and one inference. Checked before anything is made, so a wrong folder (photos
 * for an audio model, tensors of another shape) is a one-line error, not a skipped int8 variant.
 */
export async function checkCalibrationFits(model: string, files: readonly string[]): Promise<void> {
  const first = files[0];
  if (first === undefined) return;
  const [{ loadCalibrationFeeds }, { createSession, readModel }, { inspectModel }] = await Promise.all([
    import('../optimize/calibrate.js'),
    import('../runtime/session.js'),
    import('../runtime/model-info.js'),
  ]);
  const loaded = await readModel(model);
  const rt = await createSession(loaded, {});
  try {
    const [feeds] = await loadCalibrationFeeds(
      [first],
      rt,
      inspectModel(loaded.bytes, loaded.label).metadata,
      loaded.label,
    );
    try {
      await rt.session.run(feeds as NonNullable<typeof feeds>);
    } catch (error) {
      throw new RtinferError(
        'RTI_ERR_INPUT_DATA',
        `calibration data does not fit ${loaded.label}: ${path.basename(first)}: ${firstLine(error)}`,
        { cause: error },
      );
    }
  } finally {
    await rt.release();
  }
}

export interface MakeAutoVariantsContext {
  source: { path: string; inputs: readonly TensorSpec[] };
  shapes: readonly ShapeOverride[];
  /** From listAutoCalibration, when --calibrate was given. */
  calibration?: { calibration: string[]; evaluation: string[] };
  /** performance.now() after which no further variant starts. */
  deadline: number;
  signal?: AbortSignal;
  onPhase?: (text: string) => void;
}

/**
 * Makes the variants into the folder, int8 first (its calibration data errors are the user's to
 * fix: they end the run before anything else is spent), then fp16 and fixed shapes. A transform
 * that does not apply (nothing to quantize, no symbolic dimension) or fails inside onnxruntime is
 * skipped with its reason; bad calibration data is a one-line error.
 */
export async function makeAutoVariants(
  o: AutoVariantsOptions,
  ctx: MakeAutoVariantsContext,
): Promise<AutoVariantsReport> {
  const t0 = performance.now();
  // Before anything is created: a failed check leaves no folder behind.
  if (ctx.calibration) await checkCalibrationFits(ctx.source.path, ctx.calibration.calibration);
  const dir =
    o.dir !== undefined ? path.resolve(o.dir) : await mkdtemp(path.join(os.tmpdir(), 'rtinfer-tune-variants-'));
  try {
    await makeDir(dir);
  } catch (error) {
    throw new RtinferError(
      'RTI_ERR_IO_WRITE',
      `cannot create the variants folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? firstLine(error)}`,
      { cause: error },
    );
  }
  try {
    return await makeInto(dir, o, ctx, t0);
  } catch (error) {
    // A temporary folder of ours goes with the run that failed; a folder the user named stays.
    if (o.dir === undefined) await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

type OptimizeRequest = Parameters<(typeof import('../optimize/optimize.js'))['optimizeModel']>[0];

/** What optimizeModel is asked for one variant kind, with its progress line; or why the kind is skipped. */
function requestFor(
  kind: AutoVariantKind,
  out: string,
  ctx: MakeAutoVariantsContext,
  method: CalibrationMethod,
): { request: OptimizeRequest; phase: string; shapes?: ShapeOverride[] } | { skip: string } {
  const model = ctx.source.path;
  if (kind === 'int8') {
    if (!ctx.calibration)
      return {
        skip:
          'no calibration data: static int8 needs the ranges of real inputs; ' +
          'give --calibrate DIR|GLOB (images or .npy tensors)',
      };
    return {
      phase:
        `variants: int8 (${method} calibration on ${ctx.calibration.calibration.length} ` +
        `file(s), ${ctx.calibration.evaluation.length} held out for the accuracy check)`,
      request: {
        model,
        out,
        measure: false,
        int8: { calibrate: ctx.calibration.calibration, method, holdOut: false },
      },
    };
  }
  if (kind === 'fp16') return { phase: 'variants: fp16', request: { model, out, measure: false, fp16: true } };
  const open = ctx.source.inputs.filter(symbolic);
  if (open.length === 0)
    return { skip: "the model's inputs have no symbolic dimension: a fixed-shape variant would be the same model" };
  const traffic = resolveShapes(ctx.source.inputs, ctx.shapes).shapes;
  const shapes = open.map((s) => ({ name: s.name, dims: traffic[s.name] as number[] }));
  return {
    phase: `variants: fixed shapes ${shapes.map((s) => `${s.name}=${s.dims.join('x')}`).join(' ')}`,
    request: { model, out, measure: false, shapes },
    shapes,
  };
}

/**
 * One variant written by optimizeModel, with its progress lines; a kind it cannot make is skipped with the
 * reason, unless the user's own data is at fault.
 */
async function makeVariant(
  kind: AutoVariantKind,
  out: string,
  planned: { request: OptimizeRequest; phase: string; shapes?: ShapeOverride[] },
  optimizeModel: (typeof import('../optimize/optimize.js'))['optimizeModel'],
  phase: (line: string) => void,
  started: number,
): Promise<AutoVariantMade | AutoVariantsReport['skipped'][number]> {
  phase(planned.phase);
  const { request, shapes } = planned;
  try {
    const r = await optimizeModel(request);
    const made: AutoVariantMade = {
      kind,
      model: out,
      variants: [],
      bytes: r.size.after,
      transforms: r.transforms,
      elapsedMs: Math.round(performance.now() - started),
      ...(shapes ? { shapes } : {}),
      notes: r.notes,
    };
    phase(`variants: wrote ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return made;
  } catch (error) {
    // The user's data does not fit (empty folder, undecodable image, not a vision model): their error, one line.
    if (isRtinferError(error) && error.kind === 'usage' && error.code !== 'RTI_ERR_OPTIMIZE_NOTHING') throw error;
    const reason =
      isRtinferError(error) && error.code === 'RTI_ERR_OPTIMIZE_NOTHING'
        ? error.message
        : `failed: ${firstLine(error)}`;
    phase(`variants: ${kind} skipped: ${firstLine(error)}`);
    return { kind, reason };
  }
}

/**
 * Makes each variant kind in turn (int8, fp16, fixed shapes) until the budget's share or an interrupt stops it;
 * a kind that cannot be made is skipped with its reason, not thrown, unless the user's own data is at fault.
 */
async function makeInto(
  dir: string,
  o: AutoVariantsOptions,
  ctx: MakeAutoVariantsContext,
  t0: number,
): Promise<AutoVariantsReport> {
  const phase = ctx.onPhase ?? (() => {});
  const kinds = o.kinds ?? [...AUTO_VARIANT_KINDS];
  const method = o.method ?? DEFAULT_AUTO_METHOD;
  const { optimizeModel } = await import('../optimize/optimize.js');
  const base = path.basename(ctx.source.path).replace(/\.onnx$/i, '');
  const made: AutoVariantMade[] = [];
  const skipped: AutoVariantsReport['skipped'] = [];
  const notes: string[] = [];
  const order = (['int8', 'fp16', 'fixed'] as const).filter((k) => kinds.includes(k));
  for (const kind of order) {
    if (ctx.signal?.aborted) {
      skipped.push({ kind, reason: 'interrupted' });
      continue;
    }
    if (made.length + skipped.length > 0 && performance.now() > ctx.deadline) {
      skipped.push({
        kind,
        reason:
          `not started: the variants' share of --budget (${AUTO_VARIANT_BUDGET_SHARE * 100}%) ` +
          `was spent after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      });
      continue;
    }
    const out = path.join(dir, `${base}.${kind}.onnx`);
    const started = performance.now();
    const planned = requestFor(kind, out, ctx, method);
    if ('skip' in planned) {
      skipped.push({ kind, reason: planned.skip });
      continue;
    }
    const outcome = await makeVariant(kind, out, planned, optimizeModel, phase, started);
    if ('reason' in outcome) skipped.push(outcome);
    else made.push(outcome);
  }
  for (const s of skipped) if (s.kind === 'int8' && !ctx.calibration) phase(`variants: int8 skipped: ${s.reason}`);
  return {
    source: ctx.source.path,
    dir,
    kinds,
    method: made.some((m) => m.kind === 'int8') ? method : null,
    calibration: ctx.calibration
      ? { files: ctx.calibration.calibration.length, heldOut: ctx.calibration.evaluation.length }
      : null,
    accuracyOn: '',
    made,
    skipped,
    elapsedMs: Math.round(performance.now() - t0),
    budget: 'counted in --budget',
    notes,
  };
}
