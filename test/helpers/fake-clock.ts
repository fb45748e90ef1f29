/**
 * A manual clock for deterministic scheduler tests: time moves only through `advance(ms)`, which
 * fires the timers that fall due in time order (ties in the order they were set), each with `now()`
 * equal to its due time. Timers set by a callback that fall due within the same advance fire too.
 */
import type { Clock } from '../../src/util/clock.js';

const MAX_FIRINGS_PER_ADVANCE = 10_000;

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, FakeTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, delayMs: number): unknown {
    const id = this.#nextId++;
    // Like setTimeout: a negative (or NaN) delay means "as soon as possible", never in the past.
    const delay = delayMs > 0 ? delayMs : 0;
    this.#timers.set(id, { id, at: this.#now + delay, fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Timers set and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Due time of the earliest pending timer, or undefined when none is pending. */
  get nextTimerAt(): number | undefined {
    return this.#earliest()?.at;
  }

  /** Moves time forward by `ms`, firing every timer due by then (including ones set meanwhile). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    const target = this.#now + ms;
    for (let fired = 0; ; fired++) {
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      // A callback that keeps re-arming a timer due now would otherwise hang the test run.
      if (fired >= MAX_FIRINGS_PER_ADVANCE)
        throw new Error(
          `FakeClock.advance: over ${MAX_FIRINGS_PER_ADVANCE} timers fired; a timer keeps re-arming itself`,
        );
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }

  /** Moves time forward to the absolute time `at` (no-op when already there). */
  advanceTo(at: number): void {
    this.advance(Math.max(0, at - this.#now));
  }

  #earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers.values())
      if (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    return best;
  }
}
