/**
 * The server's per-request metrics (fast-metrics.ts) against prom-client's own Counter, Gauge and
 * Histogram as the oracle: the same calls on both, and the registry's text and JSON must be the
 * same, for any label values (quotes, backslashes, newlines, empty) and any values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LabeledCounter, LabeledGauge, LabeledHistogram } from '../../src/server/fast-metrics.js';

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const label = fc.constantFrom('a', 'b', '', 'x"y', 'back\\slash', 'new\nline', 'ünï');
const value = fc.oneof(
  fc.double({ min: 0, max: 20, noNaN: true }),
  fc.constantFrom(...BUCKETS),
  fc.integer({ min: 0, max: 200 }),
);

type Op =
  | { kind: 'observe'; model: string; endpoint: string; value: number }
  | { kind: 'inc'; model: string; endpoint: string; outcome: string; value: number }
  | { kind: 'gauge'; model: string; by: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('observe' as const), model: label, endpoint: label, value }),
  fc.record({
    kind: fc.constant('inc' as const),
    model: label,
    endpoint: label,
    outcome: fc.constantFrom('200', '429', '504'),
    value: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ kind: fc.constant('gauge' as const), model: label, by: fc.integer({ min: -2, max: 2 }) }),
);

function pair(): {
  ours: Registry;
  theirs: Registry;
  apply: (o: Op) => void;
} {
  const ours = new Registry();
  const theirs = new Registry();
  const h = { name: 'h_seconds', help: 'a histogram', labelNames: ['model', 'endpoint'] as const, buckets: BUCKETS };
  const c = { name: 'c_total', help: 'a counter', labelNames: ['model', 'endpoint', 'outcome'] as const };
  const g = { name: 'g', help: 'a gauge', labelNames: ['model'] as const };
  const oh = new LabeledHistogram({ ...h, registers: [ours] });
  const th = new Histogram({ ...h, labelNames: [...h.labelNames], registers: [theirs] });
  const oc = new LabeledCounter({ ...c, registers: [ours] });
  const tc = new Counter({ ...c, labelNames: [...c.labelNames], registers: [theirs] });
  const og = new LabeledGauge({ ...g, registers: [ours] });
  const tg = new Gauge({ ...g, labelNames: [...g.labelNames], registers: [theirs] });
  return {
    ours,
    theirs,
    apply(o) {
      if (o.kind === 'observe') {
        oh.observe({ model: o.model, endpoint: o.endpoint }, o.value);
        th.observe({ model: o.model, endpoint: o.endpoint }, o.value);
      } else if (o.kind === 'inc') {
        oc.inc({ model: o.model, endpoint: o.endpoint, outcome: o.outcome }, o.value);
        tc.inc({ model: o.model, endpoint: o.endpoint, outcome: o.outcome }, o.value);
      } else if (o.by >= 0) {
        og.inc({ model: o.model }, o.by);
        tg.inc({ model: o.model }, o.by);
      } else {
        og.dec({ model: o.model }, -o.by);
        tg.dec({ model: o.model }, -o.by);
      }
    },
  };
}

test('fast metrics print what prom-client prints for the same calls (text and JSON)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
      const { ours, theirs, apply } = pair();
      for (const o of ops) apply(o);
      assert.equal(await ours.metrics(), await theirs.metrics());
      // prom-client's histogram lines also carry `exemplar: null` (exemplars are not used here).
      const json = async (r: Registry): Promise<unknown> =>
        JSON.parse(JSON.stringify(await r.getMetricsAsJSON(), (k, v: unknown) => (k === 'exemplar' ? undefined : v)));
      assert.deepEqual(await json(ours), await json(theirs));
    }),
    { numRuns: 300 },
  );
});

test('fast metrics: a histogram counts a value equal to a bound in that bucket, and reset empties', async () => {
  const r = new Registry();
  const h = new LabeledHistogram({ name: 'h', help: 'h', labelNames: ['model'], buckets: [1, 2], registers: [r] });
  h.observe({ model: 'm' }, 1);
  h.observe({ model: 'm' }, 1.5);
  h.observe({ model: 'm' }, 3);
  h.observe({ model: 'm' }, Number.NaN); // never a throw on the request path; not counted
  const text = await r.metrics();
  assert.match(text, /^h_bucket\{le="1",model="m"\} 1$/m);
  assert.match(text, /^h_bucket\{le="2",model="m"\} 2$/m);
  assert.match(text, /^h_bucket\{le="\+Inf",model="m"\} 3$/m);
  assert.match(text, /^h_sum\{model="m"\} 5.5$/m);
  assert.match(text, /^h_count\{model="m"\} 3$/m);
  r.resetMetrics();
  assert.doesNotMatch(await r.metrics(), /model="m"/);
});
