/**
 * The Open Inference Protocol over gRPC (KServe's GRPCInferenceService) beside REST, on its own
 * port: the same models, engine, deadlines, priorities, token and body budget as the REST routes,
 * through the same inference path (inference.ts).
 *
 * Mapping: the token travels as `authorization: Bearer <token>` metadata; a gRPC deadline becomes
 * the request's deadline (counted from when the message arrived, as REST counts from the first
 * byte; `parameters.timeout` still wins); REST's statuses map to gRPC codes (400 INVALID_ARGUMENT,
 * 401 UNAUTHENTICATED, 404 NOT_FOUND, 413/429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 504
 * DEADLINE_EXCEEDED, else INTERNAL). A request with raw_input_contents is answered with
 * raw_output_contents, a typed one with typed contents (FP16 always raw).
 *
 * Every stream's request must arrive within requestTimeoutMs, as REST's must (else
 * DEADLINE_EXCEEDED, counted as REST's 408); a call whose client left before its answer is counted
 * as 499, nginx's "client closed request".
 */
import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';
import type http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { AbortLike } from '../engine/engine.js';
import { RtinferError } from '../errors.js';
import { MessageDecoder } from '../protocol/grpc-frames.js';
import {
  framedResponse,
  fromGrpcParameters,
  decodeInferRequest,
  fromGrpcTensors,
  GRPC_SERVICE,
  grpcServiceDefinition,
  RAW_INPUT_FIELD,
  reusingResponseSerializer,
  toGrpcTensors,
  type GrpcInferRequest,
  type GrpcInferResponse,
} from '../protocol/grpc-v2.js';
import { RTINFER_VERSION } from '../version.js';
import { errorAnswer, HttpError, type InternalErrorLog } from './http-io.js';
import {
  deadlineExpired,
  PROXY_TIMEOUT_HEADER,
  proxyTimeoutOf,
  recordSuccess,
  refuseIfLate,
  runInference,
  serverTimingHeader,
  timingStages,
} from './inference.js';
import { modelReadiness } from './model-health.js';
import { REQUEST_START_HEADER, requestStartedAt } from '../protocol/request-start.js';
import type { ServerLog } from './server-log.js';
import type { ServerHost } from './types.js';
import { modelMetadataBody, SERVER_EXTENSIONS } from './v2-routes.js';

const STATUS_TO_CODE: ReadonlyArray<[number, grpc.status]> = [
  [400, grpc.status.INVALID_ARGUMENT],
  [401, grpc.status.UNAUTHENTICATED],
  [403, grpc.status.PERMISSION_DENIED],
  [404, grpc.status.NOT_FOUND],
  [408, grpc.status.DEADLINE_EXCEEDED],
  [413, grpc.status.RESOURCE_EXHAUSTED],
  [429, grpc.status.RESOURCE_EXHAUSTED],
  // google.rpc.Code's HTTP mapping; nothing here answers 501, but a refused call counts as one, not as 500.
  [501, grpc.status.UNIMPLEMENTED],
  [503, grpc.status.UNAVAILABLE],
  [504, grpc.status.DEADLINE_EXCEEDED],
];

export function grpcCodeFor(httpStatus: number): grpc.status {
  const exact = STATUS_TO_CODE.find(([s]) => s === httpStatus);
  if (exact) return exact[1];
  return httpStatus >= 400 && httpStatus < 500 ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL;
}

/** The HTTP status a gRPC code stands for in metrics and the live view (they count HTTP statuses). */
function statusFor(code: grpc.status): number {
  return STATUS_TO_CODE.find(([, c]) => c === code)?.[0] ?? 500;
}

/** The status metrics and the access log give a call whose client left before its answer (nginx's). */
const CLIENT_CLOSED_REQUEST = 499;

/** A ModelInfer's answer: the response and its Server-Timing, or a refusal. */
type InferAnswer =
  | { ok: true; response: GrpcInferResponse; serverTiming: string }
  | { ok: false; code: grpc.status; message: string; retry: boolean };

/** The response headers grpc-js sends (the encodings it can read, should a client compress). */
const RESPONSE_HEADERS = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
} as const;

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

export interface GrpcEndpointOptions {
  log: InternalErrorLog;
  logger?: ServerLog;
}

/** The gRPC endpoint of an rtinfer server: listen on a port, close within a bound. */
export class GrpcEndpoint {
  readonly #host: ServerHost;
  readonly #server: grpc.Server;
  readonly #log: InternalErrorLog;
  readonly #logger: ServerLog | undefined;
  #port: number | undefined;

  constructor(host: ServerHost, options: GrpcEndpointOptions) {
    this.#host = host;
    this.#log = options.log;
    this.#logger = options.logger;
    const limit = host.config.maxBodyBytes;
    this.#server = new grpc.Server({
      // The REST body limit applies to gRPC messages too (RESOURCE_EXHAUSTED beyond).
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': Math.max(64, host.config.maxStreams),
      // A client that holds a connection without calls is pinged, and dropped if it does not answer.
      'grpc.keepalive_time_ms': Math.max(10_000, host.config.wsPingIntervalMs),
      'grpc.keepalive_timeout_ms': 10_000,
      // Channelz's per-call counters are read by nothing here (a channelz service is never added).
      'grpc.enable_channelz': 0,
      interceptors: [statusWithMessage],
    });
    widenFlowControl(this.#server);
    const definition = grpcServiceDefinition();
    const infer = definition['ModelInfer']!;
    const service = { ...definition, ModelInfer: { ...infer, responseSerialize: reusingResponseSerializer() } };
    this.#server.addService(service, {
      ServerLive: this.#unary('ServerLive', false, async () => ({ live: true })),
      ServerReady: this.#unary('ServerReady', false, async () => ({
        ready: !host.closing && [...host.table.entries()].every((m) => modelReadiness(m).ready),
      })),
      ModelReady: this.#unary('ModelReady', true, async (req: { name: string; version: string }) => {
        const m = host.findModel(req.name, req.version || undefined);
        return { ready: !host.closing && modelReadiness(m).ready };
      }),
      ServerMetadata: this.#unary('ServerMetadata', true, async () => ({
        name: 'rtinfer',
        version: RTINFER_VERSION,
        extensions: SERVER_EXTENSIONS,
      })),
      ModelMetadata: this.#unary('ModelMetadata', true, async (req: { name: string; version: string }) => {
        const m = host.findModel(req.name, req.version || undefined);
        if (!m.engine)
          throw new HttpError(
            503,
            `model '${m.config.name}' is ${m.state.toLowerCase()}${m.reason ? `: ${m.reason}` : ''}`,
          );
        const meta = modelMetadataBody(m, host.table.versionsOf(m.config.name));
        return {
          name: meta.name,
          versions: meta.versions,
          platform: meta.platform,
          inputs: meta.inputs,
          outputs: meta.outputs,
        };
      }),
      ModelInfer: ((call, callback) => void this.#infer(call, callback)) as Unary<GrpcInferRequest, GrpcInferResponse>,
    });
  }

  /** The bound port once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) => {
        if (error)
          return reject(
            new RtinferError('RTI_ERR_ARG_INVALID', `cannot listen for gRPC on ${address}: ${error.message}`),
          );
        this.#port = bound;
        openConnectionWindows(this.#server);
        takeInferStreams(
          this.#server,
          (stream, headers) => this.#inferStream(stream, headers),
          (stream, headers) => this.#bound(stream, headers),
        );
        resolve(bound);
      });
    });
  }

  /**
   * Stops taking calls, waits for those in flight until `deadlineMs` (a performance.now() time), then
   * cuts the rest.
   */
  async close(deadlineMs: number): Promise<void> {
    if (this.#port === undefined) {
      this.#server.forceShutdown();
      return;
    }
    const graceful = new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    const bound = new Promise<'late'>((resolve) =>
      setTimeout(() => resolve('late'), Math.max(0, deadlineMs - performance.now())).unref(),
    );
    if ((await Promise.race([graceful, bound])) === 'late') this.#server.forceShutdown();
  }

  /** The token check on an `authorization` value (metadata's first, or the stream's header). */
  #authorized(given: unknown): boolean {
    const token = this.#host.config.token;
    if (token === undefined) return true;
    return typeof given === 'string' && sameBearer(given, token);
  }

  #fail(callback: grpc.sendUnaryData<never>, error: unknown): grpc.status {
    const { status, message } = errorAnswer(error, this.#log);
    const code = grpcCodeFor(status);
    const metadata = new grpc.Metadata();
    if (status === 429 || status === 503) metadata.set('retry-after', '1');
    callback({ code, details: message, metadata });
    return code;
  }

  #unary<Req, Res>(endpoint: string, needsToken: boolean, run: (req: Req) => Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      const t0 = performance.now();
      void (async () => {
        let code: grpc.status = grpc.status.OK;
        try {
          if (needsToken && !this.#authorized(call.metadata.get('authorization')[0])) throw unauthenticated();
          callback(null, await run(call.request));
        } catch (error) {
          code = this.#fail(callback, error);
        } finally {
          this.#recordCall(endpoint, code === grpc.status.OK ? 200 : statusFor(code), performance.now() - t0);
        }
      })();
    };
  }

  /** ModelInfer through grpc-js (calls the direct path leaves to it: compressed messages, odd headers). */
  async #infer(
    call: grpc.ServerUnaryCall<GrpcInferRequest, GrpcInferResponse>,
    callback: grpc.sendUnaryData<GrpcInferResponse>,
  ): Promise<void> {
    const receivedAt = performance.now();
    const controller = new AbortController();
    // grpc-js reports 'cancelled' for calls already answered too: only a call still running is aborted.
    // It reports its own deadline so too: that call is no client's leaving.
    let answered = false;
    call.once('cancelled', () => {
      if (!answered)
        controller.abort(pastDeadline(call) ? deadlineExpired('the call passed its gRPC deadline') : CLIENT_LEFT);
    });
    const answer = await this.#answer(
      () => call.request,
      call.metadata.get('authorization')[0],
      receivedAt,
      this.#startedAt(call.metadata.get(REQUEST_START_HEADER)[0], receivedAt),
      receivedAt,
      transportDeadline(call, receivedAt),
      proxyTimeoutOf(metadataText(call.metadata.get(PROXY_TIMEOUT_HEADER)[0])),
      controller.signal,
      !this.#host.closing,
    );
    answered = true;
    if (answer.ok) {
      const trailer = new grpc.Metadata();
      trailer.set('server-timing', answer.serverTiming);
      callback(null, answer.response, trailer);
    } else {
      const metadata = new grpc.Metadata();
      if (answer.retry) metadata.set('retry-after', '1');
      callback({ code: answer.code, details: answer.message, metadata });
    }
  }

  /**
   * ModelInfer answered on the HTTP/2 stream itself (takeInferStreams): the same checks, inference
   * and answers as through grpc-js, without grpc-js's per-call machinery (its intercepting calls,
   * metadata objects, listener closures, a deadline timer and an event emitter per call: ~60 us of
   * the HTTP thread's CPU per call in a profile of the PP-OCR classifier). Returns false, touching
   * nothing, for a call it leaves to grpc-js: not a POST of plain application/grpc, a compressed
   * encoding, a grpc-timeout it cannot read.
   */
  #inferStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    if (headers[':method'] !== 'POST') return false;
    const type = headers['content-type'];
    if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return false;
    const timeout = headers['grpc-timeout'];
    const transportDeadlineMs = timeout === undefined ? undefined : grpcTimeoutMs(timeout);
    if (transportDeadlineMs === null) return false;
    // Counted from the headers' arrival, as REST counts from the first byte.
    const receivedAt = performance.now();
    const arrivedOpen = !this.#host.closing;
    const controller = new AbortController();
    /** reading: the request is arriving; running: #answer has it (and records it); answered: sent, refused or gone. */
    let state: 'reading' | 'running' | 'answered' = 'reading';
    // A reset or broken stream: 'close' follows.
    stream.on('error', ignore);
    stream.once('close', () => {
      if (state === 'running') controller.abort(CLIENT_LEFT);
      else if (state === 'reading') {
        state = 'answered';
        this.#recordInfer(undefined, CLIENT_CLOSED_REQUEST, performance.now() - receivedAt, undefined);
      }
    });
    /** A call refused before it ran: answered at once; the stream is no longer read (flow control holds the client). */
    const refuse = (code: grpc.status, text: string): void => {
      if (state !== 'reading') return;
      state = 'answered';
      stream.removeAllListeners('data');
      stream.pause();
      this.#recordInfer(undefined, statusFor(code), performance.now() - receivedAt, undefined);
      sendAnswer(stream, { ok: false, code, message: text, retry: false });
    };
    // A refused stream is never read to its end: the bound resets it too.
    whenLate(stream, this.#host.config.requestTimeoutMs, () => {
      refuse(grpc.status.DEADLINE_EXCEEDED, this.#lateMessage());
      stream.close();
    });
    const decoder = new MessageDecoder(this.#host.config.maxBodyBytes, RAW_INPUT_FIELD);
    let message: Buffer | undefined;
    stream.on('data', (chunk: Buffer) => {
      let done: Buffer[];
      try {
        done = decoder.write(chunk);
      } catch (error) {
        return refuse(grpc.status.RESOURCE_EXHAUSTED, (error as Error).message);
      }
      for (const m of done) {
        if (message !== undefined)
          return refuse(grpc.status.UNIMPLEMENTED, `Received a second request message for unary method ${INFER_PATH}`);
        message = m;
      }
    });
    stream.once('end', () => {
      // A stream closed under the call (a client's RST_STREAM, a dropped connection) ends its read side
      // too: 'close' follows and counts it.
      if (state !== 'reading' || stream.closed) return;
      if (message === undefined) {
        const held = decoder.held;
        // No message at all is gRPC's request cardinality violation (UNIMPLEMENTED, as grpc-js answers);
        // one cut short is a malformed message.
        return held
          ? refuse(grpc.status.INVALID_ARGUMENT, cutShort(held))
          : refuse(grpc.status.UNIMPLEMENTED, `Received no request message for unary method ${INFER_PATH}`);
      }
      if (message[0] !== 0)
        return refuse(grpc.status.INTERNAL, 'Received compressed message but "grpc-encoding" header was identity');
      const framed = message;
      state = 'running';
      void this.#answer(
        () => decodeRequest(framed.subarray(5)),
        headers['authorization'],
        receivedAt,
        this.#startedAt(headers[REQUEST_START_HEADER], receivedAt),
        performance.now(),
        transportDeadlineMs,
        proxyTimeoutOf(headers[PROXY_TIMEOUT_HEADER]),
        controller.signal,
        arrivedOpen,
      )
        .then((answer) => {
          state = 'answered';
          sendAnswer(stream, answer);
        })
        .catch((error: unknown) => {
          // #answer never throws; a write to a stream that went away might.
          this.#log(error);
          if (!stream.destroyed) stream.destroy();
        });
    });
    return true;
  }

  /** The refusal of a request that did not arrive within requestTimeoutMs. */
  #lateMessage(): string {
    return `the request message did not arrive within ${this.#host.config.requestTimeoutMs} ms (requestTimeoutMs)`;
  }

  /**
   * A stream left to grpc-js (any method, or a ModelInfer the direct path declined), held to what
   * #inferStream holds its own to: an answer within requestTimeoutMs unless its request has arrived
   * (a call grpc-js has answered already is only reset), and a 499 for a client that left while its
   * request was arriving (grpc-js then never calls the method, which would count the call itself).
   */
  #bound(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const receivedAt = performance.now();
    const path = String(headers[':path']);
    const record = (status: number): void => {
      const ms = performance.now() - receivedAt;
      if (path === INFER_PATH) this.#recordInfer(undefined, status, ms, undefined);
      else this.#recordCall(path.slice(path.lastIndexOf('/') + 1), status, ms);
    };
    let arrived = false;
    stream.once('end', () => (arrived ||= !stream.closed));
    stream.once('close', () => {
      if (!arrived && !stream.headersSent) record(CLIENT_CLOSED_REQUEST);
    });
    whenLate(stream, this.#host.config.requestTimeoutMs, () => {
      if (!stream.headersSent && !stream.closed) {
        record(statusFor(grpc.status.DEADLINE_EXCEEDED));
        const message = this.#lateMessage();
        sendAnswer(stream, { ok: false, code: grpc.status.DEADLINE_EXCEEDED, message, retry: false });
      }
      // RST_STREAM NO_ERROR (close's default): the answer is complete, the rest of the request unwanted (RFC 9113, 8.1).
      stream.close();
    });
  }

  /**
   * One ModelInfer, whichever way it came: checks, the body budget, inference, and the call in the
   * statistics, metrics and access log; never throws (a refusal is an answer).
   */
  async #answer(
    request: () => GrpcInferRequest,
    authorization: unknown,
    receivedAt: number,
    startedAt: number,
    bodyAt: number,
    transportDeadlineMs: number | undefined,
    proxyTimeoutMs: number | undefined,
    signal: AbortLike,
    /** The call began before the shutdown did: it was accepted, and is answered (as REST's are). */
    arrivedOpen: boolean,
  ): Promise<InferAnswer> {
    const host = this.#host;
    let model: ReturnType<ServerHost['readyModel']> | undefined;
    let reserved = 0;
    let status = 200;
    let timing: Array<[string, number]> | undefined;
    try {
      if (!arrivedOpen) throw new HttpError(503, 'the server is shutting down');
      if (!this.#authorized(authorization)) throw unauthenticated();
      const req = request();
      model = host.readyModel(req.model_name, req.model_version || undefined);
      if (startedAt < receivedAt)
        host.metrics.upstream.observe({ model: model.config.name }, (receivedAt - startedAt) / 1000);
      reserved = messageBytes(req);
      if (!host.bodyBudget.tryReserve(reserved)) {
        reserved = 0;
        throw new HttpError(
          503,
          `the server holds too many request bytes (${host.bodyBudget.held} of ${host.bodyBudget.limit}): retry later`,
        );
      }
      const inputs = fromGrpcTensors(req.inputs, req.raw_input_contents, 'inputs');
      const outcome = await runInference(host, {
        model,
        inputs,
        outputs: req.outputs.map((o) => o.name),
        parameters: fromGrpcParameters(req.parameters),
        // The gRPC deadline counts from the arrival (grpc-timeout is what the client had left when it sent).
        ...(transportDeadlineMs !== undefined
          ? { transportDeadlineMs: transportDeadlineMs + receivedAt - startedAt }
          : {}),
        ...(proxyTimeoutMs !== undefined ? { proxyTimeoutMs } : {}),
        startedAt,
        bodyAt,
        signal,
      });
      const out = toGrpcTensors(outcome.tensors, req.raw_input_contents.length > 0 || req.inputs.length === 0);
      const sentAt = performance.now();
      refuseIfLate(outcome, startedAt, sentAt);
      recordSuccess(host, model, outcome, receivedAt, bodyAt, sentAt);
      timing = timingStages(outcome, startedAt, receivedAt, bodyAt, sentAt);
      return {
        ok: true,
        response: {
          model_name: model.config.name,
          model_version: model.config.version,
          id: req.id,
          outputs: out.tensors,
          raw_output_contents: out.raw,
        },
        serverTiming: serverTimingHeader(timing),
      };
    } catch (error) {
      if (model) host.stats.fail(model.config.name, model.config.version, performance.now() - receivedAt);
      const answer = errorAnswer(error, this.#log);
      status = answer.status;
      return {
        ok: false,
        code: grpcCodeFor(answer.status),
        message: answer.message,
        retry: answer.status === 429 || answer.status === 503,
      };
    } finally {
      host.bodyBudget.release(reserved);
      // Whatever became of it, nothing reaches a client that left.
      if (signal.aborted && signal.reason === CLIENT_LEFT) status = CLIENT_CLOSED_REQUEST;
      this.#recordInfer(model?.config.name, status, performance.now() - receivedAt, timing);
    }
  }

  /** The time a call's deadline counts from: its arrival, or its `x-request-start` metadata (request-start.ts). */
  #startedAt(stamp: unknown, receivedAt: number): number {
    return this.#host.config.trustRequestStart ? requestStartedAt(stamp, receivedAt) : receivedAt;
  }

  /** An answered or refused call of another method in the metrics and the access log. */
  #recordCall(method: string, status: number, ms: number): void {
    this.#host.metrics.requests.inc({ model: '', endpoint: `grpc_${method}`, outcome: String(status) });
    if (this.#logger?.accessEnabled)
      this.#logger.access({ protocol: 'grpc', method: 'POST', path: method, endpoint: `grpc_${method}`, status, ms });
  }

  /** An answered or refused ModelInfer in the metrics, the live view and the access log. */
  #recordInfer(
    name: string | undefined,
    status: number,
    ms: number,
    timing: Array<[string, number]> | undefined,
  ): void {
    const host = this.#host;
    host.metrics.requests.inc({ model: name ?? '', endpoint: 'grpc_infer', outcome: String(status) });
    if (name !== undefined) host.metrics.e2e.observe({ model: name, endpoint: 'grpc_infer' }, ms / 1000);
    host.live.record(name, 'grpc_infer', status, ms);
    if (!this.#logger?.accessEnabled) return;
    this.#logger.access({
      protocol: 'grpc',
      method: 'POST',
      path: 'ModelInfer',
      endpoint: 'grpc_infer',
      ...(name !== undefined ? { model: name } : {}),
      status,
      ms,
      ...(timing ? { timing: Object.fromEntries(timing.map(([k, v]) => [k, Number(v.toFixed(3))])) } : {}),
    });
  }
}

/**
 * HTTP/2's default flow-control windows (64 KiB per stream and per connection) make the client of
 * a large message wait for WINDOW_UPDATE round trips: a 2 MB unary call to a grpc-js echo took
 * 11.3-12.1 ms at p50 on loopback with them and 1.4-2.1 ms with these (`npm run bench:transport`,
 * three runs). grpc-js has no option for the server's windows, so its two internals are reached here
 * and left alone if they are not there (the windows then stay at HTTP/2's defaults).
 */
const STREAM_WINDOW = 4 * 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<
    { on(event: 'session', listener: (session: { setLocalWindowSize?(n: number): void }) => void): void },
    unknown
  >;
}

/**
 * The largest frame the port accepts: a client that sends a 2 MB request in frames this large hands
 * it over in a few socket reads' worth of chunks, not one per 16 KiB frame (HTTP/2's default).
 */
const MAX_FRAME = 1024 * 1024;

/** Before bind: the per-stream window and frame size every session announces. */
export function widenFlowControl(server: grpc.Server): void {
  const internals = server as unknown as GrpcServerInternals;
  const common = internals.commonServerOptions;
  if (common) common.settings = { ...common.settings, initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME };
}

/**
 * grpc-js answers a unary call by writing the message and ending the stream only from that write's
 * callback, once the message has gone to the socket; node:http2 then asks for the trailers on a
 * later turn of the event loop, and the client, which needs them to finish the call, waits for it.
 * This interceptor ends the stream right after the message (the stream keeps them in order), so
 * the trailers are asked for as the message is sent: a loop turn less per call (strace of the
 * server on the PP-OCR classifier: 4.9 -> 4.5 epoll waits per call with channelz off and 1 MiB
 * frames too). They still leave in a write of their own: node:http2 sends trailers from a
 * setImmediate. A message that cannot be sent still ends the call with grpc-js's own INTERNAL
 * status: a call that has sent a status takes no other.
 */
class StatusWithMessage extends grpc.ServerInterceptingCall {
  override sendMessage(message: unknown, callback: () => void): void {
    super.sendMessage(message, () => {});
    callback();
  }
}

const INFER_PATH = `/${GRPC_SERVICE}/ModelInfer`;

/**
 * ModelInfer through grpc-js: a request that ends inside its message is INVALID_ARGUMENT, as on the
 * direct path; grpc-js reports it as one with no message at all (UNIMPLEMENTED).
 */
class InferCall extends StatusWithMessage {
  readonly #decoder: MessageDecoder | undefined;

  constructor(call: grpc.ServerInterceptingCallInterface, decoder: MessageDecoder | undefined) {
    super(call);
    this.#decoder = decoder;
  }

  override sendStatus(status: Parameters<grpc.ServerInterceptingCall['sendStatus']>[0]): void {
    const held =
      status.code === grpc.status.UNIMPLEMENTED && status.details?.startsWith('Received no request message')
        ? this.#decoder?.held
        : undefined;
    super.sendStatus(held ? { ...status, code: grpc.status.INVALID_ARGUMENT, details: cutShort(held) } : status);
  }
}

/** The parts of grpc-js's call (BaseServerInterceptingCall, 1.14) that inferIo replaces. */
interface BaseCallInternals {
  decoder?: { write(data: Buffer): Buffer[] };
  maxReceiveMessageSize?: number;
  serializeMessage?: (value: unknown) => Buffer;
}

/**
 * ModelInfer's messages framed and unframed here, not by grpc-js, on the call itself: the request
 * read into one buffer as its chunks arrive, its raw input placed aligned (grpc-frames.ts), the
 * response written once, into its frame (framedResponse). grpc-js joined the request's chunks after
 * the last had come (2 MB on yolox_nano, on the call's path), the alignment moved it again, and the
 * answer's 1.2 MB were copied twice. A grpc-js without these internals keeps its own framing (the
 * service's reusing serializer then spares one copy). Returns the decoder it put in.
 */
function inferIo(call: grpc.ServerInterceptingCallInterface): MessageDecoder | undefined {
  const base = call as unknown as BaseCallInternals;
  let decoder: MessageDecoder | undefined;
  if (typeof base.decoder?.write === 'function' && typeof base.maxReceiveMessageSize === 'number')
    base.decoder = decoder = new MessageDecoder(base.maxReceiveMessageSize, RAW_INPUT_FIELD);
  if (typeof base.serializeMessage === 'function')
    base.serializeMessage = (value) => framedResponse(value as GrpcInferResponse);
  return decoder;
}

/** The server's one interceptor, so that the call it is given is grpc-js's own (inferIo reaches into it). */
const statusWithMessage: grpc.ServerInterceptor = (method, call) =>
  method.path === INFER_PATH ? new InferCall(call, inferIo(call)) : new StatusWithMessage(call);

/** After bind: each new session's connection window. */
export function openConnectionWindows(server: grpc.Server): void {
  const servers = (server as unknown as GrpcServerInternals).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const h2 of servers.keys()) {
    h2.on('session', (session) => {
      try {
        session.setLocalWindowSize?.(CONNECTION_WINDOW);
      } catch {
        // A session already closing: nothing to widen.
      }
    });
  }
}

type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void;

/**
 * After bind: ModelInfer's streams go to `direct` first; the streams it declines, and every other
 * method's, to `others` and then grpc-js's own handler as before. A grpc-js whose servers are not
 * where 1.14 keeps them answers everything itself.
 */
export function takeInferStreams(
  server: grpc.Server,
  direct: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean,
  others?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): void {
  const internals = server as unknown as GrpcServerInternals & {
    onStreamOpened?: (stream: http2.ServerHttp2Stream) => void;
  };
  const servers = internals.http2Servers;
  if (!(servers instanceof Map)) return;
  for (const h2 of servers.keys() as unknown as IterableIterator<http2.Http2Server>) {
    const theirs = h2.listeners('stream') as StreamListener[];
    if (theirs.length === 0) continue;
    h2.removeAllListeners('stream');
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => {
      if (headers[':path'] === INFER_PATH && direct(stream, headers)) {
        // grpc-js's count of a session's open streams (its idle timeout), as its own handler keeps it.
        internals.onStreamOpened?.call(server, stream);
        return;
      }
      others?.(stream, headers);
      for (const listener of theirs) listener.call(h2, stream, headers, flags);
    });
  }
}

/** An answer on a ModelInfer stream: the message then trailers with the status, or a trailers-only refusal. */
function sendAnswer(stream: http2.ServerHttp2Stream, answer: InferAnswer): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  if (answer.ok) {
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    const serverTiming = answer.serverTiming;
    stream.once('wantTrailers', () =>
      stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'OK', 'server-timing': serverTiming }),
    );
    stream.end(framedResponse(answer.response));
    return;
  }
  stream.respond(
    {
      ...RESPONSE_HEADERS,
      'grpc-status': String(answer.code),
      'grpc-message': encodeURI(answer.message),
      ...(answer.retry ? { 'retry-after': '1' } : {}),
    },
    { endStream: true },
  );
}

/** gRPC's timeout header (an integer of up to 8 digits and a unit) in ms; null for one that is not. */
export function grpcTimeoutMs(value: string | string[]): number | null {
  const m = typeof value === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(value.trim()) : null;
  if (!m) return null;
  return Number(m[1]) * TIMEOUT_UNITS[m[2] as keyof typeof TIMEOUT_UNITS];
}

const TIMEOUT_UNITS = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** A ModelInferRequest from its bytes; bytes that are not one are the client's error (INVALID_ARGUMENT). */
function decodeRequest(message: Buffer): GrpcInferRequest {
  try {
    return decodeInferRequest(message);
  } catch (error) {
    // protobufjs's own errors say what is wrong with the bytes; a TypeError is its code tripping on them.
    const why = error instanceof TypeError ? 'it is no ModelInferRequest' : String((error as Error).message);
    throw new HttpError(400, `the ModelInfer message cannot be decoded: ${why.split('\n')[0]}`);
  }
}

/** An error that needs no handling beyond the 'close' that follows it. */
function ignore(): void {}

/**
 * The abort reason of a call whose client left; one object for all (an error per call costs its
 * stack trace), by which #answer tells such a call from others.
 */
const CLIENT_LEFT = new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the client cancelled the call');

/** Whether grpc-js cancelled the call for its deadline (grpc-js's timer and Date.now() may differ by a ms). */
function pastDeadline(call: grpc.ServerUnaryCall<unknown, unknown>): boolean {
  const deadline = call.getDeadline();
  const deadlineAt = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(deadlineAt) && deadlineAt <= Date.now() + 1;
}

/**
 * Calls `late` unless the stream's request has all arrived (its read side ended) or the stream
 * closed within `ms`; the timer never keeps the process alive.
 */
function whenLate(stream: http2.ServerHttp2Stream, ms: number, late: () => void): void {
  const timer = setTimeout(late, ms);
  timer.unref();
  const clear = (): void => clearTimeout(timer);
  stream.once('end', clear);
  stream.once('close', clear);
}

/** The refusal of a request that ended inside a message. */
function cutShort(held: { length: number | undefined; bytes: number }): string {
  return held.length === undefined
    ? `the request ends inside a message's 5-byte prefix (${held.bytes} bytes came)`
    : `the request ends inside its message: the prefix announces ${held.length} bytes, ${held.bytes} came`;
}

/** A metadata value as text (grpc-js gives binary ones as Buffers). */
function metadataText(value: grpc.MetadataValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The call's gRPC deadline as ms after its arrival, or undefined for none (the request's own timeout still wins). */
function transportDeadline(call: grpc.ServerUnaryCall<unknown, unknown>, receivedAt: number): number | undefined {
  const deadline = call.getDeadline();
  const deadlineAt = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(deadlineAt) ? deadlineAt - Date.now() + (performance.now() - receivedAt) : undefined;
}

function unauthenticated(): HttpError {
  return new HttpError(401, 'missing or wrong bearer token (metadata authorization: Bearer <token>)');
}

function sameBearer(header: string, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  const a = Buffer.from(m[1] ?? '');
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The bytes a decoded request holds (its raw contents, or its typed values at 8 bytes each). */
function messageBytes(req: GrpcInferRequest): number {
  let n = 0;
  for (const r of req.raw_input_contents) n += r.byteLength;
  for (const t of req.inputs) {
    const c = t.contents;
    if (!c) continue;
    for (const v of Object.values(c)) if (Array.isArray(v)) n += v.length * 8;
  }
  return n;
}
