/**
 * The deadline-aware scheduler: a priority queue of requests, a set of instances (workers), and
 * the decisions between them: when to start a batch, how big, and which requests to refuse.
 *
 * It is pure logic over a Clock and two hooks, so tests drive it with a fake clock and a fake
 * executor. Rules:
 * - priorities are served highest first, FIFO within a level;
 * - a batch holds requests of one shape (same non-batch dimensions), up to maxBatchSize rows;
 * - `static` batching waits for maxBatchSize rows, a preferred size, or the oldest request's
 *   maxQueueDelay, as Triton's dynamic batcher does;
 * - `adaptive` batching starts a batch as soon as an instance is free and sizes it to the largest
 *   that the latency model predicts will still meet the earliest deadline in it (the idea of
 *   Clipper's adaptive batching and Clockwork's predictable scheduling); it may wait, but never past
 *   the point where the extra waiting would make that deadline unmeetable;
 * - admission: a full queue, a deadline already past, or a deadline the latency model says cannot
 *   be met behind the work already queued are refused at once, except on an idle engine while the
 *   fastest recent run still fits (see #idleFits); queued requests whose deadline passes are expired. Every refusal goes through `refuse` with a typed error: nothing is dropped;
 * - without batching, an extra instance of another speed may join the workers (the engine's
 *   session on the calling thread: no hop, but one at a time): each request goes where it is
 *   predicted to finish first, which may mean waiting for that instance while a worker is free.
 */
import { RtinferError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { EstimateLevel, LatencyModels } from './latency-model.js';

export type BatchMode = 'none' | 'static' | 'adaptive';

export interface BatchPolicy {
  mode: BatchMode;
  /** Rows per batch at most (1 when mode is 'none'). */
  maxBatchSize: number;
  /** How long the oldest request may wait for a batch to fill. */
  maxQueueDelayMs: number;
  /** Static mode: batch sizes worth dispatching at once. */
  preferredBatchSizes: readonly number[];
}

export interface QueuedRequest<T> {
  readonly id: number;
  readonly item: T;
  /** Rows this request adds to a batch (its size along the batch dimension). */
  readonly rows: number;
  /** Requests batch together only with the same key (same non-batch dimensions). */
  readonly shapeKey: string;
  readonly priority: number;
  /** Absolute deadline on the scheduler's clock, if any. */
  readonly deadline: number | undefined;
  readonly enqueuedAt: number;
  dispatchedAt: number | undefined;
  /**
   * Admitted although predicted late, or sent to an instance whose estimate went stale (see
   * #trialDue, #probe): its run may reset that estimate.
   */
  trial: boolean;
  /** Admitted by an idle engine although predicted late (see #idleFits): it starts whatever the estimate. */
  idle: boolean;
}

export interface SchedulerHooks<T> {
  /** Run `batch` on `instance`; the owner calls `complete(instance)` when it is done. */
  dispatch(instance: number, batch: Array<QueuedRequest<T>>): void;
  /** A queued request refused or expired; the owner rejects its promise with `error`. */
  refuse(request: QueuedRequest<T>, error: RtinferError): void;
}

/**
 * An instance whose speed differs from the workers' (the engine's session on the calling thread),
 * dispatched as instance number `instances`. Its estimate is its own; undefined where it cannot take
 * a request of that shape now.
 */
export interface ExtraInstance {
  /** `level`: which statistic of its recent runs (see LatencyModel.estimate). */
  estimate(shapeKey: string, rows: number, workerMs: number | undefined, level?: EstimateLevel): number | undefined;
  /** When its estimate for the shape last learned (performance.now() clock; -Infinity if never). */
  lastObservedAt(shapeKey: string): number;
}

export interface SchedulerOptions<T> {
  /** Workers, numbered from 0. */
  instances: number;
  /** Mode 'none' only: one more instance after the workers. */
  extra?: ExtraInstance;
  policy: BatchPolicy;
  maxQueueSize: number;
  clock: Clock;
  latency: LatencyModels;
  hooks: SchedulerHooks<T>;
}

export interface SubmitOptions<T> {
  item: T;
  rows: number;
  shapeKey: string;
  priority?: number;
  deadline?: number;
}

interface Instance {
  busy: boolean;
  available: boolean;
  /** Predicted end of the running batch. */
  until: number;
}

/** At most one trial run per second of a request predicted too slow (see #trialDue). */
export const TRIAL_INTERVAL_MS = 1000;
/** Queued requests looked at per pump when placing them on instances of different speeds. */
const LOOKAHEAD = 16;
/**
 * After a probe of the extra instance on an idle engine, this many more idle requests of that shape
 * go there (see #probe): one run a second reads cold.
 */
export const PROBE_STREAK = 8;

type Decision<T> =
  { kind: 'empty' } | { kind: 'wait'; until: number } | { kind: 'run'; batch: Array<QueuedRequest<T>> };

export class Scheduler<T> {
  readonly #o: SchedulerOptions<T>;
  /** One FIFO per priority level with requests queued; a level that empties is removed. */
  readonly #queues = new Map<number, Array<QueuedRequest<T>>>();
  /** The keys of #queues, highest first. */
  #priorities: number[] = [];
  readonly #instances: Instance[];
  #size = 0;
  #nextId = 1;
  #closed = false;
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  #pumping = false;
  #repump = false;
  #idleWaiters: Array<() => void> = [];
  #lastTrial = Number.NEGATIVE_INFINITY;
  /** The last probe of the workers [0] and of the extra instance [1] (see #probe). */
  readonly #lastProbe = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  /** Idle requests of #streakShape still owed to the extra instance after its probe. */
  #streak = 0;
  #streakShape = '';

  constructor(options: SchedulerOptions<T>) {
    if (options.extra && options.policy.mode !== 'none')
      throw new Error('an extra instance runs requests one at a time: batching must be off');
    this.#o = options;
    const count = options.instances + (options.extra ? 1 : 0);
    this.#instances = Array.from({ length: count }, () => ({ busy: false, available: true, until: 0 }));
  }

  get queueDepth(): number {
    return this.#size;
  }

  get busyInstances(): number {
    return this.#instances.filter((i) => i.busy).length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Priority levels with requests queued now (the priority is the caller's choice: none stays once empty). */
  get priorityLevels(): number {
    return this.#queues.size;
  }

  /**
   * Throws the refusal that `submit` would throw for such a request now (closed, queue full,
   * deadline passed or predicted unmeetable), without queueing anything: a server asks this as soon
   * as it knows a request's shape and deadline, before the rest of its body has arrived. Returns
   * how it would be admitted although predicted late ('trial', 'idle'), or undefined.
   */
  check(options: Omit<SubmitOptions<T>, 'item'>): 'trial' | 'idle' | undefined {
    const now = this.#o.clock.now();
    if (this.#closed) throw new RtinferError('RTI_ERR_ENGINE_CLOSED', 'the engine is closed and takes no new requests');
    if (this.#size >= this.#o.maxQueueSize) {
      throw new RtinferError(
        'RTI_ERR_ENGINE_QUEUE_FULL',
        `queue full (${this.#size} of maxQueueSize ${this.#o.maxQueueSize} waiting): retry later`,
      );
    }
    if (options.deadline === undefined) return undefined;
    if (options.deadline <= now)
      throw new RtinferError('RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'the deadline has already passed');
    const predicted = this.#predictCompletion(now, options.priority ?? 0, options.rows, options.shapeKey);
    if (predicted === undefined || predicted <= options.deadline) return undefined;
    if (this.#trialDue(now, options.shapeKey)) return 'trial';
    if (this.#idleFits(now, options.deadline, options.shapeKey, options.rows)) return 'idle';
    throw new RtinferError(
      'RTI_ERR_ENGINE_DEADLINE_UNMEETABLE',
      `cannot finish in time: predicted ${(predicted - now).toFixed(1)} ms, ` +
        `deadline in ${(options.deadline - now).toFixed(1)} ms`,
    );
  }

  /** Queues a request or throws the refusal (queue full, deadline unmeetable, closed). */
  submit(options: SubmitOptions<T>): QueuedRequest<T> {
    const now = this.#o.clock.now();
    const admitted = this.check(options);
    if (admitted === 'trial') this.#lastTrial = now;
    const priority = options.priority ?? 0;
    const request: QueuedRequest<T> = {
      id: this.#nextId++,
      item: options.item,
      rows: options.rows,
      shapeKey: options.shapeKey,
      priority,
      deadline: options.deadline,
      enqueuedAt: now,
      // Every field in one literal, set or not: requests of one hidden class. Added later or only
      // sometimes, they made several, and the scheduler's and engine's optimized code deoptimized
      // on each new one ("wrong map") and was compiled again, for as long as the server ran.
      dispatchedAt: undefined,
      trial: admitted === 'trial',
      idle: admitted === 'idle',
    };
    let q = this.#queues.get(priority);
    if (!q) {
      q = [];
      this.#queues.set(priority, q);
      const at = this.#priorities.findIndex((p) => p < priority);
      this.#priorities.splice(at === -1 ? this.#priorities.length : at, 0, priority);
    }
    q.push(request);
    this.#size++;
    this.pump();
    return request;
  }

  /** The batch on `instance` finished (successfully or not). */
  complete(instance: number): void {
    const inst = this.#instances[instance];
    if (!inst) return;
    inst.busy = false;
    this.pump();
  }

  /** Takes an instance out of service (being replaced after a crash) or puts it back. */
  setAvailable(instance: number, available: boolean): void {
    const inst = this.#instances[instance];
    if (!inst) return;
    inst.available = available;
    if (!available) inst.busy = false;
    this.pump();
  }

  /**
   * Stops taking requests. With `drain`, queued requests still run; without, they are refused
   * with RTI_ERR_ENGINE_CLOSED. Either way `whenIdle()` resolves once nothing is queued or running.
   */
  close(drain: boolean): void {
    this.#closed = true;
    if (!drain) this.rejectQueued('the engine closed before this request ran');
    this.pump();
  }

  /** Refuses everything still queued (closing, or no instance left to run it). */
  rejectQueued(
    message: string,
    code: 'RTI_ERR_ENGINE_CLOSED' | 'RTI_ERR_ENGINE_WORKER_CRASHED' = 'RTI_ERR_ENGINE_CLOSED',
  ): void {
    for (const r of this.#drainAll()) this.#o.hooks.refuse(r, new RtinferError(code, message));
    this.#notifyIdle();
  }

  /** Removes a still-queued request (its caller gave up); false when it already started. */
  cancel(request: QueuedRequest<T>): boolean {
    if (request.dispatchedAt !== undefined) return false;
    const before = this.#size;
    this.#remove([request]);
    if (this.#size === before) return false;
    this.pump();
    return true;
  }

  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Expires, then starts every batch that should start now; re-arms the wake-up timer. */
  pump(): void {
    if (this.#pumping) {
      this.#repump = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#repump = false;
        this.#pumpOnce();
      } while (this.#repump);
    } finally {
      this.#pumping = false;
    }
    this.#notifyIdle();
  }

  #pumpOnce(): void {
    const now = this.#o.clock.now();
    this.#expire(now);
    let wakeAt = this.#o.extra ? this.#placeSingles(now) : this.#startBatches(now);
    for (const p of this.#priorities)
      for (const r of this.#queues.get(p) as Array<QueuedRequest<T>>)
        if (r.deadline !== undefined) wakeAt = Math.min(wakeAt, r.deadline);
    this.#arm(wakeAt);
  }

  /** Starts a batch on each free instance that should get one now; returns when to look again. */
  #startBatches(now: number): number {
    for (let i = 0; i < this.#instances.length; i++) {
      const inst = this.#instances[i] as Instance;
      if (inst.busy || !inst.available) continue;
      const d = this.#decide(now);
      if (d.kind === 'empty') break;
      if (d.kind === 'wait') return d.until;
      const rows = d.batch.reduce((s, r) => s + r.rows, 0);
      this.#start(i, d.batch, now, this.#o.latency.for(d.batch[0]?.shapeKey ?? '').estimate(rows));
    }
    return Number.POSITIVE_INFINITY;
  }

  /**
   * Instances of different speeds, no batching: each queued request (in service order, the first
   * LOOKAHEAD) goes to the instance predicted to finish it first, counting what that instance runs
   * or was promised. A free instance starts it now; a busy one keeps it queued, promised, until it
   * is free (complete() pumps again, and every pump places afresh).
   */
  #placeSingles(now: number): number {
    const n = this.#instances.length;
    const freeAt = this.#instances.map((inst) =>
      !inst.available ? Number.POSITIVE_INFINITY : inst.busy ? Math.max(now, inst.until) : now,
    );
    const open = this.#instances.map((inst) => inst.available && !inst.busy);
    let free = open.filter(Boolean).length;
    const starts: Array<[number, QueuedRequest<T>, number | undefined]> = [];
    const late: Array<QueuedRequest<T>> = [];
    // Each instance's estimate for the shape at hand, kept while the next requests have that shape
    // (usually all do): asked afresh, the estimates cost a few hundred boxed numbers per request.
    const ests: Array<number | undefined> = new Array<number | undefined>(n);
    let estsFor: QueuedRequest<T> | undefined;
    // On an idle engine nothing contends: each instance runs as its fastest recent run says. The p75s
    // count the waits of busy moments and learn only from the instance's own runs, so at idle they
    // chose by stale history: after a warm-up the calling thread's session read 1.4-1.7 ms against
    // 1.0 for a worker, and one-at-a-time gRPC requests took the hop for good, while REST ones, on
    // the same engine, ran on the calling thread in 0.8 ms (PP-OCR classifier, 1 × 1 layout).
    const idle = this.#size <= 1 && this.#instances.every((x) => !x.busy);
    const level: EstimateLevel = idle ? 'fastest' : 'p75';
    if (!idle) this.#streak = 0;
    for (const r of this.#firstQueued(LOOKAHEAD)) {
      if (free === 0) break;
      const streak = this.#streakFor(r, open);
      const probe = streak ?? this.#probe(r, now, open);
      if (probe >= 0) {
        if (streak === undefined && idle && probe === this.#o.instances) {
          this.#streak = PROBE_STREAK;
          this.#streakShape = r.shapeKey;
        }
        const est = this.#estimate(probe, r.shapeKey, r.rows);
        open[probe] = false;
        freeAt[probe] = now + (est ?? 0);
        free--;
        r.trial = true;
        starts.push([probe, r, est]);
        continue;
      }
      if (estsFor === undefined || estsFor.shapeKey !== r.shapeKey || estsFor.rows !== r.rows) {
        for (let i = 0; i < n; i++) ests[i] = this.#estimate(i, r.shapeKey, r.rows, level);
        estsFor = r;
      }
      let best = -1;
      let bestFinish = Number.POSITIVE_INFINITY;
      let bestEst: number | undefined;
      for (let i = 0; i < n; i++) {
        if (freeAt[i] === Number.POSITIVE_INFINITY) continue;
        const est = ests[i];
        if (est === undefined && i >= this.#o.instances) continue;
        const finish = (freeAt[i] as number) + (est ?? 0);
        // Ties go to an instance free now.
        if (finish < bestFinish || (finish === bestFinish && open[i] === true && open[best] !== true)) {
          best = i;
          bestFinish = finish;
          bestEst = est;
        }
      }
      if (best < 0) break;
      if (open[best] === true && r.deadline !== undefined && r.trial !== true && r.idle !== true) {
        // About to start: one whose typical run would end past its deadline now is answered now, and
        // its instance goes to the next (run anyway, it would be answered 504 after taking the time).
        const typical = this.#estimate(best, r.shapeKey, r.rows, 'median');
        if (typical !== undefined && now + typical > r.deadline) {
          late.push(r);
          continue;
        }
      }
      freeAt[best] = bestFinish;
      if (open[best] !== true) continue;
      open[best] = false;
      free--;
      starts.push([best, r, bestEst]);
    }
    if (late.length > 0) {
      this.#remove(late);
      // Their places may have been the only ones looked at: look again.
      this.#repump = true;
    }
    for (const r of late)
      this.#o.hooks.refuse(
        r,
        new RtinferError('RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'can no longer finish before its deadline'),
      );
    for (const [i, r, est] of starts) this.#start(i, [r], now, est);
    return Number.POSITIVE_INFINITY;
  }

  /**
   * A free instance whose estimate for the request's shape has not learned for TRIAL_INTERVAL_MS,
   * to send it this request whatever the prediction (at most one a second per kind: the workers, the
   * extra instance), or -1. Estimates learn only from runs, and placement by prediction never
   * sends work to the kind that reads slower: one slow reading (a cold run, a busy second) would
   * otherwise keep that kind idle for good, the calling thread's session at idle as much as the
   * workers when the calling thread is saturated.
   */
  #probe(r: QueuedRequest<T>, now: number, open: boolean[]): number {
    const workers = this.#o.instances;
    // The extra instance first: at idle it is the one a stale reading keeps from its requests.
    const extraAt = this.#o.extra?.lastObservedAt(r.shapeKey) ?? Number.POSITIVE_INFINITY;
    const extra = this.#probeKind(1, workers, workers + 1, extraAt, r, now, open);
    if (extra >= 0) return extra;
    return this.#probeKind(0, 0, workers, this.#o.latency.for(r.shapeKey).lastObservedAt, r, now, open);
  }

  /**
   * The extra instance for an idle request that its probe's streak still owes it (else undefined).
   * A probe alone did not free the calling thread's session from a cold reading: on 3 server starts
   * in 24 it read 1.6 ms on its first runs against a worker's 1.1, and each probe, a second apart, ran
   * as cold (1.3-1.8 ms against 0.7 warm), so it never won again. The streak's runs are trials:
   * one that runs well under the estimate starts it over.
   */
  #streakFor(r: QueuedRequest<T>, open: boolean[]): number | undefined {
    if (this.#streak === 0) return undefined;
    const extra = this.#o.instances;
    if (r.shapeKey !== this.#streakShape || open[extra] !== true) return undefined;
    if (this.#estimate(extra, r.shapeKey, r.rows) === undefined) {
      this.#streak = 0;
      return undefined;
    }
    this.#streak--;
    return extra;
  }

  /** #probe for one kind of instance (0 the workers, 1 the extra one), numbered first to last - 1. */
  #probeKind(
    kind: 0 | 1,
    first: number,
    last: number,
    learnedAt: number,
    r: QueuedRequest<T>,
    now: number,
    open: boolean[],
  ): number {
    if (now - learnedAt < TRIAL_INTERVAL_MS || now - (this.#lastProbe[kind] as number) < TRIAL_INTERVAL_MS) return -1;
    for (let i = first; i < last; i++) {
      if (open[i] !== true || this.#estimate(i, r.shapeKey, r.rows) === undefined) continue;
      this.#lastProbe[kind] = now;
      return i;
    }
    return -1;
  }

  #start(instance: number, batch: Array<QueuedRequest<T>>, now: number, estimateMs: number | undefined): void {
    const inst = this.#instances[instance] as Instance;
    this.#remove(batch);
    inst.busy = true;
    inst.until = now + (estimateMs ?? 0);
    for (const r of batch) r.dispatchedAt = now;
    this.#o.hooks.dispatch(instance, batch);
  }

  /** Instance i's estimate for `rows` of a shape: the workers' model, or the extra instance's own. */
  #estimate(i: number, shapeKey: string, rows: number, level: EstimateLevel = 'p75'): number | undefined {
    const workers = this.#o.latency.for(shapeKey).estimate(rows, level);
    return i < this.#o.instances ? workers : this.#o.extra?.estimate(shapeKey, rows, workers, level);
  }

  #arm(at: number): void {
    if (at === this.#timerAt) return;
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Number.POSITIVE_INFINITY) return;
    this.#timer = this.#o.clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.pump();
    }, at - this.#o.clock.now());
  }

  #decide(now: number): Decision<T> {
    const { policy } = this.#o;
    for (;;) {
      const top = this.#priorities[0];
      const head = top === undefined ? undefined : this.#queues.get(top)?.[0];
      if (head === undefined) return { kind: 'empty' };
      const latency = this.#o.latency.for(head.shapeKey);
      if (policy.mode === 'none') return { kind: 'run', batch: [head] };

      const candidates: Array<QueuedRequest<T>> = [];
      let rows = 0;
      // The next request of this shape does not fit: the batch cannot grow, so waiting gains nothing.
      let blocked = false;
      for (const r of this.#each()) {
        if (r.shapeKey !== head.shapeKey) continue;
        if (candidates.length > 0 && rows + r.rows > policy.maxBatchSize) {
          blocked = true;
          break;
        }
        candidates.push(r);
        rows += r.rows;
      }
      const waitedEnough = now - head.enqueuedAt >= policy.maxQueueDelayMs;
      const full = blocked || rows >= policy.maxBatchSize;

      if (policy.mode === 'static') {
        if (full || waitedEnough) return { kind: 'run', batch: candidates };
        // The longest prefix whose rows add up to exactly a preferred size, as Triton does.
        let preferredCount = 0;
        let prefixRows = 0;
        candidates.forEach((r, k) => {
          prefixRows += r.rows;
          if (policy.preferredBatchSizes.includes(prefixRows)) preferredCount = k + 1;
        });
        if (preferredCount > 0) return { kind: 'run', batch: candidates.slice(0, preferredCount) };
        return { kind: 'wait', until: head.enqueuedAt + policy.maxQueueDelayMs };
      }

      // adaptive: the largest prefix whose predicted finish meets its earliest deadline
      let best = 0;
      let bestRows = 0;
      let minDeadline = Number.POSITIVE_INFINITY;
      let prefixRows = 0;
      for (let k = 0; k < candidates.length; k++) {
        const r = candidates[k] as QueuedRequest<T>;
        prefixRows += r.rows;
        if (r.deadline !== undefined) minDeadline = Math.min(minDeadline, r.deadline);
        const est = latency.estimate(prefixRows);
        if (est !== undefined && now + est > minDeadline) break;
        best = k + 1;
        bestRows = prefixRows;
      }
      if (best === 0 && head.trial !== true) {
        // Even alone the head would finish late: answer now rather than run it for nothing.
        this.#remove([head]);
        this.#o.hooks.refuse(
          head,
          new RtinferError('RTI_ERR_ENGINE_DEADLINE_UNMEETABLE', 'can no longer finish before its deadline'),
        );
        continue;
      }
      if (best === 0) return { kind: 'run', batch: [head] };
      const batch = candidates.slice(0, best);
      if (best === candidates.length && !full && !waitedEnough) {
        // Worth waiting for more rows, but not past the last moment a bigger batch still fits
        // (minDeadline is the batch's earliest deadline: the loop above took every candidate).
        const bigger = latency.estimate(bestRows + 1);
        // No estimate yet: with a deadline, the only start known to be early enough is now.
        const latestStart =
          bigger !== undefined ? minDeadline - bigger : minDeadline === Number.POSITIVE_INFINITY ? minDeadline : now;
        const until = Math.min(head.enqueuedAt + policy.maxQueueDelayMs, latestStart);
        if (until > now) return { kind: 'wait', until };
      }
      return { kind: 'run', batch };
    }
  }

  /**
   * Whether an idle engine takes a request the latency model calls late: nothing queued, an
   * instance free, and the fastest recent run there fits before the deadline. Such a run delays no
   * one, and on a busy machine the estimates (learned from runs slowed by the load around them)
   * read late where a run often makes it: refusing on them, the engine answered 503 to nine in ten
   * requests at half the naive server's peak (PP-OCR classifier, 2.9 ms deadline, a shared machine)
   * while the naive server, which runs everything, made 28 % of them in time. Late after all: 504.
   */
  #idleFits(now: number, deadline: number, shapeKey: string, rows: number): boolean {
    if (this.#size > 0) return false;
    for (let i = 0; i < this.#instances.length; i++) {
      const inst = this.#instances[i] as Instance;
      if (!inst.available || inst.busy) continue;
      const fastest = this.#estimate(i, shapeKey, rows, 'fastest');
      if (fastest !== undefined && now + fastest <= deadline) return true;
    }
    return false;
  }

  /**
   * Whether a request the latency model calls unmeetable may run anyway. The model learns only from
   * batches that run, so an estimate that says "too slow" would otherwise refuse everything forever,
   * even after the machine recovered (seen: a batch-1 estimate stuck at 6.2 ms after 1.5 s of CPU
   * contention refused every 6 ms request on a quiet machine). Only when the estimate is stale (no
   * run of this shape for TRIAL_INTERVAL_MS), nothing is queued or running (the trial delays no
   * one), and at most once per TRIAL_INTERVAL_MS.
   */
  #trialDue(now: number, shapeKey: string): boolean {
    // Either instance kind's estimate may be the one saying "too slow": stale only when neither learned lately.
    const learned = Math.max(
      this.#o.latency.for(shapeKey).lastObservedAt,
      this.#o.extra?.lastObservedAt(shapeKey) ?? Number.NEGATIVE_INFINITY,
    );
    const stale = now - learned >= TRIAL_INTERVAL_MS;
    return (
      stale &&
      this.#size === 0 &&
      this.#instances.every((i) => !i.busy) &&
      this.#instances.some((i) => i.available) &&
      now - this.#lastTrial >= TRIAL_INTERVAL_MS
    );
  }

  /**
   * When a request would finish behind what is queued and running, from the estimates' medians: a
   * sum of p75s over the queue ahead overstates the wait, and a request refused is lost for sure
   * while one admitted near the line makes it about half the time (the server answers 504 rather
   * than a late 200 when it does not).
   */
  #predictCompletion(now: number, priority: number, rows: number, shapeKey: string): number | undefined {
    const { policy } = this.#o;
    if (this.#o.latency.for(shapeKey).empty && !this.#o.extra) return undefined;
    let ahead = rows;
    for (const p of this.#priorities) {
      if (p < priority) break; // highest first
      for (const r of this.#queues.get(p) as Array<QueuedRequest<T>>) ahead += r.rows;
    }
    const perBatch = policy.mode === 'none' ? 1 : policy.maxBatchSize;
    const freeAt = this.#instances.map((inst) =>
      !inst.available ? undefined : inst.busy ? Math.max(now, inst.until) : now,
    );
    let finish: number | undefined;
    while (ahead > 0) {
      const take = Math.min(perBatch, ahead);
      ahead -= take;
      // Each batch ahead, and then this one, on the instance that would finish it first.
      let best = -1;
      let bestFinish = Number.POSITIVE_INFINITY;
      for (let i = 0; i < freeAt.length; i++) {
        const at = freeAt[i];
        if (at === undefined) continue;
        const est = this.#estimate(i, shapeKey, take, 'median');
        if (est === undefined) continue;
        if (at + est < bestFinish) {
          best = i;
          bestFinish = at + est;
        }
      }
      if (best < 0) return undefined;
      freeAt[best] = bestFinish;
      finish = bestFinish;
    }
    return finish;
  }

  #expire(now: number): void {
    let expired: Array<QueuedRequest<T>> | undefined;
    for (const p of this.#priorities)
      for (const r of this.#queues.get(p) as Array<QueuedRequest<T>>)
        if (r.deadline !== undefined && r.deadline <= now) (expired ??= []).push(r);
    if (expired === undefined) return;
    this.#remove(expired);
    for (const r of expired) {
      this.#o.hooks.refuse(
        r,
        new RtinferError(
          'RTI_ERR_ENGINE_DEADLINE_EXPIRED',
          `deadline passed after ${(now - r.enqueuedAt).toFixed(1)} ms in the queue`,
        ),
      );
    }
  }

  /**
   * Queued requests in service order: priority high to low, FIFO within a level. The hot paths loop
   * over the levels themselves: a generator allocates per step, and the scheduler runs several
   * loops per request (with the allocations of the estimates beside them, ~95 KB of garbage per
   * request at 400 req/s, which kept V8's full collector busy).
   */
  *#each(): Generator<QueuedRequest<T>> {
    for (const p of this.#priorities) yield* this.#queues.get(p) ?? [];
  }

  /** The first `n` queued requests in service order, in an array. */
  #firstQueued(n: number): Array<QueuedRequest<T>> {
    const out: Array<QueuedRequest<T>> = [];
    for (const p of this.#priorities) {
      for (const r of this.#queues.get(p) as Array<QueuedRequest<T>>) {
        if (out.length >= n) return out;
        out.push(r);
      }
    }
    return out;
  }

  /** Every path out of the queue (dispatch, cancel, expiry, refusal) comes through here. */
  #remove(batch: ReadonlyArray<QueuedRequest<T>>): void {
    if (batch.length === 1) return this.#removeOne(batch[0] as QueuedRequest<T>);
    // Only the levels the batch came from: the others are untouched.
    const byLevel = new Map<number, Set<number>>();
    for (const r of batch) {
      const ids = byLevel.get(r.priority) ?? new Set<number>();
      ids.add(r.id);
      byLevel.set(r.priority, ids);
    }
    let emptied = false;
    for (const [p, ids] of byLevel) {
      const q = this.#queues.get(p);
      if (!q) continue;
      const kept = q.filter((r) => !ids.has(r.id));
      this.#size -= q.length - kept.length;
      if (kept.length > 0) this.#queues.set(p, kept);
      else {
        this.#queues.delete(p);
        emptied = true;
      }
    }
    if (emptied) this.#priorities = this.#priorities.filter((p) => this.#queues.has(p));
  }

  /** #remove for one request, the common case (mode none): usually the head of its level. */
  #removeOne(r: QueuedRequest<T>): void {
    const q = this.#queues.get(r.priority);
    if (!q) return;
    const at = q[0] === r ? 0 : q.indexOf(r);
    if (at < 0) return;
    q.splice(at, 1);
    this.#size--;
    if (q.length > 0) return;
    this.#queues.delete(r.priority);
    this.#priorities = this.#priorities.filter((p) => p !== r.priority);
  }

  #drainAll(): Array<QueuedRequest<T>> {
    const all = [...this.#each()];
    this.#queues.clear();
    this.#priorities = [];
    this.#size = 0;
    return all;
  }

  #isIdle(): boolean {
    return this.#size === 0 && this.#instances.every((i) => !i.busy);
  }

  #notifyIdle(): void {
    if (!this.#isIdle() || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
