/**
 * One HTTP/2 connection (RFC 9113, cleartext with prior knowledge) for the gRPC client
 * (grpc-client.ts): requests whose header block and body the caller gives as bytes, answers as
 * their header lists and body. What a client must do, it does: SETTINGS (acknowledged and
 * applied), flow control both ways (the peer's windows bound what is sent; WINDOW_UPDATE as
 * answers are read), PING answered, GOAWAY and RST_STREAM honoured, HPACK decoded in order
 * (hpack.ts). Server push is refused in the SETTINGS; priority is ignored.
 *
 * Cheap per request by construction: a request is its frames written in one corked write, and a
 * DATA frame's payload is kept as views of the socket's chunks, joined once when the answer ends.
 */
import net from 'node:net';
import { HpackDecoder } from './hpack.js';

export interface H2Reply {
  headers: Array<[string, string]>;
  /** Empty for a trailers-only answer (its headers then carry everything). */
  trailers: Array<[string, string]>;
  /** The whole body; with a BodyDecoder, the first message it read (empty for none). */
  body: Buffer;
  /** With a BodyDecoder: the body ended inside a message. */
  truncated?: boolean;
}

/**
 * Reads a body as its DATA frames arrive (grpc-frames.ts's MessageDecoder): the messages each
 * piece completes; `partial` when it holds bytes of one not yet complete.
 */
export interface BodyDecoder {
  write(piece: Buffer): Buffer[];
  readonly partial: boolean;
}

/** The error message of a request cancelled at its deadline. */
export const NO_ANSWER = 'no answer in time';

const EMPTY = Buffer.alloc(0);
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PUSH_PROMISE = 5;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const CANCEL = 0x8;

/** HTTP/2's defaults until the peer's SETTINGS say otherwise. */
const DEFAULT_WINDOW = 65_535;
const DEFAULT_FRAME = 16_384;
/**
 * This side's receive windows: HTTP/2's 64 KiB defaults make a large answer (yolox_nano's 1.2 MB)
 * wait for WINDOW_UPDATE round trips (bench/transport: 11.3-12.1 ms against 1.4-2.1 ms for 2 MB).
 */
const STREAM_WINDOW = 4 * 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** The largest frame this side accepts (SETTINGS_MAX_FRAME_SIZE). */
const MAX_FRAME = 1024 * 1024;

interface Stream {
  id: number;
  resolve: (r: H2Reply) => void;
  reject: (e: Error) => void;
  deadline: number;
  headers: Array<[string, string]> | undefined;
  trailers: Array<[string, string]>;
  parts: Buffer[];
  have: number;
  decoder: BodyDecoder | undefined;
  /** Bytes received since this stream's last WINDOW_UPDATE. */
  unacked: number;
  body: Buffer;
  sent: number;
  sendWindow: number;
}

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

function windowUpdate(stream: number, increment: number): Buffer {
  const f = Buffer.allocUnsafe(13);
  frameHeader(4, WINDOW_UPDATE, 0, stream).copy(f);
  f.writeUInt32BE(increment, 9);
  return f;
}

export class H2Connection {
  readonly #sock: net.Socket;
  readonly #hpack = new HpackDecoder();
  readonly #streams = new Map<number, Stream>();
  /** Streams with body bytes not yet sent (flow control holds them). */
  readonly #sending: Stream[] = [];
  readonly #onGone: () => void;
  #nextId = 1;
  #peerWindow = DEFAULT_WINDOW;
  #peerFrame = DEFAULT_FRAME;
  #connWindow = DEFAULT_WINDOW;
  #unacked = 0;
  #gone = false;
  maxStreams = 100;
  active = 0;

  // The frame being read.
  readonly #head = Buffer.allocUnsafe(9);
  #headHave = 0;
  /** Payload bytes of the current frame still to come; -1 while reading a frame header. */
  #left = -1;
  #type = 0;
  #flags = 0;
  #id = 0;
  #length = 0;
  #payload: Buffer[] = [];
  /** A header block waiting for its CONTINUATION frames. */
  #block: { id: number; parts: Buffer[]; endStream: boolean } | undefined;

  constructor(host: string, port: number, onGone: () => void) {
    this.#onGone = onGone;
    this.#sock = net.connect({ host, port, noDelay: true });
    const settings = Buffer.allocUnsafe(18);
    const entries: Array<[number, number]> = [
      [0x2, 0], // ENABLE_PUSH
      [0x4, STREAM_WINDOW], // INITIAL_WINDOW_SIZE
      [0x5, MAX_FRAME], // MAX_FRAME_SIZE
    ];
    entries.forEach(([k, v], i) => {
      settings.writeUInt16BE(k, i * 6);
      settings.writeUInt32BE(v, i * 6 + 2);
    });
    this.#sock.cork();
    this.#sock.write(PREFACE);
    this.#sock.write(frameHeader(settings.length, SETTINGS, 0, 0));
    this.#sock.write(settings);
    this.#sock.write(windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    this.#sock.uncork();
    this.#sock.on('data', (c: Buffer) => {
      try {
        this.#onData(c);
      } catch (e) {
        this.close(e as Error);
      }
    });
    this.#sock.on('error', (e) => this.close(e));
    this.#sock.on('close', () => this.close(new Error('connection closed')));
  }

  /** Open for new requests. */
  get usable(): boolean {
    return !this.#gone && this.#nextId < 2 ** 31;
  }

  /**
   * One request: its header block (hpack.ts encodeHeaders), its whole body; `deadline` a
   * performance.now() time; the answer's body joined once it ends, or read by `decoder` as it comes.
   */
  request(block: Buffer, body: Buffer, deadline: number, decoder?: BodyDecoder): Promise<H2Reply> {
    return new Promise((resolve, reject) => {
      if (!this.usable) return reject(new Error('the connection is closing'));
      const id = this.#nextId;
      this.#nextId += 2;
      const s: Stream = {
        id,
        resolve,
        reject,
        deadline,
        headers: undefined,
        trailers: [],
        parts: [],
        have: 0,
        decoder,
        unacked: 0,
        body,
        sent: 0,
        sendWindow: this.#peerWindow,
      };
      this.#streams.set(id, s);
      this.active++;
      this.#sock.cork();
      // The block in one HEADERS frame, or followed by CONTINUATIONs when it is larger than a frame.
      for (let at = 0; at === 0 || at < block.length;) {
        const n = Math.min(block.length - at, this.#peerFrame);
        const last = at + n >= block.length;
        this.#sock.write(frameHeader(n, at === 0 ? HEADERS : CONTINUATION, last ? END_HEADERS : 0, id));
        this.#sock.write(block.subarray(at, at + n));
        at += n;
        if (n === 0) break;
      }
      this.#sending.push(s);
      this.#flush();
      this.#sock.uncork();
    });
  }

  /** Cancels the requests past their deadline. */
  expire(now: number): void {
    for (const s of this.#streams.values())
      if (s.deadline <= now) {
        this.#sock.write(Buffer.concat([frameHeader(4, RST_STREAM, 0, s.id), Buffer.from([0, 0, 0, CANCEL])]));
        this.#end(s, new Error(NO_ANSWER));
      }
  }

  close(error: Error): void {
    if (!this.#gone) this.#onGone();
    this.#gone = true;
    for (const s of [...this.#streams.values()]) this.#end(s, error);
    this.#sock.destroy();
  }

  /** Sends what the windows allow of each waiting body, in order. */
  #flush(): void {
    while (this.#sending.length > 0) {
      const s = this.#sending[0]!;
      while (s.sent < s.body.length || s.body.length === 0) {
        const n = Math.min(s.body.length - s.sent, this.#peerFrame, this.#connWindow, s.sendWindow);
        if (n <= 0 && s.body.length > 0) return;
        const last = s.sent + n >= s.body.length;
        this.#sock.write(frameHeader(n, DATA, last ? END_STREAM : 0, s.id));
        if (n > 0) this.#sock.write(s.body.subarray(s.sent, s.sent + n));
        s.sent += n;
        this.#connWindow -= n;
        s.sendWindow -= n;
        if (last) break;
      }
      this.#sending.shift();
    }
  }

  #end(s: Stream, error?: Error): void {
    if (!this.#streams.delete(s.id)) return;
    this.active--;
    const k = this.#sending.indexOf(s);
    if (k >= 0) this.#sending.splice(k, 1);
    if (error) s.reject(error);
    else if (s.decoder)
      s.resolve({
        headers: s.headers ?? [],
        trailers: s.trailers,
        body: s.parts[0] ?? EMPTY,
        truncated: s.decoder.partial,
      });
    else
      s.resolve({
        headers: s.headers ?? [],
        trailers: s.trailers,
        body: s.parts.length === 1 ? s.parts[0]! : Buffer.concat(s.parts, s.have),
      });
    // Gone and idle: closed outright (a server that sent GOAWAY need not close its side, and a
    // half-closed socket would hold the process and the server's close open).
    if (this.#gone && this.#streams.size === 0) this.#sock.destroy();
  }

  #onData(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#left < 0) {
        const n = Math.min(9 - this.#headHave, chunk.length - i);
        chunk.copy(this.#head, this.#headHave, i, i + n);
        this.#headHave += n;
        i += n;
        if (this.#headHave < 9) return;
        this.#headHave = 0;
        this.#length = this.#head.readUIntBE(0, 3);
        this.#type = this.#head[3]!;
        this.#flags = this.#head[4]!;
        this.#id = this.#head.readUInt32BE(5) & 0x7fffffff;
        if (this.#length > MAX_FRAME)
          throw new Error(`HTTP/2: a ${this.#length}-byte frame, over the ${MAX_FRAME} allowed`);
        this.#left = this.#length;
        this.#payload = [];
      }
      const n = Math.min(this.#left, chunk.length - i);
      if (n > 0) {
        const piece = chunk.subarray(i, i + n);
        // An unpadded DATA frame's bytes go straight to their stream: no copy of a large answer per frame.
        if (this.#type === DATA && !(this.#flags & PADDED)) this.#data(piece);
        else this.#payload.push(piece);
        i += n;
        this.#left -= n;
      }
      if (this.#left === 0) {
        this.#left = -1;
        this.#frame();
      }
    }
  }

  #data(piece: Buffer): void {
    const s = this.#streams.get(this.#id);
    if (!s) return;
    s.have += piece.length;
    if (!s.decoder) s.parts.push(piece);
    else for (const m of s.decoder.write(piece)) s.parts.push(m);
  }

  #frame(): void {
    const id = this.#id;
    const flags = this.#flags;
    const type = this.#type;
    if (this.#block && type !== CONTINUATION) throw new Error('HTTP/2: a header block without its CONTINUATION');
    let p = this.#payload.length === 1 ? this.#payload[0]! : Buffer.concat(this.#payload);
    switch (type) {
      case DATA: {
        if (flags & PADDED) {
          const pad = p[0] ?? 0;
          this.#data(p.subarray(1, p.length - pad));
        }
        this.#received(id, this.#length, (flags & END_STREAM) !== 0);
        return;
      }
      case HEADERS:
      case CONTINUATION: {
        if (type === HEADERS) {
          let start = 0;
          let end = p.length;
          if (flags & PADDED) {
            start = 1;
            end -= p[0] ?? 0;
          }
          if (flags & PRIORITY) start += 5;
          p = p.subarray(start, end);
          this.#block = { id, parts: [], endStream: (flags & END_STREAM) !== 0 };
        } else if (!this.#block || this.#block.id !== id) throw new Error('HTTP/2: an unexpected CONTINUATION');
        const block = this.#block!;
        block.parts.push(p);
        if (!(flags & END_HEADERS)) return;
        this.#block = undefined;
        // Decoded even for a stream already gone: the decoder's table must follow every block.
        const fields = this.#hpack.decode(block.parts.length === 1 ? block.parts[0]! : Buffer.concat(block.parts));
        const s = this.#streams.get(id);
        if (!s) return;
        if (s.headers === undefined) s.headers = fields;
        else s.trailers = fields;
        if (block.endStream) this.#end(s);
        return;
      }
      case RST_STREAM: {
        const s = this.#streams.get(id);
        if (s) this.#end(s, new Error(`the server reset the stream (HTTP/2 error ${p.readUInt32BE(0)})`));
        return;
      }
      case SETTINGS: {
        if (flags & ACK) return;
        for (let at = 0; at + 6 <= p.length; at += 6) {
          const key = p.readUInt16BE(at);
          const value = p.readUInt32BE(at + 2);
          if (key === 0x3) this.maxStreams = value;
          else if (key === 0x4) {
            // A new initial window moves every open stream's window by the difference (RFC 9113 §6.9.2).
            for (const s of this.#streams.values()) s.sendWindow += value - this.#peerWindow;
            this.#peerWindow = value;
          } else if (key === 0x5) this.#peerFrame = value;
        }
        this.#sock.cork();
        this.#sock.write(frameHeader(0, SETTINGS, ACK, 0));
        this.#flush();
        this.#sock.uncork();
        return;
      }
      case PING:
        if (!(flags & ACK)) this.#sock.write(Buffer.concat([frameHeader(8, PING, ACK, 0), p.subarray(0, 8)]));
        return;
      case GOAWAY: {
        const last = p.readUInt32BE(0) & 0x7fffffff;
        if (!this.#gone) this.#onGone();
        this.#gone = true;
        const error = new Error(`the server went away (HTTP/2 error ${p.readUInt32BE(4)})`);
        for (const s of [...this.#streams.values()]) if (s.id > last) this.#end(s, error);
        if (this.#streams.size === 0) this.#sock.destroy();
        return;
      }
      case WINDOW_UPDATE: {
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) this.#connWindow += inc;
        else {
          const s = this.#streams.get(id);
          if (s) s.sendWindow += inc;
        }
        this.#sock.cork();
        this.#flush();
        this.#sock.uncork();
        return;
      }
      case PUSH_PROMISE:
        throw new Error('HTTP/2: a PUSH_PROMISE, though push was disabled');
      default:
      // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1, §5.3.2).
    }
  }

  /** Flow control for a DATA frame's `length` bytes; then the stream's end if the frame says so. */
  #received(id: number, length: number, endStream: boolean): void {
    this.#unacked += length;
    const updates: Buffer[] = [];
    if (this.#unacked >= CONNECTION_WINDOW / 2) {
      updates.push(windowUpdate(0, this.#unacked));
      this.#unacked = 0;
    }
    const s = this.#streams.get(id);
    if (s && !endStream) {
      s.unacked += length;
      if (s.unacked >= STREAM_WINDOW / 2) {
        updates.push(windowUpdate(id, s.unacked));
        s.unacked = 0;
      }
    }
    if (updates.length > 0) this.#sock.write(updates.length === 1 ? updates[0]! : Buffer.concat(updates));
    if (s && endStream) this.#end(s);
  }
}
