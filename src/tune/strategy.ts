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
import type { Clock } from '../engine/clock.js';
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

class BudgetSpent extends Error {}

/** The measurement a trial is judged by: full when there is one. */
export function judged(t: Trial): Measurement | undefined {
  return t.full ?? t.quick;
}

export async function runStrategy(o: StrategyOptions): Promise<StrategyResult> {
  const { space, clock, objective } = o;
  const minGain = o.minGain ?? 0.02;
  const t0 = clock.now();
  const deadline = t0 + o.budgetMs;
  const controller = new AbortController();
  // An unbounded search (a replay, a test) sets no timer: timers cannot hold Infinity.
  const timer = Number.isFinite(o.budgetMs) ? clock.setTimer(() => controller.abort(new BudgetSpent('budget spent')), o.budgetMs) : undefined;
  let interrupted = false;
  const onAbort = (): void => {
    interrupted = true;
    controller.abort(new BudgetSpent('interrupted'));
  };
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const trials = new Map<string, Trial>();
  const costs: Record<Level, number[]> = { quick: [], full: [] };
  const evaluations = { quick: 0, full: 0, abandoned: 0, failed: 0 };
  const prunedVariants: Array<{ variant: string; reason: string }> = [];
  const rules: string[] = [];
  /** Batch pruning: settings key without batch → largest batch size still worth trying. */
  const batchCeiling = new Map<string, number>();
  let stoppedBy: StrategyResult['stoppedBy'] = 'converged';

  const accuracyOf = (variant: string): VariantAccuracy => o.accuracy?.get(variant) ?? { score: 1, drop: 0 };
  const accuracyOk = (variant: string): boolean => o.maxAccuracyDrop === undefined || accuracyOf(variant).drop <= o.maxAccuracyDrop + 1e-12;
  const feasible = (t: Trial): boolean => {
    const m = judged(t);
    return m !== undefined && m.status === 'ok' && m.meetsSlo && accuracyOk(t.candidate.variant);
  };
  // The latency objective ranks the latency a request sees; in the server scenario the loaded
  // figure sits near the bound by construction (the rate is raised until it does), so it ranks
  // the unloaded one.
  const latencyOf = (m: Measurement): number => (space.scenario === 'server' ? m.unloadedMs : m.latencyMs);
  /** Larger is better; compared lexicographically. */
  const score = (t: Trial): number[] => {
    const m = judged(t);
    if (!m || m.status === 'failed') return [-2];
    if (!feasible(t)) return [-1, m.status === 'ok' ? 1 : 0, -(m.status === 'ok' ? m.latencyMs : m.unloadedMs)];
    if (objective === 'throughput') return [1, m.throughput, -latencyOf(m)];
    if (objective === 'latency') return [1, -latencyOf(m), m.throughput];
    return [1, accuracyOf(t.candidate.variant).score, m.throughput];
  };
  /** a better than b by more than minGain on the first differing component (noise-aware). */
  const better = (a: Trial, b: Trial, gain = minGain): boolean => {
    const sa = score(a);
    const sb = score(b);
    for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
      const x = sa[i] ?? 0;
      const y = sb[i] ?? 0;
      const margin = i === 0 ? 0 : gain * Math.max(Math.abs(x), Math.abs(y));
      if (x > y + margin) return true;
      if (x < y - margin) return false;
      if (i > 0 && Math.abs(x - y) > 1e-12) return false; // within noise: not better
    }
    return false;
  };

  // Pruning acts on the lower confidence bound when there is one: a short probe's nearest-rank p99
  // is close to its maximum, and one stall would otherwise drop a whole variant.
  const clearlyOver = (m: Measurement): boolean => (m.unloadedLowerMs ?? m.unloadedMs) > o.boundMs;
  const settingsKey = (c: Candidate): string => candidateKey({ ...c, maxBatchSize: 1, maxQueueDelayUs: 0 });
  const isPruned = (c: Candidate): boolean => c.maxBatchSize > (batchCeiling.get(settingsKey(c)) ?? Infinity) || prunedVariants.some((p) => p.variant === c.variant);

  const measure = async (c: Candidate, level: Level, phase: Phase): Promise<Trial | null> => {
    const key = candidateKey(c);
    let t = trials.get(key);
    if (t?.[level]) return t;
    const past = costs[level];
    const expected = past.length ? past.reduce((s, x) => s + x, 0) / past.length : 0;
    if (controller.signal.aborted || clock.now() + expected > deadline) throw new BudgetSpent();
    const start = clock.now();
    let m: Measurement;
    try {
      m = await o.evaluate(c, { level, abandonAboveMs: o.boundMs, signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted) throw new BudgetSpent();
      m = { status: 'failed', meetsSlo: false, throughput: 0, latencyMs: Infinity, unloadedMs: Infinity, queries: 0, elapsedMs: clock.now() - start, note: error instanceof Error ? error.message.split('\n')[0] : String(error) };
    }
    // A measurement cut short by the deadline is not a measurement.
    if (controller.signal.aborted) throw new BudgetSpent();
    if (m.status === 'ok' && m.unloadedLowerMs !== undefined && m.unloadedLowerMs > o.boundMs) m = { ...m, status: 'abandoned', meetsSlo: false };
    costs[level].push(clock.now() - start);
    evaluations[level]++;
    if (m.status === 'abandoned') evaluations.abandoned++;
    if (m.status === 'failed') evaluations.failed++;
    t ??= { candidate: c, key, phase };
    t[level] = m;
    trials.set(key, t);
    // One request alone clearly breaks the SLO: a larger batch of the same settings cannot do better.
    if (m.status !== 'failed' && clearlyOver(m) && c.maxBatchSize < (batchCeiling.get(settingsKey(c)) ?? Infinity)) {
      batchCeiling.set(settingsKey(c), c.maxBatchSize);
      rules.push(`${settingsKey(c)}: one request takes ${(m.unloadedLowerMs ?? m.unloadedMs).toFixed(2)} ms or more > ${o.boundMs} ms, no batch above ${c.maxBatchSize}`);
    }
    o.onTrial?.(t);
    return t;
  };

  /** Makes a candidate valid after one axis moved: threads shrink to the budget if needed. */
  const repair = (c: Candidate): Candidate | null => {
    if (invalidReason(space, c) === null) return c;
    if (!space.oversubscribe && threadsUsed(c) > space.cores) {
      const fit = space.axes.threads.filter((t) => c.instances * t <= space.cores).pop();
      if (fit !== undefined) {
        const fixed = { ...c, threads: fit, interOpThreads: c.executionMode === 'parallel' ? Math.min(c.interOpThreads, fit) : 0 };
        if (invalidReason(space, fixed) === null) return fixed;
      }
    }
    return null;
  };

  type Axis = { name: string; values: (c: Candidate) => Candidate[] };
  const along = <K extends keyof Candidate>(key: K, values: ReadonlyArray<Candidate[K]>, extra: (c: Candidate, v: Candidate[K]) => Partial<Candidate> = () => ({})): Axis['values'] => (c) =>
    values.map((v) => ({ ...c, [key]: v, ...extra(c, v) }) as Candidate);
  const execValues: Array<Pick<Candidate, 'executionMode' | 'interOpThreads'>> = [
    ...(space.axes.executionMode.includes('sequential') ? [{ executionMode: 'sequential' as const, interOpThreads: 0 }] : []),
    ...(space.axes.executionMode.includes('parallel') ? space.axes.interOpThreads.filter((x) => x > 0).map((i) => ({ executionMode: 'parallel' as const, interOpThreads: i })) : []),
  ];
  const axes: Axis[] = [
    { name: 'threads', values: along('threads', space.axes.threads) },
    { name: 'instances', values: along('instances', space.axes.instances) },
    { name: 'execution', values: (c) => execValues.map((e) => ({ ...c, ...e })) },
    { name: 'graph', values: along('graphOptimizationLevel', space.axes.graphOptimizationLevel) },
    { name: 'batch', values: along('maxBatchSize', space.axes.maxBatchSize, (c, b) => ({ maxQueueDelayUs: b > 1 ? c.maxQueueDelayUs : 0 })) },
    { name: 'delay', values: (c) => (c.maxBatchSize > 1 ? along('maxQueueDelayUs', space.axes.maxQueueDelayUs)(c) : []) },
  ];

  /** Walks one axis outward from the current value in both directions; returns the best trial. */
  const walk = async (current: Trial, axis: Axis): Promise<Trial> => {
    const values = axis.values(current.candidate);
    const here = values.findIndex((v) => candidateKey(repair(v) ?? v) === current.key);
    let best = current;
    for (const dir of [1, -1]) {
      // One peak per axis (unimodal): when a step up improved, stepping down cannot.
      if (dir === -1 && best !== current) break;
      let prev = current;
      for (let i = (here < 0 ? 0 : here) + dir; i >= 0 && i < values.length; i += dir) {
        const c = repair(values[i] as Candidate);
        if (c === null || isPruned(c)) break;
        const key = candidateKey(c);
        if (key === prev.key) continue; // the repair landed on the same candidate
        const seen = trials.get(key);
        const t = seen?.quick || seen?.full ? seen : await measure(c, 'quick', 'descent');
        if (!t) break;
        if (better(t, best)) best = t;
        // Not better than its neighbour: the rest of this direction is dominated.
        if (!better(t, prev, 0) || judged(t)?.status !== 'ok') break;
        prev = t;
      }
    }
    return best;
  };

  const descend = async (start: Trial, passes: number): Promise<Trial> => {
    let best = start;
    const moved = new Set<string>();
    for (let pass = 0; pass < passes; pass++) {
      const before = best.key;
      for (const axis of axes) {
        // The graph optimization level is a property of the kernels, not of the layout or the
        // batching: a level that did not help in the first pass is not tried again.
        if (pass > 0 && axis.name === 'graph' && !moved.has('graph')) continue;
        const from = best.key;
        best = await walk(best, axis);
        if (best.key !== from) moved.add(axis.name);
      }
      if (best.key === before) break;
    }
    return best;
  };

  try {
    // 1. screen
    const variants = space.variants.filter((v) => {
      if (accuracyOk(v.id)) return true;
      prunedVariants.push({ variant: v.id, reason: `accuracy drop ${(accuracyOf(v.id).drop * 100).toFixed(2)} % > ${((o.maxAccuracyDrop ?? 0) * 100).toFixed(2)} %` });
      return false;
    });
    const screened: Trial[] = [];
    for (const v of variants) {
      const t = await measure(baseline(space, v.id), 'quick', 'screen');
      if (t === null) continue;
      const m = judged(t) as Measurement;
      if (m.status !== 'failed' && clearlyOver(m)) {
        prunedVariants.push({ variant: v.id, reason: `one request at a time takes ${(m.unloadedLowerMs ?? m.unloadedMs).toFixed(2)} ms or more (95 % lower bound) > ${o.boundMs} ms at the baseline (${t.key})` });
        continue;
      }
      if (m.status === 'ok') screened.push(t);
    }
    screened.sort((a, b) => (better(a, b, 0) ? -1 : better(b, a, 0) ? 1 : 0));
    const kept = screened.slice(0, Math.max(1, Math.ceil(screened.length / 2)));
    for (const t of screened.slice(kept.length)) prunedVariants.push({ variant: t.candidate.variant, reason: 'screened out: in the worse half of the variants at the baseline' });

    // 2. descent: the best variant in full, then the others from the best settings so far.
    let overall: Trial | null = null;
    for (const [i, start] of kept.entries()) {
      let from = start;
      if (overall !== null) {
        const moved = repair({ ...overall.candidate, variant: start.candidate.variant, ...(space.variants.find((v) => v.id === start.candidate.variant)?.batchable ? {} : { maxBatchSize: 1, maxQueueDelayUs: 0 }) });
        const t = moved && !isPruned(moved) ? await measure(moved, 'quick', 'descent') : null;
        if (t && better(t, from)) from = t;
      }
      const best = await descend(from, i === 0 ? 2 : 1);
      if (overall === null || better(best, overall, 0)) overall = best;
    }

    // 3. refine: the finalists at full length.
    const ranked = [...trials.values()].filter((t) => t.quick?.status === 'ok' && feasible(t)).sort((a, b) => (better(a, b, 0) ? -1 : better(b, a, 0) ? 1 : 0));
    for (const t of ranked.slice(0, o.finalists ?? 3)) await measure(t.candidate, 'full', 'refine');
  } catch (error) {
    if (!(error instanceof BudgetSpent)) throw error;
    stoppedBy = interrupted ? 'interrupted' : 'budget';
  } finally {
    if (timer !== undefined) clock.clearTimer(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }

  const all = [...trials.values()];
  // Finalists are judged by their full measurement; a quick-only trial competes only when no full one is feasible.
  const pick = (list: Trial[]): Trial | null => list.reduce<Trial | null>((b, t) => (b === null || better(t, b, 0) ? t : b), null);
  const feasibleAll = all.filter(feasible);
  const best = pick(feasibleAll.filter((t) => t.full)) ?? pick(feasibleAll);
  const closest = best ? [] : all.filter((t) => judged(t)?.status !== 'failed').sort((a, b) => (better(a, b, 0) ? -1 : better(b, a, 0) ? 1 : 0)).slice(0, 3);
  return { trials: all, best, closest, evaluations, pruned: { variants: prunedVariants, rules }, elapsedMs: clock.now() - t0, stoppedBy };
}
