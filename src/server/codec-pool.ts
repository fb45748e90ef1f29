/**
 * Large v2 JSON bodies are decoded, and large JSON answers encoded, in a worker thread (one per
 * server, started on first use): the serving thread must keep answering everything else. Small
 * messages (binary requests, whose JSON header is tiny) stay on the serving thread, where the
 * hand-off would cost more than the work.
 */
import type { Worker } from 'node:worker_threads';
import { errorFromData, RtinferError, type ErrorData } from '../errors.js';
import { spawnWorker } from '../util/spawn-worker.js';
import {
  decodeInferRequest,
  encodeInferResponseParts,
  type DecodedInferRequest,
  type EncodedParts,
  type V2Tensor,
} from '../protocol/kserve-v2.js';
import type { CodecRequest } from './codec-worker.js';

/** JSON text above this many bytes is parsed or written in the worker (about 1–2 ms of work here). */
export const OFFLOAD_JSON_BYTES = 64 * 1024;
/**
 * An idle worker is stopped after this long: parsing large JSON grows its heap, which V8 keeps,
 * and a server should come back to its resting memory after a burst.
 */
const IDLE_STOP_MS = 2_000;
/**
 * Requests waiting for or in the worker's decode at most; beyond, 429. One worker parses a 2 MB body
 * in 140–250 ms, so a longer line only makes every request in it late (the soak queued thousands,
 * gigabytes of bodies, before this bound).
 */
export const MAX_PENDING = 8;
/**
 * Answers waiting for or in the worker's encode at most. Each has had its inference run, so it is
 * not refused lightly (the bound of decodes refused half of 16 concurrent yolox_nano answers in JSON
 * after their runs); the route asks `refusesJson` before running a request whose answer would join
 * them.
 */
export const MAX_ENCODES = 16;

/** Models remembered in CodecPool's #largeAnswers at most (a repository may load and unload many). */
const MAX_MODELS = 1024;

type Reply = { id: number; ok: true; result: unknown } | ({ id: number; ok: false } & ErrorData);

export class CodecPool {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  /** Of #pending, the encodes. */
  #encodes = 0;
  /** Models (name and version) whose last JSON answer was large enough for the worker. */
  readonly #largeAnswers = new Set<string>();
  #id = 1;
  #closed = false;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #onOffload: ((op: 'decode' | 'encode') => void) | undefined;
  readonly #nice: number;

  /**
   * `onOffload` counts the messages handed to the worker (a metric); `nice` is the worker thread's
   * nice value (0: the process's).
   */
  constructor(onOffload?: (op: 'decode' | 'encode') => void, nice = 0) {
    this.#onOffload = onOffload;
    this.#nice = nice;
  }

  /**
   * Decodes a v2 request; in the worker when its JSON part is large. The body's buffer is moved there.
   * `parsed`: its JSON header, already parsed from these bytes.
   */
  async decode(
    body: Buffer,
    headerLength: number | undefined,
    parsed?: Record<string, unknown>,
  ): Promise<DecodedInferRequest> {
    const jsonBytes = headerLength ?? body.length;
    const len = headerLength === undefined ? undefined : String(headerLength);
    if (jsonBytes < OFFLOAD_JSON_BYTES) return decodeInferRequest(body, len, parsed);
    this.#onOffload?.('decode');
    const r = (await this.#call({ id: 0, op: 'decode', body, headerLength: len }, [
      body.buffer as ArrayBuffer,
    ])) as DecodedInferRequest;
    return r;
  }

  /** Encodes a v2 response; in the worker when its JSON tensors are large (about 12 bytes a value). */
  async encode(
    model: string,
    version: string | undefined,
    outputs: V2Tensor[],
    binary: (name: string) => boolean,
    requestId: string | undefined,
  ): Promise<EncodedParts> {
    const jsonValues = outputs.reduce((n, t) => n + (binary(t.name) ? 0 : t.data.length), 0);
    const key = `${model}\n${version ?? ''}`;
    if (jsonValues * 12 < OFFLOAD_JSON_BYTES) {
      this.#largeAnswers.delete(key);
      return encodeInferResponseParts(model, version, outputs, binary, requestId);
    }
    if (this.#largeAnswers.size < MAX_MODELS) this.#largeAnswers.add(key);
    this.#onOffload?.('encode');
    const names = outputs.filter((t) => binary(t.name)).map((t) => t.name);
    if (this.#encodes >= MAX_ENCODES) throw encoderBusy();
    this.#encodes++;
    try {
      const r = (await this.#call({ id: 0, op: 'encode', model, version, outputs, binary: names, requestId })) as {
        body: Uint8Array;
        headers: Record<string, string>;
      };
      return { parts: [Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength)], headers: r.headers };
    } finally {
      this.#encodes--;
    }
  }

  /**
   * Whether a request to this model that asks for JSON outputs should be refused before it runs: the
   * encoder is full and the model's last JSON answer was a large one.
   */
  refusesJson(model: string, version: string | undefined): boolean {
    return this.#encodes >= MAX_ENCODES && this.#largeAnswers.has(`${model}\n${version ?? ''}`);
  }

  #call(request: CodecRequest, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the server is shutting down'));
    if (request.op === 'decode' && this.#pending.size - this.#encodes >= MAX_PENDING) {
      return Promise.reject(
        new RtinferError(
          'RTI_ERR_ENGINE_QUEUE_FULL',
          `the JSON decoder is busy (${MAX_PENDING} large JSON requests in hand): retry later, or send binary tensors`,
        ),
      );
    }
    const worker = this.#start();
    clearTimeout(this.#idleTimer);
    const id = this.#id++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...request, id }, transfer);
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = spawnWorker(import.meta.url, 'codec-worker', { nice: this.#nice });
    worker.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) {
        worker.unref();
        this.#idleTimer = setTimeout(() => this.#stopIdle(worker), IDLE_STOP_MS).unref();
      }
      if (m.ok) p.resolve(m.result);
      else p.reject(errorFromData(m));
    });
    const fail = (why: string): void => {
      for (const p of this.#pending.values())
        p.reject(new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', `the codec worker died (${why})`));
      this.#pending.clear();
      // The next call starts a new one.
      if (this.#worker === worker) this.#worker = undefined;
    };
    worker.on('error', (e) => fail(e.message));
    worker.on('exit', (code) => {
      // Stopped when idle (it is no longer this.#worker): nothing was pending.
      if (!this.#closed && this.#worker === worker) fail(`exit code ${code}`);
    });
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #stopIdle(worker: Worker): void {
    if (this.#worker !== worker || this.#pending.size > 0) return;
    this.#worker = undefined;
    void worker.terminate();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await this.#worker?.terminate();
    this.#worker = undefined;
  }
}

/** The refusal of a large JSON answer while MAX_ENCODES are in hand. */
export function encoderBusy(): RtinferError {
  return new RtinferError(
    'RTI_ERR_ENGINE_QUEUE_FULL',
    `the JSON encoder is busy (${MAX_ENCODES} large JSON answers in hand): retry later, ` +
      'or ask for binary outputs (parameters.binary_data_output: true)',
  );
}
