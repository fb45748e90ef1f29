/**
 * Raw bytes to a server on 127.0.0.1, for requests no well-behaved client would send: malformed
 * targets and headers, stalled uploads, WebSocket frames by hand. Every call is bounded in time.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed without an HTTP answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

export function parseAnswer(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = end >= 0 ? raw.slice(end + 4) : '';
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: m ? Number(m[1]) : 0, headers, body, raw };
}

function dechunk(s: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const nl = s.indexOf('\r\n', at);
    if (nl < 0) return out;
    const n = parseInt(s.slice(at, nl), 16);
    if (!(n > 0)) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    at = nl + 2 + n + 2;
  }
}

/**
 * Sends `bytes`, reads until the server closes or one full answer arrived (Content-Length known),
 * or `timeoutMs` passes. Connection: close keeps it to one exchange.
 */
export function rawExchange(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(Buffer.concat(chunks).toString('latin1')));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const a = parseAnswer(Buffer.concat(chunks).toString('latin1'));
      const len = Number(a.headers['content-length']);
      if (
        a.status > 0 &&
        a.raw.includes('\r\n\r\n') &&
        Number.isFinite(len) &&
        Buffer.byteLength(a.body, 'latin1') >= len
      )
        finish();
    });
    socket.write(bytes);
  });
}

/** A request as text: method, target, headers (Host defaults to 127.0.0.1), body. */
export function httpText(
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body: Buffer | string = '',
): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
  const chunked = Object.keys(headers).some((k) => k.toLowerCase() === 'transfer-encoding');
  const length: Record<string, string> =
    !chunked && (b.length > 0 || method === 'POST') ? { 'content-length': String(b.length) } : {};
  const all: Record<string, string> = { host: '127.0.0.1', connection: 'close', ...length, ...headers };
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

/** Opens a WebSocket by hand; resolves with the socket after the 101, or with the refusal. */
export function wsHandshake(
  port: number,
  target: string,
  headers: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<{ socket: net.Socket; answer: RawAnswer }> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no handshake answer'));
    }, timeoutMs);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const answer = parseAnswer(buf.toString('latin1'));
      if (
        answer.status !== 101 &&
        Number(answer.headers['content-length'] ?? 0) > Buffer.byteLength(answer.body, 'latin1')
      )
        return;
      clearTimeout(timer);
      socket.off('data', onData);
      if (answer.status === 101) {
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        if (answer.headers['sec-websocket-accept'] !== accept) reject(new Error('bad Sec-WebSocket-Accept'));
        // Anything after the handshake (frames) is left for the caller.
        const rest = buf.subarray(end + 4);
        if (rest.length > 0) socket.unshift(rest);
      }
      resolve({ socket, answer });
    };
    socket.on('data', onData);
    const all = {
      host: '127.0.0.1',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': key,
      'sec-websocket-version': '13',
      ...headers,
    };
    socket.write(
      `GET ${target} HTTP/1.1\r\n${Object.entries(all)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n`,
    );
  });
}

/** A client→server WebSocket frame; `masked` false makes it a protocol error. */
export function wsFrame(
  opcode: number,
  payload: Buffer,
  options: { masked?: boolean; fin?: boolean; announcedLength?: number } = {},
): Buffer {
  const masked = options.masked ?? true;
  const len = options.announcedLength ?? payload.length;
  const parts: Buffer[] = [];
  const b0 = ((options.fin ?? true) ? 0x80 : 0) | (opcode & 0x0f);
  if (len < 126) parts.push(Buffer.from([b0, (masked ? 0x80 : 0) | len]));
  else if (len < 65536) {
    const h = Buffer.alloc(4);
    h[0] = b0;
    h[1] = (masked ? 0x80 : 0) | 126;
    h.writeUInt16BE(len, 2);
    parts.push(h);
  } else {
    const h = Buffer.alloc(10);
    h[0] = b0;
    h[1] = (masked ? 0x80 : 0) | 127;
    h.writeBigUInt64BE(BigInt(len), 2);
    parts.push(h);
  }
  if (masked) {
    const mask = randomBytes(4);
    parts.push(mask, Buffer.from(payload.map((v, i) => v ^ (mask[i % 4] ?? 0))));
  } else parts.push(payload);
  return Buffer.concat(parts);
}

/** Waits for the socket to close (true) or for `ms` (false). */
export function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
