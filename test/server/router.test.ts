/**
 * The router: templates to patterns, one decode of the parameters, 404/405, and the cache of paths
 * matched before (shared, frozen parameters; bounded, as paths are the client's choice).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HttpError } from '../../src/server/http-io.js';
import { RequestTarget, Router } from '../../src/server/router.js';
import type { RouteSpec } from '../../src/server/types.js';

function router(): Router {
  const r = new Router();
  const spec = (method: 'GET' | 'POST', path: string): RouteSpec =>
    ({ method, path, endpoint: 'infer', auth: 'public', handler: async () => undefined }) as unknown as RouteSpec;
  r.add(spec('GET', '/v2/models/{name}[/versions/{version}]'));
  r.add(spec('POST', '/v2/models/{name}[/versions/{version}]/infer'));
  return r;
}

test('a path matched again gives the same match, its parameters decoded once and frozen', () => {
  const r = router();
  const a = r.match('POST', '/v2/models/my%20model/versions/2/infer');
  assert.deepEqual({ ...a.params }, { name: 'my model', version: '2' });
  assert.equal(r.match('POST', '/v2/models/my%20model/versions/2/infer'), a, 'from the cache');
  assert.ok(Object.isFrozen(a.params), 'shared by every request of the path: nobody may change it');
  assert.notEqual(r.match('GET', '/v2/models/my%20model/versions/2'), a, 'another path, another match');
});

test('refusals are never cached: 404, 405 and a bad %-escape are thrown every time', () => {
  const r = router();
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => r.match('GET', '/v3/nothing'),
      (e: { status?: number }) => e.status === 404,
    );
    assert.throws(
      () => r.match('DELETE', '/v2/models/m'),
      (e: { status?: number }) => e.status === 405,
    );
    assert.throws(
      () => r.match('GET', '/v2/models/%E0%A4%A'),
      (e: { status?: number }) => e.status === 400,
    );
  }
});

test('the cache is bounded: many distinct paths still match right', () => {
  const r = router();
  for (let i = 0; i < 1000; i++) assert.equal(r.match('POST', `/v2/models/m${i}/infer`).params['name'], `m${i}`);
  assert.equal(r.match('POST', '/v2/models/m0/infer').params['name'], 'm0');
});

test('a request target reads as the path and URL that new URL gives, plain paths without parsing (property)', () => {
  // Targets from characters that matter to URL parsing: escapes, queries, fragments, dot segments,
  // backslashes, a leading `//` (a host to URL), colons, spaces and non-ASCII.
  const part = fc.constantFrom(
    '/',
    '//',
    '.',
    '..',
    '%2e',
    '%',
    '?',
    '#',
    '\\',
    ':',
    '@',
    ' ',
    'é',
    'v2',
    'models',
    'x_1',
    '~',
    '-',
  );
  const targets = fc.oneof(
    fc.array(part, { maxLength: 10 }).map((p) => p.join('')),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(targets, (raw) => {
      let expected: URL | undefined;
      try {
        // A path is appended to the base, so that '//x' stays a path (resolved, it names a host).
        expected = raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw, 'http://localhost');
      } catch {
        expected = undefined;
      }
      if (expected === undefined) {
        assert.throws(
          () => new RequestTarget(raw),
          (e: unknown) => e instanceof HttpError && e.status === 400,
        );
        return;
      }
      const t = new RequestTarget(raw);
      assert.equal(t.path, expected.pathname.replace(/\/+$/, '') || '/', raw);
      assert.equal(t.url.href, expected.href, raw);
    }),
    { numRuns: 3000 },
  );
  assert.equal(new RequestTarget('/v2/models/m/infer/').path, '/v2/models/m/infer');
  assert.equal(new RequestTarget('/v2/./models/../models/m').path, '/v2/models/m', 'dot segments resolved');
  assert.equal(
    new RequestTarget('//v2/models/m').path,
    '//v2/models/m',
    'origin-form: a doubled slash is a path, not a host',
  );
  assert.equal(new RequestTarget('//v2/models/m?x=1').url.searchParams.get('x'), '1');
});
