/**
 * N worker threads, one onnxruntime session each, addressed by instance index. A worker that dies
 * fails only the batch it was running; the pool reports it and can start a replacement.
 */
import type { Worker } from 'node:worker_threads';
import { RtinferError } from '../errors.js';
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
  #nextId = 1;
  #closed = false;
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

  /** Replaces the worker of `instance` with a fresh one. */
  async replace(instance: number): Promise<void> {
    this.restarts++;
    await this.#startSlot(instance);
  }

  #startSlot(instance: number): Promise<ModelIo> {
    return new Promise<ModelIo>((resolve, reject) => {
      const worker = spawnWorker(import.meta.url, 'worker', this.#init);
      const slot: Slot = { worker, pending: undefined, retiring: false };
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            this.#slots[instance] = slot;
            resolve({ inputs: m.inputs, outputs: m.outputs });
            break;
          case 'init-error':
            slot.retiring = true;
            void worker.terminate();
            reject(new RtinferError(m.code, m.message));
            break;
          case 'result':
          case 'error': {
            const p = slot.pending;
            if (!p || p.id !== m.id) return;
            slot.pending = undefined;
            this.onBuffers?.(m.inputs);
            if (m.type === 'result') p.resolve({ outputs: m.outputs, inferenceMs: m.inferenceMs });
            else p.reject(new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed: ${m.message}`));
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
