/**
 * rtinfer's session settings, validated, and their translation to onnxruntime-node's
 * SessionOptions. Every bad value is refused with a message naming the setting.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';

export const GRAPH_OPT_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export const EXECUTION_MODES = ['sequential', 'parallel'] as const;
export const LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

export type GraphOptLevel = (typeof GRAPH_OPT_LEVELS)[number];
export type ExecutionMode = (typeof EXECUTION_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface SessionSettings {
  /** Intra-op threads; 0 lets onnxruntime choose (one per physical core). */
  intraOpThreads?: number;
  /** Inter-op threads, used only in parallel execution mode; 0 lets onnxruntime choose. */
  interOpThreads?: number;
  executionMode?: ExecutionMode;
  graphOptimizationLevel?: GraphOptLevel;
  /** Execution providers in priority order; default ['cpu']. */
  executionProviders?: string[];
  /** Fix symbolic dimensions by name at session creation (e.g. { batch_size: 1 }). */
  freeDimensionOverrides?: Record<string, number>;
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  /** Write the model after graph optimization to this path. */
  optimizedModelPath?: string;
  /**
   * Whether idle onnxruntime pool threads busy-wait for the next run (onnxruntime's default: on).
   * Spinning shaves wake-up time off back-to-back runs but keeps cores busy between them, which
   * starves other threads (the engine's dispatcher, a load generator) when the cores are all given
   * to onnxruntime.
   */
  allowSpinning?: boolean;
  /**
   * Default 'fatal': old exports that list weights as graph inputs make onnxruntime print one
   * warning per weight at 'warning', and at 'error' a failed run prints several native log lines
   * besides the error rtinfer reports anyway.
   */
  logLevel?: LogLevel;
}

function fail(message: string): never {
  throw new RtinferError('RTI_ERR_ARG_INVALID', message);
}

function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 1024)) {
    fail(`invalid ${name}: ${value} (expected an integer from 0 to 1024; 0 lets onnxruntime choose)`);
  }
}

function checkOneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[]): void {
  if (value !== undefined && !allowed.includes(value)) {
    fail(`invalid ${name}: '${value}' (expected one of ${allowed.join(', ')})`);
  }
}

export function validateSessionSettings(s: SessionSettings): void {
  checkCount('intraOpThreads', s.intraOpThreads);
  checkCount('interOpThreads', s.interOpThreads);
  checkOneOf('executionMode', s.executionMode, EXECUTION_MODES);
  checkOneOf('graphOptimizationLevel', s.graphOptimizationLevel, GRAPH_OPT_LEVELS);
  checkOneOf('logLevel', s.logLevel, LOG_LEVELS);
  if (s.executionProviders !== undefined && s.executionProviders.length === 0)
    fail('invalid executionProviders: empty list');
  for (const [name, value] of Object.entries(s.freeDimensionOverrides ?? {})) {
    if (!Number.isInteger(value) || value < 1)
      fail(`invalid freeDimensionOverrides.${name}: ${value} (expected a positive integer)`);
  }
}

export function toOrtOptions(s: SessionSettings): InferenceSession.SessionOptions {
  validateSessionSettings(s);
  const options: InferenceSession.SessionOptions = {
    executionProviders: s.executionProviders ?? ['cpu'],
    graphOptimizationLevel: s.graphOptimizationLevel ?? 'all',
    executionMode: s.executionMode ?? 'sequential',
    logSeverityLevel: LOG_LEVELS.indexOf(s.logLevel ?? 'fatal') as 0 | 1 | 2 | 3 | 4,
  };
  if (s.intraOpThreads !== undefined) options.intraOpNumThreads = s.intraOpThreads;
  if (s.interOpThreads !== undefined) options.interOpNumThreads = s.interOpThreads;
  if (s.freeDimensionOverrides !== undefined) options.freeDimensionOverrides = s.freeDimensionOverrides;
  if (s.enableCpuMemArena !== undefined) options.enableCpuMemArena = s.enableCpuMemArena;
  if (s.enableMemPattern !== undefined) options.enableMemPattern = s.enableMemPattern;
  if (s.optimizedModelPath !== undefined) options.optimizedModelFilePath = s.optimizedModelPath;
  if (s.allowSpinning !== undefined) {
    const v = s.allowSpinning ? '1' : '0';
    // Flattened by onnxruntime-common into the session config keys session.intra_op.allow_spinning etc.
    options.extra = { session: { intra_op: { allow_spinning: v }, inter_op: { allow_spinning: v } } };
  }
  return options;
}
