import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paretoFrontier } from '../../src/loadgen/pareto.js';
import { runSweep } from '../../src/loadgen/sweep.js';
import { renderSweepHtml } from '../../src/report/html-report.js';
import { renderSweepCsv, renderSweepText } from '../../src/report/sweep-report.js';
import { RtinferError } from '../../src/errors.js';
import { OCR_CLS } from '../helpers/models.js';

test('the Pareto frontier keeps exactly the points no other beats on both throughput and latency', () => {
  const pts = [
    { throughput: 100, latencyMs: 10 }, // frontier
    { throughput: 200, latencyMs: 20 }, // frontier
    { throughput: 150, latencyMs: 25 }, // dominated by 200@20
    { throughput: 300, latencyMs: 50 }, // frontier
    { throughput: 100, latencyMs: 12 }, // dominated by 100@10
    { throughput: 50, latencyMs: Infinity }, // no latency: never on it
  ];
  assert.deepEqual(paretoFrontier(pts), [0, 1, 3]);
  assert.deepEqual(paretoFrontier([]), []);
});

test('a sweep measures every grid point on the real engine, marks the frontier, and renders table, CSV and HTML', async () => {
  const r = await runSweep({
    model: OCR_CLS,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    batch: [1, 4],
    concurrency: [1, 3],
    durationMs: 250,
    minQueries: 20,
  });
  assert.equal(r.schema, 'rtinfer.sweep/1');
  assert.equal(r.grid.points, 4);
  assert.equal(r.points.length, 4);
  assert.deepEqual(
    r.points.map((p) => [p.batch, p.load.value]),
    [
      [1, 1],
      [1, 3],
      [4, 1],
      [4, 3],
    ],
  );
  for (const p of r.points) {
    assert.ok(p.queries >= 20 && p.throughput > 0, JSON.stringify(p));
    assert.ok(p.latencyMs.p50 <= p.latencyMs.p90 && p.latencyMs.p90 <= p.latencyMs.p99);
    assert.ok(p.inferenceMs > 0);
  }
  assert.ok(
    r.points.filter((p) => p.batch === 1).every((p) => p.meanBatchRequests === 1),
    'batch 1 never batches',
  );
  assert.ok(r.points.some((p) => p.pareto));
  const text = renderSweepText(r);
  assert.match(text, /4 of 4 points/);
  // A p99 from fewer than 459 queries (99 % confidence) is flagged, as bench flags its own.
  const few = r.points.filter((p) => p.queries < 459).length;
  if (few > 0)
    assert.match(text, new RegExp(`note: ${few} of 4 points ran fewer than 459 queries, the least that claims a p99`));
  else assert.doesNotMatch(text, /note: .* points ran fewer than/);
  const csv = renderSweepCsv(r).trim().split('\n');
  assert.equal(csv.length, 5);
  assert.equal(csv[0]!.split(',').length, csv[1]!.split(',').length);
  const html = renderSweepHtml(r);
  assert.doesNotMatch(html, /<script src=|<link |https?:\/\//, 'self-contained: no external resources');
  const data = JSON.parse(/<script type="application\/json" id="rtinfer-data">(.*?)<\/script>/s.exec(html)![1]!);
  assert.equal(data.kind, 'sweep');
  assert.equal(data.report.points.length, 4);
});

test('BAD CALL - a sweep with two load axes or bad values is refused', async () => {
  await assert.rejects(
    runSweep({ model: OCR_CLS, concurrency: [1], qps: [10] }),
    (e: unknown) => e instanceof RtinferError && /not both/.test(e.message),
  );
  await assert.rejects(
    runSweep({ model: OCR_CLS, batch: [0] }),
    (e: unknown) => e instanceof RtinferError && /invalid --batch 0/.test(e.message),
  );
});
