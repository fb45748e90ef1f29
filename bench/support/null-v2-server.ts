/**
 * A null KServe v2 endpoint for bench/loadgen-capacity, meant to run in a child process
 * (`child_process.fork` with `--import tsx`) so that it does not share the load generator's event
 * loop. On 127.0.0.1 and an ephemeral port it answers
 *   GET  /v2/models/null        metadata: one FP32 input x [1,4], one FP32 output y [1,4];
 *   POST /v2/models/null/infer  a fixed, precomputed binary v2 response (y = four zeros, or the
 *                               outputs given as arguments), after reading the request body to its
 *                               end (the body is not decoded);
 * anything else is a 404. It sends `{ port }` to its parent once listening and exits when the
 * parent goes away (IPC disconnect), is killed, or after MAX_LIFE_MS in any case.
 *
 * Arguments `NAME:DTYPE:D1xD2x...` (e.g. `output:float32:1x3549x85`) make the canned answer carry
 * those outputs, zeros, as binary tensors: bench/serve gives it a model's real outputs, so that its
 * round trip moves the same bytes as the servers it is compared with (yolox_nano answers 1.2 MB).
 * `--busy-ms=X` holds the thread for X ms (a busy wait) before each infer answer, as a model's run
 * would: bench/serve gives it the bare inference time, so that its round trip is the floor of a
 * server with no per-request work of its own on that machine (the client's and the server's
 * threads go idle while the "model" runs, and waking them costs what it costs).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { encodeInferResponse, modelMetadata, type V2Tensor } from '../../src/protocol/kserve-v2.js';
import { DTYPES, isTensorDType } from '../../src/runtime/dtypes.js';

const MAX_LIFE_MS = 180_000;
const NAME = 'null';

const metadata = Buffer.from(
  JSON.stringify(
    modelMetadata(
      NAME,
      ['1'],
      [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
      [{ name: 'y', dtype: 'float32', shape: [1, 4] }],
    ),
  ),
  'utf8',
);
function outputOf(arg: string): V2Tensor {
  const [name, type, dims] = arg.split(':');
  const shape = (dims ?? '').split('x').map(Number);
  if (!name || !type || !isTensorDType(type) || type === 'string' || !shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new Error(`null v2 server: expected NAME:DTYPE:D1xD2..., got '${arg}'`);
  return { name, type, dims: shape, data: DTYPES[type].create(shape.reduce((a, b) => a * b, 1)) as V2Tensor['data'] };
}
const BUSY = /^--busy-ms=([\d.]+)$/;
const busyMs = Number(process.argv.find((a) => BUSY.test(a))?.match(BUSY)?.[1] ?? 0);
const outputs = process.argv
  .slice(2)
  .filter((a) => !BUSY.test(a))
  .map(outputOf);
const response = encodeInferResponse(
  NAME,
  '1',
  outputs.length > 0 ? outputs : [{ name: 'y', type: 'float32', dims: [1, 4], data: new Float32Array(4) }],
  () => true,
);
const inferHeaders = { ...response.headers, 'content-length': String(response.body.length) };
const metaHeaders = { 'content-type': 'application/json', 'content-length': String(metadata.length) };
const notFound = Buffer.from('{"error":"not found"}');

const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    if (req.method === 'POST' && req.url === `/v2/models/${NAME}/infer`) {
      if (busyMs > 0) for (const until = performance.now() + busyMs; performance.now() < until;);
      res.writeHead(200, inferHeaders);
      res.end(response.body);
    } else if (req.method === 'GET' && req.url === `/v2/models/${NAME}`) {
      res.writeHead(200, metaHeaders);
      res.end(metadata);
    } else {
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(notFound.length) });
      res.end(notFound);
    }
  });
});
server.keepAliveTimeout = 60_000;

const quit = (): void => {
  server.closeAllConnections();
  process.exit(0);
};
process.on('disconnect', quit);
process.on('SIGTERM', quit);
setTimeout(quit, MAX_LIFE_MS).unref();

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  if (process.send) process.send({ port });
  else console.log(`null v2 endpoint on http://127.0.0.1:${port}/v2/models/${NAME}`);
});
