/**
 * The health port's thread (see health-port.ts): a node:http server that answers GET/HEAD
 * /v2/health/live and /v2/health/ready from what the HTTP thread last published in shared memory,
 * so that a probe is answered at once however many request bodies that thread is reading. It
 * imports nothing of the server's: it must start fast and hold no model state.
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

interface HealthWorkerData {
  host: string;
  port: number;
  /** [0]: Date.now() of the HTTP thread's last beat; [1]: 1 when ready. */
  state: SharedArrayBuffer;
  staleMs: number;
}

const data = workerData as HealthWorkerData;
const state = new BigInt64Array(data.state);

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : text);
}

const server = http.createServer({ requestTimeout: 5000, headersTimeout: 5000 }, (req, res) => {
  req.resume(); // a body, if a client sends one, is not read into memory
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return reply(res, 405, { error: 'only GET and HEAD here' }, head);
  const path = (req.url ?? '').split('?')[0];
  const silentMs = Date.now() - Number(Atomics.load(state, 0));
  // A thread that stopped running its event loop (an endless loop, a deadlock in native code)
  // serves nothing: liveness says so, and the orchestrator restarts the process.
  const stalled = silentMs > data.staleMs;
  if (path === '/v2/health/live')
    return reply(
      res,
      stalled ? 503 : 200,
      stalled ? { live: false, reason: `the HTTP thread has not run for ${Math.round(silentMs)} ms` } : { live: true },
      head,
    );
  if (path === '/v2/health/ready') {
    const ready = !stalled && Atomics.load(state, 1) === 1n;
    return reply(res, ready ? 200 : 503, { ready }, head);
  }
  reply(res, 404, { error: 'this port answers /v2/health/live and /v2/health/ready only' }, head);
});
// Probes are few: a bound keeps a flood of connections from costing this thread its memory.
server.maxConnections = 64;
server.on('clientError', (_error, socket) => socket.destroy());
server.on('error', (error) => parentPort?.postMessage({ error: error.message }));
server.listen(data.port, data.host, () => {
  const a = server.address();
  parentPort?.postMessage({ port: typeof a === 'object' && a ? a.port : data.port });
});
parentPort?.on('message', (m: unknown) => {
  if (m === 'close') {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
});
