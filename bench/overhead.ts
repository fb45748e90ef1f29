/**
 * bench/overhead: what does rtinfer's measurement path add to a query?
 *
 * In one process and one run, on the same session and the same rotating samples, it alternates
 * (ABBA order, to cancel drift on a shared machine) between
 *   A: a bare loop `await session.run(feeds)` that only stores a timestamp per query, and
 *   B: rtinfer bench's measurement path (runSingleStream: clock, HDR record, per-query arrays).
 * Each side is judged by its per-query cycle time (start of one query to start of the next), which
 * includes everything the loop does, plus, for B, the latency it reports. It prints B/A ratios of
 * p50 and p99 and the added time at p50.
 *
 * Goals (issue 2): ratio <= 1.02 on a model of >= 5 ms; added time <= 20 µs at p50 on a
 * sub-millisecond model.
 *
 *   npm run bench:overhead            (uses ../shared/models/yolox_nano.onnx when present)
 */
import { performance } from 'node:perf_hooks';
import { overheadCases } from './support/cases.js';
import type { InferenceSession } from 'onnxruntime-node';
import { buildSamples, type Feeds } from '../src/runtime/inputs.js';
import { createSession, readModel } from '../src/runtime/session.js';
import { parseShapeArg, resolveShapes } from '../src/runtime/shapes.js';
import { runSingleStream } from '../src/loadgen/single-stream.js';
import { quantile } from './support/quantile.js';

const ROUNDS = 10;

const cases = overheadCases({ ratio: 1.02, addedUs: 20, slowPerRound: 60, fastPerRound: 2000 });

function cycles(startsMs: ArrayLike<number>, endMs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < startsMs.length; i++)
    out.push(((i + 1 < startsMs.length ? startsMs[i + 1]! : endMs) - startsMs[i]!) * 1000);
  return out;
}

async function bareLoop(session: InferenceSession, samples: Feeds[], n: number): Promise<number[]> {
  const starts = new Float64Array(n);
  const k = samples.length;
  for (let i = 0; i < n; i++) {
    starts[i] = performance.now();
    await session.run(samples[i % k]!);
  }
  return cycles(starts, performance.now());
}

async function rtinferLoop(
  session: InferenceSession,
  samples: Feeds[],
  n: number,
): Promise<{ cycles: number[]; latencies: number[] }> {
  const r = await runSingleStream((f: Feeds) => session.run(f), samples, {
    phase: { minQueries: n, minDurationMs: 0, maxQueries: n },
  });
  return { cycles: cycles(r.startsMs, r.wallMs), latencies: Array.from(r.latenciesUs) };
}

const rows: string[][] = [['model', 'side', 'queries', 'p50 µs', 'p99 µs']];
const verdicts: string[] = [];
for (const c of cases) {
  const rt = await createSession(await readModel(c.path));
  const { shapes } = resolveShapes(rt.inputs, c.shapes.map(parseShapeArg));
  const { samples } = await buildSamples(rt.inputs, shapes, {
    fill: 'random',
    files: [],
    constants: c.constants,
    samples: 8,
    seed: 1,
  });
  await bareLoop(rt.session, samples, Math.ceil(c.perRound / 2)); // warm-up
  const bare: number[] = [];
  const ours: number[] = [];
  const reported: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const side of order) {
      if (side === 'A') bare.push(...(await bareLoop(rt.session, samples, c.perRound)));
      else {
        const r = await rtinferLoop(rt.session, samples, c.perRound);
        ours.push(...r.cycles);
        reported.push(...r.latencies);
      }
    }
  }
  await rt.release();
  const sort = (xs: number[]): Float64Array => Float64Array.from(xs).sort();
  const [a, b, rep] = [sort(bare), sort(ours), sort(reported)];
  const p50a = quantile(a, 0.5);
  const p99a = quantile(a, 0.99);
  const p50b = quantile(b, 0.5);
  const p99b = quantile(b, 0.99);
  rows.push([c.name, 'bare session.run loop (cycle)', String(a.length), p50a.toFixed(1), p99a.toFixed(1)]);
  rows.push([c.name, 'rtinfer measurement path (cycle)', String(b.length), p50b.toFixed(1), p99b.toFixed(1)]);
  rows.push([
    c.name,
    'rtinfer reported latency',
    String(rep.length),
    quantile(rep, 0.5).toFixed(1),
    quantile(rep, 0.99).toFixed(1),
  ]);
  const r50 = p50b / p50a;
  const r99 = p99b / p99a;
  const added = p50b - p50a;
  const pass = c.goal.kind === 'ratio' ? r50 <= c.goal.max : added <= c.goal.max;
  const goalText = c.goal.kind === 'ratio' ? `p50 ratio <= ${c.goal.max}` : `added p50 <= ${c.goal.max} µs`;
  verdicts.push(
    `${c.name}: rtinfer/bare p50 ${r50.toFixed(4)}, p99 ${r99.toFixed(4)}, added at p50 ${added.toFixed(1)} µs; goal ${goalText}: ${pass ? 'met' : 'NOT met'}`,
  );
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows)
  console.log(r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
console.log('');
for (const v of verdicts) console.log(v);
