import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import { poissonArrivals } from '../../src/loadgen/arrivals.js';
import { runConcurrency, runMultiStream, runOffline, runServer } from '../../src/loadgen/scenarios.js';
import type { Progress } from '../../src/loadgen/single-stream.js';
import { stabilityOf } from '../../src/loadgen/stability.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('Poisson arrivals have the asked mean rate and exponential gaps, and repeat with the seed', () => {
  const a = poissonArrivals(1000, 20_000, 7);
  const gaps = Array.from(a, (t, i) => t - (i ? a[i - 1]! : 0));
  const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
  assert.ok(Math.abs(mean - 1) < 0.03, `mean gap ${mean} ms for 1000 q/s`);
  const sd = Math.sqrt(gaps.reduce((s, g) => s + (g - mean) ** 2, 0) / (gaps.length - 1));
  assert.ok(Math.abs(sd / mean - 1) < 0.05, `coefficient of variation ${sd / mean} (exponential: 1)`);
  // P(gap > mean) = e^-1 for an exponential distribution.
  const above = gaps.filter((g) => g > mean).length / gaps.length;
  assert.ok(Math.abs(above - Math.exp(-1)) < 0.02, `share above the mean ${above}`);
  assert.deepEqual(poissonArrivals(1000, 100, 7), a.subarray(0, poissonArrivals(1000, 100, 7).length));
  assert.notDeepEqual(poissonArrivals(1000, 100, 8), poissonArrivals(1000, 100, 7));
  assert.ok(poissonArrivals(10, 100, 1, 50).length >= 50, 'minCount extends the schedule');
});

/** A single-server target: 1 ms per request, one at a time, stalled once for 200 ms. */
function stallingTarget(stallAtMs: number, stallMs: number): (x: number) => Promise<void> {
  let busyUntil = 0;
  let stalled = false;
  const t0 = performance.now();
  return async () => {
    const now = performance.now() - t0;
    let start = Math.max(now, busyUntil);
    if (!stalled && start >= stallAtMs) {
      stalled = true;
      start += stallMs;
    }
    busyUntil = start + 1;
    await sleep(busyUntil - now);
  };
}

test('coordinated omission: a 200 ms stall shows in the tail of the server scenario, for every query it delayed', async () => {
  const arrivals = poissonArrivals(100, 2000, 3);
  const run = await runServer(stallingTarget(500, 200), [0], arrivals);
  const lat = Array.from(run.log.latenciesUs, (us) => us / 1000);
  assert.equal(run.log.count, arrivals.length);
  const max = Math.max(...lat);
  assert.ok(max >= 180, `the stall is in the tail (max ${max.toFixed(1)} ms)`);
  // About 20 queries arrive during a 200 ms stall at 100 q/s: each must carry part of it.
  const delayed = lat.filter((l) => l > 50).length;
  assert.ok(delayed >= 10, `${delayed} queries record the stall (a closed loop would record one)`);
  assert.ok(run.slip !== undefined && run.slip.valueAtQuantileUs(0.5) < 2000, 'the generator itself kept its schedule');
});

test('multi-stream: a query takes as long as its slowest sample', async () => {
  const delays = [1, 1, 30, 1];
  const run = await runMultiStream((d: number) => sleep(d), delays, 4, { minQueries: 5, minDurationMs: 0 });
  assert.equal(run.samplesPerQuery, 4);
  const lat = Array.from(run.log.latenciesUs, (us) => us / 1000);
  assert.equal(lat.length, 5);
  assert.ok(
    lat.every((l) => l >= 29 && l < 80),
    lat.join(),
  );
});

test('concurrency keeps N requests outstanding; offline issues waves; refusals are counted, not dropped', async () => {
  let inflight = 0;
  let peak = 0;
  let calls = 0;
  const target = async (): Promise<void> => {
    calls++;
    inflight++;
    peak = Math.max(peak, inflight);
    await sleep(2);
    inflight--;
    if (calls % 5 === 0) throw new RtinferError('RTI_ERR_ENGINE_QUEUE_FULL', 'full');
  };
  const c = await runConcurrency(target, [0], 3, { minQueries: 30, minDurationMs: 0 });
  assert.equal(peak, 3);
  assert.equal(c.log.count + c.log.refusedCount, c.issued);
  assert.ok(c.log.refused['RTI_ERR_ENGINE_QUEUE_FULL']! >= 5);
  assert.equal(c.log.firstError, undefined, 'refusals are not failures');
  peak = 0;
  const o = await runOffline(target, [0], 16, { minQueries: 32, minDurationMs: 0 });
  assert.equal(peak, 16);
  assert.equal(o.issued, 32);
  assert.equal(o.log.count + o.log.refusedCount, 32);
});

test('progress comes at most every 100 ms, not per query, and only grows', async () => {
  const seen: Progress[] = [];
  const run = await runConcurrency(
    () => new Promise((r) => setImmediate(r)),
    [0],
    4,
    { minQueries: 1, minDurationMs: 350 },
    { onProgress: (p) => seen.push(p) },
  );
  assert.ok(run.log.count > 100, `${run.log.count} queries`);
  assert.ok(seen.length >= 2 && seen.length <= 4, `${seen.length} progress calls`);
  for (let i = 1; i < seen.length; i++)
    assert.ok(seen[i]!.elapsedMs - seen[i - 1]!.elapsedMs >= 100 && seen[i]!.fraction >= seen[i - 1]!.fraction);
});

test('stability: steady windows pass, a drifting run fails with its spread', () => {
  const n = 300;
  const starts = Float64Array.from({ length: n }, (_, i) => i * 10);
  const steady = Float64Array.from({ length: n }, (_, i) => 5000 + (i % 7) * 10);
  const s = stabilityOf(steady, starts, n * 10, 10);
  assert.equal(s.stable, true);
  assert.equal(s.windows.length, 3);
  assert.ok(Math.abs(s.windows[0]!.qps - 100) < 1);
  const drifting = Float64Array.from({ length: n }, (_, i) => 5000 + i * 40);
  const d = stabilityOf(drifting, starts, n * 10, 10);
  assert.equal(d.stable, false);
  assert.ok(d.latencySpreadPct > 10);
  assert.equal(
    stabilityOf(steady.subarray(0, 4), starts.subarray(0, 4), 40).stable,
    false,
    'too few queries per window is not stable',
  );
});
