/** Messages between the engine (main thread) and its workers. */
import type { ErrorCode } from '../errors.js';
import type { SessionSettings } from '../runtime/session-options.js';
import type { TensorSpec } from '../runtime/session.js';
import type { ChannelBuffers, SharedTuning } from './shared-channel.js';
import type { WireFeeds } from './tensors.js';

/**
 * How requests reach a worker and come back: 'message', two postMessage calls with the buffers
 * transferred; 'shared', a SharedArrayBuffer per worker and Atomics (see shared-channel.ts). The
 * default is WorkerPool.DEFAULT_TRANSPORT, chosen by bench/engine-hop.ts.
 */
export type Transport = 'message' | 'shared';

export interface WorkerInit {
  modelBytes: Uint8Array;
  label: string;
  settings: SessionSettings;
  /** Default: WorkerPool.DEFAULT_TRANSPORT. */
  transport?: Transport;
  /** Sizes and spin of the 'shared' transport (benches and tests; the defaults are measured). */
  sharedTuning?: SharedTuning;
  /** The worker thread's nice value (EngineOptions.workerNice); 0 or absent: the process's. */
  nice?: number;
  /** Test hook (WorkerPool.failStartsForTesting): die before loading the model. */
  failStartForTesting?: boolean;
}

/** What a worker receives as workerData: the pool's init, plus its end of a shared channel. */
export interface WorkerData extends WorkerInit {
  channel?: ChannelBuffers;
}

export type ToWorker =
  | { type: 'run'; id: number; feeds: WireFeeds }
  | { type: 'crash' }
  /** The shared channel's data region grew: requests from generation `gen` on are written to `data`. */
  | { type: 'region'; data: SharedArrayBuffer; gen: number };

/** When a request sent by message reached the worker and when its answer left (monotonicMs). */
export interface WorkerStamps {
  received: number;
  answered: number;
}

export type FromWorker =
  | { type: 'ready'; inputs: TensorSpec[]; outputs: TensorSpec[]; createMs: number }
  | { type: 'init-error'; code: ErrorCode; message: string }
  | {
      type: 'result';
      id: number;
      outputs: WireFeeds;
      inferenceMs: number;
      inputs: ArrayBuffer[];
      /** Set for a request that came by message. */
      at?: WorkerStamps;
    }
  | { type: 'error'; id: number; message: string; inferenceMs: number; inputs: ArrayBuffer[] };
