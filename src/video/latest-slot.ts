/**
 * Latest-frame-wins: a one-item mailbox between a source that never waits and a consumer that may
 * be slow. Putting into a full slot replaces (drops) the older item and hands it back so the caller
 * can count it, as the server's WebSocket streams do with frames: for a camera, a result about the
 * newest frame is worth more than one about a frame that is already stale.
 */
export class LatestSlot<T> {
  #item: T | undefined;
  #has = false;
  #closed = false;
  #error: unknown;
  #waiter: (() => void) | undefined;

  /** Stores `item`; returns the item it replaced (dropped), if any. */
  put(item: T): T | undefined {
    if (this.#closed) throw new Error('LatestSlot: put after close');
    const old = this.#has ? this.#item : undefined;
    const dropped = this.#has;
    this.#item = item;
    this.#has = true;
    this.#wake();
    return dropped ? old : undefined;
  }

  /** No more items; `take` returns undefined once the slot is empty (or rejects with `error`). */
  close(error?: unknown): void {
    this.#closed = true;
    this.#error = error;
    this.#wake();
  }

  /** The newest item, waiting for one; undefined when closed and empty. */
  async take(): Promise<T | undefined> {
    while (!this.#has) {
      if (this.#closed) {
        if (this.#error !== undefined) throw this.#error;
        return undefined;
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    const item = this.#item as T;
    this.#item = undefined;
    this.#has = false;
    return item;
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}
