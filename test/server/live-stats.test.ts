/** The live statistics collector of rtinfer serve, driven by a fake clock (and a real engine for batches). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEngine } from '../../src/engine/engine.js';
import {
  bucketOf,
  LIVE_BUCKET_EDGES_MS,
  LiveStats,
  type LiveSource,
  type LiveTick,
} from '../../src/server/live-stats.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { OCR_CLS } from '../helpers/models.js';

function collector(
  sources: LiveSource[],
  options: { windowPoints?: number; distributionPoints?: number } = {},
): { live: LiveStats; clock: FakeClock } {
  const clock = new FakeClock(10_000);
  const live = new LiveStats({
    sources: () => sources,
    clock,
    epochNow: () => 1_700_000_000_000 + clock.now(),
    ...options,
  });
  return { live, clock };
}

/** Within HDR's 3 significant digits (reported values are bucket tops, at or above the true one). */
function near(actual: number | null, expected: number): void {
  assert.ok(
    actual !== null && actual >= expected && actual <= expected * 1.001 + 0.001,
    `${actual} is not ~${expected}`,
  );
}

test('each second becomes one point with that second’s percentiles and throughput, then starts afresh', () => {
  const { live, clock } = collector([{ name: 'a' }, { name: 'b' }]);
  const ticks: LiveTick[] = [];
  live.onTick((t) => ticks.push(t));
  live.start();
  for (let ms = 1; ms <= 100; ms++) live.record('a', 'infer', 200, ms);
  clock.advance(999);
  assert.equal(ticks.length, 0);
  clock.advance(1);
  assert.equal(ticks.length, 1);
  const [a, b] = ticks[0]!.models;
  assert.equal(a!.name, 'a');
  assert.equal(a!.point.t, 1_700_000_000_000 + 11_000);
  assert.equal(a!.point.answered, 100);
  assert.equal(a!.point.rps, 100);
  near(a!.point.p50Ms, 50);
  near(a!.point.p90Ms, 90);
  near(a!.point.p99Ms, 99);
  near(a!.point.maxMs, 100);
  assert.deepEqual([b!.point.answered, b!.point.p50Ms, b!.point.p99Ms], [0, null, null]);
  live.record('a', 'predict', 200, 7);
  clock.advance(1000);
  assert.equal(ticks.length, 2);
  const second = ticks[1]!.models[0]!.point;
  assert.equal(second.answered, 1);
  near(second.p50Ms, 7);
  near(second.p99Ms, 7);
  live.close();
});

test('refusals (429, 503), deadline misses (504) and other errors are counted apart; non-traffic requests are not counted', () => {
  const { live } = collector([{ name: 'a' }]);
  live.record('a', 'infer', 429, 1);
  live.record('a', 'predict', 503, 1);
  live.record('a', 'infer', 504, 30);
  live.record('a', 'infer', 504, 30);
  live.record('a', 'infer', 400, 1);
  live.record('a', 'infer', 500, 1);
  live.record('a', 'metadata', 200, 1);
  live.record('a', 'health', 503, 1);
  live.record(undefined, 'infer', 200, 1);
  const p = live.tick().models[0]!.point;
  assert.deepEqual([p.answered, p.refused, p.missed, p.errors], [0, 2, 2, 2]);
  const next = live.tick().models[0]!.point;
  assert.deepEqual([next.refused, next.missed, next.errors], [0, 0, 0]);
});

test('the window keeps the newest points only, one a second on a fixed grid', () => {
  const { live, clock } = collector([{ name: 'a' }], { windowPoints: 5 });
  live.start();
  clock.advance(3000);
  assert.equal(live.snapshot().models[0]!.points.length, 3);
  clock.advance(10_000);
  const points = live.snapshot().models[0]!.points;
  assert.equal(points.length, 5);
  assert.deepEqual(
    points.map((p) => p.t - 1_700_000_000_000),
    [19_000, 20_000, 21_000, 22_000, 23_000],
  );
  assert.equal(clock.nextTimerAt, 24_000, 'the next tick stays on the grid');
  live.close();
  assert.equal(clock.pendingTimers, 0, 'close clears the timer');
});

test('the last-minute distribution sums the newest intervals on fixed log buckets and forgets older ones', () => {
  const { live } = collector([{ name: 'a' }], { distributionPoints: 3 });
  live.record('a', 'infer', 200, 0.05);
  live.record('a', 'infer', 200, 1);
  live.record('a', 'infer', 200, 12);
  live.record('a', 'infer', 200, 60_000);
  let d = live.tick().models[0]!.lastMinute;
  assert.equal(d.count, 4);
  assert.equal(d.counts.length, LIVE_BUCKET_EDGES_MS.length + 1);
  assert.equal(d.counts[0], 1, 'below 0.1 ms lands in the first bucket');
  assert.equal(d.counts[bucketOf(1)], 1);
  assert.equal(d.counts[bucketOf(12)], 1);
  assert.equal(d.counts[LIVE_BUCKET_EDGES_MS.length], 1, 'above 10 s lands in the overflow bucket');
  live.record('a', 'infer', 200, 12);
  d = live.tick().models[0]!.lastMinute;
  assert.equal(d.count, 5);
  assert.equal(d.counts[bucketOf(12)], 2);
  live.tick();
  d = live.tick().models[0]!.lastMinute;
  assert.equal(d.count, 1, 'the first interval has left the three-interval window');
});

test('bucket edges run from 0.1 ms to 10 s, ten per decade, and a value lands in the first bucket whose edge holds it', () => {
  assert.equal(LIVE_BUCKET_EDGES_MS[0], 0.1);
  assert.equal(LIVE_BUCKET_EDGES_MS[10], 1);
  assert.equal(LIVE_BUCKET_EDGES_MS[50], 10_000);
  assert.equal(bucketOf(1), 10);
  assert.equal(bucketOf(1.0001), 11);
  assert.equal(bucketOf(0.999), 10);
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(1e9), 51);
});

test('close ends ticking and tells close listeners once; a listener added after close hears at once', () => {
  const { live, clock } = collector([{ name: 'a' }]);
  let closed = 0;
  let ticks = 0;
  live.onClose(() => closed++);
  live.onTick(() => ticks++);
  live.start();
  clock.advance(1000);
  live.close();
  live.close();
  clock.advance(5000);
  assert.deepEqual([ticks, closed], [1, 1]);
  assert.equal(clock.pendingTimers, 0);
  let late = 0;
  live.onClose(() => late++);
  assert.equal(late, 1);
  live.start();
  assert.equal(clock.pendingTimers, 0, 'a closed collector does not restart');
});

test('batch sizes, queue depth and late answers come from a real engine, per interval, not counting its warm-up', async (t) => {
  const engine = await createEngine({
    model: OCR_CLS,
    instances: 1,
    threads: 1,
    batching: { maxBatchSize: 4, mode: 'static', maxQueueDelayUs: 20_000 },
    warmupShapes: { x: [1, 3, 48, 192] },
  });
  t.after(() => engine.close());
  const { live } = collector([{ name: 'cls', engine }]);
  const first = live.tick().models[0]!.point;
  assert.deepEqual(first.batches, {}, 'warm-up batches are not traffic');
  const x = () => ({ x: { type: 'float32' as const, dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) } });
  const timings = await Promise.all(Array.from({ length: 8 }, () => engine.inferWithTiming(x()).then((r) => r.timing)));
  const p = live.tick().models[0]!.point;
  const rows = Object.entries(p.batches).reduce((sum, [size, n]) => sum + Number(size) * n, 0);
  assert.equal(rows, 8, JSON.stringify(p.batches));
  assert.deepEqual(
    p.batches,
    Object.fromEntries(
      [...new Set(timings.map((tm) => tm.batchSize))].map((s) => [
        String(s),
        timings.filter((tm) => tm.batchSize === s).length / s,
      ]),
    ),
  );
  assert.ok(p.meanBatch > 1, `static batching of 8 concurrent requests ran batches of ${p.meanBatch} rows on average`);
  assert.equal(p.queueDepth, 0);
  assert.equal(p.late, 0);
  assert.deepEqual(live.tick().models[0]!.point.batches, {}, 'the next interval starts empty');
});
