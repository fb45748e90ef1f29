/**
 * bench/flood (issue #13, overload that degrades gracefully): goodput under a closed-loop flood of
 * clients that resend at once after every answer, a 503 included (autocannon, perf_analyzer's
 * concurrency mode, a retry loop without backoff). Each refusal is followed at once by the next
 * request, so the server's cost per refusal decides what is left for the requests it serves.
 *
 * Servers, each in a child process of its own, started once:
 *   rtinfer  `node dist/cli/main.js serve MODEL --port 0` (no other flags);
 *   second   the same from another build (`--second-cli=PATH/dist/cli/main.js`), for an A/B of a change;
 *   naive    bench/support/naive-server.ts (session.run per request on the HTTP thread, no deadlines).
 * Client: this process, node:http with a keep-alive agent, --connections (default 64) loops that
 * each send a KServe v2 binary request of version-RFB-320 (921 KB, ../shared/models) with a v2
 * `timeout` of --deadline ms (default 30), wait for its answer and send the next. Goodput: answers
 * 200 within the deadline as the client measured them, per second. Blocks of --seconds (default 8)
 * per server after 2 s of unmeasured flood, A B C / C B A over --rounds (default 2), each followed by
 * a wait for the machine to go quiet (waitForQuiet).
 *
 *   npm run build && npm run bench:flood
 *   npm run bench:flood -- --second-cli=/tmp/old/dist/cli/main.js   # A/B against another build
 *
 * The client shares the machine's cores with the server, as a load generator on a 2-core box does:
 * figures compare servers within one run, not machines.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { waitForQuiet } from './support/cpu.js';
import { randomFloats, v2Body, type V2Body } from './support/poisson-client.js';
import { exitUnlessBuilt, startAnnounced, stopAll, type ServerProc } from './support/server-proc.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = `${ROOT}dist/cli/main.js`;
const NAIVE = `${ROOT}bench/support/naive-server.ts`;
const MODEL = fileURLToPath(new URL('../../shared/models/version-RFB-320.onnx', import.meta.url));
const DIMS = [1, 3, 240, 320];
const WARMUP_MS = 2000;

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '64' },
    deadline: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    'second-cli': { type: 'string' },
    'no-naive': { type: 'boolean', default: false },
  },
});
const CONNECTIONS = Number(args.connections);
const DEADLINE_MS = Number(args.deadline);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const SECOND_CLI = args['second-cli'];
if (
  !(Number.isInteger(CONNECTIONS) && CONNECTIONS >= 1 && CONNECTIONS <= 512) ||
  !(DEADLINE_MS >= 1 && DEADLINE_MS <= 60_000) ||
  !(SECONDS >= 1 && SECONDS <= 120) ||
  !(Number.isInteger(ROUNDS) && ROUNDS >= 1)
) {
  console.error(
    'bench/flood: --connections N (1-512, default 64) --deadline MS (1-60000, default 30) --seconds S (each block, 1-120, default 8) --rounds N (an integer >= 1, default 2) --second-cli=PATH --no-naive',
  );
  process.exit(2);
}
if (!existsSync(MODEL)) {
  console.error(`bench/flood: ${MODEL} is missing (../shared/models holds the pretrained detectors): nothing to run`);
  process.exit(2);
}
exitUnlessBuilt('bench/flood', CLI, SECOND_CLI);

interface Tally {
  codes: Map<string, number>;
  /** Client-measured ms of the answers 200. */
  ok: number[];
  seconds: number;
}

/** One request; resolves with its status (or the error's code) and the client-measured ms. */
function send(agent: http.Agent, url: URL, req: V2Body): Promise<{ status: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const r = http.request(url, { method: 'POST', agent, headers: req.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: String(res.statusCode), ms: performance.now() - t0 }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? 'error', ms: 0 }));
    });
    r.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? 'error', ms: 0 }));
    r.end(req.body);
  });
}

/** CONNECTIONS closed loops for `ms`; counted into `tally` when given. */
async function flood(server: ServerProc, req: V2Body, ms: number, tally?: Tally): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const url = new URL(`${server.modelUrl}/infer`);
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const { status, ms: took } = await send(agent, url, req);
        if (tally === undefined) continue;
        tally.codes.set(status, (tally.codes.get(status) ?? 0) + 1);
        if (status === '200') tally.ok.push(took);
      }
    }),
  );
  agent.destroy();
  if (tally) tally.seconds += ms / 1000;
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
try {
  const targets: Array<{ name: string; server: ServerProc; tally: Tally }> = [];
  const add = (name: string, server: ServerProc): void => {
    targets.push({ name, server, tally: { codes: new Map(), ok: [], seconds: 0 } });
  };
  const serve = (cli: string, label: string): Promise<ServerProc> =>
    startAnnounced(label, [cli, 'serve', MODEL, '--port', '0'], { layout: true, timeoutMs: 120_000 });
  add('rtinfer serve', await serve(CLI, 'rtinfer serve'));
  if (SECOND_CLI !== undefined) add('second build', await serve(SECOND_CLI, 'second build'));
  if (!args['no-naive'])
    add(
      'naive server',
      await startAnnounced('naive server', ['--import', 'tsx', NAIVE, MODEL], { layout: false, timeoutMs: 60_000 }),
    );
  const req = v2Body(
    'input',
    DIMS,
    randomFloats(
      DIMS.reduce((a, b) => a * b, 1),
      1,
    ),
    DEADLINE_MS * 1000,
  );
  console.log(
    `bench/flood: ${CONNECTIONS} closed-loop connections, version-RFB-320 (921 KB binary v2) with a ${DEADLINE_MS} ms timeout; ${ROUNDS} rounds of ${SECONDS} s blocks per server`,
  );
  for (const t of targets) if (t.server.layout) console.log(`  ${t.name}: ${t.server.layout}`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      await flood(t.server, req, WARMUP_MS);
      await flood(t.server, req, SECONDS * 1000, t.tally);
      await waitForQuiet();
    }
  }
  console.log(`  server               goodput/s   answers 200/s   p50 of 200s ms   answers`);
  for (const { name, tally } of targets) {
    const ok = [...tally.ok].sort((a, b) => a - b);
    const within = ok.filter((ms) => ms <= DEADLINE_MS).length;
    const codes = [...tally.codes].map(([k, v]) => `${k}: ${v}`).join(', ');
    console.log(
      `  ${name.padEnd(20)}${f(within / tally.seconds).padStart(10)}${f(ok.length / tally.seconds).padStart(16)}${f(ok[Math.floor(ok.length / 2)] ?? Number.NaN).padStart(17)}   ${codes}`,
    );
  }
} finally {
  await stopAll();
}
