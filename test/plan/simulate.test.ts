/**
 * The planner's simulation against queueing theory (M/M/1, M/D/1, M/M/2 mean waits), determinism
 * under a seed, the balancers, and the engine's admission policy (queue limit, deadline).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/plan/rng.js';
import {
  constantServiceTime,
  empiricalServiceTime,
  exponentialServiceTime,
  quantileServiceTime,
} from '../../src/plan/service-time.js';
import { simulate } from '../../src/plan/simulate.js';

const near = (actual: number, expected: number, tol: number, what: string): void => {
  assert.ok(
    Math.abs(actual / expected - 1) <= tol,
    `${what}: ${actual.toFixed(3)} vs ${expected.toFixed(3)} (tolerance ${tol * 100}%)`,
  );
};
const unbounded = { maxQueueSize: 1e9, requests: 200_000 };

test('M/M/1 at utilization 0.5: mean wait ρ/(μ−λ) = 10 ms', () => {
  const r = simulate({
    replicas: 1,
    instances: 1,
    service: exponentialServiceTime(10),
    rateQps: 50,
    seed: 11,
    ...unbounded,
  });
  near(r.meanWaitMs, (0.5 / (100 - 50)) * 1000, 0.05, 'M/M/1 Wq');
  near(r.meanMs, (1 / (100 - 50)) * 1000, 0.05, 'M/M/1 W');
});

test("M/D/1 at utilization 0.5: mean wait ρ/(2μ(1−ρ)) = 5 ms, half of M/M/1's (Pollaczek-Khinchine)", () => {
  const r = simulate({
    replicas: 1,
    instances: 1,
    service: constantServiceTime(10),
    rateQps: 50,
    seed: 12,
    ...unbounded,
  });
  near(r.meanWaitMs, (0.5 / (2 * 100 * 0.5)) * 1000, 0.05, 'M/D/1 Wq');
  assert.equal(r.p50Ms >= 10, true);
});

test('M/M/2 (one replica, two instances) at utilization 0.5: Erlang C mean wait 3.33 ms', () => {
  const r = simulate({
    replicas: 1,
    instances: 2,
    service: exponentialServiceTime(10),
    rateQps: 100,
    seed: 13,
    ...unbounded,
  });
  near(r.meanWaitMs, (1 / 3 / (200 - 100)) * 1000, 0.06, 'M/M/2 Wq');
});

test('the same seed gives the same run; another seed another one', () => {
  const o = { replicas: 3, instances: 1, service: exponentialServiceTime(5), rateQps: 450, requests: 20_000 };
  assert.deepEqual(simulate({ ...o, seed: 5 }), simulate({ ...o, seed: 5 }));
  assert.notDeepEqual(simulate({ ...o, seed: 5 }).p99Ms, simulate({ ...o, seed: 6 }).p99Ms);
  const a = new Rng(1);
  const b = new Rng(1);
  for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
});

test('least-outstanding keeps the tail far below round-robin at the same load', () => {
  const o = {
    replicas: 8,
    instances: 1,
    service: exponentialServiceTime(10),
    rateQps: 640,
    requests: 100_000,
    seed: 3,
  };
  const lor = simulate(o);
  const rr = simulate({ ...o, balancer: 'round-robin' });
  // Round-robin splits Poisson traffic into N independent M/M/1-like queues (at ρ = 0.8 the M/M/1 p99 is ~230 ms);
  // least-outstanding pools them.
  assert.ok(lor.p99Ms < rr.p99Ms / 2, `LOR p99 ${lor.p99Ms} vs RR ${rr.p99Ms}`);
});

test('overload: the queue limit refuses what it cannot hold and bounds the wait', () => {
  const r = simulate({
    replicas: 1,
    instances: 1,
    service: constantServiceTime(10),
    rateQps: 200,
    maxQueueSize: 8,
    requests: 20_000,
    seed: 1,
    boundMs: 1000,
    sloQuantile: 0.99,
  });
  // Capacity 100 q/s of 200 offered: about half refused.
  near(r.refused / r.requests, 0.5, 0.05, 'refused fraction');
  assert.ok(r.maxMs <= 10 * 9 + 1e-9, `max ${r.maxMs}`);
  assert.equal(r.sloMs, Infinity, 'half refused: the p99 over all requests is unmet');
  assert.ok(r.withinBound < 0.51);
});

test('a deadline expires requests that waited past it, and refuses those the queue predicts late', () => {
  const r = simulate({
    replicas: 1,
    instances: 1,
    service: exponentialServiceTime(10),
    rateQps: 95,
    deadlineMs: 40,
    maxQueueSize: 1e9,
    requests: 50_000,
    seed: 2,
  });
  assert.ok(r.refused + r.expired > 0);
  assert.ok(r.meanWaitMs < 40);
});

test('service times: empirical draws only measured values; quantile rebuild passes through its points', () => {
  const rng = new Rng(9);
  const e = empiricalServiceTime([3, 1, 2], 'x');
  for (let i = 0; i < 50; i++) assert.ok([1, 2, 3].includes(e.draw(rng)));
  assert.equal(e.p50Ms, 2);
  const q = quantileServiceTime(
    [
      [0.5, 10],
      [0.99, 20],
      [1, 30],
    ],
    'y',
  );
  assert.equal(q.p50Ms, 10);
  near(q.p99Ms, 20, 1e-9, 'p99');
  assert.equal(q.approximate, true);
  assert.throws(() => empiricalServiceTime([], 'z'), /no positive service times/);
});
