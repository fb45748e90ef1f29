/** How a report becomes a stored run's row: the figures of one configuration that ran. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SweepPoint, SweepReport } from '../../src/loadgen/sweep.js';
import { runFromReport } from '../../src/store/record.js';

const point = (instances: number, concurrency: number, p50: number, p99: number, throughput: number): SweepPoint => ({
  instances,
  threads: 1,
  batch: 1,
  load: { kind: 'concurrency', value: concurrency },
  queries: 200,
  throughput,
  latencyMs: { p50, p90: p50 * 1.5, p99, max: p99 * 2 },
  headlineMs: p99,
  queueMs: 0,
  inferenceMs: p50,
  meanBatchRequests: 1,
  refused: 0,
  pareto: false,
});

test("a sweep's row carries its highest-throughput point's own figures and names that point", () => {
  // The lowest p50, the lowest p99 and the highest throughput come from three different points.
  const points = [point(2, 1, 1.08, 4.1, 900), point(1, 1, 1.2, 3.9, 800), point(2, 4, 2.5, 6.0, 1422)];
  const report = {
    schema: 'rtinfer.sweep/1',
    model: { label: 'm.onnx', path: '/m.onnx', shapes: {} },
    settings: { batch: [1], instances: [1, 2], threads: [1], load: { kind: 'concurrency', values: [1, 4] } },
    points,
    env: { startedAt: '2026-12-05T00:00:00.000Z' },
  } as unknown as SweepReport;
  const run = runFromReport({ kind: 'sweep', report });
  assert.deepEqual(run.figures, { p50Ms: 2.5, p90Ms: 3.75, p99Ms: 6.0, qps: 1422, coldStartMs: null });
  assert.match(run.setting.text, /highest-throughput point: batch 1, concurrency 4, 2 × 1$/);
});
