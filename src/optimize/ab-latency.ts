/**
 * Single-stream latency of a model variant against the original, measured in one run with
 * alternating blocks (A B A B ...), so that load from other processes and CPU frequency drift fall
 * on both alike; and cold start (session creation) of each, alternated the same way.
 */
import { performance } from 'node:perf_hooks';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { createSession, type LoadedModel } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';

export interface LatencySummary {
  p50: number;
  p99: number;
  mean: number;
  runs: number;
}

export interface AbLatency {
  original: LatencySummary;
  optimized: LatencySummary;
  /** original p50 / optimized p50: above 1 is faster. */
  speedup: number;
  blocks: number;
  runsPerBlock: number;
  threads: number | 'default';
}

export interface AbOptions {
  /** Runs per block (default 10) and blocks per model (default 10). */
  runsPerBlock?: number;
  blocks?: number;
  warmupRuns?: number;
  session?: SessionSettings;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest rank, as the bench reports quantiles of raw samples.
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[k]!;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const s = [...samples].sort((a, b) => a - b);
  return {
    p50: quantile(s, 0.5),
    p99: quantile(s, 0.99),
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
    runs: s.length,
  };
}

async function timeRuns(
  session: InferenceSession,
  feeds: Record<string, Tensor>,
  n: number,
  into: number[],
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    into.push(performance.now() - t0);
  }
}

/** p50/p99 of both models on the same feeds (each model's own feeds when their inputs differ in dtype). */
export async function measureAb(
  original: LoadedModel,
  optimized: LoadedModel,
  feeds: { original: Record<string, Tensor>; optimized: Record<string, Tensor> },
  o: AbOptions = {},
): Promise<AbLatency> {
  const settings: SessionSettings = { ...o.session };
  const a = await createSession(original, settings);
  try {
    const b = await createSession(optimized, settings);
    try {
      const runsPerBlock = o.runsPerBlock ?? 10;
      const blocks = o.blocks ?? 10;
      const warm = o.warmupRuns ?? 5;
      const ta: number[] = [];
      const tb: number[] = [];
      await timeRuns(a.session, feeds.original, warm, []);
      await timeRuns(b.session, feeds.optimized, warm, []);
      for (let k = 0; k < blocks; k++) {
        // Which model goes first alternates too, so neither always runs right after the other.
        if (k % 2 === 0) {
          await timeRuns(a.session, feeds.original, runsPerBlock, ta);
          await timeRuns(b.session, feeds.optimized, runsPerBlock, tb);
        } else {
          await timeRuns(b.session, feeds.optimized, runsPerBlock, tb);
          await timeRuns(a.session, feeds.original, runsPerBlock, ta);
        }
      }
      const sa = summarize(ta);
      const sb = summarize(tb);
      return {
        original: sa,
        optimized: sb,
        speedup: sa.p50 / sb.p50,
        blocks,
        runsPerBlock,
        threads: settings.intraOpThreads ?? 'default',
      };
    } finally {
      await b.release();
    }
  } finally {
    await a.release();
  }
}

export interface ColdStart {
  /** Median session creation time of each, over `rounds` alternating creations. */
  originalMs: number;
  optimizedMs: number;
  /** 1 − optimized / original. */
  saving: number;
  rounds: number;
}

export async function measureColdStart(
  original: { model: LoadedModel; session?: SessionSettings },
  optimized: { model: LoadedModel; session?: SessionSettings },
  rounds = 5,
): Promise<ColdStart> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let k = 0; k < rounds; k++) {
    for (const [m, into] of k % 2 === 0
      ? ([
          [original, ta],
          [optimized, tb],
        ] as const)
      : ([
          [optimized, tb],
          [original, ta],
        ] as const)) {
      const s = await createSession(m.model, m.session ?? {});
      into.push(s.createMs);
      await s.release();
    }
  }
  const originalMs = summarize(ta).p50;
  const optimizedMs = summarize(tb).p50;
  return { originalMs, optimizedMs, saving: 1 - optimizedMs / originalMs, rounds };
}
