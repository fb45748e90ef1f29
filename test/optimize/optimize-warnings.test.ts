/** optimize's warnings: a variant slower or less accurate than the original, and an accuracy check on synthetic inputs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OptimizeReport } from '../../src/optimize/optimize.js';
import { optimizeWarnings, renderOptimizeText } from '../../src/optimize/optimize-text.js';

const summary = (p50: number): { p50: number; p99: number; mean: number; runs: number } => ({
  p50,
  p99: p50 * 1.2,
  mean: p50,
  runs: 100,
});

/** The figures of `optimize blazeface_front_128.onnx --int8 --calibrate calib/` in a QA run. */
function report(speedup: number, drop: number, metric = 'map50-agreement', evaluationFiles = 16): OptimizeReport {
  return {
    schema: 'rtinfer.optimize/1',
    model: 'blazeface_front_128.onnx',
    out: 'x.onnx',
    transforms: ['int8-minmax'],
    size: { before: 433_325, after: 242_794 },
    ops: [],
    nodes: { before: 100, after: 200 },
    quantization: {
      method: 'minmax',
      activationType: 'uint8',
      perChannel: true,
      calibrationFiles: 32,
      evaluationFiles,
      quantizedNodes: { Conv: 30 },
      keptFloat: [],
      qdqDomain: 'ai.onnx',
    },
    latency: {
      original: summary(1),
      optimized: summary(1 / speedup),
      speedup,
      blocks: 10,
      runsPerBlock: 10,
      threads: 'default',
    },
    accuracy: { metric, score: 1 - drop, drop, images: 16 } as OptimizeReport['accuracy'],
    notes: [],
  };
}

test('a slower and less accurate variant gets a warning for each, in the text report too', () => {
  const r = report(0.54, 0.188);
  const w = optimizeWarnings(r);
  assert.equal(w.length, 2, w.join('\n'));
  assert.match(w[0]!, /slower than the original \(p50 speedup 0\.54×.*probably not worth deploying/);
  assert.match(w[1]!, /map50-agreement dropped 18\.8% .*probably not worth deploying/);
  assert.match(renderOptimizeText(r), /\nwarning: the optimized model is slower/);
});

test('within the A/B noise and a small drop: no warning', () => {
  assert.deepEqual(optimizeWarnings(report(0.97, 0.03)), []);
  assert.deepEqual(optimizeWarnings(report(1.8, 0)), []);
});

test('int8 checked on synthetic inputs because nothing was held out says so', () => {
  const w = optimizeWarnings(report(1.2, 0.01, 'tensor-error', 0));
  assert.equal(w.length, 1);
  assert.match(w[0]!, /measured on 16 synthetic input\(s\), not on images: none of the 32 calibration file\(s\)/);
});
