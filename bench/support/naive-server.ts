/**
 * The naive server for bench/serve: what one writes in an afternoon. node:http, one
 * onnxruntime-node InferenceSession with default options, `session.run` per request on the HTTP
 * thread, no queue bound, no deadlines (a v2 `timeout` parameter is ignored), KServe v2 binary
 * tensors in and out. Shares no code with rtinfer.
 *   node --import tsx bench/support/naive-server.ts MODEL.onnx
 * Prints "listening on URL", "model naive v1: MODEL → URL/v2/models/naive", "naive: ready".
 * Exits on SIGTERM, when its parent goes away, or after an hour.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-node';
import { naiveHandler } from './naive-handler.js';

const model = process.argv[2] ?? '';
const session = await ort.InferenceSession.create(model);

const server = http.createServer(naiveHandler(session));
server.keepAliveTimeout = 60_000;
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(0), 3_600_000).unref();
server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`naive: listening on ${url}\n  model naive v1: ${model} → ${url}/v2/models/naive\nnaive: ready`);
});
