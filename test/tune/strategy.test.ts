import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  baseline,
  candidateKey,
  defaultAxes,
  enumerate,
  gridSize,
  type Candidate,
  type SearchSpace,
  type Variant,
} from '../../src/tune/space.js';
import { runStrategy, type Evaluate, type Measurement } from '../../src/tune/strategy.js';
import { FakeClock } from '../helpers/fake-clock.js';

/**
 * A synthetic cost model with a known optimum. Per-request time falls with threads up to 4 and
 * rises beyond (contention); graph optimization below 'extended' costs; parallel mode costs a
 * little; a batch of b costs (0.3 + 0.7 b) single requests; oversubscription costs 1.5x. Under
 * load the SLO percentile is taken as twice the batch time plus the queue delay.
 */
const CORES = 8;
const GRAPH = { all: 1, extended: 1.02, basic: 1.3, disabled: 2 } as const;

function variant(id: string, batchable = true): Variant {
  return { id, model: `${id}.onnx`, bytes: 1, shapes: [], resolution: null, batchable };
}

function truth(
  c: Candidate,
  baseMs: Record<string, number>,
): { throughput: number; latencyMs: number; unloadedMs: number } {
  const t = c.threads;
  const speed = t <= 4 ? t ** 0.8 : 4 ** 0.8 / (1 + 0.08 * (t - 4));
  const over = c.instances * c.threads > CORES ? 1.5 : 1;
  const s1 =
    ((baseMs[c.variant] ?? 10) / speed) *
    GRAPH[c.graphOptimizationLevel] *
    (c.executionMode === 'parallel' ? 1.1 : 1) *
    over;
  const tb = s1 * (0.3 + 0.7 * c.maxBatchSize);
  const delayMs = c.maxQueueDelayUs / 1000;
  const gain = c.maxBatchSize >= 4 && c.maxQueueDelayUs === 500 ? 1.03 : 1;
  return {
    throughput: ((c.instances * c.maxBatchSize * 1000) / tb) * gain,
    latencyMs: 2 * tb + delayMs,
    unloadedMs: s1,
  };
}

const COST = { quick: 4000, full: 12000, abandoned: 500 };

function model(clock: FakeClock, baseMs: Record<string, number>, boundMs: number, log: Candidate[] = []): Evaluate {
  return async (c, o) => {
    log.push(c);
    const r = truth(c, baseMs);
    // The unloaded probe comes first: the evaluator abandons before the load test when even its lower bound misses.
    if (r.unloadedMs * 0.98 > o.abandonAboveMs) {
      clock.advance(COST.abandoned);
      return {
        status: 'abandoned',
        meetsSlo: false,
        throughput: 0,
        latencyMs: Infinity,
        unloadedMs: r.unloadedMs,
        unloadedLowerMs: r.unloadedMs * 0.98,
        queries: 20,
        elapsedMs: COST.abandoned,
      };
    }
    clock.advance(COST[o.level]);
    const meets = r.latencyMs <= boundMs;
    return {
      status: 'ok',
      meetsSlo: meets,
      throughput: meets ? r.throughput : 0,
      latencyMs: r.latencyMs,
      unloadedMs: r.unloadedMs,
      unloadedLowerMs: r.unloadedMs * 0.98,
      queries: 100,
      elapsedMs: COST[o.level],
    } satisfies Measurement;
  };
}

function space(variants: Variant[]): SearchSpace {
  return { scenario: 'server', variants, axes: defaultAxes(CORES, 'server'), cores: CORES, oversubscribe: false };
}

function gridBest(
  s: SearchSpace,
  baseMs: Record<string, number>,
  boundMs: number,
): { c: Candidate; throughput: number } {
  let best = { c: undefined as Candidate | undefined, throughput: -1 };
  for (const c of enumerate(s)) {
    const r = truth(c, baseMs);
    if (r.latencyMs <= boundMs && r.throughput > best.throughput) best = { c, throughput: r.throughput };
  }
  return best as { c: Candidate; throughput: number };
}

describe('tune strategy on a synthetic cost model', () => {
  const base = { big: 20, small: 6 };

  it('finds the known optimum within 5 % while measuring far fewer candidates than the grid', async () => {
    const clock = new FakeClock();
    const s = space([variant('big'), variant('small')]);
    const log: Candidate[] = [];
    const r = await runStrategy({
      space: s,
      evaluate: model(clock, base, 50, log),
      clock,
      budgetMs: 3_600_000,
      boundMs: 50,
      objective: 'throughput',
    });
    const optimum = gridBest(s, base, 50);
    assert.ok(r.best, 'a feasible configuration was found');
    const found = truth(r.best.candidate, base);
    assert.ok(
      found.throughput >= 0.95 * optimum.throughput,
      `found ${found.throughput.toFixed(1)} q/s (${r.best.key}), optimum ${optimum.throughput.toFixed(1)} (${candidateKey(optimum.c)})`,
    );
    assert.ok(found.latencyMs <= 50, 'the chosen configuration meets the SLO');
    const measured = r.evaluations.quick + r.evaluations.full;
    assert.ok(measured <= 0.25 * gridSize(s), `measured ${measured} of a grid of ${gridSize(s)}`);
    assert.equal(r.stoppedBy, 'converged');
    assert.ok(r.best.full, 'the chosen configuration was measured at full length');
  });

  it('never chooses a configuration that breaks the SLO, and drops a variant whose single request already does', async () => {
    const clock = new FakeClock();
    const s = space([variant('big'), variant('small')]);
    const log: Candidate[] = [];
    // big: 20 ms / 4^0.8 ≈ 6.6 ms at best, 20/8-threads ≈ 7.4 ms at the baseline; bound 5 ms.
    const r = await runStrategy({
      space: s,
      evaluate: model(clock, base, 5, log),
      clock,
      budgetMs: 3_600_000,
      boundMs: 5,
      objective: 'throughput',
    });
    assert.ok(r.best);
    assert.equal(r.best.candidate.variant, 'small');
    assert.ok(truth(r.best.candidate, base).latencyMs <= 5);
    assert.ok(r.pruned.variants.some((p) => p.variant === 'big' && /one request/.test(p.reason)));
    assert.equal(
      log.filter((c) => c.variant === 'big').length,
      1,
      'big was measured once (the screen) and then dropped',
    );
    assert.ok(r.evaluations.abandoned >= 1, 'the screen of big was abandoned early');
  });

  it('stops at the budget with the best result so far', async () => {
    const clock = new FakeClock();
    const s = space([variant('big'), variant('small')]);
    const r = await runStrategy({
      space: s,
      evaluate: model(clock, base, 50),
      clock,
      budgetMs: 30_000,
      boundMs: 50,
      objective: 'throughput',
    });
    assert.equal(r.stoppedBy, 'budget');
    assert.ok(r.elapsedMs <= 30_000, `elapsed ${r.elapsedMs} ms`);
    assert.ok(r.best, 'a best-so-far is reported');
    assert.ok(r.evaluations.quick <= 30_000 / COST.quick);
  });

  it('aborts an evaluation still running at the deadline instead of overrunning', async () => {
    const clock = new FakeClock();
    const s = space([variant('small')]);
    let aborted = 0;
    const evaluate: Evaluate = async (c, o) => {
      // Each takes 7 s; the third would end at 21 s, past the 20 s budget only if started.
      clock.advance(7000);
      if (o.signal.aborted) aborted++;
      const r = truth(c, base);
      return {
        status: 'ok',
        meetsSlo: true,
        throughput: r.throughput,
        latencyMs: r.latencyMs,
        unloadedMs: r.unloadedMs,
        queries: 10,
        elapsedMs: 7000,
      };
    };
    const r = await runStrategy({ space: s, evaluate, clock, budgetMs: 20_000, boundMs: 50, objective: 'throughput' });
    assert.equal(r.stoppedBy, 'budget');
    assert.equal(aborted, 0, 'no evaluation was started that the budget could not hold');
    assert.equal(r.evaluations.quick, 2);
  });

  it('an evaluation that runs past the deadline sees its signal aborted and is discarded', async () => {
    const clock = new FakeClock();
    const s = space([variant('small')]);
    const seen: boolean[] = [];
    const evaluate: Evaluate = async (c, o) => {
      // The first takes 1 s, so the second looks affordable; it takes 30 s and the 20 s budget ends inside it.
      clock.advance(seen.length === 0 ? 1000 : 30_000);
      seen.push(o.signal.aborted);
      const r = truth(c, base);
      return {
        status: 'ok',
        meetsSlo: true,
        throughput: r.throughput,
        latencyMs: r.latencyMs,
        unloadedMs: r.unloadedMs,
        queries: 10,
        elapsedMs: 1000,
      };
    };
    const r = await runStrategy({ space: s, evaluate, clock, budgetMs: 20_000, boundMs: 50, objective: 'throughput' });
    assert.equal(r.stoppedBy, 'budget');
    assert.deepEqual(seen, [false, true], 'the deadline aborted the running evaluation');
    assert.equal(r.evaluations.quick, 1, 'the cut-short measurement is not counted');
    assert.ok(r.best, 'the first measurement is the best so far');
  });

  it('an interruption (Ctrl-C) stops the search like the budget, with the best so far', async () => {
    const clock = new FakeClock();
    const s = space([variant('big'), variant('small')]);
    const controller = new AbortController();
    const inner = model(clock, base, 50);
    let calls = 0;
    const evaluate: Evaluate = async (c, o) => {
      if (++calls === 3) controller.abort();
      return inner(c, o);
    };
    const r = await runStrategy({
      space: s,
      evaluate,
      clock,
      budgetMs: 3_600_000,
      boundMs: 50,
      objective: 'throughput',
      signal: controller.signal,
    });
    assert.equal(r.stoppedBy, 'interrupted');
    assert.equal(r.evaluations.quick, 2, 'the measurement running at the interruption is discarded');
    assert.ok(r.best);
  });

  it('prunes dominated regions: past the best thread count it does not try more', async () => {
    const clock = new FakeClock();
    const s = space([variant('small', false)]);
    const log: Candidate[] = [];
    await runStrategy({
      space: s,
      evaluate: model(clock, base, 50, log),
      clock,
      budgetMs: 3_600_000,
      boundMs: 50,
      objective: 'latency',
    });
    const single = log.filter(
      (c) => c.instances === 1 && c.executionMode === 'sequential' && c.graphOptimizationLevel === 'all',
    );
    // Baseline 8 threads, then 4 (better), then 2 (worse): 1 thread is never measured.
    assert.deepEqual([...new Set(single.map((c) => c.threads))], [8, 4, 2]);
    // 'basic' is worse than 'all': 'disabled' is never measured.
    assert.ok(!log.some((c) => c.graphOptimizationLevel === 'disabled'));
  });

  it('objective accuracy: the most accurate variant that meets the SLO, within the allowed drop', async () => {
    const clock = new FakeClock();
    const s = space([variant('big'), variant('small'), variant('tiny')]);
    const accuracy = new Map([
      ['big', { score: 1, drop: 0 }],
      ['small', { score: 0.97, drop: 0.03 }],
      ['tiny', { score: 0.9, drop: 0.1 }],
    ]);
    const r = await runStrategy({
      space: s,
      evaluate: model(clock, { big: 20, small: 6, tiny: 2 }, 50),
      clock,
      budgetMs: 3_600_000,
      boundMs: 50,
      objective: 'accuracy',
      accuracy,
      maxAccuracyDrop: 0.05,
    });
    assert.equal(r.best?.candidate.variant, 'big');
    assert.ok(r.pruned.variants.some((p) => p.variant === 'tiny' && /accuracy drop/.test(p.reason)));
    const tight = await runStrategy({
      space: s,
      evaluate: model(new FakeClock(), { big: 20, small: 6, tiny: 2 }, 5),
      clock: new FakeClock(),
      budgetMs: 3_600_000,
      boundMs: 5,
      objective: 'accuracy',
      accuracy,
      maxAccuracyDrop: 0.05,
    });
    assert.equal(tight.best?.candidate.variant, 'small', 'big cannot meet 5 ms, tiny loses too much');
  });

  it('reports the closest candidates when nothing meets the SLO', async () => {
    const clock = new FakeClock();
    const s = space([variant('big')]);
    const r = await runStrategy({
      space: s,
      evaluate: model(clock, base, 1),
      clock,
      budgetMs: 3_600_000,
      boundMs: 1,
      objective: 'throughput',
    });
    assert.equal(r.best, null);
    assert.ok(r.closest.length >= 1);
  });
});

describe('baseline', () => {
  it('starts from one instance with every core, or with the throughput hint one 1-thread instance per core', () => {
    const s = space([variant('a')]);
    assert.deepEqual([baseline(s, 'a').instances, baseline(s, 'a').threads], [1, CORES]);
    const t = baseline({ ...s, hint: 'throughput' }, 'a');
    assert.deepEqual([t.instances, t.threads], [CORES, 1]);
    const single = baseline({ ...s, hint: 'throughput', scenario: 'single-stream' }, 'a');
    assert.equal(single.instances, 1, 'single-stream runs one request at a time');
  });
});
