/**
 * The 'shared' transport between WorkerPool (main thread) and one worker: a request and its reply
 * travel through shared memory instead of two postMessage calls, and each side is woken by
 * Atomics.notify.
 *
 * Per worker there is
 *   - a control block (SharedArrayBuffer): Int32 words REQ, REP, STATUS, GEN, CRASH, then a header
 *     of Float64 words: the request id (request) or inference time (reply), then the tensors (name
 *     index, dtype, rank, byte offset, byte length, dims);
 *   - a data region (SharedArrayBuffer) that holds the request's inputs, then the reply's outputs.
 *     The main thread grows it (a new SharedArrayBuffer, GEN + 1, announced by a postMessage, which
 *     is rare) when a request or the last reply needed more room, up to the limits below.
 *
 * A request: the main thread copies the inputs into the data region, writes the header, bumps REQ
 * and notifies. The worker waits with Atomics.waitAsync (it keeps its event loop: onnxruntime-node's
 * session.run resolves through setImmediate, and the 'crash' and 'region' messages arrive as
 * events), copies the inputs out into ArrayBuffers of its own (onnxruntime-node refuses tensors on a
 * SharedArrayBuffer: "Invalid argument"), runs, copies the outputs into the data region, sets STATUS
 * and REP = the request's sequence number, and notifies. The main thread may spin briefly (off by
 * default, see SharedTuning.spinUs), waits with Atomics.waitAsync, and copies the outputs into
 * fresh ArrayBuffers (the region is reused by the next request).
 *
 * What does not fit this path travels by postMessage exactly as with the 'message' transport:
 * string tensors, feeds that are not the model's inputs, inputs above `maxInputBytes`, outputs above
 * `maxOutputBytes` or the region, and inference errors (the worker posts the message and answers
 * STATUS = MESSAGE).
 *
 * Why the limits (bench/engine-hop.ts and its size sweep, this 2-core machine): a transfer moves a
 * buffer of any size for the same price, a copy does not, and a reply's outputs cost more than the
 * copies: the main thread must allocate a buffer per output, and the worker's heap collects
 * onnxruntime's output buffers instead of handing them over (Identity 256 KiB: the worker's run
 * went from 64 µs to 1.2 ms, most likely that GC). Inputs only (ReduceSum to [1,1]), shared vs message at p50:
 * 8 KiB -14 µs, 16 KiB -19 µs, 64 KiB +2 µs, 128 KiB +10 µs. Inputs and outputs of the same size
 * (Identity): 256 B -7 µs, 4 KiB -7 µs, 16 KiB +8..+37 µs, 64 KiB +26..+61 µs.
 */
import { performance } from 'node:perf_hooks';
import { DTYPES, type NumericArray, type TensorDType } from '../runtime/dtypes.js';
import type { WireFeeds } from './tensors.js';

/** Int32 words of the control block. */
const REQ = 0; // sequence number of the last request (main → worker)
const REP = 1; // sequence number of the last reply (worker → main)
const STATUS = 2; // how the last reply came: OK (in the region) or MESSAGE (by postMessage)
const GEN = 3; // generation of the data region the request was written to
const CRASH = 4; // test hook (WorkerPool.crash): the worker exits when it sees it set

const STATUS_OK = 1;
const STATUS_MESSAGE = 2;

/** Byte offset of the Float64 header in the control block. */
const HEADER_AT = 64;
/** Header capacity in Float64 words: dozens of tensors of any usual rank. */
const HEADER_WORDS = 1024;
/** Tensor data starts on 64-byte boundaries in the data region. */
const ALIGN = 64;

/** dtype ↔ code in the header (strings never take this path). */
const CODES: readonly TensorDType[] = [
  'float32',
  'float16',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
];
const CODE_OF = new Map<string, number>(CODES.map((d, i) => [d, i]));

const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** Atomics.waitAsync (ES2024; the project's lib is ES2023). Present in Node >= 16. */
type WaitAsyncResult =
  { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (
  Atomics as unknown as { waitAsync: (a: Int32Array, index: number, value: number) => WaitAsyncResult }
).waitAsync;

/** Calls `then` once `words[index]` is no longer `value` (or on a notify without a change: callers re-check). */
function whenChanged(words: Int32Array, index: number, value: number, then: () => void): void {
  const r = waitAsync(words, index, value);
  if (r.async) void r.value.then(then);
  else then();
}

export interface SharedTuning {
  /** Data region at start, bytes. */
  initialBytes?: number;
  /** Requests with more input bytes than this travel by postMessage. */
  maxInputBytes?: number;
  /** Replies with more output bytes than this travel by postMessage. */
  maxOutputBytes?: number;
  /**
   * Main-thread spin before Atomics.waitAsync, µs. Only spent while the recent replies came back
   * within it, so a model slower than the spin never pays it. Default 0: in bench/engine-hop.ts a
   * 50 µs spin took the null model's p50 further down on a quiet machine (49 → 34 and 57 → 41 µs)
   * for 21-32 % more main-thread CPU per request, but under load it was no faster than no spin,
   * p99 went up to 1.4x per round (2x overall) and it cost up to 64 % more main-thread CPU. On
   * silero_vad (replies after ~150 µs) it never spins.
   */
  spinUs?: number;
}

export const SHARED_DEFAULTS: Required<SharedTuning> = {
  initialBytes: 4 * 1024,
  maxInputBytes: 32 * 1024,
  maxOutputBytes: 8 * 1024,
  spinUs: 0,
};

/** What the worker needs to open its end (sent in workerData; SharedArrayBuffers are shared, not copied). */
export interface ChannelBuffers {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  maxOutputBytes: number;
}

interface Layout {
  words: Int32Array;
  header: Float64Array;
}

function layout(control: SharedArrayBuffer): Layout {
  return {
    words: new Int32Array(control, 0, HEADER_AT / 4),
    header: new Float64Array(control, HEADER_AT, HEADER_WORDS),
  };
}

/** Header words one tensor takes. */
const wordsFor = (rank: number): number => 5 + rank;

/**
 * Writes `feeds` (already checked by measure()) into the region from byte 0 and describes them in
 * the header from word `at`, names as indices into `names`.
 */
function writeTensors(
  header: Float64Array,
  at: number,
  region: Uint8Array,
  feeds: WireFeeds,
  names: readonly string[],
): void {
  let w = at;
  let offset = 0;
  const entries = Object.entries(feeds);
  header[w++] = entries.length;
  for (const [name, t] of entries) {
    const src = t.data as NumericArray;
    header[w++] = names.indexOf(name);
    header[w++] = CODE_OF.get(t.type) as number;
    header[w++] = t.dims.length;
    header[w++] = offset;
    header[w++] = src.byteLength;
    for (const d of t.dims) header[w++] = d;
    region.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
    offset = align(offset + src.byteLength);
  }
}

/**
 * Reads the tensors described from word `at` out of the region into ArrayBuffers: fresh ones, or
 * ones `reuse` hands out by name and size (the worker's, for onnxruntime to read).
 */
function readTensors(
  header: Float64Array,
  at: number,
  region: SharedArrayBuffer,
  names: readonly string[],
  reuse?: (name: string, bytes: number) => ArrayBuffer,
): WireFeeds {
  const out: WireFeeds = {};
  let w = at;
  const count = header[w++] as number;
  for (let i = 0; i < count; i++) {
    const name = names[header[w++] as number] as string;
    const type = CODES[header[w++] as number] as TensorDType;
    const rank = header[w++] as number;
    const offset = header[w++] as number;
    const bytes = header[w++] as number;
    const dims: number[] = [];
    for (let k = 0; k < rank; k++) dims.push(header[w++] as number);
    // Not zeroed: it is overwritten whole at once. (A zeroed one is calloc'd: 16 KiB cost 18 µs
    // in a loop here, uninitialized 5 µs; 256 KiB 630 µs against 37 µs.)
    const buffer = reuse ? reuse(name, bytes) : Buffer.allocUnsafeSlow(bytes).buffer;
    new Uint8Array(buffer, 0, bytes).set(new Uint8Array(region, offset, bytes));
    out[name] = { type, dims, data: DTYPES[type].fromBytes(buffer, 0, bytes / DTYPES[type].bytes) };
  }
  return out;
}

/** Whether `feeds` can be described with `names` and fit `maxBytes`; the data bytes they take, or -1. */
function measure(feeds: WireFeeds, names: readonly string[], maxBytes: number): number {
  let bytes = 0;
  let words = 1;
  for (const [name, t] of Object.entries(feeds)) {
    if (t.type === 'string' || Array.isArray(t.data) || !CODE_OF.has(t.type) || !names.includes(name)) return -1;
    bytes = align(bytes + (t.data as NumericArray).byteLength);
    words += wordsFor(t.dims.length);
  }
  return bytes <= maxBytes && words + 2 <= HEADER_WORDS ? bytes : -1;
}

/** The main thread's end of one worker's channel. */
export class SharedChannel {
  readonly #control = new SharedArrayBuffer(HEADER_AT + HEADER_WORDS * 8);
  readonly #words: Int32Array;
  readonly #header: Float64Array;
  #data: SharedArrayBuffer;
  #region: Uint8Array;
  #gen = 0;
  #seq = 0;
  /** Bytes the last reply needed (or would have): the region grows to it for the next request. */
  #replyBytes = 0;
  /** Smoothed time from notify to reply, µs: decides whether a spin can pay. */
  #replyUs = Infinity;
  readonly #maxInput: number;
  readonly #maxOutput: number;
  readonly #spinUs: number;
  /** The worker is gone: no more waiting on it. */
  #released = false;

  constructor(tuning: SharedTuning = {}) {
    ({ words: this.#words, header: this.#header } = layout(this.#control));
    const t = { ...SHARED_DEFAULTS, ...tuning };
    this.#maxInput = t.maxInputBytes;
    this.#maxOutput = t.maxOutputBytes;
    this.#spinUs = t.spinUs;
    this.#data = new SharedArrayBuffer(
      Math.max(ALIGN, Math.min(t.initialBytes, Math.max(t.maxInputBytes, t.maxOutputBytes))),
    );
    this.#region = new Uint8Array(this.#data);
  }

  get buffers(): ChannelBuffers {
    return { control: this.#control, data: this.#data, maxOutputBytes: this.#maxOutput };
  }

  /** The data bytes `feeds` would take on this path, or -1 when they must travel by postMessage. */
  accepts(feeds: WireFeeds, inputNames: readonly string[]): number {
    return measure(feeds, inputNames, this.#maxInput);
  }

  /**
   * Writes the request (`bytes` from accepts()) and wakes the worker. Returns the new data region
   * when it had to grow: the caller posts it to the worker ('region' message) — before or after
   * the notify does not matter, the worker waits for the generation the request names.
   */
  send(
    id: number,
    feeds: WireFeeds,
    inputNames: readonly string[],
    bytes: number,
  ): { seq: number; grown?: { data: SharedArrayBuffer; gen: number } } {
    let grown: { data: SharedArrayBuffer; gen: number } | undefined;
    const need = Math.max(bytes, this.#replyBytes <= this.#maxOutput ? this.#replyBytes : 0);
    if (need > this.#data.byteLength) {
      let size = this.#data.byteLength;
      while (size < need) size *= 2;
      this.#data = new SharedArrayBuffer(Math.max(need, Math.min(size, Math.max(this.#maxInput, this.#maxOutput))));
      this.#region = new Uint8Array(this.#data);
      grown = { data: this.#data, gen: ++this.#gen };
    }
    this.#header[0] = id;
    writeTensors(this.#header, 1, this.#region, feeds, inputNames);
    this.#seq = this.#seq >= 0x7fffffff ? 1 : this.#seq + 1;
    Atomics.store(this.#words, GEN, this.#gen);
    Atomics.store(this.#words, REQ, this.#seq);
    Atomics.notify(this.#words, REQ);
    return grown ? { seq: this.#seq, grown } : { seq: this.#seq };
  }

  /**
   * Calls `done` once the worker answered request `seq` (spinning first when that has paid
   * recently). `done` runs synchronously when the reply came during the spin.
   */
  whenReplied(seq: number, done: () => void): void {
    let replied = done;
    if (this.#spinUs > 0) {
      const t0 = performance.now();
      replied = (): void => {
        const us = (performance.now() - t0) * 1000;
        this.#replyUs = this.#replyUs === Infinity ? us : this.#replyUs * 0.8 + us * 0.2;
        done();
      };
      if (this.#replyUs <= this.#spinUs) {
        const end = t0 + this.#spinUs / 1000;
        while (Atomics.load(this.#words, REP) !== seq && performance.now() < end);
      }
    }
    const wait = (): void => {
      const rep = Atomics.load(this.#words, REP);
      if (rep === seq) replied();
      // A notify without a reply: the worker died (see release()), or a spurious wake. The pool
      // ignores a reply for a request that is no longer pending, so waiting on is harmless.
      else if (!this.#released) whenChanged(this.#words, REP, rep, wait);
    };
    wait();
  }

  /** The reply to the last request: outputs in fresh ArrayBuffers, or 'message' when it travels by postMessage. */
  reply(outputNames: readonly string[]): { outputs: WireFeeds; inferenceMs: number } | 'message' {
    if (Atomics.load(this.#words, STATUS) !== STATUS_OK) return 'message';
    return { inferenceMs: this.#header[1] as number, outputs: readTensors(this.#header, 2, this.#data, outputNames) };
  }

  /** Bytes the outputs of a reply by message would have needed here: the next request grows the region to them. */
  noteReplyBytes(outputs: WireFeeds): void {
    let bytes = 0;
    for (const t of Object.values(outputs))
      if (!Array.isArray(t.data)) bytes = align(bytes + (t.data as NumericArray).byteLength);
    this.#replyBytes = bytes;
  }

  /** Test hook (WorkerPool.crash): the worker exits at its next wake, before taking a request. */
  crash(): void {
    Atomics.store(this.#words, CRASH, 1);
    Atomics.notify(this.#words, REQ);
  }

  /** The worker is gone: wake and end any wait on it. */
  release(): void {
    this.#released = true;
    Atomics.notify(this.#words, REP);
  }
}

/** The worker's end of the channel. */
export class SharedEndpoint {
  readonly #words: Int32Array;
  readonly #header: Float64Array;
  #data: SharedArrayBuffer;
  #gen = 0;
  #seen = 0;
  /** A request seen before the region it was written to arrived ('region' message pending). */
  #deferred = false;
  /** Input buffers onnxruntime reads, kept per input name and reused (a fresh one costs its page faults). */
  readonly #inputs = new Map<string, ArrayBuffer>();
  readonly #onRequest: (id: number, feeds: WireFeeds) => Promise<void>;
  readonly #inputNames: readonly string[];
  readonly #maxOutput: number;

  /**
   * `onRequest` gets the pool's request id and the inputs; it must answer (reply or replyByMessage)
   * and never reject.
   */
  constructor(
    buffers: ChannelBuffers,
    inputNames: readonly string[],
    onRequest: (id: number, feeds: WireFeeds) => Promise<void>,
  ) {
    ({ words: this.#words, header: this.#header } = layout(buffers.control));
    this.#data = buffers.data;
    this.#inputNames = inputNames;
    this.#maxOutput = buffers.maxOutputBytes;
    this.#onRequest = onRequest;
  }

  /**
   * Waits for requests from now on (the worker's event loop stays free meanwhile). The channel is
   * fresh (REQ 0), so a request the main thread wrote before this runs is still taken.
   */
  start(): void {
    this.#arm();
  }

  /** A grown data region ('region' message). */
  region(data: SharedArrayBuffer, gen: number): void {
    if (gen <= this.#gen) return;
    this.#data = data;
    this.#gen = gen;
    if (this.#deferred && Atomics.load(this.#words, GEN) === gen) {
      this.#deferred = false;
      this.#take();
    }
  }

  #arm(): void {
    whenChanged(this.#words, REQ, this.#seen, () => this.#wake());
  }

  #wake(): void {
    // Test hook: die as a faulting worker would, losing the request in flight.
    if (Atomics.load(this.#words, CRASH) !== 0) process.exit(70);
    const req = Atomics.load(this.#words, REQ);
    if (req === this.#seen) {
      this.#arm();
      return;
    }
    this.#seen = req;
    if (Atomics.load(this.#words, GEN) !== this.#gen) {
      this.#deferred = true; // region() takes it once the new region arrives
      return;
    }
    this.#take();
  }

  #take(): void {
    const id = this.#header[0] as number;
    const feeds = readTensors(this.#header, 1, this.#data, this.#inputNames, (name, bytes) => {
      let b = this.#inputs.get(name);
      // byteLength 0: detached, when an output that aliased it was transferred in a reply by message.
      if (!b || b.byteLength !== bytes) {
        b = new ArrayBuffer(bytes);
        this.#inputs.set(name, b);
      }
      return b;
    });
    void this.#onRequest(id, feeds).then(() => this.#arm());
  }

  /**
   * Answers the current request in the region; false when the outputs cannot take this path
   * (strings, too big): the caller posts them and calls replyByMessage().
   */
  reply(outputs: WireFeeds, outputNames: readonly string[], inferenceMs: number): boolean {
    // Test hook: a crash requested while this request ran loses it (the wake-up check alone raced
    // with a run shorter than the time the main thread took to ask).
    if (Atomics.load(this.#words, CRASH) !== 0) process.exit(70);
    if (measure(outputs, outputNames, Math.min(this.#maxOutput, this.#data.byteLength)) < 0) return false;
    this.#header[1] = inferenceMs;
    writeTensors(this.#header, 2, new Uint8Array(this.#data), outputs, outputNames);
    this.#answer(STATUS_OK);
    return true;
  }

  /** The answer went by postMessage (already posted): end the main thread's wait. */
  replyByMessage(): void {
    this.#answer(STATUS_MESSAGE);
  }

  #answer(status: number): void {
    Atomics.store(this.#words, STATUS, status);
    Atomics.store(this.#words, REP, this.#seen);
    Atomics.notify(this.#words, REP);
  }
}
