/** bench against several replicas of one model: the balancers, and a real run over two v2 servers on loopback. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from '../../src/loadgen/bench.js';
import { joinTargets, pickTarget, splitTargets } from '../../src/loadgen/multi-target.js';
import { createRemoteTarget } from '../../src/loadgen/remote-target.js';
import { OCR_CLS, SILERO } from '../helpers/models.js';
import { startV2Server } from '../helpers/v2-server.js';

test('least-outstanding picks the replica with fewest in flight, ties in turn; round-robin ignores load', () => {
  assert.equal(pickTarget([3, 1, 2], 0, 'least-outstanding'), 1);
  assert.equal(pickTarget([0, 0, 0], 2, 'least-outstanding'), 2);
  assert.equal(pickTarget([1, 0, 0], 0, 'least-outstanding'), 1);
  assert.equal(pickTarget([5, 0, 0], 0, 'round-robin'), 0);
  assert.deepEqual(splitTargets(joinTargets(['http://a/v2/models/m', 'http://b/v2/models/m'], 'round-robin')), {
    urls: ['http://a/v2/models/m', 'http://b/v2/models/m'],
    balancer: 'round-robin',
  });
  assert.equal(splitTargets(joinTargets(['http://a/v2/models/m'])).balancer, 'least-outstanding');
  assert.throws(() => splitTargets('balance=random http://a/v2/models/m'), /invalid balance 'random'/);
});

test('bench over two replicas spreads the load over both and reports them as one target', async (t) => {
  const a = await startV2Server(OCR_CLS, 'cls');
  const b = await startV2Server(OCR_CLS, 'cls');
  t.after(async () => {
    await a.close();
    await b.close();
  });
  const out = await runBench({
    target: joinTargets([a.url, b.url]),
    scenario: 'concurrency',
    concurrency: 4,
    shapes: [{ name: 'x', dims: [1, 3, 48, 192] }],
    durationMs: 600,
    minQueries: 40,
    warmup: { minQueries: 2, minDurationMs: 0 },
  });
  assert.equal(out.report.throughput.queries >= 40, true);
  // With 4 in flight over 2 replicas, least-outstanding keeps both busy.
  assert.ok(a.requests > 10 && b.requests > 10, `a ${a.requests}, b ${b.requests}`);
  assert.match(out.report.model.label, /\+ .*\(least-outstanding\)$/);
});

test('EXPECTED FAILURE - targets that serve different models are refused', async (t) => {
  const a = await startV2Server(OCR_CLS, 'm');
  const b = await startV2Server(SILERO, 'm');
  t.after(async () => {
    await a.close();
    await b.close();
  });
  await assert.rejects(createRemoteTarget(joinTargets([a.url, b.url])), /serves other inputs .*replicas of one model/);
});
