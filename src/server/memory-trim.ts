/**
 * Returns the memory a burst of traffic left behind to the OS once the server goes quiet.
 *
 * A request body is allocated by malloc (outside V8's heap), and glibc keeps what is freed for
 * reuse instead of returning it, so without this RSS stays at the burst's peak. The trimmer looks
 * every `intervalMs`: if no request byte arrived since the last look and nothing is in flight, it
 * collects garbage once (the burst's dead request bodies still hold their buffers) and trims; it
 * keeps trimming for `windowMs` after the last traffic, as buffers that other threads or V8's own
 * later collections free come back too. A server that stays busy, or has been quiet for longer
 * than the window, is never trimmed: the memory will be reused, or was already returned. Looks
 * never overlap: the next is armed only once a trim has finished.
 */
import type { Clock } from '../util/clock.js';
import type { MallocTrim } from '../util/malloc-trim.js';

export interface MemoryTrimOptions {
  intervalMs: number;
  /** How long after the last traffic quiet ticks still trim (default 60 s). */
  windowMs?: number;
  /** A count that grows with traffic (request bytes received, all protocols). */
  bytesSeen: () => number;
  /** True when no request is in flight. */
  idle: () => boolean;
  trim: MallocTrim;
  /** A full garbage collection, run before the first trim after traffic (its garbage holds memory). */
  collect?: () => void;
  clock: Clock;
}

export class MemoryTrimmer {
  readonly #o: MemoryTrimOptions & { windowMs: number };
  #lastBytes: number;
  #lastTrafficAt = Number.NEGATIVE_INFINITY;
  #timer: unknown;
  /** Whether the quiet spell since the last traffic has had its collection. */
  #collected = true;

  constructor(options: MemoryTrimOptions) {
    this.#o = { windowMs: 60_000, ...options };
    this.#lastBytes = options.bytesSeen();
  }

  start(): void {
    const next = (): void => {
      this.#timer = this.#o.clock.setTimer(() => {
        void this.tick().finally(() => {
          if (this.#timer !== undefined) next();
        });
      }, this.#o.intervalMs);
    };
    next();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** One look (the timer's; tests call it directly). Resolves once any trim it started is done. */
  async tick(): Promise<void> {
    const now = this.#o.clock.now();
    const bytes = this.#o.bytesSeen();
    if (bytes !== this.#lastBytes) {
      this.#lastBytes = bytes;
      this.#lastTrafficAt = now;
      this.#collected = false;
      return;
    }
    if (now - this.#lastTrafficAt > this.#o.windowMs || !this.#o.idle()) return;
    if (!this.#collected) {
      this.#collected = true;
      this.#o.collect?.();
    }
    await this.#o.trim();
  }
}
