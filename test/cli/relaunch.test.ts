/**
 * `rtinfer serve` in a child node with its V8 heap flags (src/cli/relaunch.ts): when the CLI starts
 * one, signals reach it once through the parent, its exit code is the parent's, and it stops by
 * itself when the parent is killed outright.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RELAUNCHED_ENV, relaunchFlags, SERVER_V8_FLAGS } from '../../src/cli/relaunch.js';
import { OCR_CLS, ROOT } from '../helpers/models.js';

test('relaunches with the heap flags only when node was given none of them', () => {
  assert.deepEqual(relaunchFlags([], {}, 'linux'), SERVER_V8_FLAGS);
  assert.deepEqual(relaunchFlags(['--no-warnings'], {}, 'darwin'), SERVER_V8_FLAGS);
  assert.deepEqual(relaunchFlags(['--initial-heap-size=128'], {}, 'linux'), []);
  assert.deepEqual(relaunchFlags(['--max_semi_space_size=4'], {}, 'linux'), [], "V8's underscore spelling");
  assert.deepEqual(relaunchFlags([], { NODE_OPTIONS: '--max-semi-space-size=2' }, 'linux'), []);
  assert.deepEqual(relaunchFlags([], { [RELAUNCHED_ENV]: '1' }, 'linux'), [], 'the child itself');
  assert.deepEqual(relaunchFlags([], { RTINFER_V8_FLAGS: 'off' }, 'linux'), []);
  assert.deepEqual(relaunchFlags([], {}, 'win32'), []);
  assert.deepEqual(relaunchFlags(['--inspect=9230'], {}, 'linux'), [], 'the debugger stays with the server');
  assert.deepEqual(relaunchFlags(['--cpu-prof'], {}, 'linux'), []);
});

/** The CLI in a process group of its own (`detached`), as a terminal's foreground job is. */
async function startServe() {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist/cli/main.js'), 'serve', OCR_CLS, '--port', '0', '--shape', 'x=1x3x48x192'],
    { cwd: ROOT, env: { ...process.env, RTINFER_V8_FLAGS: '', NODE_OPTIONS: '' }, detached: true },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let signal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => {
      signal = sig;
      resolve(code);
    }),
  );
  for (let i = 0; i < 600 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  const server = Number(/pid (\d+): node /.exec(out)?.[1]);
  assert.ok(server > 0 && out.includes('ready'), out);
  return { child, exited, server, output: () => out, errors: () => err, signal: () => signal };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number, withinMs: number): Promise<boolean> {
  for (const end = Date.now() + withinMs; Date.now() < end;) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

test('serve runs in a child node with the flags; SIGTERM to the CLI drains it and both exit 0', async () => {
  const s = await startServe();
  assert.notEqual(s.server, s.child.pid);
  if (existsSync(`/proc/${s.server}/cmdline`)) {
    const argv = readFileSync(`/proc/${s.server}/cmdline`, 'utf8').split('\0');
    for (const flag of SERVER_V8_FLAGS) assert.ok(argv.includes(flag), argv.join(' '));
  }
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  assert.match(s.output(), /SIGTERM: shutting down/);
  assert.equal(s.output().match(/SIGTERM/g)?.length, 1, 'the signal reached the server once');
  assert.ok(await gone(s.server, 5000), 'the server process is gone');
});

test('a CLI killed outright takes its server with it', async () => {
  const s = await startServe();
  s.child.kill('SIGKILL');
  await s.exited;
  assert.ok(await gone(s.server, 10_000), `server ${s.server} still running 10 s after its parent was killed`);
});

test("a terminal's Ctrl-C (SIGINT to the CLI's process group) reaches the server once: it drains and exits 0", async () => {
  const s = await startServe();
  process.kill(-(s.child.pid as number), 'SIGINT');
  assert.equal(await s.exited, 0, s.output());
  assert.equal(s.output().match(/SIGINT/g)?.length, 1, s.output());
  assert.ok(await gone(s.server, 5000));
});

test('a server killed by a signal ends the CLI by the same signal', async () => {
  const s = await startServe();
  process.kill(s.server, 'SIGKILL');
  assert.equal(await s.exited, null);
  assert.equal(s.signal(), 'SIGKILL');
});

test('a stdout whose reader went away (EPIPE) does not take the server down: SIGTERM still drains it, exit 0', async () => {
  const s = await startServe();
  s.child.stdout.destroy();
  await new Promise((r) => setTimeout(r, 100));
  s.child.kill('SIGTERM'); // the server says "shutting down" into the closed pipe
  assert.equal(await s.exited, 0, s.errors());
  assert.doesNotMatch(s.errors(), /EPIPE|Unhandled/);
  assert.ok(await gone(s.server, 5000));
});
