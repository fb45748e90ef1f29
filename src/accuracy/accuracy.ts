/**
 * The accuracy cost of a model variant against a reference model: what `rtinfer tune` weighs
 * against latency. Four ways, picked from what is given:
 *
 * - a labelled set (`labels`): real mAP@0.5 (`map50`) or top-1 accuracy (`top1`) of both models;
 *   `drop` is the reference's score minus the candidate's, absolute (0.01 = one point of mAP);
 * - images and a detector (boxes or text regions): mAP@0.5 of the candidate's detections taking the
 *   reference's detections as ground truth (`map50-agreement`);
 * - images and a classifier: the fraction of images where both pick the same class
 *   (`top1-agreement`);
 * - otherwise (no images, or not a vision model): seeded synthetic inputs, outputs compared
 *   element by element (`tensor-error`, see TensorErrorStats.score).
 *
 * - pose / segmentation / image-to-image models (agreement only): OKS of the keypoints, IoU of the
 *   instance masks, mean IoU of the semantic maps, pixel agreement of output images
 *   (`oks-agreement`, `mask-iou-agreement`, `miou-agreement`, `image-agreement`; vision-agreement.ts).
 * For the agreement metrics `drop` is 1 − score. Scores are in [0, 1], higher better.
 */
import { stat } from 'node:fs/promises';
import { statSync } from 'node:fs';
import path from 'node:path';
import { RtinferError, isRtinferError } from '../errors.js';
import { inspectModel } from '../runtime/model-info.js';
import { createSession, readModel, type RuntimeSession } from '../runtime/session.js';
import { resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import { createVisionPipeline, type VisionPipeline } from '../vision/pipeline.js';
import type { Detection, HeadResult, VisionTask } from '../vision/types.js';
import { textAgreement, top1Agreement } from './agreement.js';
import { classMapIou, imageAgreement, maskIou, matchedAgreement, oks } from './vision-agreement.js';
import { listImages } from './image-list.js';
import { TEXT_LABEL, loadLabelledSet, type LabelledSet } from './labels.js';
import { meanAveragePrecision, type PredictedBox, type TruthBox } from './map.js';
import { tensorError } from './tensor-error.js';

export interface AccuracyOptions {
  /** The candidate model file. */
  model: string;
  /** The model it is compared with (see pickReference for a default). */
  reference: string;
  /** Image files or folders (image files directly inside are taken). */
  images?: string[];
  /** A labelled set (JSON, see labels.ts) for real mAP or accuracy instead of agreement. */
  labels?: string;
  /** The candidate's input shapes; for a vision model with dynamic H/W, the resolution it preprocesses to. */
  shapes?: ShapeOverride[];
  /** The reference's; default `shapes` for raw tensors, the model's own sizing for images. */
  referenceShapes?: ShapeOverride[];
  /** Synthetic input samples for `tensor-error` (default 16). */
  samples?: number;
  signal?: AbortSignal;
  /**
   * Keeps the reference's results on the images between calls (createReferenceCache), so checking
   * several variants against one reference runs the reference once.
   */
  cache?: ReferenceCache;
}

export type AccuracyMetric =
  | 'map50-agreement'
  | 'top1-agreement'
  | 'tensor-error'
  | 'map50'
  | 'top1'
  | 'oks-agreement'
  | 'mask-iou-agreement'
  | 'miou-agreement'
  | 'image-agreement'
  | 'text-agreement';

export interface AccuracyReport {
  metric: AccuracyMetric;
  /** 0..1, higher better; the reference itself scores 1 for agreement metrics. */
  score: number;
  /** Fraction 0..1 lost against the reference (absolute points for map50 and top1). */
  drop: number;
  /** Images evaluated (for tensor-error: synthetic samples). */
  images: number;
  /** map50 and top1: the reference's own score on the labelled set. */
  referenceScore?: number;
  maxAbsError?: number;
  meanAbsError?: number;
  /** Skipped images, fallbacks and other things worth saying, in one line. */
  note?: string;
}

export const DEFAULT_ACCURACY_SAMPLES = 16;
/**
 * Score threshold for the candidate's (and, on a labelled set, both models') detections: COCO
 * evaluation and Ultralytics val rank everything down to 0.001, so AP sees the whole precision–recall
 * curve.
 */
export const EVAL_SCORE_THRESHOLD = 0.001;
const IOU = 0.5;
// Errors that belong to one image (bad file or format), which the check skips instead of failing.
const IMAGE_ERRORS: readonly string[] = [
  'RTI_ERR_IMAGE_NOT_FOUND',
  'RTI_ERR_IMAGE_DECODE',
  'RTI_ERR_IMAGE_UNSUPPORTED',
  'RTI_ERR_IMAGE_TOO_LARGE',
];

/**
 * The default reference among model variants: the largest file. Variants of one network differ
 * mostly in weight precision (fp32 > fp16 > int8) and pruning, so the largest is the
 * full-precision one. Ties keep the first listed (resolution variants of one file tie).
 */
export function pickReference(models: string[]): string {
  if (models.length === 0) throw new RtinferError('RTI_ERR_ARG_MISSING', 'pickReference needs at least one model');
  let best: { model: string; size: number } | undefined;
  for (const model of models) {
    let size: number;
    try {
      size = statSync(model).size;
    } catch (error) {
      throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `model file not found: ${model}`, { cause: error });
    }
    if (best === undefined || size > best.size) best = { model, size };
  }
  return best!.model;
}

interface Opened {
  label: string;
  runtime: RuntimeSession;
  metadata: Record<string, string>;
  /** The vision pipeline, or why the model is not one. */
  vision: VisionPipeline | { error: RtinferError };
}

async function open(model: string, shapes: readonly ShapeOverride[] | undefined): Promise<Opened> {
  const loaded = await readModel(model);
  const runtime = await createSession(loaded);
  try {
    const metadata = inspectModel(loaded.bytes, loaded.label).metadata;
    // Checks names and ranks of the override, whichever way the model is used.
    if (shapes !== undefined) resolveShapes(runtime.inputs, shapes);
    let vision: Opened['vision'];
    try {
      vision = createVisionPipeline({ session: runtime, metadata });
      const size = shapes === undefined ? undefined : imageSizeOf(vision, shapes);
      if (size !== undefined) vision = createVisionPipeline({ session: runtime, metadata, preprocess: size });
    } catch (error) {
      if (!isRtinferError(error) || error.code !== 'RTI_ERR_HEAD_MISMATCH') throw error;
      vision = { error };
    }
    return { label: model, runtime, metadata, vision };
  } catch (error) {
    await runtime.release();
    throw error;
  }
}

/** The preprocess size a shape override asks of a vision pipeline's input (dims [N,C,H,W] or [N,H,W,C]). */
function imageSizeOf(
  pipeline: VisionPipeline,
  shapes: readonly ShapeOverride[],
): { width: number; height: number } | undefined {
  const o = shapes.find((s) => s.name === undefined || s.name === pipeline.inputName);
  if (o === undefined || o.dims.length !== 4) return undefined;
  const [h, w] = pipeline.config.layout === 'nchw' ? [o.dims[2]!, o.dims[3]!] : [o.dims[1]!, o.dims[2]!];
  return { width: w, height: h };
}

function isVision(v: Opened['vision']): v is VisionPipeline {
  return !('error' in v);
}

function mismatch(message: string): RtinferError {
  return new RtinferError('RTI_ERR_ACCURACY_MISMATCH', message);
}

export async function measureAccuracy(o: AccuracyOptions): Promise<AccuracyReport> {
  const samples = o.samples ?? DEFAULT_ACCURACY_SAMPLES;
  if (!Number.isInteger(samples) || samples < 1)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid samples ${samples} (expected a positive integer)`);
  o.signal?.throwIfAborted();
  const labelled = o.labels === undefined ? undefined : await loadLabelledSet(o.labels);
  const given = o.images !== undefined && o.images.length > 0 ? await listImages(o.images) : [];
  const images = labelled === undefined ? given : await labelledFiles(labelled, given);
  const tensorOptions = {
    model: o.model,
    reference: o.reference,
    samples,
    ...pick(o, 'shapes', 'referenceShapes', 'signal'),
  };

  const candidate = await open(o.model, o.shapes);
  let reference: Opened | undefined;
  try {
    const key =
      images.length > 0 && o.cache !== undefined ? await referenceKey(o, images, labelled !== undefined) : undefined;
    let run = key === undefined ? undefined : o.cache!.get(key);
    if (run === undefined) {
      reference = await open(o.reference, o.referenceShapes);
      if (images.length === 0) return await tensorError(candidate, reference, tensorOptions);
      const ref = reference.vision;
      if (!isVision(ref)) {
        if (labelled !== undefined)
          throw mismatch(
            `a labelled set needs a vision model, but the reference ${o.reference} is not one: ${ref.error.message}`,
          );
        const report = await tensorError(candidate, reference, tensorOptions);
        return {
          ...report,
          note: join(
            `${o.reference} is not a vision model, so its raw outputs were compared on synthetic inputs ` +
              `instead of images`,
            report.note,
          ),
        };
      }
      checkKinds(candidate.vision, ref.head, o);
      run = await runReference(ref, images, labelled !== undefined, o.signal);
      if (key !== undefined) o.cache!.set(key, run);
      await reference.runtime.release();
      reference = undefined;
    }
    const cand = checkKinds(candidate.vision, run.head, o);
    return await onImages(cand, run, images, labelled, o.signal);
  } finally {
    await Promise.all([candidate.runtime.release(), reference?.runtime.release()]);
  }
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function checkKinds(candidate: Opened['vision'], head: HeadSummary, o: AccuracyOptions): VisionPipeline {
  if (!isVision(candidate))
    throw mismatch(
      `the reference ${o.reference} is a ${head.task} model ('${head.name}' head), but ${o.model} is not a ` +
        `vision model: ${candidate.error.message}`,
    );
  if (candidate.head.task !== head.task) {
    throw mismatch(
      `${o.model} is a ${candidate.head.task} model ('${candidate.head.name}' head) but the ` +
        `reference ${o.reference} is a ${head.task} model ('${head.name}' head): their outputs cannot be compared`,
    );
  }
  return candidate;
}

/** Paths of a labelled set's images: as the file says, else an image of that name among `given`. */
async function labelledFiles(set: LabelledSet, given: readonly string[]): Promise<string[]> {
  const byName = new Map(given.map((g) => [path.basename(g), g]));
  const out: string[] = [];
  for (const entry of set.images) {
    const found = await stat(entry.file).then(
      () => entry.file,
      () => byName.get(path.basename(entry.file)),
    );
    if (found === undefined)
      throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `image in the labels file not found: ${entry.file}`);
    out.push(found);
  }
  return out;
}

type Outcome = { ok: true; result: HeadResult } | { ok: false; why: string };

async function predict(pipeline: VisionPipeline, image: string, threshold: number | undefined): Promise<Outcome> {
  try {
    const result = await pipeline.predict(image, threshold === undefined ? undefined : { scoreThreshold: threshold });
    return { ok: true, result };
  } catch (error) {
    if (isRtinferError(error) && IMAGE_ERRORS.includes(error.code))
      return { ok: false, why: `${path.basename(image)}: ${error.message}` };
    throw error;
  }
}

function boxesOf(r: HeadResult, byLabel: boolean): PredictedBox[] {
  if (r.task === 'text') return r.texts.map((t) => ({ box: t.box, score: t.score, label: TEXT_LABEL }));
  if (r.task === 'detect')
    return r.detections.map((d) => ({ box: d.box, score: d.score, label: byLabel ? d.label : `#${d.classId}` }));
  return [];
}

function topClass(r: HeadResult): { index: number; label: string } {
  const c = r.task === 'classify' ? r.classes[0] : undefined;
  return c === undefined ? { index: -1, label: '' } : { index: c.index, label: c.label };
}

interface HeadSummary {
  name: string;
  task: VisionTask;
}

/** What the reference gave on a list of images: all a comparison needs of it. */
interface ReferenceRun {
  head: HeadSummary;
  /** Its head's default score threshold. */
  scoreThreshold: number;
  /** One per image, in order. */
  outcomes: Outcome[];
}

/**
 * Reference results kept between measureAccuracy calls; keyed by the files' identities, so an edited
 * model or image misses.
 */
export interface ReferenceCache {
  /** Calls served from the cache so far. */
  readonly hits: number;
  readonly size: number;
  get(key: string): ReferenceRun | undefined;
  set(key: string, run: ReferenceRun): void;
}

/** Kept: the last 4 reference runs (a tune compares every variant against one reference, on one image set). */
export function createReferenceCache(limit = 4): ReferenceCache {
  const runs = new Map<string, ReferenceRun>();
  let hits = 0;
  return {
    get hits() {
      return hits;
    },
    get size() {
      return runs.size;
    },
    get(key) {
      const run = runs.get(key);
      if (run !== undefined) hits++;
      return run;
    },
    set(key, run) {
      runs.delete(key);
      runs.set(key, run);
      while (runs.size > limit) runs.delete(runs.keys().next().value!);
    },
  };
}

async function identity(file: string): Promise<string | undefined> {
  return stat(file).then(
    (s) => `${path.resolve(file)}:${s.size}:${s.mtimeMs}`,
    () => undefined,
  );
}

async function referenceKey(
  o: AccuracyOptions,
  images: readonly string[],
  labelled: boolean,
): Promise<string | undefined> {
  const files = await Promise.all([o.reference, ...images].map(identity));
  // A file that cannot be read is the checks' to report, uncached.
  if (files.some((f) => f === undefined)) return undefined;
  return JSON.stringify([files, o.referenceShapes ?? null, labelled]);
}

/**
 * The reference on every image. Agreement: its detections at its default threshold are the truth.
 * On a labelled set it is scored like the candidate, so ranked down to EVAL_SCORE_THRESHOLD.
 */
async function runReference(
  ref: VisionPipeline,
  images: readonly string[],
  labelled: boolean,
  signal: AbortSignal | undefined,
): Promise<ReferenceRun> {
  const threshold = labelled && ref.head.task !== 'classify' ? EVAL_SCORE_THRESHOLD : undefined;
  const outcomes: Outcome[] = [];
  for (const image of images) {
    signal?.throwIfAborted();
    outcomes.push(await predict(ref, image, threshold));
  }
  return {
    head: { name: ref.head.name, task: ref.head.task },
    scoreThreshold: ref.decodeOptions.scoreThreshold,
    outcomes,
  };
}

async function onImages(
  cand: VisionPipeline,
  ref: ReferenceRun,
  images: readonly string[],
  labelled: LabelledSet | undefined,
  signal: AbortSignal | undefined,
): Promise<AccuracyReport> {
  const task = ref.head.task;
  if (labelled !== undefined && (labelled.kind === 'classify') !== (task === 'classify')) {
    throw new RtinferError(
      'RTI_ERR_ACCURACY_LABELS',
      `the labels file holds ${labelled.kind === 'detect' ? 'boxes' : 'class labels'}, but the models ` +
        `are ${task} models (${ref.head.name} head)`,
    );
  }
  const paired = await pairResults(cand, ref, images, signal);
  if (labelled?.kind === 'classify') return labelledTop1(paired, labelled, cand);
  if (labelled?.kind === 'detect') return labelledMap50(paired, labelled, cand, task);
  return agreement(paired, ref);
}

/** The two models' results on the images both could run. */
interface Paired {
  /** Indices (into the image list) of the images used. */
  used: number[];
  /** The candidate's results on them. */
  c: HeadResult[];
  /** The reference's results on them. */
  r: HeadResult[];
  /** Which images were skipped and why; undefined when none were. */
  note: string | undefined;
}

async function pairResults(
  cand: VisionPipeline,
  ref: ReferenceRun,
  images: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Paired> {
  const task = ref.head.task;
  const skipped: string[] = [];
  const used: number[] = [];
  const c: HeadResult[] = [];
  const r: HeadResult[] = [];
  for (let i = 0; i < images.length; i++) {
    signal?.throwIfAborted();
    const a = ref.outcomes[i]!;
    // The candidate's detections are ranked down to EVAL_SCORE_THRESHOLD (see its comment).
    const b = a.ok ? await predict(cand, images[i]!, task === 'classify' ? undefined : EVAL_SCORE_THRESHOLD) : a;
    if (!a.ok || !b.ok) {
      skipped.push(a.ok ? (b as { why: string }).why : a.why);
      continue;
    }
    used.push(i);
    r.push(a.result);
    c.push(b.result);
  }
  if (used.length === 0) {
    throw new RtinferError(
      'RTI_ERR_ACCURACY_NO_IMAGES',
      `none of the ${images.length} image(s) could be used: ${skipped[0] ?? ''}`,
    );
  }
  const note =
    skipped.length === 0
      ? undefined
      : `${skipped.length} of ${images.length} image(s) skipped ` +
        `(${skipped.slice(0, 3).join('; ')}${skipped.length > 3 ? '; ...' : ''})`;
  return { used, c, r, note };
}

/** Top-1 accuracy of each model against the labels. */
function labelledTop1(
  { used, c, r, note }: Paired,
  labelled: LabelledSet & { kind: 'classify' },
  cand: VisionPipeline,
): AccuracyReport {
  const n = used.length;
  const truth = used.map((i) => labelled.images[i]!.label);
  const acc = (res: HeadResult[]): number => res.filter((x, k) => topClass(x).label === truth[k]).length / n;
  const score = acc(c);
  const referenceScore = acc(r);
  const known = [
    ...(cand.decodeOptions.labels ?? []),
    ...[...c, ...r].flatMap((x) => (x.task === 'classify' ? x.classes.map((k) => k.label) : [])),
  ];
  return withNote(
    { metric: 'top1', score, referenceScore, drop: clampUnit(referenceScore - score), images: n },
    join(note, unknownLabels(truth, known)),
  );
}

/** mAP@0.5 of each model against the labelled boxes. */
function labelledMap50(
  { used, c, r, note }: Paired,
  labelled: LabelledSet & { kind: 'detect' },
  cand: VisionPipeline,
  task: VisionTask,
): AccuracyReport {
  const truth: TruthBox[][] = used.map((i) =>
    labelled.images[i]!.boxes.map((b) => (task === 'text' ? { ...b, label: TEXT_LABEL } : b)),
  );
  const score = meanAveragePrecision(
    c.map((x) => boxesOf(x, true)),
    truth,
    { iou: IOU },
  ).map;
  const referenceScore = meanAveragePrecision(
    r.map((x) => boxesOf(x, true)),
    truth,
    { iou: IOU },
  ).map;
  const known = [
    ...(cand.decodeOptions.labels ?? []),
    ...[...c, ...r].flatMap((x) => boxesOf(x, true).map((b) => b.label)),
  ];
  return withNote(
    { metric: 'map50', score, referenceScore, drop: clampUnit(referenceScore - score), images: used.length },
    join(
      note,
      unknownLabels(
        truth.flat().map((b) => b.label),
        known,
      ),
    ),
  );
}

/** No labels: the candidate scored against the reference's results as the truth. */
function agreement({ used, c, r, note }: Paired, ref: ReferenceRun): AccuracyReport {
  const n = used.length;
  if (ref.head.task === 'classify') {
    const score = top1Agreement(
      c.map((x) => topClass(x).index),
      r.map((x) => topClass(x).index),
    );
    return withNote({ metric: 'top1-agreement', score, drop: 1 - score, images: n }, note);
  }
  const beyond = beyondBoxes(c, r, ref.scoreThreshold);
  if (beyond !== undefined) return withNote({ ...beyond, images: n }, join(note, beyond.note));
  const truth: TruthBox[][] = r.map((x) => boxesOf(x, false));
  let predictions = c.map((x) => boxesOf(x, false));
  let extra: string | undefined;
  if (truth.every((t) => t.length === 0)) {
    // No truth at all: mAP is 1 only without predictions, so judge the candidate at the threshold
    // the reference was held to, not at the evaluation one (where some noise always passes).
    const threshold = ref.scoreThreshold;
    predictions = predictions.map((p) => p.filter((b) => b.score >= threshold));
    extra =
      `the reference detects nothing in any image: the score is 1 only if the candidate detects nothing ` +
      `above ${threshold} either`;
  }
  const score = meanAveragePrecision(predictions, truth, { iou: IOU }).map;
  return withNote({ metric: 'map50-agreement', score, drop: 1 - score, images: n }, join(note, extra));
}

/**
 * Agreement for results boxes do not capture (issue #14): keypoints by OKS, instance masks by mask
 * IoU (each against the overlapping detection of the same class, the candidate held to the
 * reference's threshold), semantic maps by mean IoU over classes, output images by pixel error,
 * recognised text by normalised edit distance.
 * Box agreement (mAP@0.5) for keypoint and mask models is in the note. undefined: plain boxes.
 */
function beyondBoxes(
  c: HeadResult[],
  r: HeadResult[],
  threshold: number,
): (Omit<AccuracyReport, 'images'> & { note?: string }) | undefined {
  const miou = meanWhereAll(c, r, 'semantic', (a, b) => classMapIou(a.map, b.map));
  if (miou !== undefined) return { metric: 'miou-agreement', score: miou, drop: 1 - miou };
  const pixels = meanWhereAll(c, r, 'image', (a, b) => imageAgreement(a.image, b.image));
  if (pixels !== undefined) return { metric: 'image-agreement', score: pixels, drop: 1 - pixels };
  const mean = (xs: number[]): number => (xs.length === 0 ? 1 : xs.reduce((x, y) => x + y, 0) / xs.length);
  // Recognisers (ctc): the text read, not its box (the whole image either way).
  const read = (x: HeadResult): string | undefined =>
    x.task === 'text' && x.texts.some((t) => t.text !== undefined)
      ? x.texts.map((t) => t.text ?? '').join('\n')
      : undefined;
  if (r.some((x) => read(x) !== undefined)) {
    const score = mean(r.map((x, i) => textAgreement(read(c[i]!) ?? '', read(x) ?? '')));
    return { metric: 'text-agreement', score, drop: 1 - score };
  }
  const dets = (x: HeadResult): Detection[] => (x.task === 'detect' ? x.detections : []);
  const refDets = r.map(dets);
  const hasKeypoints = refDets.some((d) => d.some((x) => x.keypoints !== undefined));
  const hasMasks = refDets.some((d) => d.some((x) => x.mask !== undefined));
  if (!hasKeypoints && !hasMasks) return undefined;
  const candDets = c.map((x) => dets(x).filter((d) => d.score >= threshold));
  const boxes = meanAveragePrecision(
    c.map((x) => boxesOf(x, false)),
    r.map((x) => boxesOf(x, false)),
    { iou: IOU },
  ).map;
  const similarity = hasKeypoints
    ? (a: Detection, b: Detection): number =>
        oks(a.keypoints ?? [], b.keypoints ?? [], (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]))
    : (a: Detection, b: Detection): number =>
        a.mask !== undefined && b.mask !== undefined ? maskIou(a.mask, b.mask) : 0;
  const score = meanOf(refDets.map((ref, i) => matchedAgreement(candDets[i]!, ref, similarity)));
  return {
    metric: hasKeypoints ? 'oks-agreement' : 'mask-iou-agreement',
    score,
    drop: 1 - score,
    note: `boxes: mAP@0.5 agreement ${boxes.toFixed(3)}`,
  };
}

/** The mean, 1 for none: no images, nothing to disagree on. */
function meanOf(xs: readonly number[]): number {
  return xs.length === 0 ? 1 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The mean of `score` over the image pairs when every result of both models is of `task`; otherwise undefined. */
function meanWhereAll<T extends HeadResult['task']>(
  c: readonly HeadResult[],
  r: readonly HeadResult[],
  task: T,
  score: (candidate: Extract<HeadResult, { task: T }>, reference: Extract<HeadResult, { task: T }>) => number,
): number | undefined {
  const of = (x: HeadResult | undefined): x is Extract<HeadResult, { task: T }> => x?.task === task;
  if (!r.every(of) || !c.every(of)) return undefined;
  return meanOf(r.map((x, i) => score(c[i] as Extract<HeadResult, { task: T }>, x)));
}

/**
 * Labels of the set that neither model ever gave (nor lists among its class names): most likely
 * spelt differently from the model's names ('tvmonitor' for 'tv'), which would score 0 unnoticed.
 */
function unknownLabels(truth: readonly string[], known: readonly string[]): string | undefined {
  const seen = new Set(known);
  const missing = [...new Set(truth)].filter((l) => !seen.has(l));
  if (missing.length === 0) return undefined;
  return `label(s) neither model gives: ${missing
    .slice(0, 5)
    .map((l) => `'${l}'`)
    .join(', ')}${missing.length > 5 ? ', ...' : ''} (do they match the model's class names?)`;
}

function clampUnit(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

function join(...parts: Array<string | undefined>): string | undefined {
  const kept = parts.filter((p): p is string => p !== undefined && p !== '');
  return kept.length === 0 ? undefined : kept.join('; ');
}

function withNote(report: AccuracyReport, note: string | undefined): AccuracyReport {
  return note === undefined ? report : { ...report, note };
}
