/**
 * `rtinfer tune` as a library call: the model variants and the search space, the accuracy of each
 * variant against the reference, the search (strategy.ts) over real measurements (measure.ts), and
 * the chosen configuration re-measured on a fresh engine before it is reported, as the versioned
 * `rtinfer.tune/1` report.
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { realClock } from '../util/clock.js';
import { RtinferError, firstLine } from '../errors.js';
import { captureEnvironment, type Environment } from '../loadgen/environment.js';
import type { InputPlan } from '../runtime/inputs.js';
import { createSession, readModel } from '../runtime/session.js';
import type { ShapeOverride } from '../runtime/shapes.js';
import type { AccuracyOptions, AccuracyReport } from '../accuracy/accuracy.js';
import { levelsForBudget, measureCandidate, type LevelSettings, type MeasureSettings } from './measure.js';
import { parseSlo, type Slo } from './slo.js';
import {
  buildVariants,
  defaultAxes,
  defaultReference,
  gridSize,
  TUNE_SCENARIOS,
  type Candidate,
  type ModelDescription,
  type SearchSpace,
  type SpaceAxes,
  type TuneScenario,
  type Variant,
} from './space.js';
import {
  failedMeasurement,
  judged,
  OBJECTIVES,
  runStrategy,
  type Level,
  type Measurement,
  type Objective,
  type Phase,
  type StrategyResult,
  type Trial,
  type VariantAccuracy,
} from './strategy.js';
import { tunedConfig, type TunedConfig } from './config-out.js';
import {
  AUTO_VARIANT_BUDGET_SHARE,
  listAutoCalibration,
  makeAutoVariants,
  type AutoVariantsOptions,
  type AutoVariantsReport,
} from './auto-variants.js';
import { round3 } from '../util/format.js';

export const TUNE_SCHEMA = 'rtinfer.tune/1';

export interface TuneOptions {
  /** Model files: variants of one network (precisions, sizes). */
  models: string[];
  /** 'p99<=50ms' or a parsed SLO. */
  slo: string | Slo;
  scenario?: TuneScenario;
  objective?: Objective;
  /** Fraction 0..1. */
  maxAccuracyDrop?: number;
  /** Whole run, accuracy and verification included; default 10 minutes. */
  budgetMs?: number;
  /** Accuracy reference model; default the highest-resolution, then largest, variant. */
  reference?: string;
  images?: string[];
  labels?: string;
  shapes?: ShapeOverride[];
  /** For models with dynamic height and width. */
  resolutions?: Array<[number, number]> | 'auto';
  oversubscribe?: boolean;
  /** The layout the search starts from (see baseline in space.ts). */
  hint?: 'latency' | 'throughput';
  /**
   * Make variants of the first model (int8 with `calibrate`, fp16, fixed shapes) and search them
   * with it (`--variants auto`); the first model is then the accuracy reference unless `reference`.
   */
  autoVariants?: AutoVariantsOptions;
  /** Narrow (or widen) the runtime axes. */
  axes?: Partial<SpaceAxes>;
  session?: MeasureSettings['session'];
  input?: Partial<InputPlan>;
  samplesPerQuery?: number;
  /** Measurement lengths; default from the budget (levelsForBudget). */
  levels?: Record<Level, LevelSettings>;
  /** The accuracy check; default src/tune/accuracy.ts. */
  measureAccuracy?: (o: AccuracyOptions) => Promise<AccuracyReport>;
  onPhase?: (text: string) => void;
  onTrial?: (trial: Trial) => void;
  /** Ctrl-C: the search stops with the best so far, the verification is skipped. */
  signal?: AbortSignal;
}

export interface VariantAccuracyReport {
  variant: string;
  reference: boolean;
  metric: AccuracyReport['metric'] | null;
  score: number | null;
  drop: number | null;
  images: number;
  note?: string;
}

/** A measurement with non-finite figures as null, as JSON carries them. */
export type MeasurementReport = Omit<Measurement, 'latencyMs' | 'unloadedMs' | 'unloadedLowerMs'> & {
  latencyMs: number | null;
  unloadedMs: number | null;
  unloadedLowerMs?: number | null;
};

export interface CandidateReport {
  key: string;
  candidate: Candidate;
  phase: Phase;
  quick: MeasurementReport | null;
  full: MeasurementReport | null;
  accuracy: { score: number; drop: number } | null;
  feasible: boolean;
  pareto: boolean;
}

export interface TuneReport {
  schema: typeof TUNE_SCHEMA;
  slo: Slo;
  scenario: TuneScenario;
  objective: Objective;
  maxAccuracyDrop: number | null;
  budgetMs: number;
  space: {
    variants: Array<Pick<Variant, 'id' | 'model' | 'bytes' | 'resolution' | 'batchable'>>;
    axes: SpaceAxes;
    cores: number;
    oversubscribe: boolean;
    gridSize: number;
  };
  search: {
    /** Distinct candidates measured. */
    measured: number;
    evaluations: { quick: number; full: number; abandoned: number; failed: number };
    gridSize: number;
    /** measured / gridSize */
    fractionOfGrid: number;
    elapsedMs: number;
    stoppedBy: 'budget' | 'converged' | 'interrupted';
    pruned: { variants: Array<{ variant: string; reason: string }>; rules: string[] };
    levels: Record<Level, LevelSettings>;
  };
  accuracy: { reference: string; variants: VariantAccuracyReport[] } | null;
  /** `--variants auto`: the variants made, where, in how long, and what became of each; null otherwise. */
  autoVariants: AutoVariantsReport | null;
  candidates: CandidateReport[];
  /** Keys of the candidates no other beats on latency, throughput and accuracy together. */
  pareto: string[];
  chosen: {
    key: string;
    candidate: Candidate;
    variant: Pick<Variant, 'id' | 'model' | 'resolution' | 'shapes'>;
    config: TunedConfig;
    /** The search's own measurement (full when it made one). */
    search: MeasurementReport;
    /** The same configuration on a fresh engine, measured at full length after the search. */
    verification: MeasurementReport | null;
  } | null;
  verdict: { met: boolean; text: string; closest: Array<{ key: string; measurement: MeasurementReport }> };
  elapsedMs: number;
  env: Environment;
}

function finite(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? round3(x) : null;
}

export function measurementReport(m: Measurement): MeasurementReport {
  return {
    ...m,
    latencyMs: finite(m.latencyMs),
    unloadedMs: finite(m.unloadedMs),
    ...(m.unloadedLowerMs !== undefined ? { unloadedLowerMs: finite(m.unloadedLowerMs) } : {}),
    elapsedMs: Math.round(m.elapsedMs),
  };
}

/** Indices of points that no other point beats on every axis (all to maximise) and strictly on one. */
export function paretoIndices(points: ReadonlyArray<readonly number[]>): number[] {
  const out: number[] = [];
  points.forEach((p, i) => {
    const dominated = points.some(
      (q, j) => j !== i && q.every((v, k) => v >= (p[k] as number)) && q.some((v, k) => v > (p[k] as number)),
    );
    if (!dominated) out.push(i);
  });
  return out;
}

async function describeModels(files: readonly string[]): Promise<ModelDescription[]> {
  const out: ModelDescription[] = [];
  for (const file of files) {
    const model = await readModel(file);
    const rt = await createSession(model, {});
    out.push({ path: model.path ?? file, bytes: model.bytes.length, inputs: rt.inputs });
    await rt.release();
  }
  return out;
}

/** The accuracy check, loaded on demand: it pulls in the vision pipeline, which a single-model tune never needs. */
async function defaultMeasureAccuracy(): Promise<(o: AccuracyOptions) => Promise<AccuracyReport>> {
  const { measureAccuracy, createReferenceCache } = await import('../accuracy/accuracy.js');
  // One cache for all variants: the reference runs once per image set.
  const cache = createReferenceCache();
  return (o) => measureAccuracy({ ...o, cache });
}

/** The run's settings once parsed and checked, shared by the steps below. */
interface TuneRun {
  o: TuneOptions;
  started: number;
  slo: Slo;
  scenario: TuneScenario;
  objective: Objective;
  budgetMs: number;
  levels: Record<Level, LevelSettings>;
}

/** --variants auto's --calibrate files, checked (listed, split) before any time is spent. */
async function autoCalibrationOf(o: TuneOptions): Promise<Awaited<ReturnType<typeof listAutoCalibration>> | undefined> {
  if (o.autoVariants?.calibrate !== undefined && o.autoVariants.kinds && !o.autoVariants.kinds.includes('int8'))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      '--calibrate is only used for the int8 variant: add int8 to --variants (or give --variants auto)',
    );
  return o.autoVariants?.calibrate !== undefined ? await listAutoCalibration(o.autoVariants.calibrate) : undefined;
}

/**
 * The tune pipeline in its order: models and variants, the search space, accuracy once per variant, the search,
 * the verification, then the report. Each step is its own function (modelsOf, accuracyOf, search, verify,
 * candidateReports, outcome); this one only threads their results into the next and into the report.
 */
export async function runTune(o: TuneOptions): Promise<TuneReport> {
  const started = performance.now();
  const env = captureEnvironment();
  const run = settingsOf(o, started);
  const { scenario, objective, budgetMs } = run;
  const calibration = await autoCalibrationOf(o);

  o.onPhase?.('reading the models');
  const { described, auto, images } = await modelsOf(run, calibration);
  const variants = buildVariants(described, {
    ...(o.resolutions !== undefined ? { resolutions: o.resolutions } : {}),
    ...(o.shapes ? { shapes: o.shapes } : {}),
  });
  const cores = os.availableParallelism();
  const space: SearchSpace = {
    scenario,
    variants,
    axes: { ...defaultAxes(cores, scenario), ...o.axes },
    cores,
    oversubscribe: o.oversubscribe === true,
    ...(o.hint ? { hint: o.hint } : {}),
  };
  const grid = gridSize(space);

  // Accuracy: once per variant, only when there is something to compare.
  const wantAccuracy =
    variants.length > 1 || o.reference !== undefined || objective === 'accuracy' || o.maxAccuracyDrop !== undefined;
  // With --variants auto the reference is the model the variants were made from (its own resolutions aside).
  const referenceAmong = auto ? variants.filter((v) => v.model === described[0]?.path) : variants;
  const checked = wantAccuracy ? await accuracyOf(run, referenceAmong, variants, images) : null;
  const accuracyMap = checked?.map ?? new Map<string, VariantAccuracy>();
  const accuracy = checked?.report ?? null;

  const measure: MeasureSettings = {
    scenario,
    slo: run.slo,
    levels: run.levels,
    ...(o.session ? { session: o.session } : {}),
    ...(o.input ? { input: o.input } : {}),
    ...(o.samplesPerQuery ? { samplesPerQuery: o.samplesPerQuery } : {}),
  };
  const byId = new Map(variants.map((v) => [v.id, v]));
  o.onPhase?.(`searching (${grid} configurations in the full grid)`);
  const result = await search(run, space, accuracyMap, measure, byId);
  const verification = await verify(run, result.best, measure, byId);
  const { candidates, pareto } = candidateReports(run, result.trials, accuracyMap);
  const { chosen, verdict } = outcome(run, result, verification, byId);

  return {
    schema: TUNE_SCHEMA,
    slo: run.slo,
    scenario,
    objective,
    maxAccuracyDrop: o.maxAccuracyDrop ?? null,
    budgetMs,
    space: spaceReport(space, variants, grid),
    search: searchReport(result, grid, run.levels),
    accuracy,
    autoVariants: auto
      ? withStatus(auto, variants, {
          pruned: result.pruned.variants,
          trials: result.trials,
          accuracy: accuracy?.variants ?? [],
          chosen: chosen?.variant.id ?? null,
        })
      : null,
    candidates,
    pareto,
    chosen,
    verdict,
    elapsedMs: Math.round(performance.now() - started),
    env,
  };
}

/** The report's search space: the variants as measured, the axes, the cores. */
function spaceReport(space: SearchSpace, variants: readonly Variant[], grid: number): TuneReport['space'] {
  return {
    variants: variants.map((v) => ({
      id: v.id,
      model: v.model,
      bytes: v.bytes,
      resolution: v.resolution,
      batchable: v.batchable,
    })),
    axes: space.axes,
    cores: space.cores,
    oversubscribe: space.oversubscribe,
    gridSize: grid,
  };
}

/** The report's account of the search: how much of the grid it measured, why it stopped, what it pruned. */
function searchReport(
  result: StrategyResult,
  grid: number,
  levels: Record<Level, LevelSettings>,
): TuneReport['search'] {
  const distinct = result.trials.length;
  return {
    measured: distinct,
    evaluations: result.evaluations,
    gridSize: grid,
    fractionOfGrid: Math.round((distinct / Math.max(1, grid)) * 10000) / 10000,
    elapsedMs: Math.round(result.elapsedMs),
    stoppedBy: result.stoppedBy,
    pruned: result.pruned,
    levels,
  };
}

/** The options with their defaults, checked: nothing is read or measured before this passes. */
function settingsOf(o: TuneOptions, started: number): TuneRun {
  const slo = typeof o.slo === 'string' ? parseSlo(o.slo) : o.slo;
  const scenario = o.scenario ?? 'server';
  const objective = o.objective ?? 'throughput';
  const budgetMs = o.budgetMs ?? 600_000;
  if (!TUNE_SCENARIOS.includes(scenario))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --scenario '${scenario}' (expected one of ${TUNE_SCENARIOS.join(', ')})`,
    );
  if (!OBJECTIVES.includes(objective))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --objective '${objective}' (expected one of ${OBJECTIVES.join(', ')})`,
    );
  if (o.models.length === 0)
    throw new RtinferError('RTI_ERR_ARG_MISSING', 'rtinfer tune needs at least one model file');
  if (!(budgetMs >= 1000))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --budget ${budgetMs} ms (expected at least 1s)`);
  return { o, started, slo, scenario, objective, budgetMs, levels: o.levels ?? levelsForBudget(budgetMs) };
}

type Calibration = Awaited<ReturnType<typeof listAutoCalibration>>;

interface Models {
  described: ModelDescription[];
  auto: AutoVariantsReport | null;
  /** The images accuracy is checked on: --images, else the held-out calibration images. */
  images: string[] | undefined;
}

/** The models given, plus with `--variants auto` the ones made from the first. */
async function modelsOf(run: TuneRun, calibration: Calibration | undefined): Promise<Models> {
  const { o } = run;
  const given = await describeModels([...new Set(o.models)]);
  if (!o.autoVariants) return { described: given, auto: null, images: o.images };
  const source = given[0] as ModelDescription;
  const auto = await makeAutoVariants(o.autoVariants, {
    source,
    shapes: o.shapes ?? [],
    ...(calibration ? { calibration } : {}),
    deadline: run.started + run.budgetMs * AUTO_VARIANT_BUDGET_SHARE,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onPhase ? { onPhase: o.onPhase } : {}),
  });
  const described = [...given, ...(await describeModels(auto.made.map((m) => m.model)))];
  // Accuracy of int8 on the held-out calibration images, never on the ones it was calibrated on.
  const held = calibration?.evaluation ?? [];
  const images = o.images === undefined && held.length > 0 ? held : o.images;
  auto.accuracyOn =
    o.labels !== undefined
      ? `the labelled set ${o.labels}`
      : o.images !== undefined
        ? 'the --images given'
        : images !== undefined
          ? `the ${held.length} held-out calibration image(s) (every third file; not used to calibrate)`
          : 'seeded synthetic inputs (tensor error)';
  if (o.images !== undefined && calibration) {
    const used = new Set(calibration.calibration.map((f) => path.resolve(f)));
    if (o.images.some((f) => used.has(path.resolve(f))))
      auto.notes.push('some --images were also used to calibrate int8: its accuracy on them is optimistic');
  }
  if (calibration && calibration.evaluation.length === 0 && o.images === undefined && o.labels === undefined)
    auto.notes.push(
      'fewer than 3 image files in --calibrate: none held out, ' +
        'so accuracy is checked on synthetic inputs (tensor error); give --images for an image check',
    );
  if (o.maxAccuracyDrop === undefined)
    auto.notes.push('no --max-accuracy-drop: every variant is searched whatever its accuracy loss');
  return { described, auto, images };
}

/** Each variant's accuracy against the reference (the default one picked among `candidates`). */
async function accuracyOf(
  run: TuneRun,
  candidates: readonly Variant[],
  variants: readonly Variant[],
  images: string[] | undefined,
): Promise<{ report: NonNullable<TuneReport['accuracy']>; map: Map<string, VariantAccuracy> }> {
  const { o } = run;
  const refVariant = o.reference === undefined ? defaultReference(candidates) : undefined;
  const reference = o.reference ?? (refVariant as Variant).model;
  const rows: VariantAccuracyReport[] = [];
  const map = new Map<string, VariantAccuracy>();
  const check = o.measureAccuracy ?? (await defaultMeasureAccuracy());
  for (const v of variants) {
    if (o.signal?.aborted) break;
    if (v === refVariant) {
      rows.push({ variant: v.id, reference: true, metric: null, score: 1, drop: 0, images: 0, note: 'the reference' });
      map.set(v.id, { score: 1, drop: 0 });
      continue;
    }
    o.onPhase?.(`accuracy of ${v.id}`);
    try {
      const r = await check({
        model: v.model,
        reference,
        ...(images ? { images } : {}),
        ...(o.labels ? { labels: o.labels } : {}),
        ...(v.shapes.length ? { shapes: v.shapes } : {}),
        ...(refVariant?.shapes.length ? { referenceShapes: refVariant.shapes } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      rows.push({
        variant: v.id,
        reference: false,
        metric: r.metric,
        score: r.score,
        drop: r.drop,
        images: r.images,
        ...(r.note ? { note: r.note } : {}),
      });
      map.set(v.id, { score: r.score, drop: r.drop });
    } catch (error) {
      // A failed check is data: the variant stays in the search, unrated (excluded when a drop limit is set).
      rows.push({
        variant: v.id,
        reference: false,
        metric: null,
        score: null,
        drop: null,
        images: 0,
        note: `accuracy check failed: ${firstLine(error)}`,
      });
      if (o.maxAccuracyDrop !== undefined) map.set(v.id, { score: 0, drop: 1 });
    }
  }
  return { report: { reference, variants: rows }, map };
}

/** The search over real measurements, within what is left of the budget. */
async function search(
  run: TuneRun,
  space: SearchSpace,
  accuracy: ReadonlyMap<string, VariantAccuracy>,
  measure: MeasureSettings,
  byId: ReadonlyMap<string, Variant>,
): Promise<StrategyResult> {
  const { o } = run;
  // The search gets what is left of the budget less a full measurement for the verification.
  const full = run.levels.full;
  const verifyReserve = 2000 + full.unloadedMs + full.probeMs * (run.scenario === 'server' ? 6 : 1);
  const left = run.budgetMs - (performance.now() - run.started);
  const searchBudget = Math.max(left * 0.5, left - verifyReserve);
  return runStrategy({
    space,
    clock: realClock,
    budgetMs: searchBudget,
    boundMs: run.slo.boundMs,
    objective: run.objective,
    accuracy,
    ...(o.maxAccuracyDrop !== undefined ? { maxAccuracyDrop: o.maxAccuracyDrop } : {}),
    evaluate: (c, e) =>
      measureCandidate(c, byId.get(c.variant) as Variant, e.level, measure, {
        abandonAboveMs: e.abandonAboveMs,
        signal: e.signal,
      }),
    ...(o.onTrial ? { onTrial: o.onTrial } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

/**
 * The chosen configuration at full length on a fresh engine; null when nothing was chosen or the run was interrupted.
 */
async function verify(
  run: TuneRun,
  best: Trial | null,
  measure: MeasureSettings,
  byId: ReadonlyMap<string, Variant>,
): Promise<Measurement | null> {
  if (!best || run.o.signal?.aborted) return null;
  run.o.onPhase?.(`verifying ${best.key} on a fresh engine`);
  try {
    return await measureCandidate(best.candidate, byId.get(best.candidate.variant) as Variant, 'full', measure);
  } catch (error) {
    return failedMeasurement(firstLine(error), 0);
  }
}

/** Every trial as reported, with whether it is feasible and in the Pareto set; the Pareto keys. */
function candidateReports(
  run: TuneRun,
  trials: readonly Trial[],
  accuracy: ReadonlyMap<string, VariantAccuracy>,
): { candidates: CandidateReport[]; pareto: string[] } {
  const { maxAccuracyDrop } = run.o;
  // Pareto over (latency, throughput, accuracy); the latency is the one the latency objective ranks.
  const measured = trials.filter((t) => judged(t)?.status === 'ok');
  const lat = (m: Measurement): number => (run.scenario === 'server' ? m.unloadedMs : m.latencyMs);
  const paretoSet = new Set(
    paretoIndices(
      measured.map((t) => {
        const m = judged(t) as Measurement;
        return [-lat(m), m.throughput, accuracy.get(t.candidate.variant)?.score ?? 1];
      }),
    ).map((i) => (measured[i] as Trial).key),
  );
  const feasibleKey = (t: Trial): boolean => {
    const m = judged(t);
    const drop = accuracy.get(t.candidate.variant)?.drop ?? 0;
    return m?.status === 'ok' && m.meetsSlo && (maxAccuracyDrop === undefined || drop <= maxAccuracyDrop + 1e-12);
  };
  const candidates: CandidateReport[] = trials.map((t) => ({
    key: t.key,
    candidate: t.candidate,
    phase: t.phase,
    quick: t.quick ? measurementReport(t.quick) : null,
    full: t.full ? measurementReport(t.full) : null,
    accuracy: accuracy.get(t.candidate.variant) ?? null,
    feasible: feasibleKey(t),
    pareto: paretoSet.has(t.key),
  }));
  return { candidates, pareto: [...paretoSet] };
}

const STOPPED_WHERE: Record<StrategyResult['stoppedBy'], string> = {
  budget: ' within the budget',
  interrupted: ' before the interruption',
  converged: '',
};

/** The chosen configuration (as a serve config) and the verdict: met only when the verification meets the SLO too. */
function outcome(
  run: TuneRun,
  result: StrategyResult,
  verification: Measurement | null,
  byId: ReadonlyMap<string, Variant>,
): Pick<TuneReport, 'chosen' | 'verdict'> {
  const { slo, scenario, o } = run;
  if (!result.best) {
    return {
      chosen: null,
      verdict: {
        met: false,
        text: `SLO ${slo.text} not met by any configuration measured${STOPPED_WHERE[result.stoppedBy]}`,
        closest: result.closest.map((t) => ({ key: t.key, measurement: measurementReport(judged(t) as Measurement) })),
      },
    };
  }
  const best = result.best;
  const v = byId.get(best.candidate.variant) as Variant;
  const searchM = judged(best) as Measurement;
  const chosen = {
    key: best.key,
    candidate: best.candidate,
    variant: { id: v.id, model: v.model, resolution: v.resolution, shapes: v.shapes },
    config: tunedConfig(best.candidate, v, scenario, o.session),
    search: measurementReport(searchM),
    verification: verification ? measurementReport(verification) : null,
  };
  const fig = (m: Measurement): string =>
    scenario === 'server'
      ? `${m.throughput} q/s at ${slo.label} ${fmt(m.latencyMs)} ms`
      : `${slo.label} ${fmt(m.latencyMs)} ms, ${m.throughput} q/s`;
  const verified = verification?.status === 'ok' && verification.meetsSlo;
  const text = o.signal?.aborted
    ? `interrupted: ${best.key} was the best so far (${fig(searchM)}), not verified`
    : verified
      ? `SLO ${slo.text} met by ${best.key}: ${fig(searchM)} in the ` +
        `search, ${fig(verification as Measurement)} verified on a fresh engine`
      : `SLO ${slo.text} met by ${best.key} in the search (${fig(searchM)}) but not on the fresh verification run` +
        (verification
          ? ` (${verification.status === 'ok' ? fig(verification) : (verification.note ?? verification.status)})`
          : '');
  return { chosen, verdict: { met: verified, text, closest: [] } };
}

/** The made variants with their ids, accuracy and what the search did with them (dropped, and why). */
function withStatus(
  auto: AutoVariantsReport,
  variants: readonly Variant[],
  r: {
    pruned: ReadonlyArray<{ variant: string; reason: string }>;
    trials: readonly Trial[];
    accuracy: readonly VariantAccuracyReport[];
    chosen: string | null;
  },
): AutoVariantsReport {
  return {
    ...auto,
    made: auto.made.map((m) => {
      const ids = variants.filter((v) => v.model === m.model).map((v) => v.id);
      const dropped = r.pruned
        .filter((p) => ids.includes(p.variant))
        .map((p) => (ids.length > 1 ? `${p.variant}: ${p.reason}` : p.reason));
      const measured = r.trials.filter((t) => ids.includes(t.candidate.variant) && judged(t) !== undefined).length;
      const accuracy = r.accuracy
        .filter((a) => ids.includes(a.variant))
        .map((a) => ({
          variant: a.variant,
          metric: a.metric,
          score: a.score,
          drop: a.drop,
          images: a.images,
          ...(a.note ? { note: a.note } : {}),
        }));
      return {
        ...m,
        variants: ids,
        accuracy,
        status: { measured, chosen: r.chosen !== null && ids.includes(r.chosen), dropped },
      };
    }),
  };
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(2) : '-';
}
