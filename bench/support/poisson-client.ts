/**
 * An open-loop Poisson client for bench/serve, independent of rtinfer's own load generator (it
 * shares no code with src/loadgen): a seeded RNG (mulberry32), exponential gaps, KServe v2 binary
 * request bodies built here, and a small HTTP/1.1 keep-alive client on raw sockets (V2Client).
 *
 * Every request is sent at its scheduled time whether or not earlier ones were answered, and its
 * latency runs from that SCHEDULED time (no coordinated omission: a late send, a request waiting
 * for a socket, a stalled server all count). The scheduler sleeps on timers between arrivals
 * instead of spinning (the client shares the cores with the servers under test); its slip is
 * recorded. Each request has a client timeout counted from its scheduled time, after which it is
 * destroyed and counted as "no answer".
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Outcome codes besides HTTP statuses. */
export const NO_ANSWER = 0;
export const CONN_ERROR = -1;

export interface Outcome {
  /** HTTP status, NO_ANSWER (client timeout) or CONN_ERROR (the connection failed). */
  status: number;
  /** From the scheduled send time to the end of the answer (ms). */
  ms: number;
  /** The Server-Timing header of the answer, if any. */
  timing?: string | undefined;
  /** CONN_ERROR: the error's code (ECONNRESET, EPIPE, ...). */
  error?: string;
  /** A refusal's short body (429/503/504 and other non-200 answers up to 1 KiB), as the server wrote it. */
  message?: string;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Poisson arrival offsets (ms from the start) at `rate` per second over `durationMs`. */
export function poissonSchedule(rate: number, durationMs: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  const gap = 1000 / rate;
  const out: number[] = [];
  for (let t = -Math.log(1 - rng()) * gap; t < durationMs; t += -Math.log(1 - rng()) * gap) out.push(t);
  return Float64Array.from(out);
}

export interface V2Body {
  body: Buffer;
  headers: Record<string, string>;
}

/** A KServe v2 request with one FP32 input as binary data, asking for binary outputs. */
export function v2Body(
  input: string,
  dims: readonly number[],
  data: Float32Array,
  timeoutUs: number | undefined,
): V2Body {
  const head = Buffer.from(
    JSON.stringify({
      parameters: { binary_data_output: true, ...(timeoutUs !== undefined ? { timeout: Math.round(timeoutUs) } : {}) },
      inputs: [{ name: input, datatype: 'FP32', shape: dims, parameters: { binary_data_size: data.byteLength } }],
    }),
  );
  const body = Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  return {
    body,
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(head.length),
      'content-length': String(body.length),
    },
  };
}

/** Seeded uniform [0, 1) floats. */
export function randomFloats(n: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng();
  return a;
}

const READ_BYTES = 64 * 1024;
/** Idle connections older than this are closed rather than reused (servers' keep-alive timeouts are 5 s and up). */
const STALE_MS = 4000;
/** Non-200 answers' bodies up to this size are kept (a refusal says why). */
const MESSAGE_BYTES = 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/** One request in flight on a connection, and what its answer has shown so far. */
interface Exchange {
  finish: (status: number, timing?: string, error?: string, message?: string) => void;
  /** A non-200 answer's body while it comes (kept up to MESSAGE_BYTES). */
  kept: Buffer[];
  /** The head's bytes while it is incomplete. */
  head: Buffer;
  status: number;
  timing: string | undefined;
  close: boolean;
  /** Body bytes still to come with a Content-Length; -1 while chunked. */
  left: number;
  chunked: ChunkState | undefined;
}

/** Transfer-Encoding: chunked, read byte by byte at the chunk boundaries and skipped in between. */
interface ChunkState {
  /** 'size' reading a size line, 'data' skipping `left` data bytes (and its CRLF), 'trailer' after the last chunk. */
  phase: 'size' | 'data' | 'trailer';
  line: string;
  left: number;
}

/**
 * KServe v2 over HTTP/1.1 keep-alive connections (up to maxSockets, the most recently freed one
 * reused first, requests queued past that), on raw sockets that read every answer into one
 * buffer per connection (net's `onread`): node:http allocates a Buffer per chunk read, and at
 * ~130 yolox_nano answers a second (1.2 MB each) that garbage set off a full collection of this
 * process every ~0.1 s (V8's "external memory pressure"), 4-13 ms pauses that showed up in the
 * client's send slip and as late answers the server had sent in time. Answers carry
 * Content-Length or are chunked; the body is counted, not kept.
 */
export class V2Client {
  readonly #host: string;
  readonly #port: number;
  readonly #path: string;
  readonly #maxSockets: number;
  readonly #idle: net.Socket[] = [];
  readonly #waiting: Array<(socket: net.Socket) => void> = [];
  readonly #active = new Map<net.Socket, Exchange>();
  readonly #idleSince = new WeakMap<net.Socket, number>();
  #open = 0;
  #closed = false;

  /** `inferUrl`: the model's POST .../infer URL. */
  constructor(inferUrl: string, maxSockets = 256) {
    const url = new URL(inferUrl);
    this.#host = url.hostname;
    this.#port = Number(url.port);
    this.#path = url.pathname;
    this.#maxSockets = maxSockets;
  }

  /**
   * Sends one request; resolves (never rejects) once answered, failed, or `timeoutMs` after `scheduledAt`.
   * It carries X-Request-Start, its scheduled send time, as a proxy in front of a server stamps a
   * request's arrival: rtinfer serve counts the deadline from it (the naive and null servers ignore it).
   */
  send(body: V2Body, scheduledAt: number, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      let done = false;
      let socket: net.Socket | undefined;
      const finish = (status: number, timing?: string, error?: string, message?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({
          status,
          ms: performance.now() - scheduledAt,
          timing,
          ...(error !== undefined ? { error } : {}),
          ...(message !== undefined ? { message } : {}),
        });
      };
      const timer = setTimeout(
        () => {
          finish(NO_ANSWER);
          // A connection whose answer is abandoned cannot be reused: its rest would come first.
          if (socket) socket.destroy();
          else queued = false;
        },
        Math.max(0, scheduledAt + timeoutMs - performance.now()),
      );
      let queued = true;
      this.#acquire((s) => {
        if (!queued || done) {
          this.#release(s, true); // timed out while waiting for a connection: this one is unused
          return;
        }
        socket = s;
        this.#active.set(s, {
          finish,
          kept: [],
          head: Buffer.alloc(0),
          status: 0,
          timing: undefined,
          close: false,
          left: 0,
          chunked: undefined,
        });
        const lines = [
          `POST ${this.#path} HTTP/1.1`,
          `host: ${this.#host}:${this.#port}`,
          ...Object.entries(body.headers).map(([k, v]) => `${k}: ${v}`),
          // When the request was due, as a proxy in front would stamp its arrival (epoch µs).
          `x-request-start: t=${Math.round((performance.timeOrigin + scheduledAt) * 1000)}`,
        ];
        s.cork();
        s.write(`${lines.join('\r\n')}\r\n\r\n`);
        s.write(body.body);
        s.uncork();
      });
    });
  }

  close(): void {
    this.#closed = true;
    for (const s of [...this.#idle, ...this.#active.keys()]) s.destroy();
    this.#idle.length = 0;
  }

  #acquire(use: (socket: net.Socket) => void): void {
    for (let idle = this.#idle.pop(); idle; idle = this.#idle.pop()) {
      // Servers close idle connections after a few seconds (node:http's default 5 s): one that may
      // be closing as this request goes out is not reused (the request would meet a reset).
      if (performance.now() - (this.#idleSince.get(idle) ?? 0) < STALE_MS) return use(idle);
      idle.destroy();
    }
    if (this.#open < this.#maxSockets) return use(this.#connect());
    this.#waiting.push(use);
  }

  /**
   * A connection is free again (`reusable`) or done with: the next waiting request gets it (a
   * destroyed one's 'close' hands a waiting request a new connection instead).
   */
  #release(socket: net.Socket, reusable: boolean): void {
    this.#active.delete(socket);
    if (!reusable) {
      socket.destroy();
      return;
    }
    const next = this.#waiting.shift();
    if (next) return next(socket);
    this.#idleSince.set(socket, performance.now());
    this.#idle.push(socket);
  }

  #connect(): net.Socket {
    this.#open++;
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    const socket: net.Socket = net.connect({
      host: this.#host,
      port: this.#port,
      noDelay: true,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.#read(socket, buf as Buffer, n);
          return true;
        },
      },
    });
    let gone = false;
    const lost = (error?: NodeJS.ErrnoException): void => {
      if (gone) return;
      gone = true;
      this.#open--;
      const i = this.#idle.indexOf(socket);
      if (i >= 0) this.#idle.splice(i, 1);
      const x = this.#active.get(socket);
      this.#active.delete(socket);
      x?.finish(CONN_ERROR, undefined, error?.code ?? 'ECONNCLOSED');
      // A waiting request gets a new connection in this one's place.
      const next = this.#waiting.shift();
      if (next && !this.#closed) next(this.#connect());
    };
    socket.on('error', lost);
    socket.on('close', () => lost());
    return socket;
  }

  #read(socket: net.Socket, buf: Buffer, n: number): void {
    const x = this.#active.get(socket);
    if (!x) return; // bytes after an answer (none expected): dropped
    let at = 0;
    if (x.status === 0) {
      const head = x.head.length > 0 ? Buffer.concat([x.head, buf.subarray(0, n)]) : buf.subarray(0, n);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        x.head = Buffer.from(head); // copied: `buf` is reused by the next read
        return;
      }
      const lines = head.toString('latin1', 0, end).split('\r\n');
      x.status = Number(lines[0]?.split(' ')[1]) || CONN_ERROR;
      let length = -1;
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'content-length') length = Number(value);
        else if (name === 'transfer-encoding' && value.toLowerCase().includes('chunked'))
          x.chunked = { phase: 'size', line: '', left: 0 };
        else if (name === 'connection' && value.toLowerCase() === 'close') x.close = true;
        else if (name === 'server-timing') x.timing = value;
      }
      x.left = x.chunked ? -1 : Math.max(0, length);
      x.head = Buffer.alloc(0);
      at = end + HEAD_END.length - (head.length - n);
    }
    if (x.chunked) {
      if (this.#chunks(x.chunked, buf, at, n)) this.#done(socket, x);
      return;
    }
    if (x.status !== 200 && x.left <= MESSAGE_BYTES)
      x.kept.push(Buffer.from(buf.subarray(at, Math.min(n, at + x.left))));
    x.left -= n - at;
    if (x.left <= 0) this.#done(socket, x);
  }

  /** Walks chunked framing over buf[at, n); true once the last chunk and its trailer have come. */
  #chunks(c: ChunkState, buf: Buffer, at: number, n: number): boolean {
    let i = at;
    while (i < n) {
      if (c.phase === 'data') {
        const skip = Math.min(c.left, n - i);
        c.left -= skip;
        i += skip;
        if (c.left === 0) c.phase = 'size';
        continue;
      }
      const ch = buf[i++]!;
      if (ch !== 10) {
        if (ch !== 13) c.line += String.fromCharCode(ch);
        continue;
      }
      const line = c.line;
      c.line = '';
      if (c.phase === 'trailer') {
        if (line === '') return true;
        continue;
      }
      if (line === '') continue; // the CRLF after a chunk's data
      const size = parseInt(line, 16);
      if (size === 0) c.phase = 'trailer';
      else {
        c.phase = 'data';
        c.left = size;
      }
    }
    return false;
  }

  #done(socket: net.Socket, x: Exchange): void {
    x.finish(x.status, x.timing, undefined, x.kept.length > 0 ? Buffer.concat(x.kept).toString('utf8') : undefined);
    this.#release(socket, !x.close && !this.#closed);
  }
}

export interface OpenRun {
  outcomes: Outcome[];
  /** Send slip (actual − scheduled), ms, one per request. */
  slips: Float64Array;
  /** From the first scheduled send to the last request settled (ms). */
  wallMs: number;
}

/**
 * Open loop: sends bodies[i % n] at start + schedule[i] whatever the earlier requests are doing;
 * resolves when every request has settled (each within its timeout).
 */
export async function runOpen(
  client: V2Client,
  bodies: readonly V2Body[],
  schedule: Float64Array,
  timeoutMs: number,
): Promise<OpenRun> {
  const n = schedule.length;
  const pending: Array<Promise<Outcome>> = [];
  const slips = new Float64Array(n);
  const start = performance.now() + 5;
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (i < n && start + schedule[i]! <= now) {
        const at = start + schedule[i]!;
        slips[i] = now - at;
        pending.push(client.send(bodies[i % bodies.length]!, at, timeoutMs));
        i++;
      }
      if (i >= n) resolve();
      else setTimeout(tick, Math.max(0, start + schedule[i]! - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  const outcomes = await Promise.all(pending);
  return { outcomes, slips, wallMs: performance.now() - start };
}

/** Closed loop: `concurrency` requests outstanding for `durationMs`; latency from each send. */
export async function runClosed(
  client: V2Client,
  bodies: readonly V2Body[],
  concurrency: number,
  durationMs: number,
  timeoutMs: number,
): Promise<{ outcomes: Outcome[]; wallMs: number }> {
  const outcomes: Outcome[] = [];
  const t0 = performance.now();
  const end = t0 + durationMs;
  let k = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end)
      outcomes.push(await client.send(bodies[k++ % bodies.length]!, performance.now(), timeoutMs));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { outcomes, wallMs: performance.now() - t0 };
}

/** "a;dur=1.5, b;dur=2" → { a: 1.5, b: 2 }. */
export function parseServerTiming(header: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of header.split(',')) {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.eE+-]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
