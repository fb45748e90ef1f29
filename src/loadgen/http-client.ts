/**
 * A minimal keep-alive HTTP/1.1 client over node:net for the load generator's hot path.
 *
 * Why not node:http: on a null v2 endpoint with 16 connections, node:http's client cost about
 * 70 µs of CPU per request (request objects, pool bookkeeping, a timer per request) and drove 0.22×
 * autocannon's rate; this client, with each request serialized once and sent in one write, costs
 * about 13 µs and matches autocannon (bench/loadgen-capacity).
 *
 * One request in flight per socket (no pipelining), up to `maxSockets`, FIFO when all are busy.
 * The response parser handles a status line, Content-Length or chunked bodies, and
 * `Connection: close` / HTTP/1.0. Timeouts are one sweep timer over busy sockets.
 */
import net from 'node:net';
import { REQUEST_START_HEADER, requestStartValue } from '../protocol/request-start.js';

export interface RawResponse {
  status: number;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
}

interface Job {
  wire: Buffer | readonly Buffer[];
  resolve: (r: RawResponse) => void;
  reject: (e: Error) => void;
  deadline: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Serializes a request once, so a load generator can send it many times. */
export function serializeRequest(
  method: string,
  host: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  head += `connection: keep-alive\r\ncontent-length: ${body.length}\r\n`;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'content-length') head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
}

/**
 * A serialized request with an X-Request-Start header for a query due at `dueAt` (performance.now()),
 * as pieces written together: the head's fields, the stamp, then the blank line and the body (not
 * copied).
 */
export function stampRequest(wire: Buffer, dueAt: number): Buffer[] {
  const at = wire.indexOf(CRLFCRLF) + 2;
  const stamp = Buffer.from(`${REQUEST_START_HEADER}: ${requestStartValue(dueAt)}\r\n`, 'latin1');
  return [wire.subarray(0, at), stamp, wire.subarray(at)];
}

/** A chunked body from `start`; undefined until it is complete. */
function dechunk(buf: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let i = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', i, 'latin1');
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', i, eol), 16);
    if (!Number.isFinite(size)) throw new Error('malformed chunked encoding');
    if (size === 0) {
      // The last chunk, then optional trailers, then an empty line.
      const end = buf.indexOf(CRLFCRLF, eol);
      if (end < 0) return undefined;
      return { body: Buffer.concat(parts), end: end + 4 };
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

class Connection {
  readonly #pool: HttpPool;
  readonly #sock: net.Socket;
  job: Job | undefined;
  /** Bytes received and not yet consumed, in arrival order (joined only when they can complete an answer). */
  #parts: Buffer[] = [];
  #have = 0;
  /** Bytes the answer in progress needs in all, once its Content-Length is known. */
  #need = 0;
  #bodyStart = -1;
  #status = 0;
  #headers: Record<string, string> = {};
  dead = false;

  constructor(pool: HttpPool, host: string, port: number) {
    this.#pool = pool;
    this.#sock = net.connect({ host, port, noDelay: true });
    this.#sock.on('data', (c: Buffer) => {
      try {
        this.#onData(c);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    this.#sock.on('error', (e) => this.fail(e));
    this.#sock.on('close', () => this.fail(new Error('connection closed')));
  }

  start(job: Job): void {
    this.job = job;
    const { wire } = job;
    if (Buffer.isBuffer(wire)) {
      this.#sock.write(wire);
      return;
    }
    // One writev for the pieces.
    this.#sock.cork();
    for (const piece of wire) this.#sock.write(piece);
    this.#sock.uncork();
  }

  fail(e: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.#sock.destroy();
    const job = this.job;
    this.job = undefined;
    this.#pool.dropped(this);
    job?.reject(e);
  }

  #onData(chunk: Buffer): void {
    this.#parts.push(chunk);
    this.#have += chunk.length;
    // A large body arrives in many chunks: joining them all on each one was quadratic (20-30 ms of
    // CPU for yolox_nano's 1.2 MB answer), so they are joined once the answer can be complete.
    if (this.#have < this.#need) return;
    const buf = this.#parts.length === 1 ? chunk : Buffer.concat(this.#parts, this.#have);
    this.#parts = [buf];
    if (this.#bodyStart < 0) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) return;
      this.#parseHead(buf.toString('latin1', 0, end));
      this.#bodyStart = end + 4;
    }
    let body: Buffer;
    let rest: number;
    if ((this.#headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
      const r = dechunk(buf, this.#bodyStart);
      if (!r) return;
      body = r.body;
      rest = r.end;
    } else {
      const len = Number(this.#headers['content-length'] ?? 0);
      if (buf.length < this.#bodyStart + len) {
        this.#need = this.#bodyStart + len;
        return;
      }
      body = buf.subarray(this.#bodyStart, this.#bodyStart + len);
      rest = this.#bodyStart + len;
    }
    this.#parts = rest < buf.length ? [buf.subarray(rest)] : [];
    this.#have = buf.length - rest;
    this.#need = 0;
    this.#bodyStart = -1;
    const response: RawResponse = { status: this.#status, headers: this.#headers, body };
    const close = (this.#headers['connection'] ?? '').toLowerCase() === 'close' || this.#httpTen;
    const job = this.job;
    this.job = undefined;
    if (close) this.fail(new Error('the server closed the connection'));
    else this.#pool.idle(this);
    job?.resolve(response);
  }

  #httpTen = false;

  #parseHead(head: string): void {
    this.#httpTen = head.startsWith('HTTP/1.0');
    this.#status = Number(head.slice(9, 12));
    if (!(this.#status >= 100 && this.#status < 600)) throw new Error(`malformed status line: ${head.slice(0, 40)}`);
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.#headers = headers;
  }
}

export class HttpPool {
  readonly #host: string;
  readonly #port: number;
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #free: Connection[] = [];
  readonly #busy = new Set<Connection>();
  readonly #queue: Job[] = [];
  readonly #sweep: NodeJS.Timeout;
  #open = 0;
  #closed = false;

  constructor(host: string, port: number, maxSockets: number, timeoutMs: number) {
    this.#host = host;
    this.#port = port;
    this.#max = maxSockets;
    this.#timeoutMs = timeoutMs;
    this.#sweep = setInterval(
      () => {
        const now = Date.now();
        for (const c of this.#busy)
          if (c.job && c.job.deadline <= now) c.fail(new Error(`no answer within ${this.#timeoutMs} ms`));
        for (let i = this.#queue.length - 1; i >= 0; i--) {
          const j = this.#queue[i] as Job;
          if (j.deadline <= now) {
            this.#queue.splice(i, 1);
            j.reject(new Error(`no free connection within ${this.#timeoutMs} ms`));
          }
        }
      },
      Math.max(10, Math.min(1000, timeoutMs / 4)),
    );
    this.#sweep.unref();
  }

  /**
   * Sends a serialized request (or its pieces, written together); resolves with the response,
   * rejects on a connection error or timeout.
   */
  request(wire: Buffer | readonly Buffer[]): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('the client is closed'));
      this.#submit({ wire, resolve, reject, deadline: Date.now() + this.#timeoutMs });
    });
  }

  #submit(job: Job): void {
    let c = this.#free.pop();
    if (!c && this.#open < this.#max) {
      c = new Connection(this, this.#host, this.#port);
      this.#open++;
    }
    if (!c) {
      this.#queue.push(job);
      return;
    }
    this.#busy.add(c);
    c.start(job);
  }

  idle(c: Connection): void {
    const next = this.#queue.shift();
    if (next) c.start(next);
    else {
      this.#busy.delete(c);
      this.#free.push(c);
    }
  }

  dropped(c: Connection): void {
    this.#busy.delete(c);
    const k = this.#free.indexOf(c);
    if (k >= 0) this.#free.splice(k, 1);
    this.#open--;
    const next = this.#queue.shift();
    if (next && !this.#closed) this.#submit(next);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const j of this.#queue.splice(0)) j.reject(new Error('the client is closed'));
    for (const c of [...this.#free, ...this.#busy]) c.fail(new Error('the client is closed'));
  }
}
