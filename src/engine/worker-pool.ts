/**
 * N worker threads, one onnxruntime session each, addressed by instance index. A worker that dies
 * fails only the batch it was running; the pool reports it and can start a replacement.
 */
import type { Worker } from 'node:worker_threads';
import { RtinferError, firstLine } from '../errors.js';
import type { TensorSpec } from '../runtime/session.js';
import type { FromWorker, ToWorker, Transport, WorkerData, WorkerInit } from './protocol.js';
import { SharedChannel } from './shared-channel.js';
import { spawnWorker } from '../util/spawn-worker.js';
import { monotonicMs } from '../util/clock.js';
import { transferList, type WireFeeds } from './tensors.js';

export interface RunResult {
  outputs: WireFeeds;
  inferenceMs: number;
  /** A request that went to a worker by message: the two thread hand-offs (see HopLegs). */
  legs?: HopLegs | undefined;
}

/**
 * The hand-offs of a request sent to a worker by message, on the process-wide monotonic clock:
 * `toWorkerMs` from postMessage here to the worker taking the request, `backMs` from the worker
 * posting its answer to this thread taking it. Mostly the time a sleeping thread takes to wake
 * (bench/engine-hop prints them).
 */
export interface HopLegs {
  toWorkerMs: number;
  backMs: number;
}

interface Pending {
  id: number;
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
  /** Sent through the shared channel: the input buffers never left, they go to onBuffers at the end. */
  inputs?: ArrayBuffer[];
  /** Sent by message: when (monotonicMs). */
  sentAt?: number;
}

interface Slot {
  worker: Worker;
  pending: Pending | undefined;
  /** Set once terminate() was called on purpose, so its exit is not a crash. */
  retiring: boolean;
  /** The 'shared' transport's channel to this worker. */
  channel: SharedChannel | undefined;
  /** The model's input and output names (header indices on the shared channel). */
  inputNames: string[];
  outputNames: string[];
}

export interface ModelIo {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Where a layout's sessions run: worker threads (WorkerPool) or the calling thread (MainThreadPool). */
export type Placement = 'worker' | 'main';

/** What the engine, its supervisor and the warm-up need of the sessions, wherever they run. */
export interface InstancePool {
  readonly placement: Placement;
  /** Replacements that started. */
  readonly restarts: number;
  /** Workers replaced on purpose to give back memory (see WorkerPool.recycle). */
  readonly recycles: number;
  onBuffers: ((buffers: ArrayBuffer[]) => void) | undefined;
  start(): Promise<ModelIo>;
  replace(instance: number): Promise<void>;
  /** Replaces an idle instance's session with a fresh one; false where sessions cannot be (the calling thread's). */
  recycle(instance: number): Promise<boolean>;
  run(instance: number, feeds: WireFeeds): Promise<RunResult>;
  failStartsForTesting(instance: number, count: number): void;
  crash(instance: number): void;
  close(): Promise<void>;
}

export class WorkerPool implements InstancePool {
  /**
   * The transport when WorkerInit.transport is not given: 'shared' (shared-channel.ts) for small
   * tensors, with every larger one taking the message path anyway. bench/engine-hop.ts (7 runs) and
   * a per-request message/shared alternation (5 runs), this 2-core machine with other processes
   * keeping 0.01-1.2 cores busy, shared vs message on small tensors:
   *   p50: null model 0.83-0.90x (7-14 µs saved of 52-99), silero_vad 0.77-1.08x, median 0.92x
   *        (mostly 13-28 µs saved of 208-359);
   *   p99: null model 0.77-1.61x (median 0.99x), silero_vad 0.96-1.47x (median 1.02x): no saving
   *        beyond the noise (two sides on the very same path differed by up to 1.7x at p99);
   *   main-thread CPU per request: null 4-20 % lower, silero 23 % lower to 1 % higher.
   * It pays at p50 and in main-thread CPU and costs nothing measurable at p99, and it is what
   * brings silero_vad's engine overhead under 100 µs (bench/engine-overhead: 77-100 µs in 3 of 4
   * runs, against 115-160 µs with messages), so it is the default. Larger tensors gain nothing:
   * above SHARED_DEFAULTS' limits they take the message path on either transport (PP-OCR cls 110 KB
   * in, yolox_nano 2 MB in), and forced through the channel they lose (yolox_nano: main-thread CPU
   * 3.4-5.6 ms per request against 0.45-0.9 ms).
   */
  static readonly DEFAULT_TRANSPORT: Transport = 'shared';
  readonly #init: WorkerInit;
  readonly #transport: Transport;
  readonly #slots: Array<Slot | undefined>;
  readonly #onCrash: (instance: number, error: Error) => void;
  /** Workers loading their session: not in #slots yet, but close() must stop them too. */
  readonly #starting = new Set<Promise<unknown>>();
  /** Test hook: start attempts per instance that are made to fail (see failStartsForTesting). */
  readonly #failStarts = new Map<number, number>();
  #nextId = 1;
  #closed = false;
  /** Replacement workers that started (failed attempts are not counted). */
  restarts = 0;
  recycles = 0;
  /**
   * Requests sent by postMessage and through the shared channel; of the latter, those answered by
   * message (an inference error, outputs too big for the channel).
   */
  readonly hops = { message: 0, shared: 0, sharedAnsweredByMessage: 0 };
  /** Receives input buffers the workers hand back. */
  onBuffers: ((buffers: ArrayBuffer[]) => void) | undefined;

  constructor(count: number, init: WorkerInit, onCrash: (instance: number, error: Error) => void) {
    this.#init = init;
    this.#transport = init.transport ?? WorkerPool.DEFAULT_TRANSPORT;
    this.#slots = new Array<Slot | undefined>(count).fill(undefined);
    this.#onCrash = onCrash;
  }

  /** Starts every worker; rejects (and stops them all) if any cannot create its session. */
  async start(): Promise<ModelIo> {
    try {
      const ios = await Promise.all(this.#slots.map((_, i) => this.#startSlot(i)));
      return ios[0] as ModelIo;
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Replaces the worker of `instance` with a fresh one; rejects if it cannot load the model. */
  async replace(instance: number): Promise<void> {
    if (this.#closed) throw new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the engine is closed: no worker is started');
    await this.#startSlot(instance);
    this.restarts++;
  }

  /**
   * Stops an idle worker and starts a fresh one for its instance. onnxruntime's CPU arena keeps the
   * peak a session ever needed (a dynamic-shape classifier sent a few 10-40 MB inputs held 3.9 GB
   * afterwards, which malloc_trim cannot return); only a new session starts small. The caller takes
   * the instance out of service first. A fresh worker that cannot load is a crash (the supervisor
   * retries it); resolves true once the new one is running.
   */
  async recycle(instance: number): Promise<boolean> {
    const old = this.#slots[instance];
    if (!old || old.pending || this.#closed) return false;
    old.retiring = true;
    old.channel?.release();
    this.#slots[instance] = undefined;
    // Stopped before the new one loads, so that the two never hold their memory at once.
    await old.worker.terminate();
    try {
      await this.#startSlot(instance);
    } catch (error) {
      if (!this.#closed) this.#onCrash(instance, error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    this.recycles++;
    return true;
  }

  /** Test hook: the next `count` workers started for `instance` die while loading the model. */
  failStartsForTesting(instance: number, count: number): void {
    this.#failStarts.set(instance, count);
  }

  get placement(): 'worker' {
    return 'worker';
  }

  /** The transport this pool uses. */
  get transport(): Transport {
    return this.#transport;
  }

  #startSlot(instance: number): Promise<ModelIo> {
    const failing = this.#failStarts.get(instance) ?? 0;
    if (failing > 0) this.#failStarts.set(instance, failing - 1);
    const started = new Promise<ModelIo>((resolve, reject) => {
      // A fresh channel per worker: a replacement never sees its predecessor's state.
      const channel = this.#transport === 'shared' ? new SharedChannel(this.#init.sharedTuning) : undefined;
      const data: WorkerData = {
        ...this.#init,
        ...(failing > 0 ? { failStartForTesting: true } : {}),
        ...(channel ? { channel: channel.buffers } : {}),
      };
      const worker = spawnWorker(import.meta.url, 'worker', data);
      const slot: Slot = { worker, pending: undefined, retiring: false, channel, inputNames: [], outputNames: [] };
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            if (this.#closed) {
              // close() came while the model loaded: this worker must not outlive the pool, and
              // close() (waiting on this start) returns only once it is gone.
              slot.retiring = true;
              const error = new RtinferError(
                'RTI_ERR_ENGINE_CLOSED',
                `the engine closed while worker ${instance} was starting`,
              );
              void worker.terminate().finally(() => reject(error));
              break;
            }
            slot.inputNames = m.inputs.map((i) => i.name);
            slot.outputNames = m.outputs.map((o) => o.name);
            this.#slots[instance] = slot;
            resolve({ inputs: m.inputs, outputs: m.outputs });
            break;
          case 'init-error': {
            slot.retiring = true;
            const error = new RtinferError(m.code, m.message);
            void worker.terminate().finally(() => reject(error));
            break;
          }
          case 'result':
          case 'error':
            this.#answer(slot, m);
            break;
        }
      });
      const died = (why: string): void => {
        if (slot.retiring) return;
        slot.retiring = true;
        slot.channel?.release();
        const error = new RtinferError(
          'RTI_ERR_ENGINE_WORKER_CRASHED',
          `worker ${instance} died (${why}); its batch failed and the worker is being replaced`,
        );
        if (!ready) {
          reject(
            new RtinferError('RTI_ERR_SESSION_CREATE', `worker ${instance} died while loading the model (${why})`),
          );
          return;
        }
        const p = slot.pending;
        slot.pending = undefined;
        if (this.#slots[instance] === slot) this.#slots[instance] = undefined;
        // Tell the owner first (it takes the instance out of service), then fail the batch.
        if (!this.#closed) this.#onCrash(instance, error);
        p?.reject(error);
      };
      worker.on('error', (e) => died(firstLine(e) || 'error'));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
    const tracked = started.catch(() => undefined);
    this.#starting.add(tracked);
    void tracked.then(() => this.#starting.delete(tracked));
    return started;
  }

  /** A worker's answer by message: the pending run settles, its buffers go back to the owner. */
  #answer(slot: Slot, m: Extract<FromWorker, { type: 'result' | 'error' }>): void {
    const p = slot.pending;
    if (!p || p.id !== m.id) return;
    slot.pending = undefined;
    if (p.inputs) this.hops.sharedAnsweredByMessage++;
    this.onBuffers?.(p.inputs ? [...m.inputs, ...p.inputs] : m.inputs);
    // Outputs too big for the shared region: it grows to them for the next request.
    if (m.type === 'result' && p.inputs) slot.channel?.noteReplyBytes(m.outputs);
    if (m.type === 'result')
      p.resolve({
        outputs: m.outputs,
        inferenceMs: m.inferenceMs,
        legs:
          m.at && p.sentAt !== undefined
            ? { toWorkerMs: m.at.received - p.sentAt, backMs: monotonicMs() - m.at.answered }
            : undefined,
      });
    // onnxruntime's text names internal graph nodes: the message keeps its first line, the cause
    // all of it, and a server can choose to show neither.
    else
      p.reject(
        new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed in onnxruntime: ${firstLine(m.message)}`, {
          cause: new Error(m.message),
        }),
      );
  }

  run(instance: number, feeds: WireFeeds): Promise<RunResult> {
    const slot = this.#slots[instance];
    if (!slot || slot.retiring)
      return Promise.reject(new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', `worker ${instance} is not running`));
    if (slot.pending)
      return Promise.reject(new Error(`worker ${instance} is busy: the scheduler must not overlap batches`));
    const bytes = slot.channel ? slot.channel.accepts(feeds, slot.inputNames) : -1;
    return new Promise<RunResult>((resolve, reject) => {
      const id = this.#nextId++;
      if (slot.channel && bytes >= 0) {
        this.#runShared(slot, slot.channel, id, feeds, bytes, resolve, reject);
        return;
      }
      this.hops.message++;
      slot.pending = { id, resolve, reject, sentAt: monotonicMs() };
      const message: ToWorker = { type: 'run', id, feeds };
      slot.worker.postMessage(message, transferList(feeds));
    });
  }

  #runShared(
    slot: Slot,
    channel: SharedChannel,
    id: number,
    feeds: WireFeeds,
    bytes: number,
    resolve: (r: RunResult) => void,
    reject: (e: Error) => void,
  ): void {
    this.hops.shared++;
    const pending: Pending = { id, resolve, reject, inputs: transferList(feeds) };
    slot.pending = pending;
    const { seq, grown } = channel.send(id, feeds, slot.inputNames, bytes);
    if (grown) slot.worker.postMessage({ type: 'region', ...grown } satisfies ToWorker);
    channel.whenReplied(seq, () => {
      // Gone meanwhile (the worker died, the pool closed): it was answered there.
      if (slot.pending !== pending) return;
      let reply: ReturnType<SharedChannel['reply']> | Error;
      try {
        reply = channel.reply(slot.outputNames);
      } catch (error) {
        reply = error instanceof Error ? error : new Error(String(error));
      }
      if (reply === 'message') return; // the 'result' or 'error' message answers it
      slot.pending = undefined;
      this.onBuffers?.(pending.inputs ?? []);
      if (reply instanceof Error) pending.reject(reply);
      else pending.resolve(reply);
    });
  }

  /**
   * Test hook: the worker exits abruptly when it reads this message, so the next batch sent to it
   * is lost in flight as with a real fault. (Terminating a worker from outside while onnxruntime
   * is inside a run aborts the whole process, so nothing here ever does that.)
   */
  crash(instance: number): void {
    const slot = this.#slots[instance];
    // Both ways: a worker idle on the shared channel wakes to it at once; one inside a run hears the message.
    slot?.channel?.crash();
    slot?.worker.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /**
   * Terminates every worker. Call it only when no batch is running: terminating a worker inside
   * onnxruntime's run aborts the process (seen with onnxruntime-node 1.30).
   */
  async close(): Promise<void> {
    this.#closed = true;
    // A worker still loading is left to finish (it terminates itself on 'ready', above) rather than
    // terminated mid-load: like a run, session creation is native code.
    await Promise.all(this.#starting);
    await Promise.all(
      this.#slots.map(async (slot) => {
        if (!slot) return;
        slot.retiring = true;
        slot.channel?.release();
        slot.pending?.reject(
          new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the engine closed while this request was running'),
        );
        slot.pending = undefined;
        await slot.worker.terminate();
      }),
    );
  }
}
