/**
 * compare --run: two models measured in one process in alternating blocks (A B B A A B ...), so that
 * drift, thermal state and neighbours on a shared machine hit both alike. Each block is a short
 * single-stream run on the session created for its model (the bench's own measurement loop); the
 * blocks' percentiles and throughput are the repetitions the significance tests work on, the way
 * Google Benchmark's compare.py tests repetitions rather than iterations.
 */
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { buildSamples, DEFAULT_INPUT_PLAN, type InputPlan } from '../runtime/inputs.js';
import { createSession, readModel, type RuntimeSession } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import { runSingleStream, type Phase } from '../loadgen/single-stream.js';
import { quantileSorted, sortSamples } from '../stats/sorted.js';
import {
  compareRuns,
  type BlockFigures,
  type CompareInput,
  type CompareOptions,
  type CompareReport,
} from './compare.js';

export type Side = 'A' | 'B';

export interface InterleavedOptions extends CompareOptions {
  models: readonly [string, string];
  session?: SessionSettings;
  shapes?: ShapeOverride[];
  input?: Partial<InputPlan>;
  /** Blocks per model (default 10). */
  blocks?: number;
  /** Measured time per model, split over its blocks (default 10 s). */
  durationMs?: number;
  /** Warm-up per model before the first block (default 1 s). */
  warmupMs?: number;
  /** Called before and after each block, e.g. to start and stop a neighbour (bench/compare). */
  beforeBlock?: (side: Side, index: number) => void | Promise<void>;
  afterBlock?: (side: Side, index: number) => void | Promise<void>;
  onBlock?: (side: Side, index: number, figures: BlockFigures) => void;
  /**
   * A known slowdown for calibration (bench/compare): busy-wait this many µs after each of a side's
   * inferences, inside its measured latency.
   */
  extraUs?: Partial<Record<Side, number>>;
  signal?: AbortSignal;
}

interface Prepared {
  path: string;
  rt: RuntimeSession;
  samples: Array<Record<string, unknown>>;
  coldStartMs: number;
  latencies: number[];
  blocks: BlockFigures[];
}

/** ABBA order: pair k runs A then B when k is even, B then A when odd, which cancels a linear drift. */
export function blockOrder(blocks: number): Side[] {
  const out: Side[] = [];
  for (let k = 0; k < blocks; k++) out.push(...((k % 2 === 0 ? ['A', 'B'] : ['B', 'A']) as Side[]));
  return out;
}

async function prepare(path: string, o: InterleavedOptions): Promise<Prepared> {
  const t0 = performance.now();
  const model = await readModel(path);
  const rt = await createSession(model, o.session ?? {});
  try {
    const { shapes } = resolveShapes(rt.inputs, o.shapes ?? []);
    const set = await buildSamples(rt.inputs, shapes, { ...DEFAULT_INPUT_PLAN, ...o.input });
    try {
      await rt.session.run(set.samples[0] as never);
    } catch (error) {
      throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `${path}: first inference failed: ${firstLine(error)}`, {
        cause: error,
      });
    }
    return {
      path,
      rt,
      samples: set.samples as Array<Record<string, unknown>>,
      coldStartMs: performance.now() - t0,
      latencies: [],
      blocks: [],
    };
  } catch (error) {
    await rt.release();
    throw error;
  }
}

function spinFor(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** The side's inference, slowed by `extraUs` of busy CPU per query when a test asks for a known difference. */
function inferOf(p: Prepared, extraUs: number) {
  if (extraUs <= 0) return (f: Record<string, unknown>) => p.rt.session.run(f as never);
  return async (f: Record<string, unknown>) => {
    const out = await p.rt.session.run(f as never);
    spinFor(extraUs);
    return out;
  };
}

/** One side's blocks pooled for compareRuns; its throughput is the mean of its blocks'. */
function inputOf(p: Prepared): CompareInput {
  const wall = p.blocks.reduce((s, x) => s + x.qps, 0) / Math.max(1, p.blocks.length);
  return {
    ref: p.path,
    model: p.path.split('/').pop() ?? p.path,
    scenario: 'single-stream',
    valid: null,
    latenciesUs: sortSamples(p.latencies),
    throughputQps: wall,
    coldStartMs: p.coldStartMs,
    approximate: false,
    blocks: p.blocks,
  };
}

export async function runInterleaved(o: InterleavedOptions): Promise<CompareReport> {
  const blocks = o.blocks ?? 10;
  const durationMs = o.durationMs ?? 10_000;
  if (!Number.isInteger(blocks) || blocks < 3)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --blocks ${blocks} (expected an integer >= 3: the significance test needs repetitions)`,
    );
  const blockMs = durationMs / blocks;
  const a = await prepare(o.models[0], o);
  let b: Prepared;
  try {
    b = await prepare(o.models[1], o);
  } catch (error) {
    await a.rt.release();
    throw error;
  }
  const sides: Record<Side, Prepared> = { A: a, B: b };
  const run = (p: Prepared, phase: Phase, side: Side | null = null) =>
    runSingleStream(inferOf(p, side === null ? 0 : (o.extraUs?.[side] ?? 0)), p.samples, {
      phase,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  try {
    for (const p of [a, b]) {
      const w = await run(p, { minQueries: 1, minDurationMs: o.warmupMs ?? 1000 });
      if (w.error !== undefined)
        throw new RtinferError(
          'RTI_ERR_INFERENCE_FAILED',
          `${p.path}: inference failed during warm-up: ${firstLine(w.error)}`,
        );
    }
    const order = blockOrder(blocks);
    const index: Record<Side, number> = { A: 0, B: 0 };
    for (const side of order) {
      if (o.signal?.aborted) break;
      const p = sides[side];
      const i = index[side]++;
      await o.beforeBlock?.(side, i);
      let r;
      try {
        r = await run(p, { minQueries: 3, minDurationMs: blockMs }, side);
      } finally {
        await o.afterBlock?.(side, i);
      }
      if (r.error !== undefined)
        throw new RtinferError(
          'RTI_ERR_INFERENCE_FAILED',
          `${p.path}: inference failed in block ${i + 1}: ${firstLine(r.error)}`,
        );
      const lat = sortSamples(r.latenciesUs);
      if (lat.length === 0) continue;
      const fig: BlockFigures = {
        p50Ms: quantileSorted(lat, 0.5) / 1000,
        p90Ms: quantileSorted(lat, 0.9) / 1000,
        p99Ms: quantileSorted(lat, 0.99) / 1000,
        qps: (r.queries / r.wallMs) * 1000,
      };
      p.blocks.push(fig);
      for (const v of lat) p.latencies.push(v);
      o.onBlock?.(side, i, fig);
    }
  } finally {
    await a.rt.release();
    await b.rt.release();
  }
  const report = compareRuns(inputOf(a), inputOf(b), { ...o, differentModels: 'expected' });
  report.interleaved = {
    blocks,
    blockDurationMs: blockMs,
    order: blockOrder(Math.min(blocks, 3)).join('') + (blocks > 3 ? '...' : ''),
  };
  if (o.signal?.aborted) report.warnings.push('interrupted: the comparison uses the blocks measured so far');
  return report;
}
