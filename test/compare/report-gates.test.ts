import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareSweeps, compareTunes } from '../../src/compare/report-gates.js';
import type { SweepReport } from '../../src/loadgen/sweep.js';
import type { TuneReport } from '../../src/tune/tune.js';

function sweep(points: Array<[batch: number, conc: number, qps: number, p99: number]>): SweepReport {
  return {
    points: points.map(([batch, value, throughput, p99]) => ({
      instances: 1,
      threads: 1,
      batch,
      load: { kind: 'concurrency', value },
      queries: 100,
      throughput,
      latencyMs: { p50: p99 / 2, p90: p99, p99, max: p99 },
      queueMs: 0,
      inferenceMs: 1,
      meanBatchRequests: 1,
      refused: 0,
      pareto: false,
    })),
  } as unknown as SweepReport;
}

test('sweep gate: a matching point that loses throughput or p99 beyond the threshold is a regression', () => {
  const base = sweep([
    [1, 1, 1000, 2],
    [1, 4, 2000, 5],
  ]);
  assert.equal(
    compareSweeps(
      base,
      sweep([
        [1, 1, 990, 2.05],
        [1, 4, 1980, 5.1],
      ]),
      0.05,
    ).regression,
    false,
  );
  const slower = compareSweeps(
    base,
    sweep([
      [1, 1, 1000, 2],
      [1, 4, 1800, 5],
    ]),
    0.05,
  );
  assert.equal(slower.regression, true);
  assert.match(slower.lines.join('\n'), /concurrency 4: throughput -10\.0%, p99 \+0\.0% {2}REGRESSION/);
  assert.equal(compareSweeps(base, sweep([[1, 1, 1000, 2.5]]), 0.05).regression, true, 'p99 +25 %');
  const none = compareSweeps(base, sweep([[8, 1, 10, 90]]), 0.05);
  assert.equal(none.regression, false);
  assert.match(none.lines.at(-1)!, /nothing compared/);
});

function tune(met: boolean, throughput: number | null): TuneReport {
  const m = throughput === null ? null : { status: 'ok', throughput, latencyMs: 10 };
  return { verdict: { met }, chosen: m ? { key: 'k', verification: m, search: m } : null } as unknown as TuneReport;
}

test('tune gate: the chosen configuration losing throughput beyond the threshold, or the SLO, is a regression', () => {
  assert.equal(compareTunes(tune(true, 100), tune(true, 97), 0.05).regression, false);
  assert.equal(compareTunes(tune(true, 100), tune(true, 90), 0.05).regression, true);
  assert.equal(compareTunes(tune(true, 100), tune(false, null), 0.05).regression, true);
  assert.equal(compareTunes(tune(false, null), tune(true, 50), 0.05).regression, false);
});
