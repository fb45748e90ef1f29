/**
 * bench/serve-ab: is one way of serving really better than another? Two `rtinfer serve` commands
 * (other flags, another build) under the same open-loop Poisson load, compared round by round.
 *
 * bench/serve compares rtinfer with a naive server at five rates, each from two blocks per server:
 * on this shared 2-vCPU VM one such run cannot tell two rtinfer layouts apart. In one run
 * `--instances 1 --threads 1` read 2.3× the default's goodput at twice the naive peak; in ten paired
 * rounds here, the next hour, no difference showed. This bench runs many short rounds instead, and
 * claims a difference only when it holds across them (bench/support/paired.ts).
 *
 * Per round and rate: one seeded Poisson schedule, served by A then B (B then A in odd rounds), each
 * block followed by a wait for the machine to go quiet. Per server and block: goodput (answers 200
 * within the deadline, from each request's scheduled send, per second) and p99 of its 200s. Per
 * rate: each side's mean goodput, the median of the per-round ratios B/A with its 95 % interval, in
 * how many rounds B served more (sign test), the verdict, and what each side's requests got over
 * all rounds (200 in time or late by the client's clock, each refusal's reason): where a side loses.
 *
 * Model: the PP-OCR classifier (x 1x3x48x192, npm) or yolox_nano (images 1x3x416x416, from
 * ../shared/models). Deadline 4 × bare session.run p50 at one thread (as bench/serve), sent as the
 * v2 `timeout`; rates in % of A's closed-loop peak with 4 requests outstanding. Client:
 * bench/support/poisson-client.ts, as bench/serve's.
 *
 *   npm run build && npm run bench:serve-ab -- --b="--instances 1 --threads 1"
 *   npm run bench:serve-ab -- --b-cli=/tmp/old/dist/cli/main.js     # this build (A) against another (B)
 *   npm run bench:serve-ab -- --b="--config noinline.yaml"       # a config file names the model itself
 *   npm run bench:serve-ab -- --a-naive --rates 50,100             # bench/serve's naive server as A, rtinfer serve as B
 *   options: --a=FLAGS --a-cli=PATH --b=FLAGS --b-cli=PATH --model cls|yolox --rates 50,200 --rounds 10 --seconds 3
 * About (rounds × rates × 2 × (seconds + ~1)) s after start-up: 3 minutes with the defaults.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bareP50 } from './support/bare.js';
import { waitForQuiet } from './support/cpu.js';
import { paired } from './support/paired.js';
import {
  CONN_ERROR,
  NO_ANSWER,
  poissonSchedule,
  randomFloats,
  runClosed,
  runOpen,
  v2Body,
  V2Client,
  type Outcome,
} from './support/poisson-client.js';
import { quantile } from './support/quantile.js';
import { SERVED_MODELS, type ServedModel } from './support/served-models.js';
import { exitUnlessBuilt, startAnnounced, stopAll, type ServerProc } from './support/server-proc.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const NAIVE = fileURLToPath(new URL('./support/naive-server.ts', import.meta.url));
const DEADLINE_X = 4;
const PEAK_MS = 3000;
const WARMUP_MS = 1500;

const { values: args } = parseArgs({
  options: {
    a: { type: 'string', default: '' },
    b: { type: 'string', default: '' },
    'a-cli': { type: 'string' },
    'b-cli': { type: 'string' },
    'a-naive': { type: 'boolean', default: false },
    model: { type: 'string', default: 'cls' },
    rates: { type: 'string', default: '50,200' },
    rounds: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '3' },
  },
});
const USAGE =
  'bench/serve-ab: --b=FLAGS and/or --b-cli=PATH (what B differs in), --a=FLAGS --a-cli=PATH or --a-naive, --model cls|yolox, ' +
  '--rates PCT,PCT (of A’s peak, default 50,200), --rounds N (>= 6, default 10), --seconds S (0.5-60, default 3)';
const RATES = (args.rates ?? '').split(',').map(Number);
const ROUNDS = Number(args.rounds);
const BLOCK_MS = Number(args.seconds) * 1000;
const model = SERVED_MODELS[args.model as ServedModel['key']];
const A_CLI = args['a-cli'] ?? CLI;
const B_CLI = args['b-cli'] ?? CLI;
const flags = (s: string | undefined): string[] => (s ?? '').split(/\s+/).filter(Boolean);
/** `serve`'s arguments: the model on the command line unless the flags bring a config file (which names it). */
const serveArgs = (extra: string | undefined): string[] => {
  const f = flags(extra);
  return ['serve', ...(f.includes('--config') ? [] : [model!.path]), '--port', '0', ...f];
};
if (
  model === undefined ||
  !RATES.every((r) => r > 0 && r <= 1000) ||
  !(Number.isInteger(ROUNDS) && ROUNDS >= 6) ||
  !(BLOCK_MS >= 500 && BLOCK_MS <= 60_000) ||
  (args.b === '' && args['b-cli'] === undefined && args.a === '' && args['a-cli'] === undefined && !args['a-naive'])
) {
  console.error(USAGE);
  process.exit(2);
}
exitUnlessBuilt('bench/serve-ab', A_CLI, B_CLI);
if (!existsSync(model.path)) {
  console.error(`bench/serve-ab: ${model.path} is missing`);
  process.exit(2);
}

const f1 = (n: number): string => n.toFixed(1);

/**
 * What a request got: a 200 in time or late (by the client's clock), or the status and, for a
 * refusal, its reason with the numbers taken out (so that the same reason counts as one).
 */
function outcomeOf(o: Outcome, deadlineMs: number): string {
  if (o.status === 200) return o.ms <= deadlineMs ? '200 in time' : '200 late';
  const status =
    o.status === NO_ANSWER ? 'no answer' : o.status === CONN_ERROR ? (o.error ?? 'connection error') : String(o.status);
  const reason = o.message?.replace(/^\{"error":"|"\}$/g, '').replace(/\d+(\.\d+)?/g, '#');
  return reason ? `${status} ${reason}` : status;
}

/** "200 in time 49.1 %, 503 cannot finish in time: ... 20.3 %, ...": the five most frequent, then the rest. */
function mixLine(m: Map<string, number> | undefined): string {
  if (!m) return '-';
  const total = [...m.values()].reduce((s, v) => s + v, 0);
  const sorted = [...m].sort((x, y) => y[1] - x[1]);
  const shown = sorted.slice(0, 5).map(([what, n]) => `${what} ${((100 * n) / total).toFixed(1)} %`);
  const rest = sorted.slice(5).reduce((s, [, n]) => s + n, 0);
  return rest > 0 ? `${shown.join(', ')}, other ${((100 * rest) / total).toFixed(1)} %` : shown.join(', ');
}
const f2 = (n: number): string => n.toFixed(2);

async function main(): Promise<void> {
  const side = (k: 'A' | 'B', cli: string, extra: string): string =>
    k === 'A' && args['a-naive']
      ? 'A: the naive server (bench/support/naive-server.ts, as bench/serve)'
      : `${k}: rtinfer serve${extra ? ` ${extra}` : ''}${cli === CLI ? '' : ` (${cli})`}`;
  console.log(`bench/serve-ab · ${os.cpus()[0]?.model.trim()} · ${os.cpus().length} cores · Node ${process.version}`);
  console.log(`  ${model.title}`);
  console.log(`  ${side('A', A_CLI, args.a ?? '')}\n  ${side('B', B_CLI, args.b ?? '')}`);
  const elements = model.dims.reduce((x: number, y: number) => x * y, 1);
  const inputs = [1, 2, 3, 4].map((seed) => randomFloats(elements, seed));
  const bare = await bareP50(model.path, model.input, model.dims, inputs[0]!);
  const deadlineMs = DEADLINE_X * bare;
  const timeoutMs = Math.max(1000, 50 * deadlineMs);
  console.log(`  bare session.run p50 ${f2(bare)} ms (1 thread) → deadline ${DEADLINE_X} × = ${f2(deadlineMs)} ms`);
  const bodies = inputs.map((d) => v2Body(model.input, model.dims, d, deadlineMs * 1000));
  const open = inputs.map((d) => v2Body(model.input, model.dims, d, undefined));

  const servers: Record<'A' | 'B', ServerProc> = {
    A: await startAnnounced(
      'A',
      args['a-naive'] ? ['--import', 'tsx', NAIVE, model.path] : [A_CLI, ...serveArgs(args.a)],
      {
        layout: !args['a-naive'],
        timeoutMs: 120_000,
      },
    ),
    B: await startAnnounced('B', [B_CLI, ...serveArgs(args.b)], {
      layout: true,
      timeoutMs: 120_000,
    }),
  };
  const naiveLayout = 'one session (onnxruntime defaults), session.run on the HTTP thread';
  console.log(
    `  A layout: ${servers.A.layout ?? (args['a-naive'] ? naiveLayout : '?')}\n  B layout: ${servers.B.layout ?? '?'}`,
  );
  const clients = {
    A: new V2Client(`${servers.A.modelUrl}/infer`, 256),
    B: new V2Client(`${servers.B.modelUrl}/infer`, 256),
  };
  const peakRun = await runClosed(clients.A, open, 4, PEAK_MS, timeoutMs);
  const peak = peakRun.outcomes.filter((o) => o.status === 200).length / (peakRun.wallMs / 1000);
  console.log(`  A's peak (closed loop of 4, ${PEAK_MS / 1000} s): ${f1(peak)}/s`);
  for (const k of ['A', 'B'] as const)
    await runOpen(clients[k], bodies, poissonSchedule((RATES[0]! / 100) * peak, WARMUP_MS, 7), timeoutMs);
  await waitForQuiet();

  const good = new Map<string, number[]>();
  // Per side and rate, over all rounds: what each request got, and the refusals' reasons.
  const mix = new Map<string, Map<string, number>>();
  const count = (key: string, what: string): void => {
    const m = mix.get(key) ?? new Map<string, number>();
    m.set(what, (m.get(what) ?? 0) + 1);
    mix.set(key, m);
  };
  const p99 = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, key: string, v: number): void => {
    const list = m.get(key) ?? [];
    list.push(v);
    m.set(key, list);
  };
  const t0 = performance.now();
  let restless = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [ri, pct] of RATES.entries()) {
      const schedule = poissonSchedule((pct / 100) * peak, BLOCK_MS, 1000 + round * RATES.length + ri);
      for (const k of round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
        const run = await runOpen(clients[k], bodies, schedule, timeoutMs);
        for (const o of run.outcomes) count(`${k}@${pct}`, outcomeOf(o, deadlineMs));
        const ok = run.outcomes.filter((o) => o.status === 200).map((o) => o.ms);
        push(good, `${k}@${pct}`, ok.filter((ms) => ms <= deadlineMs).length / (BLOCK_MS / 1000));
        push(
          p99,
          `${k}@${pct}`,
          ok.length
            ? quantile(
                ok.sort((x, y) => x - y),
                0.99,
              )
            : Number.NaN,
        );
        if ((await waitForQuiet()) < 0) restless++;
      }
    }
    process.stdout.write(`\r  round ${round + 1} of ${ROUNDS} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  console.log('\n');
  // The other processes of a shared machine: a block that started on a busy machine is not clean.
  if (restless > 0)
    console.log(`  the machine did not go quiet within 30 s after ${restless} of the blocks: not a clean run\n`);
  console.log(
    '  rate %  offered/s   A good/s   B good/s   B/A median [95 % interval]   B more in   sign p   A/B p99 ms (median)   verdict',
  );
  for (const pct of RATES) {
    const a = good.get(`A@${pct}`)!;
    const b = good.get(`B@${pct}`)!;
    const r = paired(a, b);
    const mean = (x: number[]): number => x.reduce((s, v) => s + v, 0) / x.length;
    const med = (x: number[]): number => {
      const s = x.filter((v) => !Number.isNaN(v)).sort((u, v) => u - v);
      return s.length ? quantile(s, 0.5) : Number.NaN;
    };
    const ci = r.ci ? `[${f2(r.ci[0])}, ${f2(r.ci[1])}]` : '[too few rounds]';
    console.log(
      `  ${String(pct).padStart(6)}  ${f1((pct / 100) * peak).padStart(9)}  ${f1(mean(a)).padStart(9)}  ${f1(mean(b)).padStart(9)}` +
        `   ${`${f2(r.median)} ${ci}`.padEnd(27)}  ${`${r.more} of ${a.length}`.padStart(9)}  ${r.p.toFixed(3).padStart(7)}` +
        `   ${`${f2(med(p99.get(`A@${pct}`)!))}/${f2(med(p99.get(`B@${pct}`)!))}`.padStart(19)}   ${r.verdict}`,
    );
    console.log(
      `          per round A: ${a.map((v) => v.toFixed(0)).join(' ')}  B: ${b.map((v) => v.toFixed(0)).join(' ')}`,
    );
    for (const k of ['A', 'B'] as const) console.log(`          ${k} answered: ${mixLine(mix.get(`${k}@${pct}`))}`);
  }
  clients.A.close();
  clients.B.close();
}

main()
  .catch((error: unknown) => {
    console.error(`bench/serve-ab: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
