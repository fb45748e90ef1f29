/**
 * `--target` for bench, sweep and tune: a model behind the Open Inference Protocol, over HTTP
 * (http://HOST:PORT/v2/models/NAME) or gRPC (grpc://HOST:PORT/NAME). Both give the same target
 * shape, so every scenario runs against either.
 */
import { RtinferError } from '../errors.js';
import { createGrpcTarget, parseGrpcUrl } from './grpc-target.js';
import { createHttpTarget, parseModelUrl, type HttpTarget, type HttpTargetOptions } from './http-target.js';
import { createMultiTarget, splitTargets } from './multi-target.js';

/** The target's URL, checked and normalised; a one-line error for anything else. */
export function parseTargetUrl(text: string): string {
  if (/^grpc:/i.test(text)) return parseGrpcUrl(text).href;
  if (/^https?:/i.test(text) || !/^[a-z][a-z0-9+.-]*:/i.test(text)) return parseModelUrl(text).href;
  throw new RtinferError(
    'RTI_ERR_ARG_INVALID',
    `invalid --target '${text}': expected http://HOST:PORT/v2/models/NAME or grpc://HOST:PORT/NAME`,
  );
}

function createOne(text: string, options: HttpTargetOptions): Promise<HttpTarget> {
  return /^grpc:/i.test(text) ? createGrpcTarget(text, options) : createHttpTarget(text, options);
}

/** One URL, or several separated by spaces (replicas behind the load generator's balancer: multi-target.ts). */
export function createRemoteTarget(text: string, options: HttpTargetOptions = {}): Promise<HttpTarget> {
  const { urls, balancer } = splitTargets(text);
  return urls.length > 1 ? createMultiTarget(urls, balancer, options, createOne) : createOne(urls[0] ?? text, options);
}
