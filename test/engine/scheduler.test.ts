import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtinferError, type ErrorCode, type ErrorKind } from '../../src/errors.js';
import { LatencyModels } from '../../src/engine/latency-model.js';
import {
  Scheduler,
  PROBE_STREAK,
  TRIAL_INTERVAL_MS,
  type BatchMode,
  type ExtraInstance,
  type SubmitOptions,
} from '../../src/engine/scheduler.js';
import { FakeClock } from '../helpers/fake-clock.js';

interface Dispatch {
  instance: number;
  items: string[];
  rows: number;
  shapes: string[];
  at: number;
}

interface Refusal {
  item: string;
  error: RtinferError;
  at: number;
}

interface HarnessOptions {
  mode?: BatchMode;
  instances?: number;
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  preferredBatchSizes?: number[];
  maxQueueSize?: number;
  extra?: ExtraInstance;
}

/** A scheduler on a fake clock whose executor only records what it was asked to run. */
function harness(o: HarnessOptions = {}) {
  const clock = new FakeClock();
  const latency = new LatencyModels();
  const dispatches: Dispatch[] = [];
  const refusals: Refusal[] = [];
  const mode = o.mode ?? 'none';
  const scheduler = new Scheduler<string>({
    instances: o.instances ?? 1,
    ...(o.extra ? { extra: o.extra } : {}),
    policy: {
      mode,
      maxBatchSize: o.maxBatchSize ?? (mode === 'none' ? 1 : 8),
      maxQueueDelayMs: o.maxQueueDelayMs ?? 0,
      preferredBatchSizes: o.preferredBatchSizes ?? [],
    },
    maxQueueSize: o.maxQueueSize ?? 100,
    clock,
    latency,
    hooks: {
      dispatch: (instance, batch) =>
        dispatches.push({
          instance,
          items: batch.map((r) => r.item),
          rows: batch.reduce((s, r) => s + r.rows, 0),
          shapes: [...new Set(batch.map((r) => r.shapeKey))],
          at: clock.now(),
        }),
      refuse: (request, error) => refusals.push({ item: request.item, error, at: clock.now() }),
    },
  });
  const submit = (item: string, extra: Partial<Omit<SubmitOptions<string>, 'item'>> = {}) =>
    scheduler.submit({ item, rows: 1, shapeKey: 'x', ...extra });
  const batches = (): string[][] => dispatches.map((d) => d.items);
  return { clock, latency, scheduler, dispatches, refusals, submit, batches };
}

function assertRtiError(error: unknown, code: ErrorCode, kind: ErrorKind): true {
  assert.ok(error instanceof RtinferError, `expected an RtinferError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.equal(error.kind, kind);
  return true;
}

function assertThrowsRti(fn: () => unknown, code: ErrorCode, kind: ErrorKind): void {
  assert.throws(fn, (error: unknown) => assertRtiError(error, code, kind));
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FakeClock', () => {
  it('fires due timers in time order with now() at each due time', () => {
    const clock = new FakeClock();
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => fired.push(['b', clock.now()]), 20);
    clock.setTimer(() => fired.push(['a', clock.now()]), 10);
    clock.setTimer(() => fired.push(['c', clock.now()]), 30);
    assert.equal(clock.pendingTimers, 3);
    clock.advance(25);
    assert.deepEqual(fired, [
      ['a', 10],
      ['b', 20],
    ]);
    assert.equal(clock.now(), 25);
    assert.equal(clock.pendingTimers, 1);
  });

  it('fires timers set by a callback when they fall due within the same advance, and not cleared ones', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const cleared = clock.setTimer(() => fired.push(-1), 5);
    clock.setTimer(() => {
      fired.push(clock.now());
      clock.setTimer(() => fired.push(clock.now()), 3);
      clock.setTimer(() => fired.push(clock.now()), 50);
    }, 4);
    clock.clearTimer(cleared);
    clock.advance(10);
    assert.deepEqual(fired, [4, 7]);
    assert.equal(clock.pendingTimers, 1);
    assert.equal(clock.nextTimerAt, 54);
  });
});

describe('Scheduler ordering', () => {
  it('serves the highest priority first and FIFO within a priority', () => {
    const h = harness({ mode: 'none' });
    h.submit('a');
    h.submit('b');
    h.submit('c', { priority: 5 });
    h.submit('d');
    h.submit('e', { priority: 5 });
    h.submit('f', { priority: -1 });
    assert.deepEqual(h.batches(), [['a']]);
    for (let i = 0; i < 5; i++) h.scheduler.complete(0);
    assert.deepEqual(h.batches(), [['a'], ['c'], ['e'], ['b'], ['d'], ['f']]);
    assert.ok(h.dispatches.every((d) => d.instance === 0));
  });
});

describe('Scheduler mode none', () => {
  it('dispatches one request per free instance and spreads the requests over the instances', () => {
    const h = harness({ mode: 'none', instances: 3 });
    for (const item of ['a', 'b', 'c', 'd']) h.submit(item);
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [
        [0, ['a']],
        [1, ['b']],
        [2, ['c']],
      ],
    );
    assert.equal(h.scheduler.busyInstances, 3);
    assert.equal(h.scheduler.queueDepth, 1);
    h.scheduler.complete(1);
    assert.deepEqual(h.dispatches[3], { instance: 1, items: ['d'], rows: 1, shapes: ['x'], at: 0 });
    assert.equal(h.scheduler.queueDepth, 0);
  });
});

describe('Scheduler with an extra instance of another speed', () => {
  /** The calling thread's session as the engine has it: 1 ms for shape x, nothing for 'big'. */
  const fast: ExtraInstance = {
    estimate: (shape) => (shape === 'x' ? 1 : undefined),
    lastObservedAt: () => 0,
  };

  it("runs a trial where the estimate that said 'too slow' lives, and counts that estimate's learning as fresh", () => {
    let learnedAt = Number.NEGATIVE_INFINITY;
    const slow: ExtraInstance = { estimate: () => 5, lastObservedAt: () => learnedAt };
    const h = harness({ mode: 'none', instances: 1, extra: slow });
    h.latency.for('x').observe(1, 10, 0);
    h.clock.advance(TRIAL_INTERVAL_MS);
    h.submit('a', { deadline: h.clock.now() + 2 }); // predicted 5 ms: a trial, on the extra instance
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [[1, ['a']]],
    );
    h.clock.advance(1);
    h.scheduler.complete(1);
    learnedAt = h.clock.now();
    h.clock.advance(TRIAL_INTERVAL_MS);
    // Another second passed since the last trial, but the extra instance learned 1 s ago only now: refused.
    learnedAt = h.clock.now() - 10;
    assertThrowsRti(
      () => h.submit('b', { deadline: h.clock.now() + 2 }),
      'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
      'refused',
    );
  });

  it('sends one request a second to the kind of instance whose estimate went stale, whatever the prediction', () => {
    let clockNow = (): number => 0;
    const fresh: ExtraInstance = { estimate: () => 1, lastObservedAt: () => clockNow() };
    const h = harness({ mode: 'none', instances: 1, extra: fresh });
    clockNow = () => h.clock.now();
    h.latency.for('x').observe(1, 3, 0);
    h.clock.advance(TRIAL_INTERVAL_MS);
    const a = h.submit('a'); // the workers' 3 ms was learned a second ago: a probe, though the extra says 1
    assert.equal(a.trial, true, 'its run may reset the stale estimate');
    h.scheduler.complete(0);
    const b = h.submit('b'); // one probe a second: by prediction again
    assert.notEqual(b.trial, true);
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [
        [0, ['a']],
        [1, ['b']],
      ],
    );
  });

  it('after probing the calling thread at idle, gives it the next idle requests too, so that it is judged warm', () => {
    // The calling thread's session read cold (1.6 ms, fastest) and has not learned for a second; a
    // worker reads 1.0. A probe alone would run there once a second, as cold each time.
    let learnedAt = 0;
    const cold: ExtraInstance = { estimate: () => 1.6, lastObservedAt: () => learnedAt };
    const h = harness({ mode: 'none', instances: 1, extra: cold });
    h.latency.for('x').observe(1, 1, 0);
    h.clock.advance(TRIAL_INTERVAL_MS);
    // Idle, one at a time: the probe, then its streak, all on the calling thread and all trials.
    for (let i = 0; i <= PROBE_STREAK; i++) {
      const r = h.submit(`s${i}`);
      assert.equal(r.trial, true, `s${i} may start the calling thread's estimate over`);
      h.clock.advance(0.1);
      learnedAt = h.clock.now();
      h.scheduler.complete(1);
    }
    h.submit('after'); // the streak is spent: by prediction, the worker
    h.scheduler.complete(0);
    assert.deepEqual(
      h.dispatches.map((d) => d.instance),
      [...Array.from({ length: PROBE_STREAK + 1 }, () => 1), 0],
    );
    // A second later, another probe; a request while another is in flight ends its streak.
    h.clock.advance(TRIAL_INTERVAL_MS + 1);
    h.submit('probe');
    h.submit('busy'); // not idle: by prediction (the worker), and the streak is dropped
    h.scheduler.complete(1);
    h.scheduler.complete(0);
    h.submit('idle again');
    assert.deepEqual(
      h.dispatches.slice(PROBE_STREAK + 2).map((d) => [d.instance, d.items]),
      [
        [1, ['probe']],
        [0, ['busy']],
        [0, ['idle again']],
      ],
    );
  });

  it('places each request where it is predicted to finish first, waiting for the faster instance while a worker is free', () => {
    const h = harness({ mode: 'none', instances: 1, extra: fast });
    h.latency.for('x').observe(1, 3, 0);
    h.submit('a'); // extra: ends at 1, the worker at 3
    h.submit('b'); // extra after a: 2, still before the worker's 3: promised to it, queued
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [[1, ['a']]],
    );
    assert.equal(h.scheduler.queueDepth, 1);
    h.submit('c'); // extra after a and b: 3, a tie with the free worker, which takes it now
    assert.deepEqual(h.dispatches[1], { instance: 0, items: ['c'], rows: 1, shapes: ['x'], at: 0 });
    h.clock.advance(1);
    h.scheduler.complete(1);
    assert.deepEqual(h.dispatches[2], { instance: 1, items: ['b'], rows: 1, shapes: ['x'], at: 1 });
    assert.equal(h.scheduler.queueDepth, 0);
  });

  it('chooses by the fastest recent runs on an idle engine, and by the p75s once anything else is in flight', () => {
    // The calling thread's p75 still holds its cold warm-up (1.6 ms), its fastest run is 0.8; a
    // worker reads 1.0 on both.
    const stale: ExtraInstance = {
      estimate: (_shape, _rows, _workers, level) => (level === 'fastest' ? 0.8 : 1.6),
      lastObservedAt: () => 0,
    };
    const h = harness({ mode: 'none', instances: 1, extra: stale });
    for (let i = 0; i < 8; i++) h.latency.for('x').observe(1, 1, 0);
    h.submit('a'); // idle: 0.8 against 1.0, the calling thread
    h.submit('b'); // 'a' runs: by p75, the free worker (1.0) before the calling thread (0.8 + 1.6)
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [
        [1, ['a']],
        [0, ['b']],
      ],
    );
  });

  it('answers a request whose typical run would end past its deadline when it is about to start, instead of running it', () => {
    const h = harness({ mode: 'none', instances: 1, extra: fast });
    h.latency.for('x').observe(1, 3, 0);
    h.submit('a', { deadline: 5 }); // extra, ends at 1
    h.submit('b', { deadline: 2.5 }); // admitted: extra after a ends at 2
    h.submit('c', { deadline: 10 }); // extra after b: 3, a tie with the free worker, which takes it
    h.clock.advance(1.8);
    h.scheduler.complete(1); // a ran long: b would now end at 2.8
    assert.deepEqual(
      h.refusals.map((r) => [r.item, r.error.code, r.error.message]),
      [['b', 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'can no longer finish before its deadline']],
    );
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [
        [1, ['a']],
        [0, ['c']],
      ],
    );
    assert.equal(h.scheduler.queueDepth, 0);
  });

  it('leaves a shape it cannot take to the workers', () => {
    const h = harness({ mode: 'none', instances: 1, extra: fast });
    h.latency.for('big').observe(1, 50, 0);
    h.submit('a', { shapeKey: 'big' });
    h.submit('b', { shapeKey: 'big' });
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [[0, ['a']]],
    );
    h.scheduler.complete(0);
    assert.deepEqual(
      h.dispatches.map((d) => d.instance),
      [0, 0],
    );
  });

  it('admits a deadline that only the faster instance can meet, and refuses past what it can', () => {
    const h = harness({ mode: 'none', instances: 1, extra: fast });
    h.latency.for('x').observe(1, 10, 0);
    h.submit('a', { deadline: 2 }); // extra, ends at 1
    h.submit('b', { deadline: 2.5 }); // extra after a: 2
    assertThrowsRti(() => h.submit('c', { deadline: 2.5 }), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'refused');
    h.submit('d', { deadline: 10 }); // extra after b: 3, before the worker's 10
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [[1, ['a']]],
    );
    assert.equal(h.scheduler.queueDepth, 2);
  });

  it('needs batching off', () => {
    assert.throws(() => harness({ mode: 'adaptive', instances: 1, extra: fast }), /batching must be off/);
  });
});

describe('Scheduler static batching', () => {
  it('dispatches a full batch as soon as maxBatchSize rows are queued', () => {
    const h = harness({ mode: 'static', maxBatchSize: 4, maxQueueDelayMs: 10 });
    h.submit('a');
    h.submit('b');
    h.submit('c');
    assert.equal(h.dispatches.length, 0);
    assert.equal(h.clock.pendingTimers, 1);
    h.submit('d');
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a', 'b', 'c', 'd'], rows: 4, shapes: ['x'], at: 0 }]);
    assert.equal(h.clock.pendingTimers, 0);
  });

  it('dispatches a partial batch exactly maxQueueDelayMs after its oldest request arrived', () => {
    const h = harness({ mode: 'static', instances: 2, maxBatchSize: 4, maxQueueDelayMs: 10 });
    h.submit('a');
    h.clock.advance(3);
    h.submit('b');
    h.clock.advance(6);
    assert.equal(h.dispatches.length, 0);
    assert.equal(h.clock.nextTimerAt, 10);
    h.clock.advance(1);
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a', 'b'], rows: 2, shapes: ['x'], at: 10 }]);

    h.clock.advance(2);
    h.submit('c');
    h.clock.advance(9.5);
    assert.equal(h.dispatches.length, 1);
    h.clock.advance(0.5);
    assert.deepEqual(h.dispatches[1], { instance: 1, items: ['c'], rows: 1, shapes: ['x'], at: 22 });
  });

  it('dispatches the largest preferred batch size at once', () => {
    const h = harness({ mode: 'static', maxBatchSize: 8, maxQueueDelayMs: 100, preferredBatchSizes: [2, 3] });
    h.scheduler.setAvailable(0, false);
    for (const item of ['a', 'b', 'c', 'd', 'e']) h.submit(item);
    assert.equal(h.dispatches.length, 0);
    h.scheduler.setAvailable(0, true);
    assert.deepEqual(h.batches(), [['a', 'b', 'c']]);
    h.scheduler.complete(0);
    assert.deepEqual(h.batches(), [
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    assert.ok(h.dispatches.every((d) => d.at === 0));

    const g = harness({ mode: 'static', maxBatchSize: 8, maxQueueDelayMs: 100, preferredBatchSizes: [2] });
    g.submit('a');
    assert.equal(g.dispatches.length, 0);
    g.submit('b');
    assert.deepEqual(g.dispatches, [{ instance: 0, items: ['a', 'b'], rows: 2, shapes: ['x'], at: 0 }]);
  });

  it('does not dispatch early when no prefix of the queue adds up to a preferred size', () => {
    const h = harness({ mode: 'static', maxBatchSize: 8, maxQueueDelayMs: 10, preferredBatchSizes: [2] });
    h.submit('a', { rows: 1 });
    h.submit('b', { rows: 2 });
    // 1 row, then 3 rows: neither is a preferred size, so the batch waits for maxQueueDelay.
    assert.equal(h.dispatches.length, 0);
    h.clock.advance(10);
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a', 'b'], rows: 3, shapes: ['x'], at: 10 }]);
  });

  it('never mixes shapeKeys in one batch', () => {
    const h = harness({ mode: 'static', instances: 2, maxBatchSize: 2, maxQueueDelayMs: 10 });
    h.submit('a', { shapeKey: 'A' });
    h.submit('b', { shapeKey: 'B' });
    h.submit('c', { shapeKey: 'A' });
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a', 'c'], rows: 2, shapes: ['A'], at: 0 }]);
    h.clock.advance(10);
    assert.deepEqual(h.dispatches[1], { instance: 1, items: ['b'], rows: 1, shapes: ['B'], at: 10 });
    assert.ok(h.dispatches.every((d) => d.shapes.length === 1));
  });

  it('counts rows, not requests, against maxBatchSize and dispatches once the next request cannot fit', () => {
    const h = harness({ mode: 'static', instances: 2, maxBatchSize: 4, maxQueueDelayMs: 10 });
    h.submit('a', { rows: 2 });
    h.submit('b', { rows: 1 });
    assert.equal(h.dispatches.length, 0);
    h.submit('c', { rows: 2 });
    // a+b+c would be 5 rows: a+b can grow no further, so it goes now; c starts the next batch.
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a', 'b'], rows: 3, shapes: ['x'], at: 0 }]);
    h.submit('d', { rows: 2 });
    assert.deepEqual(h.dispatches[1], { instance: 1, items: ['c', 'd'], rows: 4, shapes: ['x'], at: 0 });
    h.scheduler.complete(0);
    h.submit('e', { rows: 6 });
    assert.deepEqual(h.dispatches[2], { instance: 0, items: ['e'], rows: 6, shapes: ['x'], at: 0 });
    assert.ok(h.dispatches.slice(0, 2).every((d) => d.rows <= 4));
  });
});

describe('Scheduler adaptive batching', () => {
  it('dispatches greedily with no delay when an instance is free', () => {
    const h = harness({ mode: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 0 });
    h.submit('a');
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a'], rows: 1, shapes: ['x'], at: 0 }]);
    h.submit('b');
    h.submit('c');
    h.submit('d');
    assert.equal(h.dispatches.length, 1);
    h.clock.advance(5);
    h.scheduler.complete(0);
    assert.deepEqual(h.dispatches[1], { instance: 0, items: ['b', 'c', 'd'], rows: 3, shapes: ['x'], at: 5 });
    assert.equal(h.clock.pendingTimers, 0);
  });

  it('sizes the batch to the largest one predicted to meet the earliest deadline in it', () => {
    const h = harness({ mode: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 0 });
    const model = h.latency.for('x');
    model.observe(1, 10);
    model.observe(2, 15);
    model.observe(4, 25);
    model.observe(8, 45);
    h.scheduler.setAvailable(0, false);
    h.submit('a', { deadline: 100 });
    h.submit('b', { deadline: 100 });
    h.submit('c', { deadline: 27 });
    h.submit('d', { deadline: 100 });
    h.submit('e', { deadline: 100 });
    h.submit('f', { deadline: 100 });
    h.scheduler.setAvailable(0, true);
    // 4 rows are predicted at 25 ms (meets 27), 5 rows at 30 ms (misses it).
    assert.deepEqual(h.batches(), [['a', 'b', 'c', 'd']]);
    h.scheduler.complete(0);
    assert.deepEqual(h.batches(), [
      ['a', 'b', 'c', 'd'],
      ['e', 'f'],
    ]);
    assert.equal(h.refusals.length, 0);
  });

  it('refuses a head request that can no longer finish in time through the refuse hook', () => {
    const h = harness({ mode: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 0 });
    h.latency.for('x').observe(1, 10);
    h.submit('a');
    h.submit('b', { deadline: 25 }); // predicted to finish at 20 behind a
    h.submit('c');
    h.clock.advance(20); // a overran its 10 ms estimate
    h.scheduler.complete(0);
    assert.equal(h.refusals.length, 1);
    assert.equal(h.refusals[0]?.item, 'b');
    assert.equal(h.refusals[0]?.at, 20);
    assertRtiError(h.refusals[0]?.error, 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'refused');
    assert.deepEqual(h.dispatches[1], { instance: 0, items: ['c'], rows: 1, shapes: ['x'], at: 20 });
    assert.equal(h.scheduler.queueDepth, 0);
  });

  it('waits for more rows but starts no later than the last moment a bigger batch still fits', () => {
    const h = harness({ mode: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 100 });
    const model = h.latency.for('x');
    model.observe(1, 10);
    model.observe(2, 12);
    h.submit('a', { deadline: 50 });
    // Alone: a batch of 2 (12 ms) still meets 50 if it starts by 38.
    assert.equal(h.dispatches.length, 0);
    assert.equal(h.clock.nextTimerAt, 38);
    h.clock.advance(10);
    h.submit('b', { deadline: 80 });
    // Together: a batch of 3 (14 ms, extrapolated) still meets 50 if it starts by 36.
    assert.equal(h.clock.nextTimerAt, 36);
    h.clock.advance(25);
    assert.equal(h.dispatches.length, 0);
    h.clock.advance(1);
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a', 'b'], rows: 2, shapes: ['x'], at: 36 }]);
    assert.equal(h.refusals.length, 0);
  });

  it('does not wait past a deadline while the latency model is empty, but waits maxQueueDelay without one', () => {
    const h = harness({ mode: 'adaptive', instances: 2, maxBatchSize: 8, maxQueueDelayMs: 100 });
    h.submit('a', { deadline: 30 });
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a'], rows: 1, shapes: ['x'], at: 0 }]);
    h.submit('b');
    h.clock.advance(99);
    assert.equal(h.dispatches.length, 1);
    h.clock.advance(1);
    assert.deepEqual(h.dispatches[1], { instance: 1, items: ['b'], rows: 1, shapes: ['x'], at: 100 });
    assert.equal(h.refusals.length, 0);
  });
});

describe('Scheduler admission', () => {
  it('queues up to maxQueueSize requests and then refuses at once with QUEUE_FULL', () => {
    const h = harness({ mode: 'none', maxQueueSize: 2 });
    h.submit('a');
    h.submit('b');
    h.submit('c');
    assert.equal(h.scheduler.queueDepth, 2);
    assertThrowsRti(() => h.submit('d'), 'RTI_ERR_ENGINE_QUEUE_FULL', 'refused');
    assert.equal(h.scheduler.queueDepth, 2);
    assert.equal(h.refusals.length, 0);
    h.scheduler.complete(0);
    h.submit('d');
    assert.equal(h.scheduler.queueDepth, 2);
    assertThrowsRti(() => h.submit('e'), 'RTI_ERR_ENGINE_QUEUE_FULL', 'refused');
    assert.deepEqual(h.batches(), [['a'], ['b']]);
  });

  it('refuses a deadline that has already passed with DEADLINE_UNMEETABLE', () => {
    const h = harness({ mode: 'none' });
    h.clock.advance(5);
    assertThrowsRti(() => h.submit('a', { deadline: 5 }), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'refused');
    assertThrowsRti(() => h.submit('b', { deadline: 4 }), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'refused');
    assert.equal(h.scheduler.queueDepth, 0);
    assert.equal(h.dispatches.length, 0);
    assert.equal(h.refusals.length, 0);
  });

  it('refuses a deadline predicted unmeetable behind queued work and busy instances', () => {
    const h = harness({ mode: 'none' });
    h.latency.for('x').observe(1, 10);
    h.submit('a'); // running, predicted to end at 10
    h.submit('b', { deadline: 100 }); // predicted to end at 20
    assertThrowsRti(() => h.submit('c', { deadline: 29 }), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'refused');
    h.submit('c', { deadline: 30 }); // predicted to end exactly at 30
    // A higher priority goes ahead of b and c, so only a is in its way.
    h.submit('h', { deadline: 20, priority: 1 });
    assertThrowsRti(
      () => h.submit('i', { deadline: 29, priority: 1 }),
      'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
      'refused',
    );
    assert.equal(h.scheduler.queueDepth, 3);
    h.scheduler.complete(0);
    assert.deepEqual(h.batches(), [['a'], ['h']]);
  });

  it('on an idle engine, runs a request predicted late while the fastest recent run still fits', () => {
    const h = harness({ mode: 'none', instances: 2 });
    for (const ms of [1, 5, 5, 5]) h.latency.for('x').observe(1, ms, 0); // median 5, fastest 1
    h.clock.advance(1); // the estimate is fresh: no trial
    const a = h.submit('a', { deadline: h.clock.now() + 2 });
    assert.equal(a.idle, true);
    assert.notEqual(a.trial, true, 'an idle admission does not reset the estimate');
    assert.deepEqual(h.batches(), [['a']], 'started at once: the late check at dispatch lets it through');
    // One instance still free, but 'a' runs: predicted 5 ms for b, nothing queued, fastest 1 fits.
    const b = h.submit('b', { deadline: h.clock.now() + 2 });
    assert.equal(b.idle, true);
    // Both busy now: the prediction decides, and it says late.
    assertThrowsRti(
      () => h.submit('c', { deadline: h.clock.now() + 2 }),
      'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
      'refused',
    );
    h.scheduler.complete(0);
    h.scheduler.complete(1);
    // Idle again, but not even the fastest run fits.
    assertThrowsRti(
      () => h.submit('d', { deadline: h.clock.now() + 0.5 }),
      'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
      'refused',
    );
    assert.deepEqual(h.batches(), [['a'], ['b']]);
    assert.equal(h.refusals.length, 0);
  });

  it('does not admit a late-predicted request by idleness while anything is queued', () => {
    const h = harness({ mode: 'none', instances: 1 });
    for (const ms of [1, 5, 5, 5]) h.latency.for('x').observe(1, ms, 0);
    h.clock.advance(1);
    h.submit('a'); // running
    h.submit('b'); // queued
    h.scheduler.complete(0); // b runs; the queue is empty but the one instance is busy
    assertThrowsRti(
      () => h.submit('c', { deadline: h.clock.now() + 2 }),
      'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
      'refused',
    );
  });

  it('admits any future deadline while the latency model is empty', () => {
    const h = harness({ mode: 'none' });
    h.submit('a');
    h.submit('b', { deadline: 1 });
    h.submit('c', { deadline: 1 });
    assert.equal(h.scheduler.queueDepth, 2);
    assert.equal(h.refusals.length, 0);
  });
});

describe('Scheduler expiry', () => {
  it('expires a queued request at exactly its deadline even while every instance is busy', () => {
    const h = harness({ mode: 'none' });
    h.submit('a');
    h.submit('b', { deadline: 50 });
    h.submit('c');
    h.clock.advance(49);
    assert.equal(h.refusals.length, 0);
    assert.equal(h.clock.pendingTimers, 1);
    h.clock.advance(1);
    assert.equal(h.refusals.length, 1);
    assert.equal(h.refusals[0]?.item, 'b');
    assert.equal(h.refusals[0]?.at, 50);
    assertRtiError(h.refusals[0]?.error, 'RTI_ERR_ENGINE_DEADLINE_EXPIRED', 'refused');
    assert.equal(h.scheduler.queueDepth, 1);
    assert.equal(h.scheduler.busyInstances, 1);
    assert.equal(h.clock.pendingTimers, 0);
    h.scheduler.complete(0);
    assert.deepEqual(h.batches(), [['a'], ['c']]);
  });
});

describe('Scheduler close', () => {
  it('close(false) refuses queued requests with CLOSED and later submits throw CLOSED', async () => {
    const h = harness({ mode: 'none' });
    h.submit('a');
    h.submit('b', { deadline: 50 });
    h.submit('c');
    h.scheduler.close(false);
    assert.equal(h.scheduler.closed, true);
    assert.deepEqual(
      h.refusals.map((r) => r.item),
      ['b', 'c'],
    );
    for (const r of h.refusals) assertRtiError(r.error, 'RTI_ERR_ENGINE_CLOSED', 'refused');
    assert.equal(h.scheduler.queueDepth, 0);
    assertThrowsRti(() => h.submit('d'), 'RTI_ERR_ENGINE_CLOSED', 'refused');
    assert.equal(h.clock.pendingTimers, 0);

    let idle = false;
    void h.scheduler.whenIdle().then(() => (idle = true));
    await flush();
    assert.equal(idle, false, 'a is still running');
    h.scheduler.complete(0);
    await flush();
    assert.equal(idle, true);
    assert.deepEqual(h.batches(), [['a']]);
  });

  it('close(true) lets queued work run and whenIdle resolves only after the last complete()', async () => {
    const h = harness({ mode: 'none' });
    h.submit('a');
    h.submit('b');
    h.submit('c');
    h.scheduler.close(true);
    assert.equal(h.refusals.length, 0);
    assertThrowsRti(() => h.submit('d'), 'RTI_ERR_ENGINE_CLOSED', 'refused');
    let idle = false;
    void h.scheduler.whenIdle().then(() => (idle = true));
    for (let i = 0; i < 2; i++) {
      await flush();
      assert.equal(idle, false);
      h.scheduler.complete(0);
    }
    await flush();
    assert.equal(idle, false, 'c is still running');
    assert.deepEqual(h.batches(), [['a'], ['b'], ['c']]);
    h.scheduler.complete(0);
    await flush();
    assert.equal(idle, true);
  });

  it('close(true) keeps whenIdle pending while a queued batch waits with every instance free', async () => {
    const h = harness({ mode: 'static', maxBatchSize: 4, maxQueueDelayMs: 10 });
    h.submit('a');
    h.scheduler.close(true);
    let idle = false;
    void h.scheduler.whenIdle().then(() => (idle = true));
    await flush();
    assert.equal(h.scheduler.busyInstances, 0);
    assert.equal(idle, false, 'a is still queued');
    h.clock.advance(10);
    assert.deepEqual(h.dispatches, [{ instance: 0, items: ['a'], rows: 1, shapes: ['x'], at: 10 }]);
    await flush();
    assert.equal(idle, false, 'a is running');
    h.scheduler.complete(0);
    await flush();
    assert.equal(idle, true);
  });
});

describe('Scheduler cancel, availability and crashes', () => {
  it('cancel removes a queued request but not a dispatched one', () => {
    const h = harness({ mode: 'none' });
    const a = h.submit('a');
    const b = h.submit('b', { deadline: 50 });
    h.submit('c');
    assert.equal(h.scheduler.cancel(a), false);
    assert.equal(h.scheduler.cancel(b), true);
    assert.equal(h.scheduler.cancel(b), false);
    assert.equal(h.scheduler.queueDepth, 1);
    assert.equal(h.clock.pendingTimers, 0, 'the deadline timer of b is gone');
    h.clock.advance(100);
    h.scheduler.complete(0);
    assert.deepEqual(h.batches(), [['a'], ['c']]);
    assert.equal(h.refusals.length, 0);
  });

  it('setAvailable(i, false) keeps work off instance i and setAvailable(i, true) resumes it', () => {
    const h = harness({ mode: 'none', instances: 2 });
    h.scheduler.setAvailable(0, false);
    h.submit('a');
    h.submit('b');
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [[1, ['a']]],
    );
    h.scheduler.complete(1);
    h.scheduler.setAvailable(1, false); // b's worker crashed
    assert.equal(h.scheduler.busyInstances, 0);
    h.submit('c');
    assert.equal(h.dispatches.length, 2);
    assert.equal(h.scheduler.queueDepth, 1);
    h.scheduler.setAvailable(0, true);
    assert.deepEqual(
      h.dispatches.map((d) => [d.instance, d.items]),
      [
        [1, ['a']],
        [1, ['b']],
        [0, ['c']],
      ],
    );
    h.submit('d');
    h.scheduler.setAvailable(1, true);
    assert.deepEqual(h.dispatches[3]?.instance, 1);
    assert.deepEqual(h.dispatches[3]?.items, ['d']);
  });

  it('rejectQueued refuses every queued request with the crash code but leaves running work alone', async () => {
    const h = harness({ mode: 'none' });
    h.submit('a');
    h.submit('b', { deadline: 50 });
    h.submit('c', { priority: 2 });
    h.scheduler.rejectQueued('no worker left to run the request', 'RTI_ERR_ENGINE_WORKER_CRASHED');
    assert.deepEqual(
      h.refusals.map((r) => r.item),
      ['c', 'b'],
    );
    for (const r of h.refusals) {
      assertRtiError(r.error, 'RTI_ERR_ENGINE_WORKER_CRASHED', 'refused');
      assert.equal(r.error.message, 'no worker left to run the request');
    }
    assert.equal(h.scheduler.queueDepth, 0);
    assert.equal(h.scheduler.closed, false);
    h.clock.advance(100);
    assert.equal(h.refusals.length, 2, 'b is not expired a second time');

    let idle = false;
    void h.scheduler.whenIdle().then(() => (idle = true));
    await flush();
    assert.equal(idle, false);
    h.scheduler.complete(0);
    await flush();
    assert.equal(idle, true);
    assert.deepEqual(h.batches(), [['a']]);
  });

  it('rejectQueued resolves whenIdle when every instance is out of service', async () => {
    const h = harness({ mode: 'none', instances: 2 });
    h.scheduler.setAvailable(0, false);
    h.scheduler.setAvailable(1, false);
    h.submit('a');
    let idle = false;
    void h.scheduler.whenIdle().then(() => (idle = true));
    await flush();
    assert.equal(idle, false, 'a is queued');
    h.scheduler.rejectQueued('no worker left to run the request', 'RTI_ERR_ENGINE_WORKER_CRASHED');
    assert.equal(h.refusals.length, 1);
    assertRtiError(h.refusals[0]?.error, 'RTI_ERR_ENGINE_WORKER_CRASHED', 'refused');
    await flush();
    assert.equal(idle, true);
    assert.equal(h.dispatches.length, 0);
  });
});

describe('trial runs', () => {
  it('lets one request through per second when the model says "too slow" and the engine is idle, so the model can recover', () => {
    const clock = new FakeClock();
    const latency = new LatencyModels();
    for (let i = 0; i < 32; i++) latency.for('k').observe(1, 7);
    const dispatched: number[] = [];
    const refused: string[] = [];
    const s = new Scheduler<number>({
      instances: 1,
      policy: { mode: 'adaptive', maxBatchSize: 4, maxQueueDelayMs: 0, preferredBatchSizes: [] },
      maxQueueSize: 16,
      clock,
      latency,
      hooks: {
        dispatch: (_i, batch) => dispatched.push(...batch.map((r) => r.item)),
        refuse: (_r, e) => refused.push(e.code),
      },
    });
    const submit = (item: number): string => {
      try {
        s.submit({ item, rows: 1, shapeKey: 'k', deadline: clock.now() + 6 });
        return 'queued';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    assert.equal(submit(1), 'queued', 'idle engine: a trial despite the 7 ms estimate');
    assert.deepEqual(dispatched, [1]);
    s.complete(0);
    assert.equal(submit(2), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'one trial per interval');
    clock.advance(TRIAL_INTERVAL_MS);
    assert.equal(submit(3), 'queued');
    assert.deepEqual(dispatched, [1, 3]);
    // While busy, no trial: it would delay others.
    clock.advance(TRIAL_INTERVAL_MS);
    assert.equal(submit(4), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE');
    s.complete(0);
    // A fresh observation means the estimate is current: no trial either.
    clock.advance(TRIAL_INTERVAL_MS);
    latency.for('k').observe(1, 7, clock.now());
    assert.equal(submit(5), 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE');
    assert.deepEqual(refused, []);
  });
});

describe('Scheduler priority levels', () => {
  it('drops a priority level once its last request leaves, whichever way it leaves, so 5,000 distinct priorities leave nothing behind', () => {
    const h = harness({ mode: 'none', maxQueueSize: 10_000 });
    h.submit('busy'); // holds the one instance, so each request below queues first
    let maxLevels = 0;
    for (let i = 0; i < 5000; i++) {
      const way = i % 4;
      const r = h.submit(`r${i}`, { priority: i - 2500, ...(way === 2 ? { deadline: h.clock.now() + 1 } : {}) });
      maxLevels = Math.max(maxLevels, h.scheduler.priorityLevels);
      if (way === 0)
        h.scheduler.complete(0); // dispatched: r now holds the instance
      else if (way === 1) assert.equal(h.scheduler.cancel(r), true);
      else if (way === 2)
        h.clock.advance(1); // expired
      else h.scheduler.rejectQueued('no worker left to run the request', 'RTI_ERR_ENGINE_WORKER_CRASHED');
      assert.equal(h.scheduler.priorityLevels, 0, `request ${i} (way ${way}) left its level behind`);
    }
    // Each submit saw one level, never the thousands used before: its cost does not grow with them.
    assert.equal(maxLevels, 1);
    assert.equal(h.scheduler.queueDepth, 0);
    assert.equal(h.dispatches.length, 1 + 1250);
    assert.deepEqual([...new Set(h.refusals.map((r) => r.error.code))].sort(), [
      'RTI_ERR_ENGINE_DEADLINE_EXPIRED',
      'RTI_ERR_ENGINE_WORKER_CRASHED',
    ]);
  });

  it('keeps serving the highest priority first while levels come and go', () => {
    const h = harness({ mode: 'none', maxQueueSize: 10_000 });
    h.submit('busy');
    // Distinct priorities in a scrambled order (7919 is prime, so i * 7919 mod 5000 is a permutation).
    const priorities = Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 5000) - 2500);
    const requests = priorities.map((p) => h.submit(String(p), { priority: p }));
    assert.equal(h.scheduler.priorityLevels, 5000);
    requests.forEach((r, i) => {
      if (i % 2 === 1) h.scheduler.cancel(r);
    });
    assert.equal(h.scheduler.priorityLevels, 2500);
    for (let i = 0; i < 2500; i++) h.scheduler.complete(0);
    assert.equal(h.scheduler.priorityLevels, 0);
    const served = h
      .batches()
      .slice(1)
      .map((b) => Number(b[0]));
    const kept = priorities.filter((_, i) => i % 2 === 0);
    assert.deepEqual(
      served,
      [...kept].sort((a, b) => b - a),
    );
    // A level used before and emptied works again like a new one.
    h.submit('again', { priority: 7 });
    assert.equal(h.scheduler.priorityLevels, 1);
    h.scheduler.complete(0);
    assert.equal(h.scheduler.priorityLevels, 0);
    assert.deepEqual(h.batches().at(-1), ['again']);
  });
});
