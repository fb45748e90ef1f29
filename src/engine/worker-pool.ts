/**
 * N worker threads, one onnxruntime session each, addressed by instance index. A worker that dies
 * fails only the batch it was running; the pool reports it and can start a replacement.
 */
import type { Worker } from 'node:worker_threads';
import { RtinferError, firstLine } from '../errors.js';
import type { TensorSpec } from '../runtime/session.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { spawnWorker } from './spawn-worker.js';
import { transferList, type WireFeeds } from './tensors.js';

export interface RunResult {
  outputs: WireFeeds;
  inferenceMs: number;
}

interface Pending {
  id: number;
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Pending | undefined;
  /** Set once terminate() was called on purpose, so its exit is not a crash. */
  retiring: boolean;
}

export interface ModelIo {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export class WorkerPool {
  readonly #init: WorkerInit;
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
  /** Receives input buffers the workers hand back. */
  onBuffers: ((buffers: ArrayBuffer[]) => void) | undefined;

  constructor(count: number, init: WorkerInit, onCrash: (instance: number, error: Error) => void) {
    this.#init = init;
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

  /** Test hook: the next `count` workers started for `instance` die while loading the model. */
  failStartsForTesting(instance: number, count: number): void {
    this.#failStarts.set(instance, count);
  }

  #startSlot(instance: number): Promise<ModelIo> {
    const failing = this.#failStarts.get(instance) ?? 0;
    if (failing > 0) this.#failStarts.set(instance, failing - 1);
    const started = new Promise<ModelIo>((resolve, reject) => {
      const worker = spawnWorker(import.meta.url, 'worker', { ...this.#init, ...(failing > 0 ? { failStartForTesting: true } : {}) } satisfies WorkerInit);
      const slot: Slot = { worker, pending: undefined, retiring: false };
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            if (this.#closed) {
              // close() came while the model loaded: this worker must not outlive the pool, and
              // close() (waiting on this start) returns only once it is gone.
              slot.retiring = true;
              const error = new RtinferError('RTI_ERR_ENGINE_CLOSED', `the engine closed while worker ${instance} was starting`);
              void worker.terminate().finally(() => reject(error));
              break;
            }
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
          case 'error': {
            const p = slot.pending;
            if (!p || p.id !== m.id) return;
            slot.pending = undefined;
            this.onBuffers?.(m.inputs);
            if (m.type === 'result') p.resolve({ outputs: m.outputs, inferenceMs: m.inferenceMs });
            // onnxruntime's text names internal graph nodes: the message keeps its first line, the
            // cause all of it, and a server can choose to show neither.
            else p.reject(new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed in onnxruntime: ${firstLine(m.message)}`, { cause: new Error(m.message) }));
            break;
          }
        }
      });
      const died = (why: string): void => {
        if (slot.retiring) return;
        slot.retiring = true;
        const error = new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', `worker ${instance} died (${why}); its batch failed and the worker is being replaced`);
        if (!ready) {
          reject(new RtinferError('RTI_ERR_SESSION_CREATE', `worker ${instance} died while loading the model (${why})`));
          return;
        }
        const p = slot.pending;
        slot.pending = undefined;
        if (this.#slots[instance] === slot) this.#slots[instance] = undefined;
        // Tell the owner first (it takes the instance out of service), then fail the batch.
        if (!this.#closed) this.#onCrash(instance, error);
        p?.reject(error);
      };
      worker.on('error', (e) => died(e.message.split('\n')[0] ?? 'error'));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
    const tracked = started.catch(() => undefined);
    this.#starting.add(tracked);
    void tracked.then(() => this.#starting.delete(tracked));
    return started;
  }

  run(instance: number, feeds: WireFeeds): Promise<RunResult> {
    const slot = this.#slots[instance];
    if (!slot || slot.retiring) return Promise.reject(new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', `worker ${instance} is not running`));
    if (slot.pending) return Promise.reject(new Error(`worker ${instance} is busy: the scheduler must not overlap batches`));
    return new Promise<RunResult>((resolve, reject) => {
      const id = this.#nextId++;
      slot.pending = { id, resolve, reject };
      const message: ToWorker = { type: 'run', id, feeds };
      slot.worker.postMessage(message, transferList(feeds));
    });
  }

  /**
   * Test hook: the worker exits abruptly when it reads this message, so the next batch sent to it
   * is lost in flight as with a real fault. (Terminating a worker from outside while onnxruntime
   * is inside a run aborts the whole process, so nothing here ever does that.)
   */
  crash(instance: number): void {
    this.#slots[instance]?.worker.postMessage({ type: 'crash' } satisfies ToWorker);
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
        slot.pending?.reject(new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the engine closed while this request was running'));
        slot.pending = undefined;
        await slot.worker.terminate();
      }),
    );
  }
}
