/**
 * The tuner's search space: model variants (files, and input resolutions for models with dynamic
 * height and width) × runtime settings (instances, intra- and inter-op threads, execution mode,
 * graph optimization level, and for batchable models the engine's max batch size and queue delay).
 *
 * Not every combination is a configuration: the thread budget (instances × threads <= cores unless
 * oversubscription is allowed), inter-op threads only in parallel mode, batching only for batchable
 * variants, queue delay only with batching, and one instance / no batching for single-stream (one
 * request at a time cannot use either). `gridSize` counts what is left: the size an exhaustive grid
 * would measure, which the report compares the search with.
 */
import path from 'node:path';
import { RtinferError } from '../errors.js';
import type { ExecutionMode, GraphOptLevel } from '../runtime/session-options.js';
import type { TensorSpec } from '../runtime/session.js';
import type { ShapeOverride } from '../runtime/shapes.js';

export type TuneScenario = 'server' | 'single-stream' | 'multi-stream';
export const TUNE_SCENARIOS: readonly TuneScenario[] = ['server', 'single-stream', 'multi-stream'];

export interface Variant {
  /** Stable name in reports: the file name, plus @HxW for a resolution. */
  id: string;
  model: string;
  bytes: number;
  /** Shapes the variant runs at (the resolution, or the user's --shape). */
  shapes: ShapeOverride[];
  resolution: [number, number] | null;
  /** First dimension symbolic on every input (the engine can batch requests). */
  batchable: boolean;
}

export interface Candidate {
  variant: string;
  instances: number;
  threads: number;
  /** 0 in sequential mode (not used there). */
  interOpThreads: number;
  executionMode: ExecutionMode;
  graphOptimizationLevel: GraphOptLevel;
  /** 1 = no batching. */
  maxBatchSize: number;
  /** 0 without batching. */
  maxQueueDelayUs: number;
}

export interface SpaceAxes {
  instances: number[];
  threads: number[];
  interOpThreads: number[];
  executionMode: ExecutionMode[];
  graphOptimizationLevel: GraphOptLevel[];
  maxBatchSize: number[];
  maxQueueDelayUs: number[];
}

export interface SearchSpace {
  scenario: TuneScenario;
  variants: Variant[];
  axes: SpaceAxes;
  cores: number;
  /** Include configurations with instances × threads > cores. */
  oversubscribe: boolean;
  /** Where the search starts: the engine's layout for this hint (default latency: 1 instance, every core). */
  hint?: 'latency' | 'throughput';
}

/** 1, 2, 4, ... up to n, and n itself. */
function powersUpTo(n: number): number[] {
  const out: number[] = [];
  for (let v = 1; v < n; v *= 2) out.push(v);
  out.push(n);
  return [...new Set(out)];
}

/**
 * Default axes for `cores` cores. Graph optimization: all four levels (a model exported already
 * optimized sometimes runs as fast with less). Batch sizes up to 16 and queue delays of 0, 0.5 and
 * 2 ms: the engine's adaptive batching takes whatever is queued, so a delay only helps when
 * arrivals are sparse relative to the batch size.
 */
export function defaultAxes(cores: number, scenario: TuneScenario): SpaceAxes {
  const single = scenario === 'single-stream';
  return {
    instances: single ? [1] : powersUpTo(cores),
    threads: powersUpTo(cores),
    interOpThreads: powersUpTo(Math.min(cores, 4)),
    executionMode: ['sequential', 'parallel'],
    graphOptimizationLevel: ['all', 'extended', 'basic', 'disabled'],
    maxBatchSize: single ? [1] : [1, 2, 4, 8, 16],
    maxQueueDelayUs: [0, 500, 2000],
  };
}

/** Threads a candidate occupies: parallel mode runs inter-op and intra-op pools side by side. */
export function threadsUsed(c: Candidate): number {
  return c.instances * (c.executionMode === 'parallel' ? Math.max(c.threads, c.interOpThreads) : c.threads);
}

/** Why a candidate is not part of the space, or null when it is. */
export function invalidReason(space: SearchSpace, c: Candidate): string | null {
  const v = space.variants.find((x) => x.id === c.variant);
  if (!v) return `unknown variant ${c.variant}`;
  if (!space.oversubscribe && threadsUsed(c) > space.cores)
    return `thread budget: ${threadsUsed(c)} threads on ${space.cores} cores`;
  if (c.executionMode === 'sequential' && c.interOpThreads !== 0) return 'inter-op threads only apply in parallel mode';
  if (c.executionMode === 'parallel' && c.interOpThreads === 0) return 'parallel mode needs inter-op threads';
  if (c.maxBatchSize > 1 && !v.batchable) return `${v.id} cannot batch`;
  if (c.maxBatchSize === 1 && c.maxQueueDelayUs !== 0) return 'queue delay only applies with batching';
  if (space.scenario === 'single-stream' && (c.instances > 1 || c.maxBatchSize > 1))
    return 'single-stream runs one request at a time';
  return null;
}

export function candidateKey(c: Candidate): string {
  const exec = c.executionMode === 'parallel' ? `par${c.interOpThreads}` : 'seq';
  const batch = c.maxBatchSize > 1 ? `b${c.maxBatchSize}/${c.maxQueueDelayUs}us` : 'b1';
  return `${c.variant} ${c.instances}x${c.threads} ${exec} ${c.graphOptimizationLevel} ${batch}`;
}

/** Every valid candidate of the space (the exhaustive grid). */
export function* enumerate(space: SearchSpace): Generator<Candidate> {
  const a = space.axes;
  for (const v of space.variants) {
    for (const instances of a.instances)
      for (const threads of a.threads)
        for (const executionMode of a.executionMode)
          for (const interOpThreads of executionMode === 'parallel' ? a.interOpThreads.filter((x) => x > 0) : [0])
            for (const graphOptimizationLevel of a.graphOptimizationLevel)
              for (const maxBatchSize of v.batchable ? a.maxBatchSize : [1])
                for (const maxQueueDelayUs of maxBatchSize > 1 ? a.maxQueueDelayUs : [0]) {
                  const c: Candidate = {
                    variant: v.id,
                    instances,
                    threads,
                    interOpThreads,
                    executionMode,
                    graphOptimizationLevel,
                    maxBatchSize,
                    maxQueueDelayUs,
                  };
                  if (invalidReason(space, c) === null) yield c;
                }
  }
}

export function gridSize(space: SearchSpace): number {
  let n = 0;
  for (const _ of enumerate(space)) n++;
  return n;
}

/**
 * Where the search starts: what `createEngine` does by default (one instance, every core, no
 * batching), or with `space.hint` 'throughput' one single-threaded instance per core (as many as
 * the instance axis allows; single-stream always starts from one instance).
 */
export function baseline(space: SearchSpace, variant: string): Candidate {
  const throughput = space.hint === 'throughput' && space.scenario !== 'single-stream';
  const threads = throughput ? 1 : ([...space.axes.threads].filter((t) => t <= space.cores).pop() ?? 1);
  const instances = throughput ? ([...space.axes.instances].filter((n) => n <= space.cores).pop() ?? 1) : 1;
  return {
    variant,
    instances,
    threads,
    interOpThreads: 0,
    executionMode: 'sequential',
    graphOptimizationLevel: space.axes.graphOptimizationLevel.includes('all')
      ? 'all'
      : (space.axes.graphOptimizationLevel[0] ?? 'all'),
    maxBatchSize: 1,
    maxQueueDelayUs: 0,
  };
}

// ---- variants ----

export interface ModelDescription {
  path: string;
  bytes: number;
  inputs: readonly TensorSpec[];
}

function isSymbolic(d: unknown): boolean {
  return typeof d !== 'number' || d <= 0;
}

/** The input whose height and width are dynamic (NCHW or NHWC), if any. */
export function dynamicImageInput(inputs: readonly TensorSpec[]): { spec: TensorSpec; layout: 'nchw' | 'nhwc' } | null {
  for (const spec of inputs) {
    const s = spec.shape;
    if (s.length !== 4) continue;
    const channels = (d: unknown): boolean => d === 1 || d === 3 || d === 4;
    if (channels(s[1]) && isSymbolic(s[2]) && isSymbolic(s[3])) return { spec, layout: 'nchw' };
    if (channels(s[3]) && isSymbolic(s[1]) && isSymbolic(s[2])) return { spec, layout: 'nhwc' };
  }
  return null;
}

/**
 * Automatic resolutions for a dynamic-size model: the base size (the user's --shape, else 640), 3/4
 * and 1/2 of it, each side rounded to a multiple of 32 (the stride of common detectors and PP-OCR)
 * and at least 64.
 */
export function autoResolutions(base: [number, number]): Array<[number, number]> {
  const r32 = (x: number): number => Math.max(64, Math.round(x / 32) * 32);
  const out = new Map<string, [number, number]>();
  for (const f of [1, 0.75, 0.5]) {
    const hw: [number, number] = [r32(base[0] * f), r32(base[1] * f)];
    out.set(hw.join('x'), hw);
  }
  return [...out.values()];
}

export interface VariantOptions {
  /** Given: these; 'auto': autoResolutions; undefined: none (only the given or default shape). */
  resolutions?: Array<[number, number]> | 'auto';
  shapes?: ShapeOverride[];
}

export function buildVariants(models: readonly ModelDescription[], o: VariantOptions = {}): Variant[] {
  const variants: Variant[] = [];
  const names = new Map<string, number>();
  for (const m of models) {
    let base = path.basename(m.path).replace(/\.onnx$/i, '');
    const seen = names.get(base) ?? 0;
    names.set(base, seen + 1);
    if (seen > 0) base = `${base}#${seen + 1}`;
    const batchable =
      m.inputs.length > 0 && m.inputs.every((s) => s.shape.length > 0 && typeof s.shape[0] === 'string');
    const image = dynamicImageInput(m.inputs);
    const shapes = o.shapes ?? [];
    if (!image || o.resolutions === undefined) {
      variants.push({ id: base, model: m.path, bytes: m.bytes, shapes, resolution: null, batchable });
      continue;
    }
    const given = shapes.find((s) => s.name === image.spec.name || (s.name === undefined && m.inputs.length === 1));
    const hIndex = image.layout === 'nchw' ? 2 : 1;
    const baseHw: [number, number] = given ? [given.dims[hIndex] ?? 640, given.dims[hIndex + 1] ?? 640] : [640, 640];
    const list = o.resolutions === 'auto' ? autoResolutions(baseHw) : o.resolutions;
    for (const [h, w] of list) {
      const dims = image.spec.shape.map((d, i) =>
        i === hIndex ? h : i === hIndex + 1 ? w : typeof d === 'number' && d > 0 ? d : (given?.dims[i] ?? 1),
      );
      const others = shapes.filter((s) => s !== given);
      variants.push({
        id: `${base}@${h}x${w}`,
        model: m.path,
        bytes: m.bytes,
        shapes: [...others, { name: image.spec.name, dims }],
        resolution: [h, w],
        batchable,
      });
    }
  }
  if (variants.length === 0) throw new RtinferError('RTI_ERR_ARG_MISSING', 'rtinfer tune needs at least one model');
  return variants;
}

/** The accuracy reference when none is given: the highest resolution, then the largest file. */
export function defaultReference(variants: readonly Variant[]): Variant {
  const px = (v: Variant): number => (v.resolution ? v.resolution[0] * v.resolution[1] : 0);
  return [...variants].sort((a, b) => px(b) - px(a) || b.bytes - a.bytes)[0] as Variant;
}
