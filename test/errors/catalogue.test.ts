import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CATALOGUE, RtinferError, firstLine } from '../../src/errors.js';
import { ROOT } from '../helpers/models.js';

test('every catalogued error code is documented in docs/errors.md with its kind, and nothing else is', () => {
  const doc = readFileSync(`${ROOT}docs/errors.md`, 'utf8');
  const rows = [...doc.matchAll(/^\| `(RTI_ERR_[A-Z_]+)` \| (usage|runtime|refused) \| (\d{3}) \|/gm)].map((m) => [
    m[1],
    m[2],
    Number(m[3]),
  ]);
  assert.deepEqual(
    rows,
    Object.entries(ERROR_CATALOGUE).map(([code, e]) => [code, e.kind, e.status]),
  );
});

test('codes follow RTI_ERR_<AREA>_<PROBLEM> and errors carry code and kind', () => {
  for (const code of Object.keys(ERROR_CATALOGUE)) assert.match(code, /^RTI_ERR_[A-Z]+_[A-Z_]+$/);
  const e = new RtinferError('RTI_ERR_IO_WRITE', 'cannot write x');
  assert.equal(e.kind, 'runtime');
  assert.equal(e.code, 'RTI_ERR_IO_WRITE');
  assert.equal(new RtinferError('RTI_ERR_SHAPE_MISMATCH', 'm').kind, 'usage');
  for (const [code, e] of Object.entries(ERROR_CATALOGUE)) {
    const range = e.kind === 'usage' ? [400, 499] : e.kind === 'runtime' ? [500, 599] : [429, 504];
    assert.ok(e.status >= range[0]! && e.status <= range[1]!, `${code}: status ${e.status} fits kind ${e.kind}`);
  }
  assert.equal(firstLine(new Error('\n  first\nsecond')), 'first');
});

test('a refusal carries no stack (it is control flow under overload); other errors keep theirs', () => {
  const limit = Error.stackTraceLimit;
  const refused = new RtinferError('RTI_ERR_ENGINE_QUEUE_FULL', 'queue full', { cause: new Error('c') });
  assert.equal(refused.stack, 'RtinferError: queue full');
  assert.equal(refused.kind, 'refused');
  assert.ok(refused.cause instanceof Error);
  const usage = new RtinferError('RTI_ERR_ARG_INVALID', 'bad flag');
  assert.match(usage.stack ?? '', /\n\s+at /);
  assert.equal(Error.stackTraceLimit, limit, 'the limit is restored');
  assert.match(new Error('plain').stack ?? '', /\n\s+at /);
});
