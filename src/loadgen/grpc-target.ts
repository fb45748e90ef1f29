/**
 * A load target that speaks the Open Inference Protocol over gRPC (Triton, KServe runtimes,
 * rtinfer serve --grpc-port): `grpc://host:port/MODEL` (or `grpc://host:port/v2/models/MODEL`,
 * `[/versions/V]`). Inputs come from ModelMetadata; ModelInfer carries raw_input_contents.
 *
 * Lean on the hot path as the HTTP client is: calls go through grpc-client.ts (HTTP/2 streams,
 * no grpc-js client machinery), each sample is serialized once with the proto's own serializer
 * and sent again as bytes, and measured traffic does not parse answers (status only) unless asked. The server's
 * Server-Timing split comes back as trailing metadata.
 * gRPC codes map to the engine's refusal codes (RESOURCE_EXHAUSTED → queue full, UNAVAILABLE →
 * deadline unmeetable/unavailable, DEADLINE_EXCEEDED → deadline expired).
 */
import * as grpc from '@grpc/grpc-js';
import { RtinferError, firstLine, type ErrorCode } from '../errors.js';
import {
  fromGrpcTensors,
  grpcServiceDefinition,
  RAW_OUTPUT_FIELD,
  toGrpcParameters,
  toGrpcTensors,
  type GrpcInferResponse,
} from '../protocol/grpc-v2.js';
import { specsFromMetadata } from '../protocol/kserve-v2.js';
import { feedsAsTensors, type HttpTarget, type HttpTargetOptions } from './http-target.js';
import { GrpcH2Client, type GrpcReply } from './grpc-client.js';
import { ServerTimingRecorder } from './server-timing.js';

export interface GrpcModelAddress {
  /** host:port as gRPC dials it. */
  address: string;
  model: string;
  version: string;
  href: string;
}

const CODES: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.RESOURCE_EXHAUSTED]: 'RTI_ERR_ENGINE_QUEUE_FULL',
  [grpc.status.UNAVAILABLE]: 'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'RTI_ERR_ENGINE_DEADLINE_EXPIRED',
};

export function parseGrpcUrl(text: string): GrpcModelAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}' (expected grpc://HOST:PORT/MODEL)`);
  }
  if (url.protocol !== 'grpc:')
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': expected grpc://HOST:PORT/MODEL`);
  if (!url.port)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': give the port (grpc://HOST:PORT/MODEL)`);
  const m = /^\/(?:v2\/models\/)?([^/]+)(?:\/versions\/([^/]+))?\/?$/.exec(url.pathname);
  if (!m)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': the path must be /MODEL[/versions/V]`);
  let model: string;
  let version: string;
  try {
    model = decodeURIComponent(m[1] ?? '');
    version = decodeURIComponent(m[2] ?? '');
  } catch {
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': bad %-escape in the model name`);
  }
  return {
    address: `${url.hostname}:${url.port}`,
    model,
    version,
    href: `grpc://${url.host}/${m[1]}${m[2] ? `/versions/${m[2]}` : ''}`,
  };
}

function errorFor(where: string, status: number, details: string): RtinferError {
  const code = CODES[status as grpc.status] ?? 'RTI_ERR_TARGET_UNREACHABLE';
  return new RtinferError(code, `${where}: gRPC ${grpc.status[status] ?? status}: ${firstLine(details)}`);
}

type Method = { path: string; requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown };

export async function createGrpcTarget(text: string, options: HttpTargetOptions = {}): Promise<HttpTarget> {
  const at = parseGrpcUrl(text);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const decode = options.decode ?? true;
  const client = new GrpcH2Client(at.address);
  const service = grpcServiceDefinition() as unknown as Record<string, Method>;
  const infer = service['ModelInfer']!;
  const metadataMethod = service['ModelMetadata']!;
  const call = async (
    method: Method,
    wire: Buffer,
    alignField?: number,
    keep = true,
    dueAt?: number,
  ): Promise<GrpcReply> => {
    let reply: GrpcReply;
    try {
      reply = await client.call(method.path, wire, timeoutMs, {}, alignField, keep, dueAt);
    } catch (error) {
      throw new RtinferError('RTI_ERR_TARGET_UNREACHABLE', `${at.href}: ${(error as Error).message}`);
    }
    if (reply.status !== grpc.status.OK) throw errorFor(at.href, reply.status, reply.details);
    return reply;
  };
  let meta: unknown;
  try {
    meta = metadataMethod.responseDeserialize(
      (await call(metadataMethod, metadataMethod.requestSerialize({ name: at.model, version: at.version }))).message,
    );
  } catch (error) {
    client.close();
    throw error;
  }
  const { inputs, outputs } = specsFromMetadata(meta, at.href);
  const parameters = options.parameters ? toGrpcParameters(options.parameters) : {};
  const serialized = new WeakMap<object, Buffer>();
  const serverTiming = new ServerTimingRecorder();
  return {
    url: at.href,
    inputs,
    outputs,
    serverTiming,
    async infer(feeds, decodeThis = decode, dueAt) {
      let wire = serialized.get(feeds);
      if (!wire) {
        const g = toGrpcTensors(feedsAsTensors(feeds), true);
        wire = infer.requestSerialize({
          model_name: at.model,
          model_version: at.version,
          id: '',
          parameters,
          inputs: g.tensors,
          outputs: [],
          raw_input_contents: g.raw,
        });
        serialized.set(feeds, wire);
      }
      // Outputs read in place: the answer placed with its raw output aligned (nothing to move when
      // decoded); not kept at all when not decoded.
      const reply = await call(infer, wire, RAW_OUTPUT_FIELD, decodeThis, dueAt);
      serverTiming.record(reply.metadata['server-timing']);
      if (!decodeThis) return [];
      const res = infer.responseDeserialize(reply.message) as GrpcInferResponse;
      return fromGrpcTensors(res.outputs, res.raw_output_contents, 'outputs');
    },
    close: () => client.close(),
  };
}
