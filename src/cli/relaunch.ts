/**
 * `rtinfer serve` runs in a Node process with V8 heap settings for a server, started by the CLI as
 * a child of itself when node was not given them.
 *
 * Why: under load the server's old generation (~17 MB live, mostly code) gets less slack than
 * V8's new space holds (its semi-space grows to 16 MB), so V8 starts incremental marking again
 * right after each mark-compact: 27 in 5 s at 450 req/s on the PP-OCR classifier, 0.5 ms of its
 * helper threads' CPU per request against the naive server's 0.14. V8 reads these flags only when
 * it starts (set at run time they change nothing), hence the child. What they gave in bench/serve
 * (goodput 1.1-1.3× at 50 % of the naive server's peak, 1.2-3.7× at 100 %): README, Heap settings.
 *
 * The child gets a process group of its own, so a terminal's Ctrl-C reaches this process only and
 * is handed on once (as SIGTERM and SIGHUP are; serve treats a second signal as "exit now"); its
 * exit code, or its signal, becomes this process's; a child whose parent is gone shuts down as on
 * SIGTERM (serve.ts). Not on Windows (no signals to hand on), not when node was given any of the
 * flags (the container image's entrypoint gives them) or a debugger or profiler, not with
 * RTINFER_V8_FLAGS=off.
 */
import { spawn } from 'node:child_process';

export const SERVER_V8_FLAGS: readonly string[] = ['--initial-heap-size=64', '--max-semi-space-size=8'];
/** Set in the child's environment: it is the relaunched server. */
export const RELAUNCHED_ENV = 'RTINFER_RELAUNCHED';

const flagName = (arg: string): string => (arg.split('=')[0] ?? '').replace(/_/g, '-');

/** The flags to relaunch with, or none: see the file's comment for when. */
export function relaunchFlags(
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): readonly string[] {
  if (platform === 'win32' || env[RELAUNCHED_ENV] === '1' || env['RTINFER_V8_FLAGS'] === 'off') return [];
  const args = [...execArgv, ...(env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  // A debugger or profiler asked of this process stays with the server, in this process.
  if (args.some((a) => /^--(inspect|cpu-prof|heap-prof|prof\b)/.test(a))) return [];
  const given = new Set(args.map(flagName));
  // Whoever set one of them manages the heap: theirs stand as they are.
  return SERVER_V8_FLAGS.some((f) => given.has(flagName(f))) ? [] : SERVER_V8_FLAGS;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** Runs this command line again in a child node with `flags`; resolves with its exit code. */
export function relaunch(flags: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const script = process.argv[1] ?? '';
    const child = spawn(process.execPath, [...process.execArgv, ...flags, script, ...process.argv.slice(2)], {
      stdio: 'inherit',
      detached: true,
      env: { ...process.env, [RELAUNCHED_ENV]: '1' },
    });
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    for (const s of FORWARDED) process.on(s, forward);
    const done = (): void => {
      for (const s of FORWARDED) process.off(s, forward);
    };
    child.once('error', (error) => {
      done();
      process.stderr.write(`rtinfer serve: cannot start node with ${flags.join(' ')}: ${error.message}\n`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      done();
      // Killed by a signal: this process ends the same way (its own handlers are gone).
      if (signal) process.kill(process.pid, signal);
      else resolve(code ?? 1);
    });
  });
}
