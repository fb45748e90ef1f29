/**
 * The naive server's request handling (bench/support/naive-server.ts runs it in a process of its
 * own; bench/request-cost.ts mounts it beside rtinfer in one process): what one writes in an
 * afternoon. The body gathered and joined, its JSON header parsed, each binary input copied into a
 * typed array, `session.run` on the HTTP thread, the answer as one buffer. No queue bound, no
 * deadlines (a v2 `timeout` parameter is ignored). Shares no code with rtinfer.
 */
import type http from 'node:http';
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

async function infer(
  session: ort.InferenceSession,
  body: Buffer,
  headerLength: number,
): Promise<{ head: Buffer; data: Buffer[] }> {
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

/** The naive server's whole request handling: read the body, run, answer (a 400 with the error on failure). */
export function naiveHandler(session: ort.InferenceSession): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      infer(session, body, Number(req.headers['inference-header-content-length'] ?? body.length)).then(
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
  };
}
