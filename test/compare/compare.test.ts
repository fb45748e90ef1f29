import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRuns, quantileRatioCi, type CompareInput } from '../../src/compare/compare.js';
import { blockOrder } from '../../src/compare/interleaved.js';
import { histogramSamples } from '../../src/compare/sources.js';
import { LatencyRecorder } from '../../src/stats/latency-recorder.js';
import { sortSamples } from '../../src/stats/sorted.js';
import { mulberry32, normalFrom } from '../stats/prng.js';

/** n lognormal latencies around `medianUs` (σ 0.25 in log space: a 2 ms model's p99 near 3.6 ms). */
function latencies(seed: number, n: number, medianUs: number): number[] {
  const z = normalFrom(mulberry32(seed));
  return Array.from({ length: n }, () => medianUs * Math.exp(0.25 * z()));
}

function side(ref: string, us: number[], extra: Partial<CompareInput> = {}): CompareInput {
  const sorted = sortSamples(us);
  const mean = us.reduce((s, v) => s + v, 0) / us.length;
  return {
    ref,
    model: 'm.onnx',
    scenario: 'single-stream',
    valid: true,
    latenciesUs: sorted,
    throughputQps: 1e6 / mean,
    coldStartMs: 100,
    approximate: false,
    ...extra,
  };
}

const metric = (r: ReturnType<typeof compareRuns>, m: string) => r.metrics.find((x) => x.metric === m)!;

test('identical distributions are not significantly different and never a regression', () => {
  const same = compareRuns(side('A', latencies(1, 300, 2000)), side('B', latencies(1001, 300, 2000)));
  assert.equal(metric(same, 'p50').significant, false);
  assert.equal(same.regression, false);
  assert.equal(same.verdict, 'no significant difference');
  let significantP50 = 0;
  let regressions = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = compareRuns(side('A', latencies(seed, 300, 2000)), side('B', latencies(seed + 1000, 300, 2000)));
    if (r.regression) regressions++;
    if (metric(r, 'p50').significant) significantP50++;
  }
  // The U test's false-alarm rate is its alpha (5 %): about 2 of 40, in either direction; a
  // regression also needs the change to pass the threshold, which at 300 queries (se of the p50
  // ratio ~2.6 %) only about half of those do, in the worse direction.
  assert.ok(significantP50 <= 6, `${significantP50} of 40 identical pairs called significant`);
  assert.ok(regressions <= 2, `${regressions} of 40 identical pairs called a regression`);
});

test('a 10 % shift of p50 with 300 samples per side is significant and a regression beyond 5 %', () => {
  let detected = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const r = compareRuns(side('A', latencies(seed, 300, 2000)), side('B', latencies(seed + 500, 300, 2200)), {
      threshold: 0.05,
    });
    const p50 = metric(r, 'p50');
    if (p50.significant && p50.change === 'worse') detected++;
    if (p50.regression) assert.ok(p50.ratio! > 1.05);
  }
  assert.ok(detected >= 18, `detected in ${detected} of 20`);
  const one = compareRuns(side('A', latencies(3, 300, 2000)), side('B', latencies(503, 300, 2200)));
  assert.equal(metric(one, 'p50').test, 'mann-whitney');
  assert.ok(metric(one, 'p50').pValue! < 0.05);
});

test('a known shift is recovered within the interval of every percentile ratio', () => {
  let covered = 0;
  let total = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const a = latencies(seed, 2000, 2000);
    const b = latencies(seed + 100, 2000, 2000).map((v) => v * 1.2);
    const r = compareRuns(side('A', a), side('B', b));
    for (const m of ['p50', 'p90', 'p99']) {
      const ci = metric(r, m).ci!;
      total++;
      if (ci[0] <= 1.2 && 1.2 <= ci[1]) covered++;
    }
    assert.ok(metric(r, 'p50').ci![1] - metric(r, 'p50').ci![0] < 0.15, 'the p50 interval is tight at 2000 queries');
  }
  // Each interval holds with >= 95 % (Bonferroni over two 97.5 % sides).
  assert.ok(covered / total >= 0.93, `covered ${covered}/${total}`);
});

test('throughput: a 20 % drop is a significant regression, its interval holds the true ratio', () => {
  const a = side('A', latencies(1, 1000, 2000));
  const b = side('B', latencies(2, 1000, 2500));
  const r = compareRuns(a, b, { threshold: 0.05 });
  const t = metric(r, 'throughput');
  assert.equal(t.change, 'worse');
  assert.equal(t.regression, true);
  assert.ok(t.ci![0] <= 0.8 && 0.8 <= t.ci![1], `${t.ci}`);
  assert.equal(r.regression, true);
  assert.match(r.verdict, /^REGRESSION/);
});

test('a significant change within the threshold is not a regression; an improvement never is', () => {
  const r = compareRuns(side('A', latencies(1, 5000, 2000)), side('B', latencies(2, 5000, 2060)), { threshold: 0.05 });
  assert.equal(metric(r, 'p50').significant, true);
  assert.equal(metric(r, 'p50').regression, false);
  const better = compareRuns(side('A', latencies(1, 500, 2000)), side('B', latencies(2, 500, 1500)));
  assert.equal(better.regression, false);
  assert.equal(metric(better, 'p50').change, 'better');
});

test('with blocks the test runs over the blocks: drift inside a run does not make noise significant', () => {
  // Both sides see the same slow drift, block by block, as interleaving guarantees.
  const blocks = (seed: number): CompareInput['blocks'] =>
    Array.from({ length: 10 }, (_v, i) => {
      const lat = sortSamples(latencies(seed * 100 + i, 200, 2000 * (1 + 0.03 * i)));
      return { p50Ms: lat[100]! / 1000, p90Ms: lat[180]! / 1000, p99Ms: lat[198]! / 1000, qps: 500 / (1 + 0.03 * i) };
    });
  const r = compareRuns(
    side('A', latencies(1, 2000, 2000), { blocks: blocks(1) }),
    side('B', latencies(2, 2000, 2000), { blocks: blocks(2) }),
  );
  assert.equal(metric(r, 'p50').test, 'mann-whitney-blocks');
  assert.equal(r.regression, false);
  const slow = compareRuns(
    side('A', latencies(1, 2000, 2000), { blocks: blocks(1) }),
    side('B', latencies(2, 2000, 2600), {
      blocks: blocks(2)!.map((x) => ({
        ...x,
        p50Ms: x.p50Ms * 1.3,
        p90Ms: x.p90Ms * 1.3,
        p99Ms: x.p99Ms * 1.3,
        qps: x.qps / 1.3,
      })),
    }),
  );
  assert.equal(slow.regression, true);
  assert.equal(metric(slow, 'throughput').test, 'mann-whitney-blocks');
});

test('cold start is reported as a ratio and never tested or gating', () => {
  const r = compareRuns(side('A', latencies(1, 300, 2000)), side('B', latencies(1, 300, 2000), { coldStartMs: 1000 }));
  const c = metric(r, 'coldStart');
  assert.equal(c.ratio, 10);
  assert.equal(c.significant, null);
  assert.equal(c.regression, false);
});

test('a stored HDR histogram gives back the samples (exact below 2 ms)', () => {
  const rec = new LatencyRecorder();
  const us = latencies(5, 500, 800).map(Math.round);
  for (const v of us) rec.record(v);
  assert.deepEqual(
    Array.from(histogramSamples(rec.encode())),
    [...us].sort((x, y) => x - y),
  );
});

test('quantileRatioCi needs enough queries; the ABBA order alternates pairs', () => {
  assert.equal(quantileRatioCi(sortSamples([1, 2, 3]), sortSamples([1, 2, 3]), 0.99), null);
  assert.deepEqual(blockOrder(3), ['A', 'B', 'B', 'A', 'A', 'B']);
});

test('BAD CALL - a threshold or alpha out of range is refused', () => {
  const a = side('A', latencies(1, 50, 2000));
  assert.throws(() => compareRuns(a, a, { threshold: -1 }), RangeError);
  assert.throws(() => compareRuns(a, a, { alpha: 0 }), RangeError);
});

test('runs of different models with different inputs: said first, and no regression verdict however far apart', () => {
  const a = side('A', latencies(1, 300, 2000), { model: 'version-RFB-320.onnx', inputs: 'input=1x3x240x320' });
  const b = side('B', latencies(2, 300, 4000), { model: 'yolox_nano.onnx', inputs: 'images=1x3x416x416' });
  const r = compareRuns(a, b);
  assert.equal(r.regression, false);
  assert.ok(r.metrics.every((m) => !m.regression));
  assert.match(r.verdict, /^different workloads, no regression verdict; B against A: p50 \+\d+\.\d% \(worse\)/);
  assert.match(r.warnings[0]!, /^A and B are runs of different models with different inputs: version-RFB-320\.onnx/);
  // Another file with the same inputs (an int8 variant) is compared as usual, the difference said.
  const variant = compareRuns(a, { ...b, model: 'version-RFB-320.int8.onnx', inputs: 'input=1x3x240x320' });
  assert.equal(variant.regression, true);
  assert.match(variant.warnings[0]!, /^A and B are runs of different models: version-RFB-320\.onnx and /);
});
