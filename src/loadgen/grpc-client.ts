/**
 * A lean gRPC client over node:http2 for the load generator's hot path: unary calls with messages
 * serialized by the caller (once, for a sample sent again and again), framed as gRPC frames them
 * (a flag byte, a 4-byte big-endian length, the message), statuses read from the trailers.
 *
 * Why not @grpc/grpc-js's client: a load generator that spends more CPU per request than the server
 * it measures shares the machine with it and measures itself. grpc-js's client builds an
 * interceptor chain, a resolving call and a status object per call; this one is a stream per call
 * on a few HTTP/2 sessions (the HTTP client's efficiency standard: bench/loadgen-capacity).
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';

export interface GrpcReply {
  /** The response message (the first), empty for an error. */
  message: Buffer;
  /** grpc-status (0 is OK). */
  status: number;
  details: string;
  /** Trailing metadata (and headers), lower-cased names. */
  metadata: Record<string, string>;
}

/** Streams per session before another session is opened (servers allow at least 100 by default). */
const STREAMS_PER_SESSION = 64;
const STREAM_WINDOW = 4 * 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;

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

interface Session {
  h2: ClientHttp2Session;
  active: number;
  dead: boolean;
}

export class GrpcH2Client {
  readonly #authority: string;
  readonly #sessions: Session[] = [];
  /**
   * Framed messages by message: a load generator sends the same sample again and again, and
   * framing copies it (110 KB: 100 µs of client CPU and the garbage, per call).
   */
  readonly #framed = new WeakMap<Buffer, Buffer>();
  #closed = false;

  /** `address` is host:port (h2c, no TLS). */
  constructor(address: string) {
    this.#authority = `http://${address}`;
  }

  #session(): Session {
    let best: Session | undefined;
    for (const s of this.#sessions)
      if (!s.dead && s.active < STREAMS_PER_SESSION && (!best || s.active < best.active)) best = s;
    if (best) return best;
    // HTTP/2's default 64 KiB windows make a large answer wait for WINDOW_UPDATE round trips (the
    // server's gRPC port opens the same sizes for requests: grpc-service.ts).
    const h2 = http2.connect(this.#authority, { settings: { initialWindowSize: STREAM_WINDOW } });
    h2.once('connect', () => h2.setLocalWindowSize(CONNECTION_WINDOW));
    const s: Session = { h2, active: 0, dead: false };
    const drop = (): void => {
      s.dead = true;
      const i = this.#sessions.indexOf(s);
      if (i >= 0) this.#sessions.splice(i, 1);
    };
    h2.on('error', drop);
    h2.on('close', drop);
    h2.on('goaway', drop);
    this.#sessions.push(s);
    return s;
  }

  /** One unary call; rejects only when no gRPC status came back (a transport failure or the timeout). */
  call(path: string, message: Buffer, timeoutMs: number, metadata: Record<string, string> = {}): Promise<GrpcReply> {
    if (this.#closed) return Promise.reject(new Error('the client is closed'));
    return new Promise((resolve, reject) => {
      const s = this.#session();
      s.active++;
      let settled = false;
      const stream = s.h2.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
        ...metadata,
      });
      const chunks: Buffer[] = [];
      let headers: IncomingHttpHeaders = {};
      const finish = (trailers: IncomingHttpHeaders): void => {
        if (settled) return;
        settled = true;
        s.active--;
        const all = { ...headers, ...trailers };
        const status = Number(all['grpc-status']);
        if (!Number.isInteger(status)) {
          reject(new Error(`no grpc-status in the answer (HTTP ${String(headers[':status'] ?? '?')})`));
          return;
        }
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        const length = body.length >= 5 ? body.readUInt32BE(1) : 0;
        const meta: Record<string, string> = {};
        for (const [k, v] of Object.entries(all)) if (!k.startsWith(':') && typeof v === 'string') meta[k] = v;
        resolve({
          message: body.subarray(5, 5 + length),
          status,
          details: decodeDetails(all['grpc-message'] as string | undefined),
          metadata: meta,
        });
      };
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        s.active--;
        stream.close();
        reject(e);
      };
      stream.setTimeout(timeoutMs + 1000, () => fail(new Error(`no answer within ${timeoutMs} ms`)));
      stream.on('response', (h) => {
        headers = h;
        // A trailers-only answer (an error before any message) carries its status in the headers.
        if (h['grpc-status'] !== undefined && stream.endAfterHeaders) finish({});
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('trailers', (t) => finish(t));
      stream.on('end', () => finish({}));
      stream.on('error', (e) => fail(e));
      let framed = this.#framed.get(message);
      if (!framed) {
        framed = frame(message);
        this.#framed.set(message, framed);
      }
      stream.end(framed);
    });
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#sessions) s.h2.close();
    this.#sessions.length = 0;
  }
}
