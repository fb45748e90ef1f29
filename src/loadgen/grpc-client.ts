/**
 * A lean gRPC client for the load generator's hot path: unary calls over HTTP/2 (h2c) spoken on a
 * plain socket, as the HTTP client speaks HTTP/1.1 (http-client.ts). Messages are serialized by the
 * caller (once, for a sample sent again and again) and framed as gRPC frames them (a flag byte, a
 * 4-byte big-endian length, the message); statuses come from the trailers.
 *
 * Why not @grpc/grpc-js's client, nor node:http2: a load generator that spends more CPU per request
 * than the server it measures shares the machine with it and measures itself. node:http2 builds a
 * Duplex stream, an async resource and header objects per request: 1.04 ms of CPU per PP-OCR
 * classifier call on the 2-core workplace machine, against the raw-socket HTTP client's 0.40
 * (bench/protocols). Here a call is a HEADERS frame and DATA frames written in one go, and the
 * answer's frames parsed as they come (h2-connection.ts).
 */
import { MessageDecoder } from '../protocol/grpc-frames.js';
import { REQUEST_START_HEADER, requestStartValue } from '../protocol/request-start.js';
import { H2Connection, NO_ANSWER, type H2Reply } from './h2-connection.js';
import { encodeHeaders } from './hpack.js';

export interface GrpcReply {
  /** The response message (the first), empty for an error. */
  message: Buffer;
  /** grpc-status (0 is OK). */
  status: number;
  details: string;
  /** Trailing metadata (and headers), lower-cased names. */
  metadata: Record<string, string>;
}

/** Streams per connection before another is opened (servers allow at least 100 by default). */
const STREAMS_PER_CONNECTION = 64;

function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

function decodeDetails(v: string | undefined): string {
  if (!v) return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function toGrpcReply(r: H2Reply): GrpcReply {
  const all: Record<string, string> = {};
  for (const [k, v] of r.headers) all[k] = v;
  for (const [k, v] of r.trailers) all[k] = v;
  const status = Number(all['grpc-status'] ?? NaN);
  if (!Number.isInteger(status)) throw new Error(`no grpc-status in the answer (HTTP ${all[':status'] ?? '?'})`);
  const body = r.body;
  if (r.truncated) throw new Error('a truncated gRPC message in the answer');
  if (body.length > 0 && body.length < 5) throw new Error('a truncated gRPC message in the answer');
  if (body.length > 0 && body[0] !== 0) throw new Error('a compressed gRPC message, though none was accepted');
  const length = body.length >= 5 ? body.readUInt32BE(1) : 0;
  if (body.length > 0 && body.length < 5 + length) throw new Error('a truncated gRPC message in the answer');
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) if (!k.startsWith(':')) metadata[k] = v;
  return { message: body.subarray(5, 5 + length), status, details: decodeDetails(all['grpc-message']), metadata };
}

export class GrpcH2Client {
  readonly #host: string;
  readonly #port: number;
  readonly #connections: H2Connection[] = [];
  /**
   * Framed messages by message: a load generator sends the same sample again and again, and
   * framing copies it (110 KB: 100 µs of client CPU and the garbage, per call).
   */
  readonly #framed = new WeakMap<Buffer, Buffer>();
  /** Header blocks by path, timeout and metadata: the same few, again and again. */
  readonly #blocks = new Map<string, Buffer>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  /** `address` is host:port (h2c, no TLS). */
  constructor(address: string) {
    const colon = address.lastIndexOf(':');
    this.#host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(address.slice(colon + 1));
    // One timer for every call's timeout, as the HTTP client's pool has (a timer per call costs CPU).
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const c of this.#connections) c.expire(now);
    }, 250);
    this.#sweep.unref();
  }

  #connection(): H2Connection {
    let best: H2Connection | undefined;
    for (const c of this.#connections)
      if (c.usable && c.active < Math.min(STREAMS_PER_CONNECTION, c.maxStreams) && (!best || c.active < best.active))
        best = c;
    if (best) return best;
    const c = new H2Connection(this.#host, this.#port, () => {
      const i = this.#connections.indexOf(c);
      if (i >= 0) this.#connections.splice(i, 1);
    });
    this.#connections.push(c);
    return c;
  }

  /**
   * One unary call; rejects only when no gRPC status came back (a transport failure or the timeout).
   * The answer is read into one buffer as it arrives; with `alignField`, placed so that that
   * length-delimited field's first entry (a raw tensor) starts at a multiple of 8 bytes; with
   * `keep` false, read through and dropped (the reply's message is empty): a load generator that
   * reads the status alone spares a copy of every answer (1.2 MB on yolox_nano). `dueAt`
   * (performance.now()): when the call was due, sent as `x-request-start` metadata.
   */
  async call(
    path: string,
    message: Buffer,
    timeoutMs: number,
    metadata: Record<string, string> = {},
    alignField = 0,
    keep = true,
    dueAt?: number,
  ): Promise<GrpcReply> {
    if (this.#closed) throw new Error('the client is closed');
    const timeout = `${Math.max(1, Math.ceil(timeoutMs))}m`;
    const extra = Object.entries(metadata);
    const key = extra.length === 0 ? `${path} ${timeout}` : JSON.stringify([path, timeout, extra]);
    let block = this.#blocks.get(key);
    if (!block) {
      block = encodeHeaders([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', path],
        [':authority', `${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
        ['grpc-timeout', timeout],
        ...extra.map(([k, v]): [string, string] => [k.toLowerCase(), v]),
      ]);
      if (this.#blocks.size < 64) this.#blocks.set(key, block);
    }
    // The cached block's fields, then the stamp (literals without indexing: blocks concatenate).
    if (dueAt !== undefined)
      block = Buffer.concat([block, encodeHeaders([[REQUEST_START_HEADER, requestStartValue(dueAt)]])]);
    let framed = this.#framed.get(message);
    if (!framed) {
      framed = frame(message);
      this.#framed.set(message, framed);
    }
    // The call's own timeout is the server's to enforce (grpc-timeout); this one is for a server that never answers.
    let reply: H2Reply;
    try {
      reply = await this.#connection().request(
        block,
        framed,
        performance.now() + timeoutMs + 1000,
        new MessageDecoder(-1, alignField, !keep),
      );
    } catch (error) {
      if ((error as Error).message === NO_ANSWER) throw new Error(`no answer within ${timeoutMs} ms`);
      throw error;
    }
    return toGrpcReply(reply);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const c of [...this.#connections]) c.close(new Error('the client is closed'));
    this.#connections.length = 0;
  }
}
