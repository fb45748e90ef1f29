/** mkdir -p level by level: made where it can be, a one-line errno where it cannot, never a hang. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeDir, makeDirSync } from '../../src/util/make-dir.js';

test('makeDir makes every missing level, accepts an existing folder, and refuses with the errno where a level cannot be made', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-mkdir-'));
  try {
    const deep = path.join(root, 'a', 'b', 'c');
    await makeDir(deep);
    assert.ok(statSync(deep).isDirectory());
    await makeDir(deep);
    makeDirSync(path.join(root, 'a', 'd'));
    assert.ok(existsSync(path.join(root, 'a', 'd')));
    writeFileSync(path.join(root, 'file'), '');
    await assert.rejects(makeDir(path.join(root, 'file', 'x')), { code: 'ENOTDIR' });
    assert.throws(() => makeDirSync(path.join(root, 'file')), { code: 'EEXIST' });
    assert.throws(() => makeDirSync(path.join(root, 'file')), { code: 'EEXIST' });
    // node's own recursive mkdir spins here (Node 20); these must answer.
    if (existsSync('/proc/self')) {
      await assert.rejects(makeDir('/proc/rtinfer-nope/x'), { code: 'ENOENT' });
      assert.throws(() => makeDirSync('/proc/rtinfer-nope'), { code: 'ENOENT' });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
