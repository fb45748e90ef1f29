/**
 * A small KServe v2 server for tests of the HTTP target: metadata and infer over a real
 * onnxruntime session, JSON or binary, on 127.0.0.1 and an ephemeral port. It can be told to
 * refuse requests (429) to check that refusals are counted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH, modelMetadata } from '../../src/protocol/kserve-v2.js';
import { createSession, readModel } from '../../src/runtime/session.js';
import type { TensorDType } from '../../src/runtime/dtypes.js';

export interface TestV2Server {
  url: string;
  requests: number;
  refuseEvery: number;
  close(): Promise<void>;
}

export async function startV2Server(modelPath: string, name = 'model'): Promise<TestV2Server> {
  const rt = await createSession(await readModel(modelPath));
  const session: InferenceSession = rt.session;
  const state = { requests: 0, refuseEvery: 0, sinceRefusing: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const reply = (
          status: number,
          body: Buffer | string,
          headers: Record<string, string> = { 'content-type': 'application/json' },
        ): void => {
          res.writeHead(status, headers);
          res.end(body);
        };
        if (req.method === 'GET' && req.url === `/v2/models/${name}`)
          return reply(200, JSON.stringify(modelMetadata(name, ['1'], rt.inputs, rt.outputs)));
        if (req.method !== 'POST' || req.url !== `/v2/models/${name}/infer`)
          return reply(404, JSON.stringify({ error: 'not found' }));
        state.requests++;
        state.sinceRefusing++;
        if (state.refuseEvery > 0 && state.sinceRefusing % state.refuseEvery === 0)
          return reply(429, JSON.stringify({ error: 'queue full' }));
        try {
          const len = req.headers[HEADER_LENGTH];
          const request = decodeInferRequest(Buffer.concat(chunks), typeof len === 'string' ? len : undefined);
          const feeds: Record<string, Tensor> = {};
          for (const t of request.inputs) feeds[t.name] = new Tensor(t.type, t.data as never, t.dims);
          const out = await session.run(feeds);
          const outputs = Object.entries(out).map(([n, t]) => ({
            name: n,
            type: t.type as TensorDType,
            dims: [...t.dims],
            data: t.data as never,
          }));
          const msg = encodeInferResponse(
            name,
            '1',
            outputs,
            (n) => request.outputs.find((o) => o.name === n)?.binary ?? request.binaryOutputByDefault,
            request.id,
          );
          reply(200, msg.body, msg.headers);
        } catch (error) {
          reply(400, JSON.stringify({ error: (error as Error).message }));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v2/models/${name}`,
    get requests() {
      return state.requests;
    },
    get refuseEvery() {
      return state.refuseEvery;
    },
    set refuseEvery(n: number) {
      // Counted from now, so which requests are refused does not depend on earlier tests.
      state.refuseEvery = n;
      state.sinceRefusing = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rt.release();
    },
  };
}
