/**
 * Worker thread entry for CodecPool: v2 JSON decoding and encoding off the thread that answers
 * HTTP. JSON.parse of a 1.9 MB yolox request took 140–250 ms here, and answering its output as JSON
 * about 200 ms: on the serving thread that froze every other request, health checks included.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorData } from '../errors.js';
import { decodeInferRequest, encodeInferResponse, type V2Tensor } from '../protocol/kserve-v2.js';
import type { NumericArray } from '../runtime/dtypes.js';
import { lowerThreadPriority } from '../util/thread-priority.js';

export type CodecRequest =
  | { id: number; op: 'decode'; body: Uint8Array; headerLength: string | undefined }
  | {
      id: number;
      op: 'encode';
      model: string;
      version: string | undefined;
      outputs: V2Tensor[];
      binary: string[];
      requestId: string | undefined;
    };

const port = parentPort;
if (!port) throw new Error('server/codec-worker must run in a worker thread');
lowerThreadPriority((workerData as { nice?: number } | null)?.nice ?? 0);

function buffersOf(tensors: readonly V2Tensor[]): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const t of tensors) if (!Array.isArray(t.data)) set.add((t.data as NumericArray).buffer as ArrayBuffer);
  return [...set];
}

port.on('message', (m: CodecRequest) => {
  try {
    if (m.op === 'decode') {
      const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
      const result = decodeInferRequest(body, m.headerLength);
      port.postMessage({ id: m.id, ok: true, result }, buffersOf(result.inputs));
    } else {
      const binary = new Set(m.binary);
      const msg = encodeInferResponse(m.model, m.version, m.outputs, (n) => binary.has(n), m.requestId);
      port.postMessage({ id: m.id, ok: true, result: { body: msg.body, headers: msg.headers } });
    }
  } catch (error) {
    port.postMessage({ id: m.id, ok: false, ...errorData(error) });
  }
});
