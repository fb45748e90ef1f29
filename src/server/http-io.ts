/**
 * Small HTTP helpers for the server: bounded body reading, JSON and error answers, bearer-token
 * checks. Every error answer is `{"error": "..."}` with the status from the error catalogue, and
 * never carries a stack or onnxruntime's internal node names.
 */
import { timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { firstLine, isRtinferError } from '../errors.js';
import type { BufferPool } from '../engine/tensors.js';
import type { BodyBudget } from './types.js';

export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** A client-given string quoted in an error message: control characters escaped, long ones cut. */
export function quote(value: string, max = 80): string {
  const s = JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
  return s.slice(1, -1);
}

/** decodeURIComponent for a path part; a malformed %-escape is the client's error (400). */
export function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `malformed %-escape in the request path: '${quote(part)}'`);
  }
}

/** The server-wide count of bytes held by request bodies (maxInflightBytes). */
export class ByteBudget implements BodyBudget {
  readonly limit: number;
  #held = 0;
  #total = 0;
  constructor(limit: number) {
    this.limit = limit;
  }
  get held(): number {
    return this.#held;
  }
  /** Bytes ever reserved: grows with traffic, all protocols. */
  get total(): number {
    return this.#total;
  }
  tryReserve(bytes: number): boolean {
    if (this.#held + bytes > this.limit) return false;
    this.#held += bytes;
    this.#total += bytes;
    return true;
  }
  release(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }
}

export interface ReadBodyOptions {
  /** Largest body accepted (413 beyond). */
  limit: number;
  /** Server-wide budget; the reservation is released when `res` closes (503 when over it). */
  budget: BodyBudget;
  /** Byte index that should land on an 8-byte boundary (the first binary tensor of a v2 request). */
  alignAt?: number;
  /**
   * The handler's end: the reservation lasts until both it and the answer are done. A client that
   * leaves does not free bytes that a decoder or a queue still holds.
   */
  until?: Promise<unknown>;
  /**
   * Where the body's buffer comes from: the engines' pool, which gets it back once a worker is done
   * with it. A fresh 2 MB buffer costs its page faults and, under load, the garbage collections its
   * external memory triggers.
   */
  pool?: BufferPool;
  /**
   * Called once with the body's first `bytes` bytes as soon as they have arrived; what it throws
   * refuses the request there, and the rest of the body is read and dropped (a v2 request's JSON
   * header says its shape and deadline: one the engine cannot serve in time is answered at once,
   * without holding or copying the tensors behind it).
   */
  head?: { bytes: number; check: (head: Buffer) => void };
  /**
   * Where the rest of a body refused mid-way (by `head`'s check, or the budget) goes: read and dropped
   * in turn with the other refused bodies. Without it, it is read at once as it comes.
   */
  refused?: RefusedBodies;
}

export interface ReceivedBody {
  bytes: Buffer;
  /** Keeps only `n` bytes reserved against the budget (the rest was copied out and let go). */
  hold(n: number): void;
}

/**
 * The rest of a body too large to keep is read and dropped, up to twice the limit (16 MiB at least), so that a
 * client still sending can finish and read its 413 (closing at once made it see EPIPE instead);
 * beyond that, or at the request timeout, the connection is cut.
 */
const DISCARD_MIN_BYTES = 16 * 1024 * 1024;

/** A refused body with at most this much still to come is read at once, without waiting its turn. */
const SHORT_REST_BYTES = 256 * 1024;
/**
 * Refused bodies dropped side by side before any has to wait: open-loop overload refuses a few at a
 * time, and those need no queue; a flood has far more (bench/flood, 64 connections: 66.8 good
 * answers/s against 0.3 for the build that read every refused body at once). bench/serve's yolox_nano
 * at 200 % read lower with this class than without; that gap was the bench's block order (the
 * naive server's work left running into the next block), since fixed there, and not measured again.
 */
const FREE_TURNS = 8;
/** A dropping body that delivers nothing for this long gives up its turn (see RefusedBodies). */
const QUIET_MS = 10;

/**
 * The rest of refused request bodies, read and dropped: a few side by side (FREE_TURNS), and once
 * more are refused, the others in turn, one body at a time. A kept-alive connection must be read
 * past a refused body before its next request, and a flood of clients that resend at
 * once after their 503 (autocannon, a closed loop) had the HTTP thread read nothing else: 64
 * connections of 921 KB requests to version-RFB-320 with a 30 ms deadline, ~1,800 refused bodies a
 * second read in full, the event loop ~15 ms behind, inference slowed by the CPU it took, the
 * latency model learned all of it, and the server refused all but a handful (5 answers in 8 s).
 * Taken in turn, a refused body waits while the requests being served are read; its connection's
 * next request waits with it, which is the backpressure such a client needs. A body that goes
 * quiet (a slow sender) gives up its turn and goes on being dropped as it comes: it costs little,
 * and holding the turn would make it a way to stall every refused connection.
 */
export class RefusedBodies {
  readonly #waiting: Array<{ req: IncomingMessage; settle: () => void }> = [];
  readonly #quietMs: number;
  readonly #freeTurns: number;
  /** Bodies being dropped now. */
  #active = 0;

  constructor(options: { quietMs?: number; freeTurns?: number } = {}) {
    this.#quietMs = options.quietMs ?? QUIET_MS;
    this.#freeTurns = options.freeTurns ?? FREE_TURNS;
  }

  /** Refused bodies waiting for their turn (at most one per open connection). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Stops reading `req` and drops the rest of its body in turn. `now`: its turn came at once;
   * `done`: resolves once the body is read or the request closed.
   */
  drop(req: IncomingMessage): { now: boolean; done: Promise<void> } {
    if (req.readableEnded || req.destroyed) return { now: true, done: Promise.resolve() };
    let settle!: () => void;
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    if (this.#waiting.length === 0 && this.#active < this.#freeTurns) {
      this.#start(req, settle);
      return { now: true, done };
    }
    req.pause();
    // Closed while waiting (client gone, shutdown): settled, and skipped when its turn comes.
    req.once('close', settle);
    this.#waiting.push({ req, settle });
    return { now: false, done };
  }

  /** Once a backlog formed, one body at a time until it is gone. */
  #next(): void {
    while (this.#active === 0) {
      const entry = this.#waiting.shift();
      if (entry === undefined) return;
      if (entry.req.readableEnded || entry.req.destroyed) entry.settle();
      else this.#start(entry.req, entry.settle);
    }
  }

  #start(req: IncomingMessage, settle: () => void): void {
    this.#active++;
    let turnOver = false;
    const endTurn = (): void => {
      if (turnOver) return;
      turnOver = true;
      clearInterval(quiet);
      this.#active--;
      this.#next();
    };
    // Quiet: no byte came from the socket for quietMs (counted on the socket: the stream's own
    // 'data' listeners are Node's to remove when the answer is done).
    let seen = req.socket.bytesRead;
    const quiet = setInterval(() => {
      const now = req.socket.bytesRead;
      if (now === seen) endTurn();
      seen = now;
    }, this.#quietMs);
    quiet.unref();
    const finish = (): void => {
      settle();
      endTurn();
    };
    req.once('end', finish);
    req.once('close', finish);
    req.resume();
  }
}

const discardBound = (limit: number): number => Math.max(2 * limit, DISCARD_MIN_BYTES);

function discardRest(req: IncomingMessage, limit: number): void {
  let dropped = 0;
  req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > discardBound(limit)) req.socket.destroy();
  });
  req.resume();
}

/**
 * Reads the whole body, refusing (413) beyond `limit` bytes or (503) beyond the server's body
 * budget, without buffering the rest. The body gets an ArrayBuffer of its own, shifted so that byte
 * `alignAt` lands on an 8-byte boundary: the binary tensors of a v2 request start right after its
 * JSON header, and aligned they can be used in place instead of copied.
 * One function (~85 lines) because the socket listeners, the release on close and the caller's `hold` all
 * share one `reserved` count: split, that count would be state passed between them by reference.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, options: ReadBodyOptions): Promise<ReceivedBody> {
  const { limit, budget } = options;
  const alignAt = options.alignAt ?? 0;
  const header = req.headers['content-length'];
  const declared = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
  if (declared !== undefined && declared > limit) {
    const message = `request body of ${declared} bytes is over the limit of ${limit} bytes`;
    // More than would ever be read and dropped: the connection closes with the answer.
    if (declared > discardBound(limit)) return Promise.reject(new HttpError(413, message, { connection: 'close' }));
    discardRest(req, limit);
    return Promise.reject(new HttpError(413, message));
  }
  let reserved = 0;
  // The rest of a refused body is read and dropped (in turn, through `refused`), so the client gets
  // to read its 503 instead of a reset mid-upload.
  const overBudget = (): HttpError =>
    new HttpError(503, `the server holds too many request bytes (${budget.held} of ${budget.limit}): retry later`, {
      'retry-after': '1',
    });
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  void Promise.all([closed, options.until]).then(() => {
    budget.release(reserved);
    reserved = 0;
  });
  if (declared !== undefined) {
    if (!budget.tryReserve(declared)) {
      if (options.refused === undefined || declared <= SHORT_REST_BYTES) return Promise.reject(overBudget());
      const dropped = options.refused.drop(req);
      return dropped.now ? Promise.reject(overBudget()) : dropped.done.then(() => Promise.reject(overBudget()));
    }
    reserved = declared;
  }
  return new Promise((resolve, reject) => {
    const pad = (8 - (alignAt % 8)) % 8;
    const take = (n: number): ArrayBuffer => (options.pool ? options.pool.take(n + pad) : new ArrayBuffer(n + pad));
    // With a declared length each chunk is copied into the body's buffer as it comes, so the body is
    // whole when its last byte is: copied at the end, a 2 MB body was whole 0.083 ms (p50) after
    // its last chunk, now 0.011. Chunked bodies are gathered and copied at the end.
    let out = declared !== undefined ? Buffer.from(take(declared), pad, declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    let head = options.head;
    const release = (): void => {
      chunks.length = 0;
      if (out !== undefined) options.pool?.give([out.buffer as ArrayBuffer]);
      out = undefined;
    };
    const fail = (error: Error): void => {
      done = true;
      release();
      reject(error);
    };
    // A refusal before the body's end: the rest goes to `refused`, and the answer waits for it when
    // other refused bodies are ahead (answered at once, this connection's next request would queue
    // behind the unread rest anyway, and its client time that request from its own send).
    // A short rest is read at once as before: dropping it in turn costs more than reading it.
    const refuse = (error: Error): void => {
      const rest = declared === undefined ? Number.POSITIVE_INFINITY : declared - size;
      if (options.refused === undefined || req.complete || rest <= SHORT_REST_BYTES) return fail(error);
      done = true;
      release();
      req.off('data', onData);
      const dropped = options.refused.drop(req);
      if (dropped.now) reject(error);
      else void dropped.done.then(() => reject(error));
    };
    const onData = (c: Buffer): void => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        discardRest(req, limit);
        return fail(new HttpError(413, `request body is over the limit of ${limit} bytes`));
      }
      if (size > reserved) {
        // Chunked bodies (no Content-Length) reserve as they come.
        if (!budget.tryReserve(size - reserved)) return refuse(overBudget());
        reserved = size;
      }
      // Node's HTTP parser holds a body to its Content-Length: a declared body never overflows `out`.
      if (out !== undefined) out.set(c, size - c.length);
      else chunks.push(c);
      if (head !== undefined && size >= head.bytes) {
        const { bytes, check } = head;
        head = undefined;
        try {
          check((out ?? (chunks.length === 1 ? c : Buffer.concat(chunks))).subarray(0, bytes));
        } catch (error) {
          refuse(error instanceof Error ? error : new Error(String(error)));
        }
      }
    };
    req.on('data', onData);
    req.on('end', () => {
      if (done) return;
      done = true;
      let body = out;
      if (body === undefined) {
        body = Buffer.from(take(size), pad, size);
        let at = 0;
        for (const c of chunks) {
          body.set(c, at);
          at += c.length;
        }
        chunks.length = 0;
      } else if (size < body.length) body = body.subarray(0, size);
      const hold = (n: number): void => {
        if (n >= reserved) return;
        budget.release(reserved - n);
        reserved = n;
      };
      resolve({ bytes: body, hold });
    });
    req.on('error', (e) => {
      if (!done) fail(e);
    });
    req.on('aborted', () => {
      if (!done) fail(new HttpError(400, 'the client aborted the request body'));
    });
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendBody(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/** An answer in pieces (EncodedParts), sent as they are, in one write with the head. */
export function sendParts(
  res: ServerResponse,
  status: number,
  parts: readonly Buffer[],
  headers: Record<string, string>,
): void {
  let length = 0;
  for (const p of parts) length += p.length;
  res.writeHead(status, { ...headers, 'content-length': String(length) });
  // Corked, the pieces go out with the head in one writev; end() uncorks.
  res.cork();
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
  res.end(parts[parts.length - 1]);
}

/** A raw HTTP answer on a socket the HTTP layer does not own (upgrades, refused connections, parse errors). */
export function rawAnswer(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: message });
  const all = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...headers,
  };
  const lines = Object.entries(all).map(([k, v]) => `${k}: ${v}`);
  // The status text is the standard one: nothing a client sent goes into the status line or headers.
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  // A client that never closes its side does not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Unexpected errors go here (one line each) instead of to the client. */
export type InternalErrorLog = (error: unknown) => void;

export const logToStderr: InternalErrorLog = (error) => {
  process.stderr.write(`rtinfer serve: internal error: ${firstLine(error)}\n`);
};

/**
 * Status, message and headers for any thrown value; refusals carry Retry-After. onnxruntime's own
 * failure text names internal graph nodes and other internals are not the client's business: those
 * answers say what happened and the details go to `log`.
 */
export function errorAnswer(
  error: unknown,
  log: InternalErrorLog = logToStderr,
): { status: number; message: string; headers: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.status, message: error.message, headers: error.headers };
  if (isRtinferError(error)) {
    const headers: Record<string, string> = error.status === 429 || error.status === 503 ? { 'retry-after': '1' } : {};
    if (error.code === 'RTI_ERR_INFERENCE_FAILED') {
      log(error);
      return {
        status: error.status,
        message: 'inference failed in onnxruntime for this input (the server log has the details)',
        headers,
      };
    }
    return { status: error.status, message: firstLine(error), headers };
  }
  log(error);
  return { status: 500, message: 'internal error (the server log has the details)', headers: {} };
}

export function sendError(res: ServerResponse, error: unknown, log?: InternalErrorLog): number {
  const { status, message, headers } = errorAnswer(error, log);
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  sendJson(res, status, { error: message }, headers);
  return status;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time comparison of `Authorization: Bearer <token>`. */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  return sameToken(m[1] ?? '', token);
}

/** Constant-time check of a `?token=` query parameter (for the few paths that accept one). */
export function queryTokenAllowed(url: URL, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = url.searchParams.get('token');
  return given !== null && sameToken(given, token);
}
