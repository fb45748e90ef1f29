/**
 * Small HTTP helpers for the server: bounded body reading, JSON and error answers, bearer-token
 * checks. Every error answer is `{"error": "..."}` with the status from the error catalogue.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { firstLine, isRtinferError } from '../errors.js';

export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/**
 * Reads the whole body, refusing (413) beyond `limit` bytes without buffering the rest. The body
 * gets an ArrayBuffer of its own, shifted so that byte `alignAt` lands on an 8-byte boundary: the
 * binary tensors of a v2 request start right after its JSON header, and aligned they can be used in
 * place instead of copied.
 */
export function readBody(req: IncomingMessage, limit: number, alignAt = 0): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, `request body of ${declared} bytes is over the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(new HttpError(413, `request body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        const pad = (8 - (alignAt % 8)) % 8;
        const out = Buffer.from(new ArrayBuffer(size + pad), pad, size);
        let at = 0;
        for (const c of chunks) {
          out.set(c, at);
          at += c.length;
        }
        resolve(out);
      }
    });
    req.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function sendBody(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/** Status, message and headers for any thrown value; refusals carry Retry-After. */
export function errorAnswer(error: unknown): { status: number; message: string; headers: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.status, message: error.message, headers: error.headers };
  if (isRtinferError(error)) {
    const headers: Record<string, string> = error.status === 429 || error.status === 503 ? { 'retry-after': '1' } : {};
    return { status: error.status, message: error.message, headers };
  }
  return { status: 500, message: `internal error: ${firstLine(error)}`, headers: {} };
}

export function sendError(res: ServerResponse, error: unknown): number {
  const { status, message, headers } = errorAnswer(error);
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
