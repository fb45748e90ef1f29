/**
 * An echo endpoint for bench/transport, in a child process (`fork` with `--import tsx`): it reads
 * each request body to its end and answers 16 bytes. `argv[2]` picks the stack:
 *   http       node:http, POST /
 *   h2         node:http2, a gRPC-shaped answer (a framed 16-byte message, grpc-status 0 in trailers)
 *   grpc       grpc-js with its defaults, unary /t.T/Echo (identity serializers)
 *   grpc-wide  the same with the flow-control windows rtinfer serve's gRPC port opens
 * Sends `{ port }` to its parent once listening; exits when the parent goes away.
 */
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { openConnectionWindows, widenFlowControl } from '../../src/server/grpc-service.js';

const mode = process.argv[2] ?? 'http';
const ANSWER = Buffer.alloc(16);
const announce = (port: number): void => {
  if (process.send) process.send({ port });
  else console.log(`${mode} echo on 127.0.0.1:${port}`);
};
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

if (mode === 'http') {
  const server = http.createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => res.end(ANSWER));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
} else if (mode === 'h2') {
  const framed = Buffer.alloc(5 + ANSWER.length);
  framed.writeUInt32BE(ANSWER.length, 1);
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(framed);
    });
  });
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
} else if (mode === 'grpc' || mode === 'grpc-wide') {
  const identity = (b: Buffer): Buffer => b;
  const server = new grpc.Server();
  const echo = {
    path: '/t.T/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
  server.addService({ Echo: echo }, { Echo: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, ANSWER) });
  if (mode === 'grpc-wide') widenFlowControl(server);
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    if (mode === 'grpc-wide') openConnectionWindows(server);
    announce(port);
  });
} else {
  console.error(`echo-server: unknown mode ${mode} (http, h2, grpc, grpc-wide)`);
  process.exit(2);
}
