/**
 * An open-loop Poisson client for bench/serve, independent of rtinfer's own load generator (it
 * shares no code with src/loadgen): a seeded RNG (mulberry32), exponential gaps, KServe v2 binary
 * request bodies built here, and node:http with one keep-alive agent (maxSockets 256).
 *
 * Every request is sent at its scheduled time whether or not earlier ones were answered, and its
 * latency runs from that SCHEDULED time (no coordinated omission: a late send, a request waiting
 * for a socket, a stalled server all count). The scheduler sleeps on timers between arrivals
 * instead of spinning (the client shares the cores with the servers under test); its slip is
 * recorded. Each request has a client timeout counted from its scheduled time, after which it is
 * destroyed and counted as "no answer".
 */
import http from 'node:http';
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

export class V2Client {
  readonly #agent: http.Agent;
  readonly #url: URL;

  /** `inferUrl`: the model's POST .../infer URL. */
  constructor(inferUrl: string, maxSockets = 256) {
    this.#url = new URL(inferUrl);
    this.#agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
  }

  /**
   * Sends one request; resolves (never rejects) once answered, failed, or `timeoutMs` after `scheduledAt`.
   * It carries X-Request-Start, its scheduled send time, as a proxy in front of a server stamps a
   * request's arrival: rtinfer serve counts the deadline from it (the naive and null servers ignore it).
   */
  send(body: V2Body, scheduledAt: number, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      let done = false;
      // Assigned below, before anything can call finish (the request's events come after req.end).
      const finish = (status: number, timing?: string, error?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ status, ms: performance.now() - scheduledAt, timing, ...(error !== undefined ? { error } : {}) });
      };
      const failed = (e: NodeJS.ErrnoException): void => finish(CONN_ERROR, undefined, e.code ?? e.message);
      const req = http.request(
        {
          agent: this.#agent,
          hostname: this.#url.hostname,
          port: this.#url.port,
          path: this.#url.pathname,
          method: 'POST',
          // When the request was due, as a proxy in front would stamp its arrival (epoch µs).
          headers: {
            ...body.headers,
            'x-request-start': `t=${Math.round((performance.timeOrigin + scheduledAt) * 1000)}`,
          },
        },
        (res) => {
          const st = res.headers['server-timing'];
          res.on('error', failed);
          res.on('end', () => finish(res.statusCode ?? CONN_ERROR, typeof st === 'string' ? st : undefined));
          res.resume();
        },
      );
      req.on('error', failed);
      const timer = setTimeout(
        () => {
          finish(NO_ANSWER);
          req.destroy();
        },
        Math.max(0, scheduledAt + timeoutMs - performance.now()),
      );
      req.end(body.body);
    });
  }

  close(): void {
    this.#agent.destroy();
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
