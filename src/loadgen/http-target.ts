/**
 * A load target that speaks KServe v2 over HTTP (Triton, OpenVINO Model Server, KServe runtimes,
 * rtinfer serve). Given a model URL such as http://127.0.0.1:8000/v2/models/yolox_nano, it reads
 * the model metadata for the inputs (node:http, once), then POSTs `.../infer` with binary tensors
 * (or JSON) through the lean keep-alive client of http-client.ts: one connection per outstanding
 * request, reused, so connection setup is not part of what is measured, and each sample is
 * serialized once (a load generator sends the same samples again and again). Error statuses map
 * back to the engine's refusal codes (429 queue full, 503 unavailable, 504 deadline).
 */
import http from 'node:http';
import { ServerTimingRecorder } from './server-timing.js';
import { RtinferError, firstLine, type ErrorCode } from '../errors.js';
import type { TensorDType } from '../runtime/dtypes.js';
import type { TensorSpec } from '../runtime/session.js';
import { HttpPool, serializeRequest, stampRequest, type RawResponse } from './http-client.js';
import {
  decodeInferResponse,
  encodeInferRequest,
  HEADER_LENGTH,
  specsFromMetadata,
  type V2Parameters,
  type V2Tensor,
} from '../protocol/kserve-v2.js';

export interface HttpTargetOptions {
  /** Send inputs and ask for outputs as binary tensors (default true); false sends JSON. */
  binary?: boolean;
  /** Sockets kept open (default 64). */
  maxSockets?: number;
  /** Per-request timeout (default 60 s). */
  timeoutMs?: number;
  /** Request parameters sent with every inference, e.g. { timeout: 50_000 } (µs) for a deadline. */
  parameters?: V2Parameters;
  /**
   * Decode response tensors (default true). A load generator that only needs the status can skip
   * it: the client's CPU competes with the server's when both share a machine.
   */
  decode?: boolean;
}

export interface HttpTarget {
  url: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /**
   * The output tensors, or [] when not decoding (the target's `decode` option, or `decode` here).
   * `dueAt` (performance.now()): when the query was due, sent as X-Request-Start.
   */
  infer(
    feeds: Record<string, { type: string; dims: readonly number[]; data: unknown }>,
    decode?: boolean,
    dueAt?: number,
  ): Promise<V2Tensor[]>;
  /** The server's Server-Timing split of the 200 answers so far (rtinfer serve sends one). */
  readonly serverTiming: ServerTimingRecorder;
  close(): void;
}

const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  429: 'RTI_ERR_ENGINE_QUEUE_FULL',
  503: 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
  504: 'RTI_ERR_ENGINE_DEADLINE_EXPIRED',
};

interface Reply {
  status: number;
  body: Buffer;
}

function request(
  agent: http.Agent,
  url: URL,
  method: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(new RtinferError('RTI_ERR_TARGET_UNREACHABLE', `${url.href}: ${e.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new RtinferError('RTI_ERR_TARGET_UNREACHABLE', `${url.href}: ${e.message}`)));
    req.end(body);
  });
}

function errorFor(url: URL, reply: Reply): RtinferError {
  let message = reply.body.toString('utf8').slice(0, 300);
  try {
    const parsed = JSON.parse(message) as { error?: unknown };
    if (typeof parsed.error === 'string') message = parsed.error;
  } catch {
    // not JSON: keep the text
  }
  return new RtinferError(
    STATUS_CODES[reply.status] ?? 'RTI_ERR_TARGET_HTTP',
    `${url.pathname}: HTTP ${reply.status}: ${firstLine(message)}`,
  );
}

/** A load generator's feeds as v2 tensors (the same arrays, named). */
export function feedsAsTensors(
  feeds: Record<string, { type: string; dims: readonly number[]; data: unknown }>,
): V2Tensor[] {
  return Object.entries(feeds).map(([name, t]) => ({
    name,
    type: t.type as TensorDType,
    dims: [...t.dims],
    data: t.data as V2Tensor['data'],
  }));
}

export function parseModelUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --target '${text}' (expected a URL such as http://127.0.0.1:8000/v2/models/NAME)`,
    );
  }
  if (url.protocol !== 'http:')
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': only http:// is supported`);
  if (!/^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/?$/.test(url.pathname)) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --target '${text}': the path must be /v2/models/NAME[/versions/V]`,
    );
  }
  url.pathname = url.pathname.replace(/\/$/, '');
  return url;
}

export async function createHttpTarget(modelUrl: string, options: HttpTargetOptions = {}): Promise<HttpTarget> {
  const base = parseModelUrl(modelUrl);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const binary = options.binary ?? true;
  const decode = options.decode ?? true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  const meta = await request(agent, base, 'GET', undefined, { accept: 'application/json' }, timeoutMs);
  if (meta.status !== 200) {
    agent.destroy();
    throw errorFor(base, meta);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(meta.body.toString('utf8'));
  } catch {
    agent.destroy();
    throw new RtinferError('RTI_ERR_TARGET_HTTP', `${base.href}: model metadata is not JSON`);
  }
  const { inputs, outputs } = specsFromMetadata(parsed, base.href);
  const inferUrl = new URL(`${base.pathname}/infer`, base);
  agent.destroy();
  const pool = new HttpPool(base.hostname, Number(base.port || 80), options.maxSockets ?? 64, timeoutMs);
  const serialized = new WeakMap<object, Buffer>();
  const serverTiming = new ServerTimingRecorder();
  const serialize = (feeds: Record<string, { type: string; dims: readonly number[]; data: unknown }>): Buffer => {
    const msg = encodeInferRequest(feedsAsTensors(feeds), {
      binaryInputs: binary,
      binaryOutputs: binary,
      ...(options.parameters ? { parameters: options.parameters } : {}),
    });
    return serializeRequest('POST', base.host, inferUrl.pathname, msg.headers, msg.body);
  };
  return {
    url: base.href,
    inputs,
    outputs,
    serverTiming,
    async infer(feeds, decodeThis = decode, dueAt) {
      let wire = serialized.get(feeds);
      if (!wire) {
        wire = serialize(feeds);
        serialized.set(feeds, wire);
      }
      let reply: RawResponse;
      try {
        reply = await pool.request(dueAt === undefined ? wire : stampRequest(wire, dueAt));
      } catch (error) {
        throw new RtinferError('RTI_ERR_TARGET_UNREACHABLE', `${inferUrl.href}: ${(error as Error).message}`);
      }
      if (reply.status !== 200) throw errorFor(inferUrl, reply);
      serverTiming.record(reply.headers['server-timing']);
      return decodeThis ? decodeInferResponse(reply.body, reply.headers[HEADER_LENGTH]) : [];
    },
    close: () => pool.close(),
  };
}
