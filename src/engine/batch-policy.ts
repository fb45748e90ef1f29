/** Which batching a model allows (its inputs' first dimension) and what the options ask for. */
import { RtinferError } from '../errors.js';
import type { TensorSpec } from '../runtime/session.js';
import type { BatchMode, BatchPolicy } from './scheduler.js';

export interface BatchingOptions {
  /** 'adaptive' (default): batch what is queued, sized to deadlines; 'static': Triton-style. */
  mode?: Exclude<BatchMode, 'none'>;
  maxBatchSize?: number;
  /** How long the oldest request may wait for a batch to fill (default 0 adaptive, 1000 µs static). */
  maxQueueDelayUs?: number;
  preferredBatchSizes?: number[];
}

export interface BatchDimension {
  batchable: boolean;
  /** A fixed batch size > 1 that every batch is padded to; null when symbolic. */
  fixed: number | null;
  reason?: string;
}

/** Inputs batch when every one has a leading dimension that is symbolic, or the same fixed size > 1. */
export function batchDimension(specs: readonly TensorSpec[]): BatchDimension {
  if (specs.length === 0) return { batchable: false, fixed: null, reason: 'the model has no inputs' };
  const firsts = specs.map((s) => s.shape[0]);
  if (firsts.some((d) => d === undefined)) return { batchable: false, fixed: null, reason: 'an input is a scalar' };
  if (firsts.every((d) => typeof d === 'string')) return { batchable: true, fixed: null };
  const first = firsts[0];
  if (typeof first === 'number' && first > 1 && firsts.every((d) => d === first))
    return { batchable: true, fixed: first };
  return {
    batchable: false,
    fixed: null,
    reason: `the first dimension of the inputs is [${firsts.join(', ')}], not a batch dimension`,
  };
}

export function resolvePolicy(
  batching: boolean | BatchingOptions | undefined,
  dim: BatchDimension,
  warnings: string[],
): BatchPolicy {
  const none: BatchPolicy = { mode: 'none', maxBatchSize: 1, maxQueueDelayMs: 0, preferredBatchSizes: [] };
  if (!batching) return none;
  if (!dim.batchable) {
    warnings.push(`batching is off: ${dim.reason ?? 'no batch dimension'}`);
    return none;
  }
  const b = batching === true ? {} : batching;
  const mode = b.mode ?? 'adaptive';
  if (mode !== 'adaptive' && mode !== 'static')
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid batching.mode '${String(mode)}' (expected adaptive or static)`,
    );
  const maxBatchSize = dim.fixed ?? b.maxBatchSize ?? 8;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid batching.maxBatchSize ${maxBatchSize} (expected a positive integer)`,
    );
  if (dim.fixed !== null && b.maxBatchSize !== undefined && b.maxBatchSize !== dim.fixed) {
    warnings.push(
      `the model fixes its batch at ${dim.fixed}: maxBatchSize ${b.maxBatchSize} ignored, ` +
        `batches are padded to ${dim.fixed}`,
    );
  }
  const delayUs = b.maxQueueDelayUs ?? (mode === 'static' ? 1000 : 0);
  if (!(delayUs >= 0)) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid batching.maxQueueDelayUs ${delayUs}`);
  const preferred = b.preferredBatchSizes ?? [];
  if (preferred.some((p) => !Number.isInteger(p) || p < 1 || p > maxBatchSize)) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid batching.preferredBatchSizes [${preferred.join(', ')}] ` +
        `(integers from 1 to maxBatchSize ${maxBatchSize})`,
    );
  }
  return { mode, maxBatchSize, maxQueueDelayMs: delayUs / 1000, preferredBatchSizes: preferred };
}
