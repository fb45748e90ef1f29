/**
 * One onnxruntime session on the calling thread, behind the same interface as WorkerPool: the
 * 'main' placement. No thread hop, no transfer and no second event loop: for a model that runs in
 * about a millisecond, the two hops to a worker and back (and the worker's colder caches) cost as
 * much as the inference itself (PP-OCR classifier on 2 cores: 0.67 ms bare, 1.0-1.1 ms in a worker
 * plus a 0.45 ms hop). The price: each run blocks this thread's event loop for its duration
 * (onnxruntime-node runs inside session.run's setImmediate), so it suits short models only, and
 * there is one instance (several sessions on one thread would only take turns).
 *
 * A fault in the runtime cannot be isolated here (it never could in a worker either: a native
 * crash takes the process), so crash() is a test hook that drops the session as if it died.
 */
import { performance } from 'node:perf_hooks';
import { RtinferError, firstLine } from '../errors.js';
import { createSession, type RuntimeSession } from '../runtime/session.js';
import type { WorkerInit } from './protocol.js';
import { fromOrtOutputs, toOrtFeeds, type WireFeeds } from './tensors.js';
import type { InstancePool, ModelIo, RunResult } from './worker-pool.js';

export class MainThreadPool implements InstancePool {
  readonly #init: WorkerInit;
  readonly #onCrash: (instance: number, error: Error) => void;
  #rt: RuntimeSession | undefined;
  #running = false;
  #closed = false;
  #failStarts = 0;
  /** A run ended in this turn of the event loop (cleared by the next turn's immediates). */
  #justRan = false;
  readonly #turnEnded = (): void => {
    this.#justRan = false;
  };
  restarts = 0;
  readonly recycles = 0;
  /**
   * Never called: inputs are never moved, so there are none to hand back (the engine does not copy
   * them for this pool).
   */
  onBuffers: ((buffers: ArrayBuffer[]) => void) | undefined;

  constructor(init: WorkerInit, onCrash: (instance: number, error: Error) => void) {
    this.#init = init;
    this.#onCrash = onCrash;
  }

  get placement(): 'main' {
    return 'main';
  }

  async start(): Promise<ModelIo> {
    return this.#load();
  }

  async #load(): Promise<ModelIo> {
    if (this.#failStarts > 0) {
      this.#failStarts--;
      throw new RtinferError('RTI_ERR_SESSION_CREATE', 'the session died while loading the model (test hook)');
    }
    const rt = await createSession(
      { label: this.#init.label, bytes: this.#init.modelBytes, readMs: 0 },
      this.#init.settings,
    );
    if (this.#closed) {
      await rt.release();
      throw new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the engine closed while the model was loading');
    }
    this.#rt = rt;
    return { inputs: rt.inputs, outputs: rt.outputs };
  }

  async replace(): Promise<void> {
    if (this.#closed) throw new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the engine is closed: no session is started');
    await this.#load();
    this.restarts++;
  }

  /** The calling thread's session stays: a new one would block this thread while it loads. */
  async recycle(): Promise<boolean> {
    return false;
  }

  failStartsForTesting(_instance: number, count: number): void {
    this.#failStarts = count;
  }

  async run(instance: number, feeds: WireFeeds): Promise<RunResult> {
    const rt = this.#rt;
    if (!rt || instance !== 0)
      throw new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', `instance ${instance} is not running`);
    if (this.#running) throw new Error('the session is busy: the scheduler must not overlap batches');
    this.#running = true;
    try {
      // Back to back, a run first waits for the next turn of the event loop, so that what the last
      // answer left for that turn goes out before this run blocks the thread again: node:http2 writes
      // from a native immediate and queues a gRPC answer's trailers with setImmediate, which came
      // behind the next run's own (onnxruntime-node runs in a setImmediate). Without the wait, at 4
      // concurrent gRPC calls on the PP-OCR classifier the trailers left 1.1 ms after the message
      // (0.26 ms with it) and most answers missed a 2.7 ms deadline.
      if (this.#justRan) await new Promise<void>((resolve) => setImmediate(resolve));
      const t0 = performance.now();
      const outputs = fromOrtOutputs(await rt.session.run(toOrtFeeds(feeds)));
      if (this.#rt !== rt)
        throw new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', 'the session was dropped while this batch ran');
      return { outputs, inferenceMs: performance.now() - t0 };
    } catch (error) {
      if (error instanceof RtinferError) throw error;
      // As from a worker: onnxruntime's first line, all of it as the cause.
      throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `inference failed in onnxruntime: ${firstLine(error)}`, {
        cause: error,
      });
    } finally {
      this.#running = false;
      if (!this.#justRan) {
        this.#justRan = true;
        setImmediate(this.#turnEnded);
      }
    }
  }

  crash(instance: number): void {
    if (instance !== 0 || !this.#rt) return;
    this.#rt = undefined;
    this.#onCrash(
      0,
      new RtinferError('RTI_ERR_ENGINE_WORKER_CRASHED', 'the session died (test hook); it is being replaced'),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    const rt = this.#rt;
    this.#rt = undefined;
    await rt?.release();
  }
}
