/**
 * A load target that speaks the Open Inference Protocol over gRPC (Triton, KServe runtimes,
 * rtinfer serve --grpc-port): `grpc://host:port/MODEL` (or `grpc://host:port/v2/models/MODEL`,
 * `[/versions/V]`). Inputs come from ModelMetadata; ModelInfer carries raw_input_contents.
 *
 * Lean on the hot path as the HTTP client is: each sample is serialized once and sent again as
 * bytes (the call's serializer is the identity), and measured traffic does not parse answers
 * (status only) unless asked. The server's Server-Timing split comes back as trailing metadata.
 * gRPC codes map to the engine's refusal codes (RESOURCE_EXHAUSTED → queue full, UNAVAILABLE →
 * deadline unmeetable/unavailable, DEADLINE_EXCEEDED → deadline expired).
 */
import * as grpc from '@grpc/grpc-js';
import { RtinferError, type ErrorCode } from '../errors.js';
import type { TensorDType } from '../runtime/dtypes.js';
import { fromGrpcTensors, grpcClientConstructor, grpcServiceDefinition, toGrpcParameters, toGrpcTensors, type GrpcInferResponse } from '../protocol/grpc-v2.js';
import { specsFromMetadata, type V2Tensor } from '../protocol/kserve-v2.js';
import type { HttpTarget, HttpTargetOptions } from './http-target.js';
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
  if (url.protocol !== 'grpc:') throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': expected grpc://HOST:PORT/MODEL`);
  if (!url.port) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': give the port (grpc://HOST:PORT/MODEL)`);
  const m = /^\/(?:v2\/models\/)?([^/]+)(?:\/versions\/([^/]+))?\/?$/.exec(url.pathname);
  if (!m) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': the path must be /MODEL[/versions/V]`);
  let model: string;
  let version: string;
  try {
    model = decodeURIComponent(m[1] ?? '');
    version = decodeURIComponent(m[2] ?? '');
  } catch {
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --target '${text}': bad %-escape in the model name`);
  }
  return { address: `${url.hostname}:${url.port}`, model, version, href: `grpc://${url.host}/${m[1]}${m[2] ? `/versions/${m[2]}` : ''}` };
}

function errorFor(where: string, e: grpc.ServiceError): RtinferError {
  const code = CODES[e.code] ?? 'RTI_ERR_TARGET_UNREACHABLE';
  return new RtinferError(code, `${where}: gRPC ${grpc.status[e.code] ?? e.code}: ${(e.details || e.message).split('\n')[0]}`);
}

type Method = { path: string; requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown };

export async function createGrpcTarget(text: string, options: HttpTargetOptions = {}): Promise<HttpTarget> {
  const at = parseGrpcUrl(text);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const decode = options.decode ?? true;
  const Client = grpcClientConstructor();
  const client = new Client(at.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  const service = grpcServiceDefinition() as unknown as Record<string, Method>;
  const infer = service['ModelInfer']!;
  const metadataMethod = service['ModelMetadata']!;
  const call = <T>(method: Method, argument: unknown, serialize: (v: unknown) => Buffer, deserialize: (b: Buffer) => T, onStatus?: (s: grpc.StatusObject) => void): Promise<T> =>
    new Promise((resolve, reject) => {
      const c = client.makeUnaryRequest(method.path, serialize, deserialize, argument, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, value) => (e ? reject(errorFor(at.href, e)) : resolve(value as T)));
      if (onStatus) c.on('status', onStatus);
    });
  let meta: unknown;
  try {
    meta = await call(metadataMethod, { name: at.model, version: at.version }, metadataMethod.requestSerialize, metadataMethod.responseDeserialize);
  } catch (error) {
    client.close();
    throw error;
  }
  const { inputs, outputs } = specsFromMetadata(meta, at.href);
  const parameters = options.parameters ? toGrpcParameters(options.parameters) : {};
  const serialized = new WeakMap<object, Buffer>();
  const serverTiming = new ServerTimingRecorder();
  const identity = (b: unknown): Buffer => b as Buffer;
  const recordTiming = (s: grpc.StatusObject): void => {
    const v = s.metadata.get('server-timing')[0];
    if (typeof v === 'string') serverTiming.record(v);
  };
  return {
    url: at.href,
    inputs,
    outputs,
    serverTiming,
    async infer(feeds, decodeThis = decode) {
      let wire = serialized.get(feeds);
      if (!wire) {
        const tensors: V2Tensor[] = Object.entries(feeds).map(([name, t]) => ({ name, type: t.type as TensorDType, dims: [...t.dims], data: t.data as V2Tensor['data'] }));
        const g = toGrpcTensors(tensors, true);
        wire = infer.requestSerialize({ model_name: at.model, model_version: at.version, id: '', parameters, inputs: g.tensors, outputs: [], raw_input_contents: g.raw });
        serialized.set(feeds, wire);
      }
      if (!decodeThis) {
        await call(infer, wire, identity, identity, recordTiming);
        return [];
      }
      const res = (await call(infer, wire, identity, infer.responseDeserialize, recordTiming)) as GrpcInferResponse;
      return fromGrpcTensors(res.outputs, res.raw_output_contents, 'outputs');
    },
    close: () => client.close(),
  };
}
