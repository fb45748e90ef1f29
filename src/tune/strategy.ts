/**
 * The search: coarse-to-fine instead of a grid, written against an abstract `evaluate` and an
 * injectable clock so it runs the same on a synthetic cost model in tests as on real measurements.
 *
 * 1. screen: every variant (within the accuracy limit) at the baseline configuration, quick. A
 *    variant whose single request already breaks the SLO (by the lower confidence bound of its
 *    one-at-a-time percentile) is dropped (batching and more instances
 *    only add latency to a request); the better half of the rest goes on (successive halving).
 * 2. descent: coordinate descent per variant, best first, one axis at a time (threads, instances,
 *    execution mode and inter-op threads, graph optimization, batch size, queue delay). Ordered
 *    axes are walked outward from the current value and a direction stops at the first step that
 *    does not improve by `minGain`: if more threads made it worse, even more is not tried; when a
 *    step up improved, the way down is not tried (one peak per axis). A second pass re-walks the
 *    axes from the new point (the graph level only if it moved). The next variant starts from the
 *    best settings found so far.
 * 3. refine: the best few, measured again at full length; the best full measurement wins.
 *
 * Pruning besides the walk: a candidate whose single request breaks the SLO prunes every larger
 * batch of the same settings, and the evaluator may abandon a quick measurement as soon as the
 * lower confidence bound of its unloaded latency is above the bound (reported as abandoned).
 * The budget is checked before each evaluation against the mean cost of the last ones of that
 * length, and an evaluation still running at the deadline is aborted through its signal: the search
 * stops cleanly with the best result so far.
 */
import type { Clock } from '../util/clock.js';
import { baseline, candidateKey, invalidReason, threadsUsed, type Candidate, type SearchSpace } from './space.js';

export type Objective = 'throughput' | 'latency' | 'accuracy';
export const OBJECTIVES: readonly Objective[] = ['throughput', 'latency', 'accuracy'];
export type Level = 'quick' | 'full';

export interface Measurement {
  status: 'ok' | 'abandoned' | 'failed';
  meetsSlo: boolean;
  /**
   * Queries per second at the operating point: server, the highest Poisson rate whose SLO
   * percentile stays within the bound (0 when none does); single-stream, one at a time;
   * multi-stream, samples per second.
   */
  throughput: number;
  /** The SLO percentile at the operating point, ms (server: at that rate). */
  latencyMs: number;
  /** The SLO percentile of requests one at a time, and its lower 95 % confidence bound. */
  unloadedMs: number;
  unloadedLowerMs?: number;
  queries: number;
  elapsedMs: number;
  note?: string;
}

export interface EvaluateOptions {
  level: Level;
  /** The evaluator may stop and answer 'abandoned' once the unloaded latency's lower bound is above this. */
  abandonAboveMs: number;
  signal: AbortSignal;
}

export type Evaluate = (candidate: Candidate, options: EvaluateOptions) => Promise<Measurement>;

export interface VariantAccuracy {
  score: number;
  drop: number;
}

export interface StrategyOptions {
  space: SearchSpace;
  evaluate: Evaluate;
  clock: Pick<Clock, 'now' | 'setTimer' | 'clearTimer'>;
  budgetMs: number;
  boundMs: number;
  objective: Objective;
  /** Per variant id; a variant without an entry counts as the reference (score 1, drop 0). */
  accuracy?: ReadonlyMap<string, VariantAccuracy>;
  /** Fraction 0..1: variants that lose more are excluded. */
  maxAccuracyDrop?: number;
  /** Candidates re-measured at full length in the refine phase; default 3. */
  finalists?: number;
  /** A step must beat the current best by this fraction to count as better; default 0.02 (measurement noise). */
  minGain?: number;
  onTrial?: (trial: Trial) => void;
  /** Stops the search like the budget does (Ctrl-C): the best result so far is returned. */
  signal?: AbortSignal;
}

export type Phase = 'screen' | 'descent' | 'refine';

export interface Trial {
  candidate: Candidate;
  key: string;
  phase: Phase;
  quick?: Measurement;
  full?: Measurement;
}

export interface StrategyResult {
  trials: Trial[];
  /** Best feasible trial (by its full measurement when it has one), else null. */
  best: Trial | null;
  /** When nothing is feasible: the trials closest to the SLO, best first. */
  closest: Trial[];
  evaluations: { quick: number; full: number; abandoned: number; failed: number };
  pruned: { variants: Array<{ variant: string; reason: string }>; rules: string[] };
  elapsedMs: number;
  stoppedBy: 'budget' | 'converged' | 'interrupted';
}

/** Thrown inside the search when the budget, the deadline or an interruption ends it. */
class BudgetSpent extends Error {}

/** The measurement a trial is judged by: full when there is one. */
export function judged(t: Trial): Measurement | undefined {
  return t.full ?? t.quick;
}

export async function runStrategy(o: StrategyOptions): Promise<StrategyResult> {
  return new Search(o).run();
}

type Axis = { name: string; values: (c: Candidate) => Candidate[] };

/** The axes coordinate descent walks, in order; each lists the candidates along it from a point. */
function searchAxes(space: SearchSpace): Axis[] {
  const along =
    <K extends keyof Candidate>(
      key: K,
      values: ReadonlyArray<Candidate[K]>,
      extra: (c: Candidate, v: Candidate[K]) => Partial<Candidate> = () => ({}),
    ): Axis['values'] =>
    (c) =>
      values.map((v) => ({ ...c, [key]: v, ...extra(c, v) }) as Candidate);
  const execValues: Array<Pick<Candidate, 'executionMode' | 'interOpThreads'>> = [
    ...(space.axes.executionMode.includes('sequential')
      ? [{ executionMode: 'sequential' as const, interOpThreads: 0 }]
      : []),
    ...(space.axes.executionMode.includes('parallel')
      ? space.axes.interOpThreads
          .filter((x) => x > 0)
          .map((i) => ({ executionMode: 'parallel' as const, interOpThreads: i }))
      : []),
  ];
  return [
    { name: 'threads', values: along('threads', space.axes.threads) },
    { name: 'instances', values: along('instances', space.axes.instances) },
    { name: 'execution', values: (c) => execValues.map((e) => ({ ...c, ...e })) },
    { name: 'graph', values: along('graphOptimizationLevel', space.axes.graphOptimizationLevel) },
    {
      name: 'batch',
      values: along('maxBatchSize', space.axes.maxBatchSize, (c, b) => ({
        maxQueueDelayUs: b > 1 ? c.maxQueueDelayUs : 0,
      })),
    },
    {
      name: 'delay',
      values: (c) => (c.maxBatchSize > 1 ? along('maxQueueDelayUs', space.axes.maxQueueDelayUs)(c) : []),
    },
  ];
}

/** Makes a candidate valid after one axis moved: threads shrink to the budget if needed. */
function repair(space: SearchSpace, c: Candidate): Candidate | null {
  if (invalidReason(space, c) === null) return c;
  if (!space.oversubscribe && threadsUsed(c) > space.cores) {
    const fit = space.axes.threads.filter((t) => c.instances * t <= space.cores).pop();
    if (fit !== undefined) {
      const fixed = {
        ...c,
        threads: fit,
        interOpThreads: c.executionMode === 'parallel' ? Math.min(c.interOpThreads, fit) : 0,
      };
      if (invalidReason(space, fixed) === null) return fixed;
    }
  }
  return null;
}

/** The candidate's settings without its batching: the key batch pruning is kept under. */
function settingsKey(c: Candidate): string {
  return candidateKey({ ...c, maxBatchSize: 1, maxQueueDelayUs: 0 });
}

/** A measurement that threw: recorded as failed, with why (data, not a crash). */
export function failedMeasurement(note: string | undefined, elapsedMs: number): Measurement {
  return {
    status: 'failed',
    meetsSlo: false,
    throughput: 0,
    latencyMs: Infinity,
    unloadedMs: Infinity,
    queries: 0,
    elapsedMs,
    note,
  };
}

/** One search: its budget, the trials measured so far and what was pruned, and a method per phase. */
class Search {
  readonly #o: StrategyOptions;
  readonly #space: SearchSpace;
  readonly #clock: StrategyOptions['clock'];
  readonly #minGain: number;
  readonly #axes: Axis[];
  // Budget: a deadline checked before each evaluation, and a controller whose signal aborts the
  // one running when the timer fires or the caller's signal does.
  #t0 = 0;
  #deadline = 0;
  readonly #controller = new AbortController();
  /** The budget timer's handle; undefined for an unbounded search. */
  #timer: unknown;
  #interrupted = false;
  /** Every candidate measured, by key. */
  readonly #trials = new Map<string, Trial>();
  /** Duration of each evaluation so far, per length: what the next one is expected to cost. */
  readonly #costs: Record<Level, number[]> = { quick: [], full: [] };
  readonly #evaluations = { quick: 0, full: 0, abandoned: 0, failed: 0 };
  readonly #prunedVariants: Array<{ variant: string; reason: string }> = [];
  readonly #rules: string[] = [];
  /** Batch pruning: settings key without batch → largest batch size still worth trying. */
  readonly #batchCeiling = new Map<string, number>();

  constructor(o: StrategyOptions) {
    this.#o = o;
    this.#space = o.space;
    this.#clock = o.clock;
    this.#minGain = o.minGain ?? 0.02;
    this.#axes = searchAxes(o.space);
  }

  readonly #onAbort = (): void => {
    this.#interrupted = true;
    this.#controller.abort(new BudgetSpent('interrupted'));
  };

  async run(): Promise<StrategyResult> {
    this.#start();
    let stoppedBy: StrategyResult['stoppedBy'] = 'converged';
    try {
      const kept = await this.#screen();
      await this.#descent(kept);
      await this.#refine();
    } catch (error) {
      if (!(error instanceof BudgetSpent)) throw error;
      stoppedBy = this.#interrupted ? 'interrupted' : 'budget';
    } finally {
      this.#stop();
    }
    return this.#result(stoppedBy);
  }

  #start(): void {
    const { clock, budgetMs, signal } = this.#o;
    this.#t0 = clock.now();
    this.#deadline = this.#t0 + budgetMs;
    // An unbounded search (a replay, a test) sets no timer: timers cannot hold Infinity.
    if (Number.isFinite(budgetMs))
      this.#timer = clock.setTimer(() => this.#controller.abort(new BudgetSpent('budget spent')), budgetMs);
    if (signal?.aborted) this.#onAbort();
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
  }

  // --- ranking

  #accuracyOf(variant: string): VariantAccuracy {
    return this.#o.accuracy?.get(variant) ?? { score: 1, drop: 0 };
  }

  #accuracyOk(variant: string): boolean {
    return this.#o.maxAccuracyDrop === undefined || this.#accuracyOf(variant).drop <= this.#o.maxAccuracyDrop + 1e-12;
  }

  #feasible(t: Trial): boolean {
    const m = judged(t);
    return m !== undefined && m.status === 'ok' && m.meetsSlo && this.#accuracyOk(t.candidate.variant);
  }

  /** Larger is better; compared lexicographically. */
  #score(t: Trial): number[] {
    const m = judged(t);
    if (!m || m.status === 'failed') return [-2];
    if (!this.#feasible(t)) return [-1, m.status === 'ok' ? 1 : 0, -(m.status === 'ok' ? m.latencyMs : m.unloadedMs)];
    // The latency objective ranks the latency a request sees; in the server scenario the loaded
    // figure sits near the bound by construction (the rate is raised until it does), so it ranks
    // the unloaded one.
    const latency = this.#space.scenario === 'server' ? m.unloadedMs : m.latencyMs;
    if (this.#o.objective === 'throughput') return [1, m.throughput, -latency];
    if (this.#o.objective === 'latency') return [1, -latency, m.throughput];
    return [1, this.#accuracyOf(t.candidate.variant).score, m.throughput];
  }

  /** a better than b by more than `gain` on the first differing component (noise-aware). */
  #better(a: Trial, b: Trial, gain = this.#minGain): boolean {
    const sa = this.#score(a);
    const sb = this.#score(b);
    for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
      const x = sa[i] ?? 0;
      const y = sb[i] ?? 0;
      const margin = i === 0 ? 0 : gain * Math.max(Math.abs(x), Math.abs(y));
      if (x > y + margin) return true;
      if (x < y - margin) return false;
      if (i > 0 && Math.abs(x - y) > 1e-12) return false; // within noise: not better
    }
    return false;
  }

  /** Best first, by `better` without the noise margin. */
  #ranked(list: Trial[]): Trial[] {
    return list.sort((a, b) => (this.#better(a, b, 0) ? -1 : this.#better(b, a, 0) ? 1 : 0));
  }

  // --- pruning

  // Pruning acts on the lower confidence bound when there is one: a short probe's nearest-rank p99
  // is close to its maximum, and one stall would otherwise drop a whole variant.
  #clearlyOver(m: Measurement): boolean {
    return (m.unloadedLowerMs ?? m.unloadedMs) > this.#o.boundMs;
  }

  #isPruned(c: Candidate): boolean {
    return (
      c.maxBatchSize > (this.#batchCeiling.get(settingsKey(c)) ?? Infinity) ||
      this.#prunedVariants.some((p) => p.variant === c.variant)
    );
  }

  // --- measuring

  /** Measures a candidate once per length (a repeat returns the trial), within the budget. */
  async #measure(c: Candidate, level: Level, phase: Phase): Promise<Trial> {
    const { clock, boundMs } = this.#o;
    const key = candidateKey(c);
    let t = this.#trials.get(key);
    if (t?.[level]) return t;
    const past = this.#costs[level];
    const expected = past.length ? past.reduce((s, x) => s + x, 0) / past.length : 0;
    const signal = this.#controller.signal;
    if (signal.aborted || clock.now() + expected > this.#deadline) throw new BudgetSpent();
    const start = clock.now();
    let m: Measurement;
    try {
      m = await this.#o.evaluate(c, { level, abandonAboveMs: boundMs, signal });
    } catch (error) {
      if (signal.aborted) throw new BudgetSpent();
      m = failedMeasurement(error instanceof Error ? error.message.split('\n')[0] : String(error), clock.now() - start);
    }
    // A measurement cut short by the deadline is not a measurement.
    if (signal.aborted) throw new BudgetSpent();
    if (m.status === 'ok' && m.unloadedLowerMs !== undefined && m.unloadedLowerMs > boundMs)
      m = { ...m, status: 'abandoned', meetsSlo: false };
    this.#costs[level].push(clock.now() - start);
    this.#evaluations[level]++;
    if (m.status === 'abandoned') this.#evaluations.abandoned++;
    if (m.status === 'failed') this.#evaluations.failed++;
    t ??= { candidate: c, key, phase };
    t[level] = m;
    this.#trials.set(key, t);
    this.#pruneLargerBatches(c, m);
    this.#o.onTrial?.(t);
    return t;
  }

  /** One request alone clearly breaks the SLO: a larger batch of the same settings cannot do better. */
  #pruneLargerBatches(c: Candidate, m: Measurement): void {
    const settings = settingsKey(c);
    if (
      m.status === 'failed' ||
      !this.#clearlyOver(m) ||
      c.maxBatchSize >= (this.#batchCeiling.get(settings) ?? Infinity)
    )
      return;
    this.#batchCeiling.set(settings, c.maxBatchSize);
    this.#rules.push(
      `${settings}: one request takes ${(m.unloadedLowerMs ?? m.unloadedMs).toFixed(2)} ms or more ` +
        `> ${this.#o.boundMs} ms, no batch above ${c.maxBatchSize}`,
    );
  }

  // --- 1. screen

  /** Every variant within the accuracy limit at the baseline; returns the better half, best first. */
  async #screen(): Promise<Trial[]> {
    const o = this.#o;
    const variants = this.#space.variants.filter((v) => {
      if (this.#accuracyOk(v.id)) return true;
      this.#prunedVariants.push({
        variant: v.id,
        reason:
          `accuracy drop ${(this.#accuracyOf(v.id).drop * 100).toFixed(2)} % ` +
          `> ${((o.maxAccuracyDrop ?? 0) * 100).toFixed(2)} %`,
      });
      return false;
    });
    const screened: Trial[] = [];
    for (const v of variants) {
      const t = await this.#measure(baseline(this.#space, v.id), 'quick', 'screen');
      const m = judged(t) as Measurement;
      if (m.status !== 'failed' && this.#clearlyOver(m)) {
        const lower = (m.unloadedLowerMs ?? m.unloadedMs).toFixed(2);
        const reason =
          `one request at a time takes ${lower} ms or more (95 % lower bound) ` +
          `> ${o.boundMs} ms at the baseline (${t.key})`;
        this.#prunedVariants.push({ variant: v.id, reason });
        continue;
      }
      if (m.status === 'ok') screened.push(t);
    }
    this.#ranked(screened);
    const kept = screened.slice(0, Math.max(1, Math.ceil(screened.length / 2)));
    for (const t of screened.slice(kept.length))
      this.#prunedVariants.push({
        variant: t.candidate.variant,
        reason: 'screened out: in the worse half of the variants at the baseline',
      });
    return kept;
  }

  // --- 2. descent

  /** The best variant in full (two passes), then the others from the best settings so far. */
  async #descent(kept: readonly Trial[]): Promise<void> {
    let overall: Trial | null = null;
    for (const [i, start] of kept.entries()) {
      let from = start;
      if (overall !== null) {
        const batchable = this.#space.variants.find((v) => v.id === start.candidate.variant)?.batchable;
        const moved = repair(this.#space, {
          ...overall.candidate,
          variant: start.candidate.variant,
          ...(batchable ? {} : { maxBatchSize: 1, maxQueueDelayUs: 0 }),
        });
        const t = moved && !this.#isPruned(moved) ? await this.#measure(moved, 'quick', 'descent') : null;
        if (t && this.#better(t, from)) from = t;
      }
      const best = await this.#descend(from, i === 0 ? 2 : 1);
      if (overall === null || this.#better(best, overall, 0)) overall = best;
    }
  }

  async #descend(start: Trial, passes: number): Promise<Trial> {
    let best = start;
    const moved = new Set<string>();
    for (let pass = 0; pass < passes; pass++) {
      const before = best.key;
      for (const axis of this.#axes) {
        // The graph optimization level is a property of the kernels, not of the layout or the
        // batching: a level that did not help in the first pass is not tried again.
        if (pass > 0 && axis.name === 'graph' && !moved.has('graph')) continue;
        const from = best.key;
        best = await this.#walk(best, axis);
        if (best.key !== from) moved.add(axis.name);
      }
      if (best.key === before) break;
    }
    return best;
  }

  /** Walks one axis outward from the current value in both directions; returns the best trial. */
  async #walk(current: Trial, axis: Axis): Promise<Trial> {
    const values = axis.values(current.candidate);
    const here = values.findIndex((v) => candidateKey(repair(this.#space, v) ?? v) === current.key);
    let best = current;
    for (const dir of [1, -1]) {
      // One peak per axis (unimodal): when a step up improved, stepping down cannot.
      if (dir === -1 && best !== current) break;
      let prev = current;
      for (let i = (here < 0 ? 0 : here) + dir; i >= 0 && i < values.length; i += dir) {
        const c = repair(this.#space, values[i] as Candidate);
        if (c === null || this.#isPruned(c)) break;
        const key = candidateKey(c);
        if (key === prev.key) continue; // the repair landed on the same candidate
        const seen = this.#trials.get(key);
        const t = seen?.quick || seen?.full ? seen : await this.#measure(c, 'quick', 'descent');
        if (this.#better(t, best)) best = t;
        // Not better than its neighbour: the rest of this direction is dominated.
        if (!this.#better(t, prev, 0) || judged(t)?.status !== 'ok') break;
        prev = t;
      }
    }
    return best;
  }

  // --- 3. refine

  /** The finalists (feasible on their quick measurement, best first) at full length. */
  async #refine(): Promise<void> {
    const ranked = this.#ranked(
      [...this.#trials.values()].filter((t) => t.quick?.status === 'ok' && this.#feasible(t)),
    );
    for (const t of ranked.slice(0, this.#o.finalists ?? 3)) await this.#measure(t.candidate, 'full', 'refine');
  }

  #result(stoppedBy: StrategyResult['stoppedBy']): StrategyResult {
    const all = [...this.#trials.values()];
    // Finalists are judged by their full measurement; a quick-only trial competes only when no full one is feasible.
    const pick = (list: Trial[]): Trial | null =>
      list.reduce<Trial | null>((b, t) => (b === null || this.#better(t, b, 0) ? t : b), null);
    const feasibleAll = all.filter((t) => this.#feasible(t));
    const best = pick(feasibleAll.filter((t) => t.full)) ?? pick(feasibleAll);
    const closest = best ? [] : this.#ranked(all.filter((t) => judged(t)?.status !== 'failed')).slice(0, 3);
    const pruned = { variants: this.#prunedVariants, rules: this.#rules };
    return {
      trials: all,
      best,
      closest,
      evaluations: this.#evaluations,
      pruned,
      elapsedMs: this.#clock.now() - this.#t0,
      stoppedBy,
    };
  }
}
