/** Messages between the engine (main thread) and its workers. */
import type { ErrorCode } from '../errors.js';
import type { SessionSettings } from '../runtime/session-options.js';
import type { TensorSpec } from '../runtime/session.js';
import type { WireFeeds } from './tensors.js';

export interface WorkerInit {
  modelBytes: Uint8Array;
  label: string;
  settings: SessionSettings;
  /** Test hook (WorkerPool.failStartsForTesting): die before loading the model. */
  failStartForTesting?: boolean;
}

export type ToWorker = { type: 'run'; id: number; feeds: WireFeeds } | { type: 'crash' };

export type FromWorker =
  | { type: 'ready'; inputs: TensorSpec[]; outputs: TensorSpec[]; createMs: number }
  | { type: 'init-error'; code: ErrorCode; message: string }
  | { type: 'result'; id: number; outputs: WireFeeds; inferenceMs: number; inputs: ArrayBuffer[] }
  | { type: 'error'; id: number; message: string; inferenceMs: number; inputs: ArrayBuffer[] };
