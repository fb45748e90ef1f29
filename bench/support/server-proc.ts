/**
 * Servers under test for bench/serve, each in a child process of its own: `rtinfer serve` (the
 * built CLI), the naive server (bench/support/naive-server.ts under tsx), and the null v2 endpoint
 * (bench/support/null-v2-server.ts, forked: it reports its port over IPC).
 *
 * A server is started by reading its stdout: "listening on URL", "model NAME vV: PATH → MODEL_URL",
 * then ": ready"; for rtinfer also the layout line that follows ("  model NAME: 2 instances × 1 thread (...)").
 * Everything is bounded; every child started here is killed when this process exits, however it
 * exits, and stopAll() stops them with SIGTERM, then SIGKILL after a grace.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const TAIL = 30;
/** The repository root: children run there, so that `--import tsx` resolves. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerProc {
  label: string;
  proc: ChildProcess;
  pid: number;
  /** The model's v2 URL: POST `${modelUrl}/infer`. */
  modelUrl: string;
  /** rtinfer's layout line after ready, e.g. "1 instance × 2 threads (auto: ...)". */
  layout?: string;
  stdoutTail: string[];
  stderrTail: string[];
  stderrLines: number;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** SIGTERM, then SIGKILL after `graceMs`; true when the child left in time. */
export async function stopChild(proc: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<boolean> {
  proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs))),
  ]);
  clearTimeout(timer);
  if (!inTime) {
    proc.kill('SIGKILL');
    await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
  }
  return inTime;
}

function push(list: string[], line: string): void {
  list.push(line);
  if (list.length > TAIL) list.shift();
}

function wrap(label: string, proc: ChildProcess): { s: ServerProc; exited: Promise<void> } {
  live.add(proc);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exit = { code, signal };
      live.delete(proc);
      resolve();
    });
  });
  const s: ServerProc = {
    label,
    proc,
    pid: proc.pid ?? -1,
    modelUrl: '',
    stdoutTail: [],
    stderrTail: [],
    stderrLines: 0,
    exited: () => exit,
    stop: async (graceMs = 5000) => {
      if (exit) return;
      await stopChild(proc, exited, graceMs);
    },
  };
  if (proc.stderr) {
    createInterface({ input: proc.stderr }).on('line', (l) => {
      s.stderrLines++;
      push(s.stderrTail, l);
    });
  }
  return { s, exited };
}

/** Spawns a server that announces itself on stdout; resolves once ready (and, with `layout`, after its layout line). */
export function startAnnounced(
  label: string,
  args: readonly string[],
  opts: { layout: boolean; timeoutMs: number },
): Promise<ServerProc> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const { s, exited } = wrap(label, proc);
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      void s.stop(1000);
      reject(
        new Error(`${label}: not ready within ${opts.timeoutMs} ms; stderr: ${s.stderrTail.slice(-5).join(' | ')}`),
      );
    }, opts.timeoutMs);
    let layoutTimer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      clearTimeout(layoutTimer);
      resolve(s);
    };
    void exited.then(() => {
      clearTimeout(timer);
      reject(
        new Error(
          `${label}: exited (${JSON.stringify(s.exited())}) before it was ready; stderr: ${s.stderrTail.slice(-5).join(' | ')}`,
        ),
      );
    });
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      push(s.stdoutTail, l);
      const child = SERVER_PID_LINE.exec(l);
      if (child) s.pid = Number(child[1]);
      const model = /^\s*model \S+ v\S+: .* → (http:\/\/\S+)/.exec(l);
      if (model && !s.modelUrl) s.modelUrl = model[1]!;
      const layout = /^\s*model \S+: (\d+ (?:instances? )?× \d+ threads?.*)$/.exec(l);
      if (layout && ready && s.layout === undefined) {
        s.layout = layout[1]!;
        done();
      }
      if (/: ready\b/.test(l) && !ready) {
        if (!s.modelUrl) {
          clearTimeout(timer);
          void s.stop(1000);
          reject(new Error(`${label}: ready without a model URL on stdout`));
          return;
        }
        ready = true;
        if (!opts.layout) done();
        else layoutTimer = setTimeout(done, 3000); // no layout line: go on without it
      }
    });
  });
}

/** The null v2 endpoint (answers a canned response without inference), forked under tsx. */
export function startNull(script: string, timeoutMs = 30_000, args: string[] = []): Promise<ServerProc> {
  const proc = fork(script, args, {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const { s, exited } = wrap('null v2', proc);
  proc.stdout?.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void s.stop(1000);
      reject(new Error(`null v2 server: no port within ${timeoutMs} ms`));
    }, timeoutMs);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`null v2 server exited before it listened; stderr: ${s.stderrTail.slice(-5).join(' | ')}`));
    });
    proc.once('message', (m: { port: number }) => {
      clearTimeout(timer);
      s.modelUrl = `http://127.0.0.1:${m.port}/v2/models/null`;
      resolve(s);
    });
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    [...live].map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGTERM');
      const gone = await Promise.race([
        new Promise<boolean>((r) => p.once('exit', () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref()),
      ]);
      if (!gone) p.kill('SIGKILL');
    }),
  );
}

/** rtinfer serve's line naming its server process when that is a child node with its heap flags (src/cli/relaunch.ts). */
export const SERVER_PID_LINE = /^\s*pid (\d+): node /;

/** CPU seconds (user + system, all threads) of a process from /proc/PID/stat; NaN where unreadable. */
export function procCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of a process's main thread alone (its task with the process's own id). */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return NaN;
  }
}

/** Exits 2 with a one-line error when this build's CLI or the `--second-cli` one is missing. */
export function exitUnlessBuilt(bench: string, cli: string, secondCli: string | undefined): void {
  for (const [what, path] of [
    ['this build (npm run build)', cli],
    ['--second-cli', secondCli],
  ] as const) {
    if (path !== undefined && !existsSync(path)) {
      console.error(`${bench}: ${what}: ${path} does not exist`);
      process.exit(2);
    }
  }
}
