/**
 * The traffic of bench/soak: prepared request bodies (valid binary and JSON v2, a rotating set of
 * malformed requests, oversized bodies), an open-loop HTTP sender that never waits on earlier
 * answers and bounds every request in time, and a WebSocket stream churn (streams opening and being
 * reset at random points, before the handshake included). Bodies are built once and reused.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { encodeInferRequest, HEADER_LENGTH } from '../../src/protocol/kserve-v2.js';

/** Sockets that already have the bench's error guard (keep-alive sockets carry many requests). */
const guarded = new WeakSet<object>();
import type { Rng } from '../../src/runtime/synthetic.js';

export type Kind = 'binary' | 'json' | 'malformed' | 'oversized';

export interface Prepared {
  kind: Kind;
  variant: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Statuses that answer this request by the server's contract. */
  expect: readonly number[];
  /** Oversized only: send the body chunked (no Content-Length) in pieces of this many bytes. */
  chunked?: number;
}

export interface Outcome {
  /** 0: no HTTP answer (see failure). */
  status: number;
  /** Set when status is 0: 'no-answer' (client timeout) or 'reset' (connection error). */
  failure?: 'no-answer' | 'reset';
  /** Where the request was when it failed: waiting for a socket, sending its body, or sent. */
  stage?: 'queued' | 'sending' | 'sent';
  code?: string;
  /** From the scheduled send time to the answer's last byte. */
  latencyMs: number;
  bytes: number;
  /** The first bytes of a non-200 answer's body. */
  sample?: string;
}

/** Refusals that every request may get under overload (queue full, body budget, deadline). */
export const REFUSALS = [429, 503, 504] as const;

export interface Bodies {
  binary: Prepared;
  json: Prepared;
  malformed: Prepared[];
  oversized: Prepared[];
}

/** The request mix's bodies for `model` with input `input` ([1,3,416,416] float32 here). */
export function prepareBodies(
  model: string,
  input: string,
  dims: number[],
  data: Float32Array,
  timeoutUs: number,
  maxBody: number,
): Bodies {
  const infer = `/v2/models/${model}/infer`;
  const params = { parameters: { timeout: timeoutUs } };
  const tensor = { name: input, type: 'float32' as const, dims, data };
  const bin = encodeInferRequest([tensor], params);
  const json = encodeInferRequest([tensor], { ...params, binaryInputs: false, binaryOutputs: true });
  const valid = [200, ...REFUSALS];
  const bad = [400, ...REFUSALS];
  const small = encodeInferRequest([{ name: input, type: 'float32', dims: [1], data: new Float32Array(1) }], {
    binaryInputs: false,
  });
  const wrongType = encodeInferRequest(
    [
      {
        name: input,
        type: 'float64',
        dims: [dims[0]!, dims[1]!, dims[2]!, dims[3]! / 2],
        data: new Float64Array(data.length / 2),
      },
    ],
    params,
  );
  const wrongShape = encodeInferRequest(
    [{ name: input, type: 'float32', dims: [1, 3, 320, 320], data: new Float32Array(3 * 320 * 320) }],
    params,
  );
  const depth = 100_000;
  const deep = Buffer.from(
    `{"inputs":[{"name":"${input}","datatype":"FP32","shape":[1],"data":${'['.repeat(depth)}${']'.repeat(depth)}}]}`,
  );
  const malformed: Prepared[] = [
    {
      variant: 'bad JSON',
      path: infer,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(`{"inputs":[{"name":"${input}","datatype":"FP32",`),
      expect: bad,
    },
    { variant: 'wrong datatype (FP64)', path: infer, headers: wrongType.headers, body: wrongType.body, expect: bad },
    {
      variant: 'wrong shape (1x3x320x320)',
      path: infer,
      headers: wrongShape.headers,
      body: wrongShape.body,
      expect: bad,
    },
    {
      variant: 'trailing bytes',
      path: infer,
      headers: bin.headers,
      body: Buffer.concat([bin.body, Buffer.from('TRAILING')]),
      expect: bad,
    },
    {
      variant: 'header length 1.5',
      path: infer,
      headers: { ...bin.headers, [HEADER_LENGTH]: '1.5' },
      body: bin.body,
      expect: bad,
    },
    {
      variant: 'binary cut short',
      path: infer,
      headers: bin.headers,
      body: bin.body.subarray(0, bin.body.length - 1000),
      expect: bad,
    },
    {
      variant: 'bad %-escape in path',
      path: '/v2/models/%E0%A4%A/infer',
      headers: small.headers,
      body: small.body,
      expect: bad,
    },
    {
      variant: 'unknown model',
      path: '/v2/models/no_such_model/infer',
      headers: small.headers,
      body: small.body,
      expect: [404, ...REFUSALS],
    },
    {
      variant: 'deep nesting (100k)',
      path: infer,
      headers: { 'content-type': 'application/json' },
      body: deep,
      expect: bad,
    },
  ].map((p) => ({ ...p, kind: 'malformed' as const }));
  const big = Buffer.alloc(maxBody + 1_000_000, 7);
  const oversized: Prepared[] = [
    {
      kind: 'oversized',
      variant: `declared ${big.length} B`,
      path: infer,
      headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: '64' },
      body: big,
      expect: [413, 503],
    },
    {
      kind: 'oversized',
      variant: `chunked ${big.length} B`,
      path: infer,
      headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: '64' },
      body: big,
      expect: [413, 503],
      chunked: 1 << 20,
    },
  ];
  return {
    binary: { kind: 'binary', variant: 'binary', path: infer, headers: bin.headers, body: bin.body, expect: valid },
    json: { kind: 'json', variant: 'json', path: infer, headers: json.headers, body: json.body, expect: valid },
    malformed,
    oversized,
  };
}

const SAMPLE_BYTES = 240;

/** Open-loop HTTP sender: each send is independent; every request ends by `timeoutMs` after its scheduled time. */
export class HttpSender {
  readonly #agent: http.Agent;
  readonly #bigAgent: http.Agent;

  constructor(
    private readonly host: string,
    private readonly port: number,
    maxSockets: number,
  ) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets });
    // Oversized bodies end with a closed connection: they get connections of their own.
    this.#bigAgent = new http.Agent({ keepAlive: false, maxSockets: 16 });
  }

  send(p: Prepared, scheduledAt: number, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      let stage: Outcome['stage'] = 'queued';
      let done = false;
      let status = 0;
      let bytes = 0;
      const head: Buffer[] = [];
      const finish = (o: Omit<Outcome, 'latencyMs' | 'bytes'>): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const sample =
          o.status !== 200 && head.length > 0 ? Buffer.concat(head).toString('utf8').slice(0, SAMPLE_BYTES) : undefined;
        resolve({ ...o, latencyMs: performance.now() - scheduledAt, bytes, ...(sample ? { sample } : {}) });
      };
      const headers: Record<string, string> = { ...p.headers };
      if (!p.chunked) headers['content-length'] = String(p.body.length);
      const req = http.request({
        host: this.host,
        port: this.port,
        method: 'POST',
        path: p.path,
        headers,
        agent: p.kind === 'oversized' ? this.#bigAgent : this.#agent,
      });
      const timer = setTimeout(
        () => {
          finish({ status: 0, failure: 'no-answer', stage });
          req.destroy();
        },
        Math.max(0, scheduledAt + timeoutMs - performance.now()),
      );
      req.on('socket', (socket) => {
        if (stage === 'queued') stage = 'sending';
        // A server that answers early (413) and cuts the upload can fail a write after Node's
        // client has stopped listening on the socket: that must not take the bench down.
        if (!guarded.has(socket)) {
          guarded.add(socket);
          socket.on('error', () => undefined);
        }
      });
      req.on('finish', () => {
        stage = 'sent';
      });
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        let headBytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (status !== 200 && headBytes < SAMPLE_BYTES) {
            head.push(c);
            headBytes += c.length;
          }
        });
        res.on('end', () => finish({ status }));
        // The answer began: a connection cut in its body still answered with this status.
        res.on('error', () => finish({ status }));
        res.on('aborted', () => finish({ status }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        // An oversized upload is cut by the server after its answer: the answer still counts.
        if (status !== 0) finish({ status });
        else finish({ status: 0, failure: 'reset', stage, code: e.code ?? e.message });
      });
      if (!p.chunked) {
        req.end(p.body);
        return;
      }
      const piece = p.chunked;
      let at = 0;
      const pump = (): void => {
        while (!done && !req.destroyed && at < p.body.length) {
          const ok = req.write(p.body.subarray(at, at + piece));
          at += piece;
          if (!ok) {
            req.once('drain', pump);
            return;
          }
        }
        if (!done && !req.destroyed && at >= p.body.length) req.end();
      };
      pump();
    });
  }

  close(): void {
    this.#agent.destroy();
    this.#bigAgent.destroy();
  }
}

// ---- stream churn ----

export const STREAM_MODES = [
  'reset before handshake',
  'terminate while connecting',
  'frame, then reset',
  'garbage, then reset',
  'frame, wait for result',
] as const;
export type StreamMode = (typeof STREAM_MODES)[number];

export interface StreamStats {
  started: number;
  /** 101 reached. */
  opened: number;
  /** Upgrade answered with an HTTP status instead. */
  refused: Map<number, number>;
  /** JSON results with detections / with an error field. */
  results: number;
  errors: number;
  /** 'frame, wait for result' streams that got nothing within their bound. */
  noResult: number;
  /** Streams that neither opened nor got an HTTP answer to their upgrade (by error), the reset modes aside. */
  noHandshake: Map<string, number>;
  /** Sample error messages. */
  errorSamples: Set<string>;
}

const STREAM_LIFE_MS = 6000;
const RESULT_WAIT_MS = 5000;

/**
 * Every ~meanGapMs (exponential gaps) opens one stream to `path` and plays one of STREAM_MODES
 * in turn. Each stream lives at most STREAM_LIFE_MS. stop() waits for the open ones to end.
 */
export class StreamChurn {
  readonly stats = new Map<StreamMode, StreamStats>(
    STREAM_MODES.map((m) => [
      m,
      {
        started: 0,
        opened: 0,
        refused: new Map(),
        results: 0,
        errors: 0,
        noResult: 0,
        noHandshake: new Map(),
        errorSamples: new Set(),
      },
    ]),
  );
  #timer: NodeJS.Timeout | undefined;
  #open = new Set<Promise<void>>();
  #n = 0;
  #stopping = false;

  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly frame: Buffer,
    private readonly rng: Rng,
    private readonly meanGapMs = 200,
  ) {}

  start(): void {
    this.#stopping = false;
    const next = (): void => {
      if (this.#stopping) return;
      const p = this.#one(STREAM_MODES[this.#n++ % STREAM_MODES.length]!);
      this.#open.add(p);
      void p.finally(() => this.#open.delete(p));
      this.#timer = setTimeout(next, -Math.log(1 - this.rng()) * this.meanGapMs);
    };
    next();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    await Promise.all([...this.#open]);
  }

  #one(mode: StreamMode): Promise<void> {
    const s = this.stats.get(mode)!;
    s.started++;
    const rand = (maxMs: number): number => Math.floor(this.rng() * maxMs);
    if (mode === 'reset before handshake') {
      // Half an upgrade request by hand, then a reset (RST via destroy after a random pause).
      return new Promise((resolve) => {
        const socket = net.connect(this.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
        const req = `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
        socket.on('connect', () => {
          socket.write(req.slice(0, 1 + rand(req.length - 1)));
          setTimeout(() => socket.resetAndDestroy(), rand(20));
        });
        setTimeout(() => socket.destroy(), STREAM_LIFE_MS).unref();
      });
    }
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}${this.path}`, {
        handshakeTimeout: 3000,
        perMessageDeflate: false,
      });
      const life = setTimeout(() => ws.terminate(), STREAM_LIFE_MS);
      let answered = false;
      ws.on('error', (e) => {
        if (!answered && mode !== 'terminate while connecting')
          s.noHandshake.set(e.message, (s.noHandshake.get(e.message) ?? 0) + 1);
      });
      ws.on('close', () => {
        clearTimeout(life);
        resolve();
      });
      ws.on('unexpected-response', (_req, res) => {
        answered = true;
        s.refused.set(res.statusCode ?? 0, (s.refused.get(res.statusCode ?? 0) ?? 0) + 1);
        res.resume();
        ws.terminate();
      });
      ws.on('message', (data) => {
        let msg: { error?: string } = {};
        try {
          msg = JSON.parse(String(data)) as { error?: string };
        } catch {
          msg = { error: 'unparsable result' };
        }
        if (msg.error) {
          s.errors++;
          if (s.errorSamples.size < 4) s.errorSamples.add(msg.error.slice(0, 120));
        } else s.results++;
        if (mode === 'frame, wait for result') ws.terminate();
      });
      if (mode === 'terminate while connecting') {
        setTimeout(() => ws.terminate(), rand(4));
      }
      ws.on('open', () => {
        answered = true;
        s.opened++;
        if (mode === 'frame, then reset') {
          ws.send(this.frame);
          setTimeout(() => ws.terminate(), rand(300));
        } else if (mode === 'garbage, then reset') {
          ws.send(randomBytes(1 + rand(64 * 1024)));
          setTimeout(() => ws.terminate(), rand(300));
        } else if (mode === 'frame, wait for result') {
          ws.send(this.frame);
          setTimeout(() => {
            if (ws.readyState === ws.OPEN) {
              s.noResult++;
              ws.terminate();
            }
          }, RESULT_WAIT_MS);
        } else ws.terminate();
      });
    });
  }
}
