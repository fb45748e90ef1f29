/**
 * A null Open Inference Protocol gRPC endpoint for bench/loadgen-capacity, run in a child process
 * (`child_process.fork` with `--import tsx`) as null-v2-server.ts is for REST: grpc-js on
 * 127.0.0.1 and an ephemeral port, the service from KServe's proto (the descriptor rtinfer serve
 * uses), answering ModelMetadata for model `null` (FP32 x [1,4] in, y [1,4] out) and every
 * ModelInfer with a fixed response (y = four zeros as raw_output_contents) without reading the
 * request's tensors. Sends `{ port }` to its parent once listening; exits when the parent goes
 * away, is killed, or after MAX_LIFE_MS.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcServiceDefinition } from '../../src/protocol/grpc-v2.js';

const MAX_LIFE_MS = 180_000;
const NAME = 'null';

const metadata = {
  name: NAME,
  versions: ['1'],
  platform: 'null',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 4] }],
};
const response = {
  model_name: NAME,
  model_version: '1',
  id: '',
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 4] }],
  raw_output_contents: [Buffer.alloc(16)],
};

const server = new grpc.Server();
server.addService(grpcServiceDefinition(), {
  ModelMetadata: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, metadata),
  ModelInfer: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, response),
});

const quit = (): void => {
  server.forceShutdown();
  process.exit(0);
};
process.on('disconnect', quit);
process.on('SIGTERM', quit);
setTimeout(quit, MAX_LIFE_MS).unref();

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  if (process.send) process.send({ port });
  else console.log(`null gRPC endpoint on 127.0.0.1:${port}, model ${NAME}`);
});
