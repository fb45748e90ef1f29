/**
 * Keeps an engine's workers running and says how they are: a crashed worker is replaced at once,
 * then again after each back-off wait if replacing fails, then given up on. Health is data the
 * server's readiness, /metrics and the model listing read (EngineHealth).
 */
import { firstLine } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { InstancePool } from './worker-pool.js';

/** Whether the engine can serve, by its workers. */
export interface EngineHealth {
  /** At least one worker is live and the engine is not closing. */
  ready: boolean;
  instances: number;
  /** Workers running now. */
  live: number;
  /** Being replaced after a crash. */
  restarting: number;
  /** Given up on: every replacement attempt failed. */
  down: number;
  /** Replacement workers started since the engine started. */
  restarts: number;
  /** Workers replaced to give back the memory an unusually large request left (EngineOptions.memoryRecycleBytes). */
  recycles: number;
  /** One line, set when not ready or when an instance is down. */
  reason?: string;
}

/**
 * A crashed worker is replaced at once; if that fails, again after each of these waits, then the
 * instance is given up on. A transient failure (memory pressure, a busy disk) gets a few seconds
 * to pass instead of taking the instance out for good.
 */
export const RESTART_RETRY_DELAYS_MS: readonly number[] = [200, 1000, 3000];

interface InstanceHealth {
  /** 'stopped': the engine closed (or is closing and stopped replacing it). */
  state: 'live' | 'restarting' | 'down' | 'stopped';
  /** Failed replacement attempts since the last crash, and the last one's error (one line). */
  failures: number;
  lastError: string;
  /** Bumped on every crash, so that a stale restart loop cannot revive the instance. */
  crashes: number;
}

export interface SupervisorHooks {
  /** An instance went out of service (crashed) or came back. */
  available(instance: number, available: boolean): void;
  /** No worker is running or coming back: what is queued would wait forever. */
  noWorkerLeft(closing: boolean): void;
  healthChanged?(health: EngineHealth): void;
}

export class Supervisor {
  readonly #clock: Clock;
  readonly #states: InstanceHealth[];
  /** Back-off waits in progress; stop() ends them early (resolving false) so no timer outlives it. */
  readonly #waits = new Map<unknown, (completed: boolean) => void>();
  #pool: InstancePool | undefined;
  #hooks: SupervisorHooks | undefined;
  #phase: 'open' | 'closing' | 'closed' = 'open';
  #lastHealth = '';

  constructor(instances: number, clock: Clock) {
    this.#clock = clock;
    this.#states = Array.from({ length: instances }, () => ({ state: 'live', failures: 0, lastError: '', crashes: 0 }));
  }

  /** The pool whose workers this supervisor replaces (its crash callback calls `crashed`). */
  watch(pool: InstancePool): void {
    this.#pool = pool;
  }

  /** Wires the engine's reactions; before this, crashes are handled but nobody is told. */
  attach(hooks: SupervisorHooks): void {
    this.#hooks = hooks;
    this.#lastHealth = JSON.stringify(this.health());
    this.#states.forEach((s, i) => {
      if (s.state !== 'live') hooks.available(i, false);
    });
  }

  get allDown(): boolean {
    return this.#states.every((s) => s.state === 'down');
  }

  health(): EngineHealth {
    const count = (state: InstanceHealth['state']): number => this.#states.filter((s) => s.state === state).length;
    const live = count('live');
    const down = count('down');
    const h: EngineHealth = {
      ready: this.#phase === 'open' && live > 0,
      instances: this.#states.length,
      live,
      restarting: count('restarting'),
      down,
      restarts: this.#pool?.restarts ?? 0,
      recycles: this.#pool?.recycles ?? 0,
    };
    if (this.#phase !== 'open') h.reason = `the engine is ${this.#phase}`;
    else if (!h.ready || down > 0) {
      h.reason = this.#states
        .map((s, i) => {
          if (s.state === 'restarting') return `worker ${i} crashed and is being replaced`;
          if (s.state === 'down')
            return (
              `worker ${i} crashed and its replacement failed ` +
              `${s.failures} time${s.failures === 1 ? '' : 's'}: ${s.lastError}`
            );
          return '';
        })
        .filter((t) => t !== '')
        .join('; ');
    }
    return h;
  }

  /** The pool's crash callback. */
  crashed(instance: number): void {
    const s = this.#states[instance];
    if (!s) return;
    this.#hooks?.available(instance, false);
    s.crashes++;
    s.state = 'restarting';
    s.failures = 0;
    s.lastError = '';
    this.#changed();
    void this.#restart(instance);
  }

  /** Closing: no more replacements; waits in back-off end now. */
  stopping(): void {
    this.#phase = 'closing';
    for (const [timer, resolve] of this.#waits) {
      this.#clock.clearTimer(timer);
      resolve(false);
    }
    this.#waits.clear();
    this.#changed();
    this.#answerIfNoWorker();
  }

  stopped(): void {
    this.#phase = 'closed';
    for (const s of this.#states) if (s.state !== 'down') s.state = 'stopped';
    this.#changed();
  }

  async #restart(instance: number): Promise<void> {
    const s = this.#states[instance] as InstanceHealth;
    const crash = s.crashes;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#pool?.replace(instance);
        if (s.crashes !== crash) return;
        s.state = 'live';
        this.#hooks?.available(instance, true);
        this.#changed();
        return;
      } catch (error) {
        if (s.crashes !== crash) return;
        s.failures++;
        s.lastError = firstLine(error);
      }
      // Closing: no more attempts (the one made at the crash may still drain the queue).
      const delay = RESTART_RETRY_DELAYS_MS[attempt];
      if (delay === undefined || this.#phase !== 'open' || !(await this.#backoff(delay)) || this.#phase !== 'open')
        break;
    }
    s.state = this.#phase === 'open' ? 'down' : 'stopped';
    this.#changed();
    this.#answerIfNoWorker();
  }

  #backoff(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimer(() => {
        this.#waits.delete(timer);
        resolve(true);
      }, ms);
      this.#waits.set(timer, resolve);
    });
  }

  #answerIfNoWorker(): void {
    if (this.#states.some((s) => s.state === 'live' || s.state === 'restarting')) return;
    this.#hooks?.noWorkerLeft(this.#phase !== 'open');
  }

  #changed(): void {
    const h = this.health();
    const key = JSON.stringify(h);
    if (key === this.#lastHealth) return;
    this.#lastHealth = key;
    try {
      this.#hooks?.healthChanged?.(h);
    } catch (error) {
      // The callback runs inside crash recovery, which must go on whatever it does.
      process.emitWarning(`rtinfer: onHealthChange threw: ${firstLine(error)}`);
    }
  }
}
