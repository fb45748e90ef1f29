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

const V2: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  int8: 'INT8',
  bool: 'BOOL',
};
const ARRAYS: Record<string, { type: ort.Tensor.Type; make: (b: ArrayBuffer) => ort.Tensor.DataType }> = {
  FP32: { type: 'float32', make: (b) => new Float32Array(b) },
  INT32: { type: 'int32', make: (b) => new Int32Array(b) },
  INT64: { type: 'int64', make: (b) => new BigInt64Array(b) },
  UINT8: { type: 'uint8', make: (b) => new Uint8Array(b) },
};

const model = process.argv[2] ?? '';
const session = await ort.InferenceSession.create(model);

async function infer(body: Buffer, headerLength: number): Promise<{ head: Buffer; data: Buffer[] }> {
  const request = JSON.parse(body.toString('utf8', 0, headerLength)) as {
    inputs: Array<{ name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }>;
  };
  const feeds: Record<string, ort.Tensor> = {};
  let offset = headerLength;
  for (const t of request.inputs) {
    const size = t.parameters.binary_data_size;
    const kind = ARRAYS[t.datatype];
    if (!kind) throw new Error(`datatype ${t.datatype} not supported`);
    const own = new Uint8Array(body.subarray(offset, offset + size)); // a copy: aligned for the typed array
    feeds[t.name] = new ort.Tensor(kind.type, kind.make(own.buffer), t.shape);
    offset += size;
  }
  const results = await session.run(feeds);
  const outputs = Object.entries(results).map(([name, t]) => {
    const a = t.data as Float32Array;
    return {
      name,
      datatype: V2[t.type] ?? t.type,
      shape: [...t.dims],
      bytes: Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    };
  });
  const head = Buffer.from(
    JSON.stringify({
      model_name: 'naive',
      outputs: outputs.map((o) => ({
        name: o.name,
        datatype: o.datatype,
        shape: o.shape,
        parameters: { binary_data_size: o.bytes.length },
      })),
    }),
  );
  return { head, data: outputs.map((o) => o.bytes) };
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    infer(body, Number(req.headers['inference-header-content-length'] ?? body.length)).then(
      ({ head, data }) => {
        const out = Buffer.concat([head, ...data]);
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(head.length),
          'content-length': String(out.length),
        });
        res.end(out);
      },
      (error: Error) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: error.message }));
      },
    );
  });
});
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
