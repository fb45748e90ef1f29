/**
 * A server for bench/serve in a child process (fork with --import tsx), so that it has an event
 * loop of its own as a deployed server would. argv[2] is 'rtinfer' (rtinfer serve with the
 * config in argv[3]) or 'minimal' (argv[3] = model path: a plain node:http handler that decodes v2
 * and calls session.run on its own thread, per request). Sends { url } to the parent once
 * listening; exits when the parent goes away or after 5 minutes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Tensor } from 'onnxruntime-node';
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH, modelMetadata } from '../../src/protocol/kserve-v2.js';
import type { TensorDType } from '../../src/runtime/dtypes.js';
import { createSession, readModel } from '../../src/runtime/session.js';
import { validateConfig } from '../../src/server/config.js';
import { createRtinferServer } from '../../src/server/server.js';

const [kind, arg] = process.argv.slice(2);
setTimeout(() => process.exit(0), 300_000).unref();
process.on('disconnect', () => process.exit(0));

if (kind === 'rtinfer') {
  const server = createRtinferServer(validateConfig(JSON.parse(arg ?? '{}')));
  const url = await server.listen();
  await server.ready();
  process.send?.({ url });
} else {
  const rt = await createSession(await readModel(arg ?? ''));
  const name = 'model';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(modelMetadata(name, ['1'], rt.inputs, rt.outputs)));
          return;
        }
        const len = req.headers[HEADER_LENGTH];
        const request = decodeInferRequest(Buffer.concat(chunks), typeof len === 'string' ? len : undefined);
        const feeds: Record<string, Tensor> = {};
        for (const t of request.inputs) feeds[t.name] = new Tensor(t.type, t.data as never, t.dims);
        const out = await rt.session.run(feeds);
        const outputs = Object.entries(out).map(([n, t]) => ({ name: n, type: t.type as TensorDType, dims: [...t.dims], data: t.data as never }));
        const msg = encodeInferResponse(name, '1', outputs, () => request.binaryOutputByDefault);
        res.writeHead(200, { ...msg.headers, 'content-length': String(msg.body.length) });
        res.end(msg.body);
      })();
    });
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/${name}` }));
}
