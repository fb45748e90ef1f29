/**
 * X-Request-Start stamps (request-start.ts): the formats proxies and clients write, and the rule that
 * a stamp can only make a request older, within MAX_AGE_MS, never give it more time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { MAX_AGE_MS, requestStartedAt, requestStartValue, stampEpochMs } from '../../src/protocol/request-start.js';

test('the formats in use read as the same epoch ms: seconds (nginx t=${msec}), ms (Heroku), µs (Apache t=%t), ns', () => {
  const ms = 1_796_000_000_123;
  assert.equal(stampEpochMs('t=1796000000.123'), ms);
  assert.equal(stampEpochMs(String(ms)), ms);
  assert.equal(stampEpochMs(`t=${ms}456`), ms + 0.456);
  assert.equal(stampEpochMs(`${ms}456789`), ms + 0.456789);
  for (const bad of ['', 't=', 'soon', 't=-5', '1e12', '12 34', 't=0x10', '1.2.3'])
    assert.equal(stampEpochMs(bad), undefined, bad);
});

test('a request 30 ms old by its stamp starts 30 ms before its arrival', () => {
  const receivedAt = performance.now();
  const sent = performance.timeOrigin + receivedAt - 30;
  assert.ok(Math.abs(receivedAt - 30 - requestStartedAt(`t=${(sent / 1000).toFixed(6)}`, receivedAt)) < 0.01);
  assert.ok(Math.abs(receivedAt - 30 - requestStartedAt(String(Math.round(sent * 1000)), receivedAt)) < 0.01);
});

test("the load generator's stamp (Apache's t=<epoch µs>) reads back as the time it was written for", () => {
  const receivedAt = performance.now();
  const v = requestStartValue(receivedAt - 30);
  assert.match(v, /^t=\d{16}$/);
  assert.ok(Math.abs(receivedAt - 30 - requestStartedAt(v, receivedAt)) < 0.01, v);
});

test('no stamp, a malformed one, one in the future or older than MAX_AGE_MS: the arrival', () => {
  const receivedAt = performance.now();
  const epoch = (offsetMs: number): string =>
    String(Math.round((performance.timeOrigin + receivedAt + offsetMs) * 1000));
  for (const v of [undefined, ['1', '2'], 'garbage', epoch(5), epoch(-MAX_AGE_MS - 1000), '9'.repeat(41)])
    assert.equal(requestStartedAt(v, receivedAt), receivedAt, String(v));
});

test('property: whatever a client sends, the start is at most its arrival and at least MAX_AGE_MS before', () => {
  const receivedAt = performance.now();
  const now = performance.timeOrigin + receivedAt;
  const header = fc.oneof(
    fc.string(),
    fc.double({ min: 0, max: 1e20, noNaN: true }).map(String),
    fc.integer({ min: -2 * MAX_AGE_MS, max: 2 * MAX_AGE_MS }).map((d) => `t=${((now + d) / 1000).toFixed(3)}`),
    fc.integer({ min: -2 * MAX_AGE_MS, max: 2 * MAX_AGE_MS }).map((d) => String(Math.round((now + d) * 1000))),
  );
  fc.assert(
    fc.property(header, (v) => {
      const at = requestStartedAt(v, receivedAt);
      return Number.isFinite(at) && at <= receivedAt && receivedAt - at <= MAX_AGE_MS;
    }),
  );
});
