/**
 * Who may talk to the server from a browser. A page on any site can send requests to a server on
 * the user's loopback (no token by default), and with DNS rebinding read the answers too. So:
 * - the Host header must name this server: loopback names, the address it is bound to, or one of
 *   `allowedHosts` (a wildcard bind such as 0.0.0.0 is meant for the network, reached by names we
 *   cannot know, so it accepts any Host unless `allowedHosts` is set);
 * - a request with an Origin must come from this server's own origin or one listed in `cors`
 *   (answered with CORS headers). Clients that are not browsers send no Origin and are not affected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { HttpError, quote } from './http-io.js';
import type { RequestGuard, ServerConfig } from './types.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '']);

/** The host part of a Host header value (lower case, no port, IPv6 without brackets). */
export function hostOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.includes(host) || host.endsWith('.localhost') || (isIP(host) === 4 && host.startsWith('127.'));
}

export class WebGuard implements RequestGuard {
  readonly #anyHost: boolean;
  readonly #hosts = new Set<string>();
  readonly #anyOrigin: boolean;
  readonly #origins: ReadonlySet<string>;

  constructor(config: Pick<ServerConfig, 'host' | 'allowedHosts' | 'cors'>) {
    const listed = config.allowedHosts.map((h) => hostOf(h));
    this.#anyHost = listed.includes('*') || (listed.length === 0 && WILDCARD_BINDS.has(config.host));
    for (const h of [...listed, hostOf(config.host)]) this.#hosts.add(h);
    this.#anyOrigin = config.cors.includes('*');
    this.#origins = new Set(config.cors.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  }

  /** Also accept the address the server ended up bound to (known once listening). */
  allowBoundAddress(address: string): void {
    this.#hosts.add(hostOf(address));
  }

  hostAllowed(header: string | undefined): boolean {
    // HTTP/1.0 clients may omit Host; browsers never do, so there is nothing to rebind.
    if (header === undefined || this.#anyHost) return true;
    const host = hostOf(header);
    return isLoopback(host) || this.#hosts.has(host);
  }

  check(req: IncomingMessage): { crossOrigin?: string } {
    const host = req.headers.host;
    if (!this.hostAllowed(host)) {
      throw new HttpError(403, `Host '${quote(host ?? '')}' is not a name of this server (add it with --allowed-host)`);
    }
    const origin = req.headers.origin;
    if (origin === undefined) return {};
    let parsed: URL | undefined;
    try {
      parsed = origin === 'null' ? undefined : new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed && host !== undefined && parsed.host === host.toLowerCase()) return {};
    const normalized = origin.toLowerCase();
    if (parsed && (this.#anyOrigin || this.#origins.has(normalized))) return { crossOrigin: origin };
    throw new HttpError(403, `cross-origin request from '${quote(origin)}' refused (allow the origin with --cors)`);
  }
}

const EXPOSED = 'inference-header-content-length, server-timing, retry-after, x-rtinfer-batch-size';

/** CORS headers on an answer to an allowed cross origin. */
export function setCorsHeaders(res: ServerResponse, origin: string): void {
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-expose-headers', EXPOSED);
}

/** The answer to a CORS preflight (OPTIONS) for an allowed origin. */
export function answerPreflight(res: ServerResponse, origin: string, methods: readonly string[]): void {
  setCorsHeaders(res, origin);
  res.writeHead(204, {
    'access-control-allow-methods': [...methods, 'OPTIONS'].join(', '),
    'access-control-allow-headers': 'authorization, content-type, inference-header-content-length',
    'access-control-max-age': '600',
  });
  res.end();
}
