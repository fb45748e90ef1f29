/**
 * What the engine runs before serving: zero inputs at the default (or given) shapes, to warm every
 * session, seed the latency model with each batch size worth knowing, and (for the `auto` hint)
 * measure candidate layouts against each other.
 */
import { buildSamples } from '../runtime/inputs.js';
import type { TensorSpec } from '../runtime/session.js';
import { resolveShapes } from '../runtime/shapes.js';
import type { Clock } from '../util/clock.js';
import type { LatencyModels } from './latency-model.js';
import type { BatchPolicy } from './scheduler.js';
import { copyFeeds, fromOrtOutputs, stackFeeds, validateInputs, type WireFeeds } from './tensors.js';
import type { InstancePool } from './worker-pool.js';

export interface WarmupInputs {
  feeds: WireFeeds;
  /** The scheduler's shape key for these inputs (the latency model is per shape). */
  shapeKey: string;
}

/** One request of zeros at the warm-up shapes, or undefined for a model with no inputs. */
export async function warmupInputs(
  specs: readonly TensorSpec[],
  warmupShapes: Record<string, number[]> | undefined,
  batchable: boolean,
): Promise<WarmupInputs | undefined> {
  const overrides = Object.entries(warmupShapes ?? {}).map(([name, dims]) => ({ name, dims }));
  const { shapes } = resolveShapes(specs, overrides);
  const { samples } = await buildSamples(specs, shapes, { fill: 'zeros', files: [], samples: 1, seed: 1 });
  const one = samples[0];
  if (!one) return undefined;
  const feeds = fromOrtOutputs(one);
  return { feeds, shapeKey: validateInputs(specs, feeds, batchable).shapeKey };
}

/**
 * Seeds the latency model (and warms every session): each batch size worth knowing, a few runs
 * each, on every instance.
 */
export async function seedLatencyModel(
  pool: InstancePool,
  instances: number,
  inputs: WarmupInputs,
  policy: BatchPolicy,
  padTo: number | undefined,
  latency: LatencyModels,
  clock: Clock,
): Promise<void> {
  const sizes = new Set<number>([padTo ?? 1]);
  if (policy.mode !== 'none' && padTo === undefined) {
    for (let b = 2; b < policy.maxBatchSize; b *= 2) sizes.add(b);
    sizes.add(policy.maxBatchSize);
  }
  const RUNS = 3;
  await Promise.all(
    Array.from({ length: instances }, async (_, instance) => {
      for (const b of sizes) {
        const feeds =
          b === 1 || padTo !== undefined ? inputs.feeds : stackFeeds(Array.from({ length: b }, () => inputs.feeds));
        for (let i = 0; i < RUNS; i++) {
          try {
            const t0 = clock.now();
            await pool.run(instance, copyFeeds(feeds));
            // As in traffic, the whole hand-off is what counts. The first run of a size pays
            // one-off allocation costs: learn from the later ones.
            const now = clock.now();
            if (i > 0) latency.for(inputs.shapeKey).observe(b, now - t0, now);
          } catch {
            return; // a model that needs real inputs to run: it learns from traffic instead
          }
        }
      }
    }),
  );
}

export interface LoopMeasurement {
  /** Requests per second with every instance kept busy. */
  qps: number;
  /** Median time of one request (ms). */
  p50Ms: number;
  runs: number;
}

/**
 * Every instance busy, one request after another, for `durationMs` (after two unmeasured runs
 * each): what the layout serves when loaded, the figure the `auto` hint compares.
 */
export async function measureLoaded(
  pool: InstancePool,
  instances: number,
  feeds: WireFeeds,
  durationMs: number,
  clock: Clock,
): Promise<LoopMeasurement> {
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: instances }, async (_, i) => {
      for (let k = 0; k < 2; k++) await pool.run(i, copyFeeds(feeds));
    }),
  );
  const start = clock.now();
  await Promise.all(
    Array.from({ length: instances }, async (_, i) => {
      while (clock.now() - start < durationMs) {
        const t0 = clock.now();
        await pool.run(i, copyFeeds(feeds));
        times.push(clock.now() - t0);
      }
    }),
  );
  const elapsed = clock.now() - start;
  times.sort((a, b) => a - b);
  return {
    qps: (times.length / elapsed) * 1000,
    p50Ms: times[Math.floor((times.length - 1) / 2)] ?? NaN,
    runs: times.length,
  };
}
