/**
 * bench/engine-overhead: what does the engine (worker thread, scheduler, copies, messages) add to
 * one request, compared with calling onnxruntime directly?
 *
 * In one process and one run, with the same total thread budget (N = os.availableParallelism()):
 *   A: a bare loop `await session.run(feeds)` on the main thread, session with intraOpNumThreads N
 *      and onnxruntime's other defaults (pool threads spin between runs);
 *   B: `await engine.infer(feeds)` on an engine of 1 instance × N intra-op threads with the engine's
 *      defaults (no batching, no deadline; spinning off): validation, the scheduler, a copy, a
 *      transfer to the worker, session.run there, the transfer back, the conversion to Tensors;
 *   C: as B, but with session { allowSpinning: true }, the setting A runs with, so that B − C is
 *      the cost of the engine's spinning default and C − A the cost of the engine's own path;
 *   D: as C, with placement 'main': the session on the calling thread, the scheduler and checks
 *      without the hop, so that C − D is what the worker thread costs.
 * One request at a time, the same 8 rotating seeded-random samples on every side, rounds
 * interleaved in ABCD/DCBA order (ABBA generalised, to cancel drift on a shared machine). Latency is
 * measured on the caller's side: performance.now() around the await. It prints p50 and p99 of each
 * side, ratios to A, the time added at p50, for reference each engine's in-worker session.run
 * time and, for requests that went to the worker by message (yolox_nano's 2 MB; small tensors take
 * the shared channel), the two thread hand-offs (RequestTiming.legs: mostly the wake of a sleeping
 * thread), and how many cores other processes kept busy meanwhile (above 0.1: not a clean run).
 *
 * Goals: p50 ratio <= 1.03 on a model of >= 5 ms (yolox_nano); added p50 <= 100 µs on a
 * sub-millisecond model (silero_vad); verdicts for B and for C. The whole bench takes about 40 s.
 *
 *   npm run bench:engine-overhead      (uses ../shared/models/yolox_nano.onnx when present)
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { overheadCases } from './support/cases.js';
import { cpuNow, foreignCores } from './support/cpu.js';
import type { InferenceSession } from 'onnxruntime-node';
import { createEngine, type Engine } from '../src/engine/engine.js';
import type { RequestTiming } from '../src/engine/engine-metrics.js';
import { buildSamples, type Feeds } from '../src/runtime/inputs.js';
import { createSession, readModel } from '../src/runtime/session.js';
import { parseShapeArg, resolveShapes } from '../src/runtime/shapes.js';
import { quantile } from './support/quantile.js';

const THREADS = os.availableParallelism();
const ROUNDS = 10;
/** A stop for a slow or busy machine: no case measures for longer than this. */
const CASE_BUDGET_MS = 25_000;

const cases = overheadCases({ ratio: 1.03, addedUs: 100, slowPerRound: 50, fastPerRound: 1000 });

/** Keeps a request's two thread hand-offs (µs) with its side. */
function legsOf(side: { toWorker?: number[]; back?: number[] }, timing: RequestTiming): void {
  if (!timing.legs) return;
  side.toWorker?.push(timing.legs.toWorkerMs * 1000);
  side.back?.push(timing.legs.backMs * 1000);
}

/** Caller-side latency (µs) of n requests, one at a time, rotating through the samples. */
async function timeLoop(
  call: (feeds: Feeds) => Promise<unknown>,
  samples: Feeds[],
  n: number,
  out: number[],
): Promise<void> {
  const k = samples.length;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call(samples[i % k]!);
    out.push((performance.now() - t0) * 1000);
  }
}

const rows: string[][] = [['model', 'side', 'requests', 'p50 µs', 'p99 µs', 'vs A p50', 'added p50 µs']];
const verdicts: string[] = [];
const sort = (xs: number[]): Float64Array => Float64Array.from(xs).sort();
for (const c of cases) {
  const model = await readModel(c.path);
  const rt = await createSession(model, { intraOpThreads: THREADS });
  const { shapes } = resolveShapes(rt.inputs, c.shapes.map(parseShapeArg));
  const { samples } = await buildSamples(rt.inputs, shapes, {
    fill: 'random',
    files: [],
    constants: c.constants,
    samples: 8,
    seed: 1,
  });
  const common = { model: model.bytes, instances: 1, threads: THREADS, warmupShapes: shapes };
  const engine: Engine = await createEngine(common);
  // The engine turns onnxruntime's thread spinning off by default; the bare session keeps
  // onnxruntime's default (on). C isolates the engine's own path from that setting.
  const spinning: Engine = await createEngine({ ...common, session: { allowSpinning: true } });
  const onMain: Engine = await createEngine({ ...common, placement: 'main', session: { allowSpinning: true } });
  const sides: Array<{
    key: string;
    label: string;
    call: (f: Feeds) => Promise<unknown>;
    engine?: Engine;
    out: number[];
    /** Its requests' two thread hand-offs (RequestTiming.legs), µs. */
    toWorker?: number[];
    back?: number[];
  }> = [
    {
      key: 'A',
      label: `A bare session.run (${THREADS} threads, main thread)`,
      call: (f): Promise<InferenceSession.OnnxValueMapType> => rt.session.run(f),
      out: [],
    },
    {
      key: 'B',
      label: `B engine.infer (1 instance × ${THREADS} threads, defaults)`,
      call: (f) => engine.inferWithTiming(f).then(({ timing }) => legsOf(sides[1]!, timing)),
      engine,
      out: [],
      toWorker: [],
      back: [],
    },
    {
      key: 'C',
      label: 'C engine.infer, session allowSpinning: true as A',
      call: (f) => spinning.inferWithTiming(f).then(({ timing }) => legsOf(sides[2]!, timing)),
      engine: spinning,
      out: [],
      toWorker: [],
      back: [],
    },
    { key: 'D', label: "D as C, placement 'main' (no worker thread)", call: (f) => onMain.infer(f), out: [] },
  ];

  // Warm-up, every side, not measured.
  for (const side of sides) await timeLoop(side.call, samples, Math.ceil(c.perRound / 2), []);
  for (const side of sides) {
    side.toWorker?.splice(0);
    side.back?.splice(0);
  }
  const started = performance.now();
  const cpu0 = cpuNow();
  let rounds = 0;
  for (; rounds < ROUNDS && performance.now() - started < CASE_BUDGET_MS; rounds++) {
    for (const side of rounds % 2 === 0 ? sides : [...sides].reverse())
      await timeLoop(side.call, samples, c.perRound, side.out);
  }
  const cpu1 = cpuNow();
  const foreign = foreignCores(cpu0, cpu1);
  const inWorker = new Map(sides.map((side) => [side.key, side.engine?.stats().latency.inference]));
  await engine.close();
  await spinning.close();
  await onMain.close();
  await rt.release();

  const a = sort(sides[0]!.out);
  const p50a = quantile(a, 0.5);
  const ratios = new Map<string, { r50: number; r99: number; added: number }>();
  for (const side of sides) {
    const x = sort(side.out);
    const [p50, p99] = [quantile(x, 0.5), quantile(x, 0.99)];
    const r = { r50: p50 / p50a, r99: p99 / quantile(a, 0.99), added: p50 - p50a };
    ratios.set(side.key, r);
    const vsA = side.key === 'A' ? ['', ''] : [r.r50.toFixed(4), r.added.toFixed(1)];
    rows.push([c.name, side.label, String(x.length), p50.toFixed(1), p99.toFixed(1), ...vsA]);
    const w = inWorker.get(side.key);
    if (w)
      rows.push([
        c.name,
        `  ${side.key}: session.run inside the worker`,
        String(w.count),
        (w.p50Ms * 1000).toFixed(1),
        (w.p99Ms * 1000).toFixed(1),
        '',
        '',
      ]);
    if (side.toWorker?.length && side.back?.length) {
      const [to, back] = [sort(side.toWorker), sort(side.back)];
      for (const [what, x] of [
        ['to the worker', to],
        ['back from it', back],
      ] as const)
        rows.push([
          c.name,
          `  ${side.key}: hand-off ${what}`,
          String(x.length),
          quantile(x, 0.5).toFixed(1),
          quantile(x, 0.99).toFixed(1),
          '',
          '',
        ]);
    }
  }
  const goalText = c.goal.kind === 'ratio' ? `p50 ratio <= ${c.goal.max}` : `added p50 <= ${c.goal.max} µs`;
  const short = rounds < ROUNDS ? ` (only ${rounds} of ${ROUNDS} rounds within the time budget)` : '';
  for (const key of ['B', 'C', 'D']) {
    const r = ratios.get(key)!;
    const pass = c.goal.kind === 'ratio' ? r.r50 <= c.goal.max : r.added <= c.goal.max;
    const what =
      key === 'B' ? 'engine (defaults)' : key === 'C' ? 'engine (spinning as bare)' : "engine (placement 'main')";
    verdicts.push(
      `${c.name}: ${what}/bare p50 ${r.r50.toFixed(4)}, p99 ${r.r99.toFixed(4)}, added at p50 ${r.added.toFixed(1)} µs; goal ${goalText}: ${pass ? 'met' : 'NOT met'}${short}`,
    );
  }
  verdicts.push(
    `  (other processes kept ${Number.isFinite(foreign) ? foreign.toFixed(2) : 'n/a'} of ${os.cpus().length} cores busy during these rounds${foreign > 0.1 ? ': not a clean run' : ''})`,
  );
}

console.log(
  `engine overhead · ${THREADS} threads each side · ${ROUNDS} rounds in ABCD/DCBA order · latency on the caller's side`,
);
console.log('');
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows)
  console.log(
    r
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
console.log('');
for (const v of verdicts) console.log(v);
