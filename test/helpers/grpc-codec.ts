import { grpcServiceDefinition, type GrpcInferRequest, type GrpcInferResponse } from '../../src/protocol/grpc-v2.js';

/** ModelInfer's serializers as built from the official proto (the reference the tests compare with). */
export type InferCodec = {
  requestSerialize: (v: unknown) => Buffer;
  requestDeserialize: (b: Buffer) => GrpcInferRequest;
  responseSerialize: (v: unknown) => Buffer;
  responseDeserialize: (b: Buffer) => GrpcInferResponse;
};

export const inferCodec = (): InferCodec =>
  (grpcServiceDefinition() as unknown as Record<string, InferCodec>)['ModelInfer']!;
