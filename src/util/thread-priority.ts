/**
 * Lowers the calling thread's CPU priority (its nice value), on Linux, where each thread has its own
 * (setpriority on a thread id); threads it starts afterwards (onnxruntime's intra-op pool) inherit
 * it. Elsewhere, or where the thread id cannot be read, it does nothing and returns false.
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';

export function lowerThreadPriority(nice: number): boolean {
  if (process.platform !== 'linux' || !(nice > 0)) return false;
  try {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    // Never raised: a nice value the user gave the process is kept if it is lower already.
    if (os.getPriority(tid) >= nice) return true;
    os.setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
