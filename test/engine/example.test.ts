import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/models.js';

test("the README's engine example runs and answers every request", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/engine.ts'], {
    cwd: ROOT,
    timeout: 60_000,
  });
  const m = /answered (\d+), late (\d+), refused (\d+)/.exec(stdout);
  assert.ok(m, stdout);
  assert.equal(Number(m[1]) + Number(m[2]) + Number(m[3]), 32, 'every request has an outcome');
  assert.match(stdout, /latency model \(ms per batch size\): 1: [\d.]+/);
});
