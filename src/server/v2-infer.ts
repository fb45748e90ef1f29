/**
 * POST /v2/models/{name}[/versions/{v}]/infer: JSON or binary tensors in, the engine in between,
 * JSON or binary tensors out. Request parameters: `timeout` in microseconds (as Triton) or
 * `deadline_ms`, mapped to the engine's deadline; `priority`, an integer, higher first (Triton
 * orders the other way round; rtinfer keeps one convention everywhere). Per-stage timing goes back
 * in a Server-Timing header.
 */
import { RtinferError } from '../errors.js';
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH, modelMetadata, type V2ModelMetadata, type V2Tensor } from '../protocol/kserve-v2.js';
import type { TensorDType } from '../runtime/dtypes.js';
import { readBody, sendBody } from './http-io.js';
import type { LoadedModelEntry, RequestContext } from './server.js';

export function modelMetadataBody(m: LoadedModelEntry): V2ModelMetadata {
  return modelMetadata(m.config.name, [m.config.version], m.engine?.inputs ?? [], m.engine?.outputs ?? []);
}

function bad(message: string): RtinferError {
  return new RtinferError('RTI_ERR_INPUT_DATA', message);
}

function deadlineOf(params: Record<string, unknown>, fallback: number | undefined): number | undefined {
  const timeout = params['timeout'];
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !(timeout > 0)) throw bad('parameters.timeout must be a positive number of microseconds');
    return timeout / 1000;
  }
  const ms = params['deadline_ms'];
  if (ms !== undefined) {
    if (typeof ms !== 'number' || !(ms > 0)) throw bad('parameters.deadline_ms must be a positive number');
    return ms;
  }
  return fallback;
}

export async function handleInfer(ctx: RequestContext, name: string, version: string | undefined): Promise<void> {
  const entry = ctx.model(name, version);
  const { engine, config } = entry;
  const len = ctx.req.headers[HEADER_LENGTH];
  const body = await readBody(ctx.req, ctx.config.maxBodyBytes, Number(len) || 0);
  const request = decodeInferRequest(body, typeof len === 'string' ? len : undefined);
  const inputs: Record<string, { type: TensorDType; dims: number[]; data: unknown }> = {};
  for (const t of request.inputs) {
    if (inputs[t.name]) throw bad(`input '${t.name}' is given twice`);
    inputs[t.name] = { type: t.type, dims: t.dims, data: t.data };
  }
  const outputNames = engine.outputs.map((o) => o.name);
  for (const [i, o] of request.outputs.entries()) {
    if (!outputNames.includes(o.name)) throw bad(`outputs[${i}].name '${o.name}' is not an output of model '${config.name}' (outputs: ${outputNames.join(', ')})`);
  }
  const priority = request.parameters['priority'];
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isInteger(priority))) throw bad('parameters.priority must be an integer');
  const deadlineMs = deadlineOf(request.parameters, config.defaultDeadlineMs);
  ctx.metrics.inflight.inc({ model: config.name });
  try {
    const { outputs, timing } = await engine.inferWithTiming(inputs, {
      ...(deadlineMs !== undefined ? { deadlineMs } : {}),
      ...(typeof priority === 'number' ? { priority } : {}),
      signal: ctx.signal,
      // The decoded tensors live in this request's own body buffer: the engine may move it to the worker.
      transferInputs: true,
    });
    ctx.metrics.queue.observe({ model: config.name }, timing.queueMs / 1000);
    ctx.metrics.inference.observe({ model: config.name }, timing.inferenceMs / 1000);
    ctx.metrics.batch.observe({ model: config.name }, timing.batchSize);
    const wanted = request.outputs.length > 0 ? request.outputs.map((o) => o.name) : outputNames;
    const tensors: V2Tensor[] = wanted.flatMap((n) => {
      const t = outputs[n];
      return t ? [{ name: n, type: t.type as TensorDType, dims: [...t.dims], data: t.data as V2Tensor['data'] }] : [];
    });
    const binary = (n: string): boolean => request.outputs.find((o) => o.name === n)?.binary ?? request.binaryOutputByDefault;
    const msg = encodeInferResponse(config.name, config.version, tensors, binary, request.id);
    sendBody(ctx.res, 200, msg.body, {
      ...msg.headers,
      'server-timing': `queue;dur=${timing.queueMs.toFixed(3)}, inference;dur=${timing.inferenceMs.toFixed(3)}, total;dur=${timing.totalMs.toFixed(3)}`,
      'x-rtinfer-batch-size': String(timing.batchSize),
    });
  } finally {
    ctx.metrics.inflight.dec({ model: config.name });
  }
}
