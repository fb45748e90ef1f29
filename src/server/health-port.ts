/**
 * The health port (`--health-port`, config `healthPort`): /v2/health/live and /v2/health/ready on
 * a port of their own, answered by a thread of their own (health-worker.ts). On the main port a
 * probe waits its turn behind the request bodies the HTTP thread is reading: under 3× overload of
 * ~2 MB bodies (bench/soak) 8 of 53 liveness probes there took over the 2 s a Kubernetes probe
 * allows, which would have had a busy but healthy pod restarted.
 *
 * The HTTP thread publishes a heartbeat and its readiness into shared memory every BEAT_MS; the
 * health thread answers from them, and reports the process not live once the heartbeat is older
 * than STALE_MS (an event loop that no longer turns answers nothing on the main port either).
 */
import type { Worker } from 'node:worker_threads';
import { RtinferError } from '../errors.js';
import { spawnWorker } from '../util/spawn-worker.js';

const BEAT_MS = 250;
/** Liveness fails once the HTTP thread has been silent this long (a probe's 2 s × 3 failures is 6 s). */
export const HEALTH_STALE_MS = 10_000;

export interface HealthPortOptions {
  host: string;
  port: number;
  /** Whether every model is ready to serve (read every beat, on the HTTP thread). */
  ready: () => boolean;
  /** Default HEALTH_STALE_MS. */
  staleMs?: number;
  /** Where an error of the health thread goes once it is listening. */
  log: (error: unknown) => void;
}

export class HealthPort {
  readonly #state = new BigInt64Array(new SharedArrayBuffer(16));
  readonly #options: HealthPortOptions;
  #worker: Worker | undefined;
  #exited: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #port: number | undefined;
  #closing = false;

  constructor(options: HealthPortOptions) {
    this.#options = options;
  }

  /** The bound port once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  async listen(): Promise<number> {
    this.#beat();
    const worker = spawnWorker(import.meta.url, 'health-worker', {
      host: this.#options.host,
      port: this.#options.port,
      state: this.#state.buffer,
      staleMs: this.#options.staleMs ?? HEALTH_STALE_MS,
    });
    this.#worker = worker;
    // Made now, so that close() also ends when the thread had already stopped (a failed listen).
    this.#exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.#port = await new Promise<number>((resolve, reject) => {
      const fail = (why: string): void =>
        reject(
          new RtinferError(
            'RTI_ERR_ARG_INVALID',
            `cannot listen on ${this.#options.host}:${this.#options.port} (health port): ${why}`,
          ),
        );
      worker.once('message', (m: { port?: number; error?: string }) =>
        m.port !== undefined ? resolve(m.port) : fail(m.error ?? 'unknown error'),
      );
      worker.once('error', (e) => fail(e.message));
      worker.once('exit', (code) => fail(`its thread exited (${code})`));
    });
    // Later errors are logged, never thrown: probes then go unanswered and the orchestrator acts.
    worker.on('error', (e) => this.#options.log(e));
    // The beat runs on the HTTP thread's event loop: that is what it vouches for.
    this.#timer = setInterval(() => this.#beat(), BEAT_MS);
    this.#timer.unref();
    worker.unref();
    return this.#port;
  }

  /** Readiness goes false at once (a shutdown has begun) and stays so. */
  notReady(): void {
    this.#closing = true;
    Atomics.store(this.#state, 1, 0n);
  }

  async close(): Promise<void> {
    this.notReady();
    clearInterval(this.#timer);
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = undefined;
    worker.postMessage('close');
    // Bounded: a thread that does not stop within a second is terminated.
    const timer = setTimeout(() => void worker.terminate(), 1000);
    await this.#exited;
    clearTimeout(timer);
  }

  #beat(): void {
    Atomics.store(this.#state, 0, BigInt(Date.now()));
    let ready = false;
    if (!this.#closing) {
      try {
        ready = this.#options.ready();
      } catch {
        ready = false;
      }
    }
    Atomics.store(this.#state, 1, ready ? 1n : 0n);
  }
}
