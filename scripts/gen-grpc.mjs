#!/usr/bin/env node
/**
 * Generates src/protocol/grpc-predict-v2.ts, the Open Inference Protocol's gRPC service as a
 * protobufjs JSON descriptor, from the official definition (KServe's grpc_predict_v2.proto, in the
 * workplace's ../shared/kserve/). The server and the bench's client load the descriptor at run time
 * with @grpc/proto-loader, so message shapes are never written by hand; a test checks that the
 * committed file is what this script makes from the proto.
 *
 *   node scripts/gen-grpc.mjs [path/to/grpc_predict_v2.proto]
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { grpcDescriptorModule } from './grpc-descriptor.mjs';

const proto = process.argv[2] ?? fileURLToPath(new URL('../../shared/kserve/grpc_predict_v2.proto', import.meta.url));
const out = fileURLToPath(new URL('../src/protocol/grpc-predict-v2.ts', import.meta.url));
writeFileSync(out, grpcDescriptorModule(proto));
console.log(`wrote ${out} from ${proto}`);
