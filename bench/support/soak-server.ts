/**
 * `rtinfer serve` (the built CLI, dist/cli/main.js) in a child process for bench/soak, so that its
 * RSS is its own: start (the URL from "listening on ...", then "ready"), RSS from /proc/<pid>/status
 * sampled on a timer, a bounded GET, and a bounded stop (SIGTERM, SIGKILL after a grace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { SERVER_PID_LINE, stopChild } from './server-proc.js';

const TAIL_LINES = 40;

export interface ServeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  atMs: number;
}

export interface ServeChild {
  proc: ChildProcess;
  pid: number;
  url: string;
  port: number;
  /** Set once the process has exited. */
  exit(): ServeExit | undefined;
  /** Lines the server wrote to stderr (count, and the last TAIL_LINES of them). */
  stderr: { lines: number; tail: string[] };
  stdoutTail: string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended (never rejects). */
  stop(graceMs?: number): Promise<{ exit: ServeExit | undefined; killed: boolean; ms: number }>;
}

function tail(list: string[], line: string): void {
  list.push(line);
  if (list.length > TAIL_LINES) list.shift();
}

/** Starts `node cli serve ...args`; resolves once it says ready, rejects (and kills it) otherwise. */
export function startServe(cli: string, args: readonly string[], timeoutMs = 60_000): Promise<ServeChild> {
  const proc = spawn(process.execPath, [cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let exit: ServeExit | undefined;
  // However this process ends (an uncaught error, process.exit, a closed stdout), the server goes with it.
  const killOnExit = (): void => void proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exit = { code, signal, atMs: performance.now() };
      process.off('exit', killOnExit);
      resolve();
    });
  });
  const stderr = { lines: 0, tail: [] as string[] };
  const stdoutTail: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => {
    stderr.lines++;
    tail(stderr.tail, l);
  });
  const out = createInterface({ input: proc.stdout! });
  out.on('line', (l) => tail(stdoutTail, l));

  const stop = async (graceMs = 10_000): Promise<{ exit: ServeExit | undefined; killed: boolean; ms: number }> => {
    const t0 = performance.now();
    if (exit) return { exit, killed: false, ms: 0 };
    const inTime = await stopChild(proc, exited, graceMs);
    return { exit, killed: !inTime, ms: performance.now() - t0 };
  };

  return new Promise((resolve, reject) => {
    let url: string | undefined;
    let pid = proc.pid ?? -1;
    const timer = setTimeout(() => {
      void stop(2000);
      reject(
        new Error(
          `rtinfer serve did not say ready within ${timeoutMs} ms; stderr: ${stderr.tail.slice(-5).join(' | ')}`,
        ),
      );
    }, timeoutMs);
    void exited.then(() => {
      clearTimeout(timer);
      reject(
        new Error(
          `rtinfer serve exited (code ${exit?.code}, signal ${exit?.signal}) before it was ready; stderr: ${stderr.tail.slice(-5).join(' | ')}`,
        ),
      );
    });
    out.on('line', (l) => {
      const m = /listening on (http:\/\/\S+)/.exec(l);
      if (m) url = m[1];
      // The server in a child node (src/cli/relaunch.ts): its RSS is that one's.
      const child = SERVER_PID_LINE.exec(l);
      if (child) pid = Number(child[1]);
      if (/^rtinfer serve: ready/.test(l) && url) {
        clearTimeout(timer);
        resolve({
          proc,
          pid,
          url,
          port: Number(new URL(url).port),
          exit: () => exit,
          stderr,
          stdoutTail,
          stop,
        });
      }
    });
  });
}

/** VmRSS of a process in bytes (Linux /proc), or undefined when it cannot be read. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSample {
  atMs: number;
  bytes: number;
  tag: string;
}

/** Samples a process's RSS every `intervalMs`, tagging each sample with the current phase. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  tag = 'start';
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): number | undefined {
    const bytes = rssBytes(this.pid);
    if (bytes !== undefined) this.samples.push({ atMs: performance.now(), bytes, tag: this.tag });
    return bytes;
  }

  /** Median of the samples taken in the last `ms`. */
  recent(ms: number): number {
    const since = performance.now() - ms;
    const xs = this.samples.filter((s) => s.atMs >= since).map((s) => s.bytes);
    if (xs.length === 0) return NaN;
    xs.sort((a, b) => a - b);
    return xs[Math.floor((xs.length - 1) / 2)] ?? NaN;
  }

  peak(tag?: string): RssSample | undefined {
    let best: RssSample | undefined;
    for (const s of this.samples) if ((tag === undefined || s.tag === tag) && (!best || s.bytes > best.bytes)) best = s;
    return best;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** GET with a bound; undefined when nothing came back in time. */
export function getText(url: string, timeoutMs = 3000): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', () => resolve(undefined));
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(undefined);
    }, timeoutMs);
    req.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

/** GETs a URL every `everyMs` (each bounded by `timeoutMs`), one at a time, tagging results with the current phase. */
export class Prober {
  readonly results: Array<{ tag: string; status: number; ms: number }> = [];
  tag = '';
  #stopped = false;
  #loop: Promise<void>;

  constructor(url: string, everyMs = 1000, timeoutMs = 2000) {
    this.#loop = (async () => {
      while (!this.#stopped) {
        const t0 = performance.now();
        const tag = this.tag;
        const r = await getText(url, timeoutMs);
        this.results.push({ tag, status: r?.status ?? 0, ms: performance.now() - t0 });
        const wait = everyMs - (performance.now() - t0);
        if (wait > 0 && !this.#stopped) await new Promise((res) => setTimeout(res, wait));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}

/** Polls `url` until it answers 200 or `maxMs` passes; the ms it took, or undefined. */
export async function waitResponsive(url: string, maxMs: number, timeoutMs = 1000): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < maxMs) {
    const r = await getText(url, Math.min(timeoutMs, Math.max(1, maxMs - (performance.now() - t0))));
    if (r?.status === 200) return performance.now() - t0;
    await new Promise((res) => setTimeout(res, 200));
  }
  return undefined;
}

export interface MemoryMap {
  /** Rss in bytes by kind: the main arena ([heap]), anonymous mappings, files (by name), stacks. */
  kinds: Map<string, number>;
  /** The largest anonymous mappings by Rss: [size of the mapping, its Rss]. */
  topAnon: Array<[number, number]>;
  threads: number;
}

/**
 * Where a process's resident memory sits (Linux /proc/<pid>/smaps): which part of a retained RSS
 * is malloc's main arena, anonymous mappings (V8's heap pages, thread arenas of 64 MB, large
 * ArrayBuffers), or shared libraries. Undefined when it cannot be read.
 */
export function memoryMap(pid: number): MemoryMap | undefined {
  let text: string;
  let threads = NaN;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
  const kinds = new Map<string, number>();
  const anon: Array<[number, number]> = [];
  let kind = '';
  let size = 0;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      size = parseInt(head[2]!, 16) - parseInt(head[1]!, 16);
      const name = head[3]!.trim();
      kind =
        name === ''
          ? 'anonymous'
          : name.startsWith('[')
            ? name.replace(/:.*\]/, ']')
            : (name.split('/').pop() ?? name).replace(/\.so[.\d]*$/, '.so');
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const bytes = Number(rss[1]) * 1024;
    kinds.set(kind, (kinds.get(kind) ?? 0) + bytes);
    if (kind === 'anonymous' && bytes > 0) anon.push([size, bytes]);
  }
  anon.sort((a, b) => b[1] - a[1]);
  return { kinds, topAnon: anon.slice(0, 8), threads };
}

/** One line: the kinds holding more than 1 MB, largest first, and the largest anonymous mappings. */
export function formatMemoryMap(m: MemoryMap | undefined): string {
  if (!m) return 'n/a';
  const mb = (b: number): string => (b / 1e6).toFixed(0);
  const kinds = [...m.kinds].filter(([, b]) => b > 1e6).sort((a, b) => b[1] - a[1]);
  return `${kinds.map(([k, b]) => `${k} ${mb(b)}`).join(', ')}; largest anonymous mappings (size/rss MB): ${m.topAnon.map(([s, r]) => `${mb(s)}/${mb(r)}`).join(' ')}; ${m.threads} threads`;
}
