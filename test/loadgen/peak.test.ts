import assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeAtRate, searchPeak, type ProbeResult } from '../../src/loadgen/peak.js';

/** A synthetic system whose p99 grows sharply near its capacity (an M/M/1-like curve). */
function system(capacity: number, boundMs: number) {
  return async (qps: number): Promise<ProbeResult> => {
    const rho = qps / capacity;
    const p99Ms = rho >= 1 ? Infinity : (5 * Math.log(100)) / (1 - rho);
    return { qps, pass: p99Ms <= boundMs, p99Ms, overBound: 0, queries: 1000 };
  };
}

test('finds the highest rate within the bound, from below and from above the start', async () => {
  // p99 <= 50 ms  <=>  rho <= 1 - 23.03/50  =>  peak = 0.5395 x capacity
  const exact = 1000 * (1 - (5 * Math.log(100)) / 50);
  for (const start of [50, 2000]) {
    const r = await searchPeak(system(1000, 50), { startQps: start, tolerance: 0.02 });
    assert.ok(r.qps <= exact && r.qps >= exact * 0.97, `start ${start}: found ${r.qps}, exact ${exact}`);
    assert.ok(
      r.probes.every((p) => p.qps <= exact === p.pass),
      'every probe verdict is consistent',
    );
    assert.ok(r.probes.length <= 16);
  }
});

test('stops at the probe budget and reports 0 when nothing passes', async () => {
  const none = await searchPeak(async (qps) => ({ qps, pass: false, p99Ms: 1e9, overBound: 1, queries: 10 }), {
    startQps: 100,
    maxProbes: 5,
  });
  assert.equal(none.qps, 0);
  assert.ok(none.probes.length <= 5);
  const budget = await searchPeak(system(1000, 50), { startQps: 1, maxProbes: 4 });
  assert.equal(budget.probes.length, 4);
});

test('gives up with 0 below minQps instead of probing ever lower rates', async () => {
  const fail = async (qps: number): Promise<ProbeResult> => ({
    qps,
    pass: false,
    p99Ms: 1e9,
    overBound: 1,
    queries: 10,
  });
  const r = await searchPeak(fail, { startQps: 800, minQps: 100 });
  assert.equal(r.qps, 0);
  assert.deepEqual(
    r.probes.map((p) => p.qps),
    [800, 400, 200, 100],
  );
  // Without it the default floor is startQps / 64.
  const d = await searchPeak(fail, { startQps: 800 });
  assert.equal(Math.min(...d.probes.map((p) => p.qps)), 12.5);
});

test('probeAtRate judges the nearest-rank percentile with refusals over the bound', async () => {
  // 100 arrivals: 97 fast, then 3 refused; p99 (rank 99) falls on a refusal, p95 on a fast one.
  let i = 0;
  const infer = async (): Promise<unknown> => {
    i++;
    if (i > 97) throw Object.assign(new Error('queue full'), { code: 'RTI_ERR_ENGINE_QUEUE_FULL', kind: 'refused' });
    return undefined;
  };
  // The bound is far above any latency here (a loaded machine delays the schedule): only refusals are over it.
  const p99 = await probeAtRate(infer, [0], 2000, {
    durationMs: 10,
    seed: 1,
    minArrivals: 100,
    quantile: 0.99,
    boundMs: 60_000,
  });
  assert.equal(p99.queries, 100);
  assert.equal(p99.pass, false);
  assert.equal(p99.p99Ms, -1);
  assert.equal(p99.overBound, 3);
  i = 0;
  const p95 = await probeAtRate(infer, [0], 2000, {
    durationMs: 10,
    seed: 1,
    minArrivals: 100,
    quantile: 0.95,
    boundMs: 60_000,
  });
  assert.equal(p95.pass, true);
  assert.ok(p95.p99Ms >= 0 && p95.p99Ms < 60_000);
  assert.equal(p95.overBound, 3);
});
