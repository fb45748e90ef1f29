/**
 * Time as the scheduler sees it, so tests can drive it with a fake clock and stay deterministic.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimer(fn: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

/**
 * The real clock. Its timers keep the process alive: the scheduler arms one only while a request
 * is queued, and that request's caller is waiting for it (with placement 'main' there is no worker
 * thread to keep the event loop running, so an unref'd batching timer let the process exit with
 * the request unanswered).
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, Math.max(0, delayMs)),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Milliseconds on the process-wide monotonic clock: the same in every thread (performance.now()
 * counts from each thread's own start), so a stamp taken in a worker compares with one taken here.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The real clock for background views (live statistics): its timers never keep a process alive. */
export const backgroundClock: Clock = {
  ...realClock,
  setTimer: (fn, delayMs) => setTimeout(fn, Math.max(0, delayMs)).unref(),
};
