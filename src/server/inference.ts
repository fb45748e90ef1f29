/**
 * One inference request, whatever it came over (REST JSON or binary, gRPC): the checks the Open
 * Inference Protocol leaves to the server (inputs named once, outputs that exist, `priority` in
 * range, the deadline), the engine call, and what it records (Prometheus, per-model statistics).
 * The transports decode before and encode after; the rules live here once.
 *
 * Deadlines count from the request's start (`startedAt`: its arrival, or the client's or a proxy's
 * X-Request-Start stamp when earlier, see request-start.ts), not from when its body was decoded:
 * `parameters.timeout` in microseconds (as Triton), `parameters.deadline_ms`, then the transport's
 * own (the Rtinfer-Deadline-Ms header, a gRPC deadline), then the model's default; never later than
 * a proxy's timeout for the request (Envoy's x-envoy-expected-rq-timeout-ms).
 */
import { performance } from 'node:perf_hooks';
import { RtinferError } from '../errors.js';
import { PRIORITY_RANGE, type AbortLike } from '../engine/engine.js';
import type { RequestTiming } from '../engine/engine-metrics.js';
import type { V2Tensor } from '../protocol/kserve-v2.js';
import type { TensorDType } from '../runtime/dtypes.js';
import { quote } from './http-io.js';
import type { ReadyModel, ServerHost } from './types.js';

export function badInput(message: string): RtinferError {
  return new RtinferError('RTI_ERR_INPUT_DATA', message);
}

export function deadlineExpired(message: string): RtinferError {
  return new RtinferError('RTI_ERR_ENGINE_DEADLINE_EXPIRED', message);
}

/**
 * The request's deadline in ms after its start, or undefined for none: its own, else the
 * transport's, else `fallback` (the model's default); never later than a proxy's timeout.
 */
export function deadlineOf(
  params: Readonly<Record<string, unknown>>,
  transportMs: number | undefined,
  fallback: number | undefined,
  proxyMs?: number,
): number | undefined {
  const own = requestDeadline(params) ?? transportMs ?? fallback;
  return proxyMs === undefined ? own : own === undefined ? proxyMs : Math.min(own, proxyMs);
}

/** `parameters.timeout` (µs, as Triton) or `parameters.deadline_ms`, in ms; undefined for neither. */
function requestDeadline(params: Readonly<Record<string, unknown>>): number | undefined {
  const timeout = params['timeout'];
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout))
      throw badInput('parameters.timeout must be a positive number of microseconds');
    return timeout / 1000;
  }
  const ms = params['deadline_ms'];
  if (ms !== undefined) {
    if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms))
      throw badInput('parameters.deadline_ms must be a positive number');
    return ms;
  }
  return undefined;
}

/**
 * Envoy's `x-envoy-expected-rq-timeout-ms` (Istio, Knative and so KServe put Envoy in front): when
 * the proxy gives up on the request and answers 504 itself. A result after that reaches no one, so
 * it bounds the request's deadline; it never gives a request with a deadline of its own more time.
 */
export const PROXY_TIMEOUT_HEADER = 'x-envoy-expected-rq-timeout-ms';

/** The proxy's timeout (ms) from its header; undefined when absent or not a positive number (the client cannot fix it). */
export function proxyTimeoutOf(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const v = Number(Array.isArray(header) ? header[0] : header);
  return v > 0 && Number.isFinite(v) ? v : undefined;
}

export interface InferCall {
  model: ReadyModel;
  inputs: readonly V2Tensor[];
  /** Outputs asked for by name; none asked means all of them. */
  outputs: readonly string[];
  parameters: Readonly<Record<string, unknown>>;
  /** A deadline the transport carries (ms after the start), used when the parameters give none. */
  transportDeadlineMs?: number;
  /** A proxy's timeout for the request (ms after the start): no deadline is later (deadlineOf). */
  proxyTimeoutMs?: number;
  /** performance.now() the deadline counts from: the arrival, or the request's X-Request-Start stamp. */
  startedAt: number;
  /** performance.now() when its body had been received (before decoding). */
  bodyAt: number;
  signal: AbortLike;
}

export interface InferOutcome {
  tensors: V2Tensor[];
  timing: RequestTiming;
  /** The deadline that applied (ms after the start), if any. */
  deadlineMs: number | undefined;
  /** performance.now() after decoding, checks included (the engine call began). */
  decodedAt: number;
  /** performance.now() when the engine answered. */
  ranAt: number;
}

/** Runs a decoded request on its model's engine; throws RtinferError/HttpError-style refusals. */
export async function runInference(host: ServerHost, call: InferCall): Promise<InferOutcome> {
  const { engine, config } = call.model;
  // No prototype: a client's input named '__proto__' or 'constructor' is just an unknown input.
  const inputs = Object.create(null) as Record<string, { type: TensorDType; dims: number[]; data: unknown }>;
  for (const t of call.inputs) {
    if (inputs[t.name]) throw badInput(`input '${quote(t.name)}' is given twice`);
    inputs[t.name] = { type: t.type, dims: t.dims, data: t.data };
  }
  const outputNames = engine.outputs.map((o) => o.name);
  for (const [i, name] of call.outputs.entries()) {
    if (!outputNames.includes(name))
      throw badInput(
        `outputs[${i}].name '${quote(name)}' is not an output of model '${config.name}' ` +
          `(outputs: ${outputNames.join(', ')})`,
      );
  }
  const priority = call.parameters['priority'];
  if (
    priority !== undefined &&
    (typeof priority !== 'number' ||
      !Number.isInteger(priority) ||
      priority < PRIORITY_RANGE.min ||
      priority > PRIORITY_RANGE.max)
  ) {
    throw badInput(`parameters.priority must be an integer from ${PRIORITY_RANGE.min} to ${PRIORITY_RANGE.max}`);
  }
  const deadlineMs = deadlineOf(
    call.parameters,
    call.transportDeadlineMs,
    config.defaultDeadlineMs,
    call.proxyTimeoutMs,
  );
  const decodedAt = performance.now();
  const remainingMs = timeLeft(deadlineMs, decodedAt - call.startedAt);
  host.metrics.inflight.inc({ model: config.name });
  try {
    const { outputs, timing } = await engine.inferWithTiming(inputs, {
      ...(remainingMs !== undefined ? { deadlineMs: remainingMs } : {}),
      ...(typeof priority === 'number' ? { priority } : {}),
      signal: call.signal,
      // The decoded tensors live in this request's own buffers: the engine may move them to the worker.
      transferInputs: true,
    });
    const ranAt = performance.now();
    host.metrics.queue.observe({ model: config.name }, timing.queueMs / 1000);
    host.metrics.inference.observe({ model: config.name }, timing.inferenceMs / 1000);
    host.metrics.batch.observe({ model: config.name }, timing.batchSize);
    const wanted = call.outputs.length > 0 ? call.outputs : outputNames;
    const tensors: V2Tensor[] = wanted.flatMap((n) => {
      const t = outputs[n];
      return t ? [{ name: n, type: t.type as TensorDType, dims: [...t.dims], data: t.data as V2Tensor['data'] }] : [];
    });
    return { tensors, timing, deadlineMs, decodedAt, ranAt };
  } finally {
    host.metrics.inflight.dec({ model: config.name });
  }
}

/**
 * The ms a request `ageMs` after its start has left before its deadline (undefined for none);
 * throws the refusal of one whose deadline passed before it could run.
 */
export function timeLeft(deadlineMs: number | undefined, ageMs: number): number | undefined {
  if (deadlineMs === undefined) return undefined;
  if (deadlineMs <= ageMs)
    throw deadlineExpired(
      `the deadline passed while the request was being received (${ageMs.toFixed(1)} ms of ${deadlineMs} ms)`,
    );
  return deadlineMs - ageMs;
}

/** A result past its deadline is of no use to the client: the transport says so instead of sending it late. */
export function refuseIfLate(outcome: InferOutcome, startedAt: number, now: number): void {
  const { deadlineMs } = outcome;
  if (deadlineMs !== undefined && now - startedAt > deadlineMs) {
    throw deadlineExpired(
      `the deadline passed while the request ran (${(now - startedAt).toFixed(1)} ms of ${deadlineMs} ms)`,
    );
  }
}

/**
 * The server's split of one request, as Server-Timing stages (ms); `before` (from the request's
 * X-Request-Start stamp to its arrival) only when a stamp moved its start.
 */
export function timingStages(
  o: InferOutcome,
  startedAt: number,
  receivedAt: number,
  bodyAt: number,
  sentAt: number,
): Array<[string, number]> {
  const stages: Array<[string, number]> = startedAt < receivedAt ? [['before', receivedAt - startedAt]] : [];
  stages.push(
    ['receive', bodyAt - receivedAt],
    ['decode', o.decodedAt - bodyAt],
    ['queue', o.timing.queueMs],
    ['inference', o.timing.inferenceMs],
    // The engine's hand-off: copies and the trips to and from the worker thread.
    ['hop', Math.max(0, o.ranAt - o.decodedAt - o.timing.queueMs - o.timing.inferenceMs)],
    ['encode', sentAt - o.ranAt],
    ['total', sentAt - receivedAt],
  );
  return stages;
}

/** A Server-Timing value (`receive;dur=0.123, ...`): REST sends it as a header, gRPC as trailing metadata. */
export function serverTimingHeader(stages: Array<[string, number]>): string {
  return stages.map(([name, ms]) => `${name};dur=${ms.toFixed(3)}`).join(', ');
}

/** Records an answered request in the model's statistics (Triton's stages, see model-stats.ts). */
export function recordSuccess(
  host: ServerHost,
  model: ReadyModel,
  o: InferOutcome,
  receivedAt: number,
  bodyAt: number,
  sentAt: number,
): void {
  const { queueMs, inferenceMs, batchSize, batchRequests } = o.timing;
  host.stats.success(model.config.name, model.config.version, {
    totalMs: sentAt - receivedAt,
    queueMs,
    inputMs: o.decodedAt - bodyAt,
    inferMs: inferenceMs,
    outputMs: Math.max(0, sentAt - o.decodedAt - queueMs - inferenceMs),
    batchSize,
    batchRequests,
  });
}
