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
 *
 * The collection is a scavenge, and a full one only when the request buffers still held after it
 * exceed the lowest seen after a collection by `fullCollectMinBytes`. A full collection of a quiet
 * server finds every request object dead, and V8 drops the optimized code built around their
 * shapes: the next traffic ran unoptimized until the whole request path was compiled again
 * (`npm run bench:quiet`: ~130 functions after 25 s quiet, ~35 without). What a full one frees is
 * often small: 7 MB after a classifier burst (14 MB held, 6.5 alive), 21 MB after one of
 * yolox_nano's 2 MB bodies.
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
  /** A garbage collection, run before the first trim after traffic (its garbage holds memory). */
  collect?: (type: 'minor' | 'major') => void;
  /** Bytes of request buffers held now, dead or alive (ArrayBuffers); without it, every collection is full. */
  heldBytes?: () => number;
  /** What a full collection must be able to free to be worth its cost (default 16 MiB). */
  fullCollectMinBytes?: number;
  clock: Clock;
}

export class MemoryTrimmer {
  readonly #o: MemoryTrimOptions & { windowMs: number; fullCollectMinBytes: number };
  #lastBytes: number;
  #lastTrafficAt = Number.NEGATIVE_INFINITY;
  #timer: unknown;
  /** Whether the quiet spell since the last traffic has had its collection. */
  #collected = true;
  /** Request-buffer bytes alive when quiet: held after the last full collection, or less since. */
  #liveBytes: number | undefined;

  constructor(options: MemoryTrimOptions) {
    this.#o = { windowMs: 60_000, fullCollectMinBytes: 16 * 1024 * 1024, ...options };
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
      this.#collect();
    }
    await this.#o.trim();
  }

  /**
   * Takes what is alive with a full collection: for a server whose models are loaded and that has
   * run no request yet it costs nothing (no optimized request path to lose), and it frees the
   * start-up's garbage. Without it, the first quiet spell collects in full to take the measure.
   */
  measure(): void {
    if (this.#o.heldBytes) this.#collectFull();
  }

  /**
   * Before a quiet spell's first trim: a scavenge, and a full collection when what it would free is
   * worth its cost (see above) or nothing is known yet of what is alive.
   */
  #collect(): void {
    const { collect, heldBytes } = this.#o;
    if (!collect) return;
    if (heldBytes) {
      collect('minor');
      const held = heldBytes();
      if (this.#liveBytes !== undefined && held - this.#liveBytes <= this.#o.fullCollectMinBytes) {
        this.#liveBytes = Math.min(this.#liveBytes, held);
        return;
      }
    }
    this.#collectFull();
  }

  #collectFull(): void {
    this.#o.collect?.('major');
    this.#liveBytes = this.#o.heldBytes?.();
  }
}
