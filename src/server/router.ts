/**
 * Routes as data: each declares its method, path template, auth and whether it serves a model;
 * the router matches a path once and decodes its parameters once (a bad %-escape is one 400 here,
 * not a throw in each handler). As fastify's route table does, the rules live with the route and
 * the server applies them in one place.
 */
import { decodePathPart, HttpError, quote } from './http-io.js';
import type { RouteSpec } from './types.js';

export interface CompiledRoute {
  spec: RouteSpec;
  pattern: RegExp;
}

export interface RouteMatch {
  route: CompiledRoute;
  params: Readonly<Record<string, string>>;
}

/** `/v2/models/{name}[/versions/{version}]/infer` → a regular expression with named groups. */
export function compileTemplate(template: string): RegExp {
  let source = '';
  for (const part of template.split(/(\{\w+\}|\[|\])/)) {
    if (part === '[') source += '(?:';
    else if (part === ']') source += ')?';
    else if (/^\{\w+\}$/.test(part)) source += `(?<${part.slice(1, -1)}>[^/]+)`;
    else source += part.replace(/[.*+?^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * Targets whose path `new URL` would give back as they are: unreserved characters and slashes only
 * (no escape, query, fragment, backslash or colon), not starting `//` (a host to URL), and no `.`
 * or `..` segment.
 */
const PLAIN_TARGET = /^\/(?!\/)[A-Za-z0-9_~./-]*$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/**
 * A request's target: its path (trailing slashes dropped), and its URL only when a route asks for
 * the query. Most targets are plain paths, read as they are: parsing every request's URL cost a
 * refused request's handling a visible share of its time.
 */
export class RequestTarget {
  readonly path: string;
  readonly #raw: string;
  #url: URL | undefined;

  /** Throws a 400 HttpError for a target that is not a URL path. */
  constructor(raw: string) {
    this.#raw = raw;
    if (PLAIN_TARGET.test(raw) && !DOT_SEGMENT.test(raw)) {
      this.path = trimSlashes(raw);
      return;
    }
    try {
      this.#url = parseTarget(raw);
    } catch {
      throw new HttpError(400, 'invalid request target');
    }
    this.path = trimSlashes(this.#url.pathname);
  }

  get url(): URL {
    return (this.#url ??= parseTarget(this.#raw));
  }
}

/** A path is appended to the base: resolved against it, '//v2/models/m' would name a host 'v2'. */
function parseTarget(raw: string): URL {
  return raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw, 'http://localhost');
}

function trimSlashes(path: string): string {
  return path.replace(/\/+$/, '') || '/';
}

/** Paths matched before, kept for the next request (bounded: paths are the client's choice). */
const MATCH_CACHE_SIZE = 256;

export class Router {
  readonly #routes: CompiledRoute[] = [];
  /**
   * `${method} ${path}` → its match: a server sees the same few paths again and again, and trying
   * some 30 patterns in turn cost ~10 µs of the HTTP thread per request (classifier profile).
   */
  readonly #matched = new Map<string, RouteMatch>();

  add(spec: RouteSpec): void {
    if (this.#routes.some((r) => r.spec.method === spec.method && r.spec.path === spec.path)) {
      throw new Error(`route ${spec.method} ${spec.path} is registered twice`);
    }
    this.#routes.push({ spec, pattern: compileTemplate(spec.path) });
    this.#matched.clear();
  }

  /** The route for a request; 404 for an unknown path, 405 (with Allow) for a known path and another method. */
  match(method: string, path: string): RouteMatch {
    const key = `${method} ${path}`;
    const seen = this.#matched.get(key);
    if (seen) return seen;
    const found = this.#find(method, path);
    if (this.#matched.size >= MATCH_CACHE_SIZE) this.#matched.clear();
    this.#matched.set(key, found);
    return found;
  }

  #find(method: string, path: string): RouteMatch {
    // HEAD is GET without the body (RFC 9110), which node's response leaves out by itself.
    const wanted = method === 'HEAD' ? 'GET' : method;
    let allowed: string[] | undefined;
    for (const route of this.#routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.spec.method !== wanted) {
        (allowed ??= []).push(...(route.spec.method === 'GET' ? ['GET', 'HEAD'] : [route.spec.method]));
        continue;
      }
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) params[k] = decodePathPart(v);
      // Shared by every request of this path (the cache): nobody may change it.
      return { route, params: Object.freeze(params) };
    }
    if (allowed) {
      const list = [...new Set(allowed)].join(', ');
      throw new HttpError(405, `${method} is not allowed on ${quote(path)} (allowed: ${list})`, { allow: list });
    }
    throw new HttpError(404, `no endpoint ${method} ${quote(path)}`);
  }

  /** Methods served at some path (CORS preflight answers with them). */
  methodsFor(path: string): string[] {
    return [...new Set(this.#routes.filter((r) => r.pattern.test(path)).map((r) => r.spec.method))];
  }
}
