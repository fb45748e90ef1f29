/**
 * Two latency measurements side by side, per metric: the ratio B/A, a confidence interval for it
 * and whether the difference is significant, then whether it is a regression beyond a threshold.
 *
 * - p50: significance from the Mann–Whitney U test (as Google Benchmark's compare.py), over the
 *   blocks' medians when the runs were interleaved in blocks (compare --run; like compare.py's
 *   repetitions, so drift within a run cannot fake significance) or over the queries otherwise.
 * - p90 and p99: significant when the ratio's interval excludes 1 (over blocks' values, as p50,
 *   when there are blocks). The interval is distribution-free: each side's quantile interval from
 *   order statistics (stats/quantile-ci) at 97.5 %, so both hold together with >= 95 % (Bonferroni),
 *   and the ratio's bounds are B's lower over A's upper and B's upper over A's lower.
 * - throughput: the interval from the relative standard error of the mean latency (delta method,
 *   se(log m) ≈ cv/√n per side), significant when it excludes 1; over blocks, the U test on the
 *   blocks' throughput.
 * - cold start: one observation per run, so a ratio only; it never gates.
 *
 * A regression is significant, in the worse direction and beyond the threshold (latency ratio
 * above 1 + t, throughput ratio below 1 − t).
 */
import { mannWhitneyU } from '../stats/mann-whitney.js';
import { quantileCiRanks } from '../stats/quantile-ci.js';
import { meanOf, quantileSorted, stddevOf, type SortedSamples } from '../stats/sorted.js';

export const COMPARE_SCHEMA = 'rtinfer.compare/1';

export const COMPARE_METRICS = ['p50', 'p90', 'p99', 'throughput', 'coldStart'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

/** One block of an interleaved run: its own percentiles and throughput. */
export interface BlockFigures {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  qps: number;
}

/** What a comparison needs from one side, whatever it came from (stored run, report file, live run). */
export interface CompareInput {
  /** How the side was named: a run id, 'last', 'label:NAME', a file or a model path. */
  ref: string;
  runId?: number;
  model: string;
  scenario: string;
  /** The run's validity verdict (null when unknown). */
  valid: boolean | null;
  /** Per-query latencies in µs, ascending. */
  latenciesUs: SortedSamples;
  throughputQps: number;
  coldStartMs: number | null;
  /** True when the latencies were rebuilt from a quantile table (a report without its histogram). */
  approximate: boolean;
  blocks?: BlockFigures[];
  /** The inputs as run, 'name=1x3x416x416 ...' (unknown for a side that does not say). */
  inputs?: string;
}

export interface CompareOptions {
  /** Regression threshold as a fraction (0.05 = 5 %); default 0.05. */
  threshold?: number;
  /** Significance level; default 0.05. */
  alpha?: number;
  /** compare --run: the two sides are different model files by design, so that goes unsaid. */
  differentModels?: 'expected';
}

/**
 * Why A and B measured different work, or null: inputs of other names or shapes are another
 * workload, and a change between them is not a regression of one model (an int8 variant keeps its
 * original's inputs, so it is compared without fuss).
 */
export function differentWork(a: CompareInput, b: CompareInput): string | null {
  if (a.inputs === undefined || b.inputs === undefined || a.inputs === b.inputs) return null;
  return a.model !== b.model
    ? `A and B are runs of different models with different inputs: ${a.model} (${a.inputs}) and ${b.model} (${b.inputs})`
    : `A and B ran ${a.model} with different inputs: ${a.inputs} and ${b.inputs}`;
}

export interface MetricVerdict {
  metric: CompareMetric;
  unit: 'ms' | 'q/s';
  a: number | null;
  b: number | null;
  /** b / a. */
  ratio: number | null;
  /** 95 % interval of the ratio; null when it cannot be had (too few queries, one observation). */
  ci: [number, number] | null;
  pValue: number | null;
  test:
    'mann-whitney' | 'mann-whitney-blocks' | 'order-statistics' | 'order-statistics+blocks' | 'delta-method' | 'none';
  /** null: not testable (cold start: one observation per side). */
  significant: boolean | null;
  change: 'worse' | 'better' | 'same';
  beyondThreshold: boolean;
  regression: boolean;
}

export interface CompareSide {
  ref: string;
  runId: number | null;
  model: string;
  scenario: string;
  valid: boolean | null;
  queries: number;
  approximate: boolean;
  blocks: number;
}

export interface CompareReport {
  schema: typeof COMPARE_SCHEMA;
  a: CompareSide;
  b: CompareSide;
  threshold: number;
  alpha: number;
  metrics: MetricVerdict[];
  regression: boolean;
  /** One line: what changed, significantly, and whether it is a regression beyond the threshold. */
  verdict: string;
  warnings: string[];
  /** compare --run: how the measurement was interleaved. */
  interleaved?: { blocks: number; blockDurationMs: number; order: string };
}

const QUANTILES: ReadonlyArray<readonly [CompareMetric, number, keyof BlockFigures]> = [
  ['p50', 0.5, 'p50Ms'],
  ['p90', 0.9, 'p90Ms'],
  ['p99', 0.99, 'p99Ms'],
];

/** Ratio interval from both sides' order-statistic intervals at `sideConfidence` each. */
export function quantileRatioCi(
  a: SortedSamples,
  b: SortedSamples,
  q: number,
  sideConfidence = 0.975,
): [number, number] | null {
  const ra = quantileCiRanks(a.length, q, sideConfidence);
  const rb = quantileCiRanks(b.length, q, sideConfidence);
  if (ra === null || rb === null) return null;
  const aLo = a[ra.lower - 1] as number;
  const aHi = a[ra.upper - 1] as number;
  const bLo = b[rb.lower - 1] as number;
  const bHi = b[rb.upper - 1] as number;
  if (!(aLo > 0 && aHi > 0)) return null;
  return [bLo / aHi, bHi / aLo];
}

function changeOf(ratio: number | null, significant: boolean | null, higherIsWorse: boolean): MetricVerdict['change'] {
  if (ratio === null || significant !== true || ratio === 1) return 'same';
  return ratio > 1 === higherIsWorse ? 'worse' : 'better';
}

function blockValues(blocks: BlockFigures[] | undefined, key: keyof BlockFigures): number[] | null {
  return blocks !== undefined && blocks.length >= 3 ? blocks.map((x) => x[key]) : null;
}

/** What every metric's test needs: both sides, the bounds, and where warnings go. */
interface Comparison {
  a: CompareInput;
  b: CompareInput;
  threshold: number;
  alpha: number;
  /** Both sides have at least two queries: enough for any latency test. */
  enough: boolean;
  warnings: string[];
}

export function compareRuns(a: CompareInput, b: CompareInput, options: CompareOptions = {}): CompareReport {
  const threshold = options.threshold ?? 0.05;
  const alpha = options.alpha ?? 0.05;
  if (!(threshold >= 0 && threshold < 10))
    throw new RangeError(`compareRuns: threshold must be a fraction in [0, 10), got ${threshold}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`compareRuns: alpha must be in (0, 1), got ${alpha}`);
  const warnings: string[] = [];
  const enough = a.latenciesUs.length >= 2 && b.latenciesUs.length >= 2;
  if (!enough)
    warnings.push(`too few queries to compare latency (${a.latenciesUs.length} and ${b.latenciesUs.length})`);
  const c: Comparison = { a, b, threshold, alpha, enough, warnings };
  const metrics = [
    ...QUANTILES.map(([metric, q, key]) => quantileVerdict(c, metric, q, key)),
    throughputVerdict(c),
    coldStartVerdict(c),
  ];

  const work = differentWork(a, b);
  // First, so it is read before the table's verdicts; two workloads differ, neither regressed.
  if (work !== null) {
    warnings.unshift(`${work}: the comparison is of two workloads, not a regression of one`);
    for (const m of metrics) m.regression = false;
  } else if (a.model !== b.model && options.differentModels !== 'expected')
    warnings.unshift(`A and B are runs of different models: ${a.model} and ${b.model}`);
  if (a.valid === false) warnings.push(`A (${a.ref}) is an INVALID run: its figures may not be claimable`);
  if (b.valid === false) warnings.push(`B (${b.ref}) is an INVALID run: its figures may not be claimable`);
  if (a.scenario !== b.scenario) warnings.push(`different scenarios: ${a.scenario} and ${b.scenario}`);
  if (a.approximate || b.approximate)
    warnings.push(
      'a report without its histogram: latencies rebuilt from its quantile table (1 % steps), tests approximate',
    );
  return {
    schema: COMPARE_SCHEMA,
    a: sideOf(a),
    b: sideOf(b),
    threshold,
    alpha,
    metrics,
    regression: metrics.some((m) => m.regression),
    verdict: work !== null ? workloadsVerdict(metrics) : verdictOf(metrics, threshold),
    warnings,
  };
}

/**
 * A latency quantile: Mann-Whitney over blocks when both runs have them, else Mann-Whitney on the queries for
 * the median and the order-statistic interval of the ratio for the tails.
 */
function quantileVerdict(c: Comparison, metric: CompareMetric, q: number, key: keyof BlockFigures): MetricVerdict {
  const A = c.a.latenciesUs;
  const B = c.b.latenciesUs;
  const av = A.length ? quantileSorted(A, q) / 1000 : null;
  const bv = B.length ? quantileSorted(B, q) / 1000 : null;
  const ratio = av !== null && bv !== null && av > 0 ? bv / av : null;
  const ci = c.enough ? quantileRatioCi(A, B, q) : null;
  const ba = blockValues(c.a.blocks, key);
  const bb = blockValues(c.b.blocks, key);
  let pValue: number | null = null;
  let significant: boolean | null = null;
  let test: MetricVerdict['test'] = 'none';
  if (ba && bb) {
    pValue = mannWhitneyU(bb, ba).pValue;
    significant = pValue < c.alpha;
    test = metric === 'p50' ? 'mann-whitney-blocks' : 'order-statistics+blocks';
    // Over blocks, the tail quantiles also need the pooled interval to exclude 1: a block's p99 rests on few queries.
    if (metric !== 'p50') significant = significant && ci !== null && (ci[0] > 1 || ci[1] < 1);
  } else if (metric === 'p50' && c.enough) {
    pValue = mannWhitneyU(B, A).pValue;
    significant = pValue < c.alpha;
    test = 'mann-whitney';
  } else if (ci !== null) {
    significant = ci[0] > 1 || ci[1] < 1;
    test = 'order-statistics';
  } else if (c.enough) {
    significant = false;
    c.warnings.push(`${metric}: too few queries for its interval (${A.length} and ${B.length}); not tested`);
  }
  const tested = { metric, unit: 'ms', a: av, b: bv, ratio, ci, pValue, test, significant } as const;
  return judgedMetric(tested, true, ratio !== null && ratio > 1 + c.threshold);
}

/** A tested metric's change (by its direction), and a regression when it is worse beyond the threshold. */
function judgedMetric(
  tested: Omit<MetricVerdict, 'change' | 'beyondThreshold' | 'regression'>,
  higherIsWorse: boolean,
  beyondThreshold: boolean,
): MetricVerdict {
  const change = changeOf(tested.ratio, tested.significant, higherIsWorse);
  return { ...tested, change, beyondThreshold, regression: change === 'worse' && beyondThreshold };
}

/** Throughput: Mann-Whitney over blocks, else a delta-method interval from the latencies' spread. */
function throughputVerdict(c: Comparison): MetricVerdict {
  const { a, b } = c;
  const ratio = a.throughputQps > 0 ? b.throughputQps / a.throughputQps : null;
  let ci: [number, number] | null = null;
  let pValue: number | null = null;
  let significant: boolean | null = null;
  let test: MetricVerdict['test'] = 'none';
  const ba = blockValues(a.blocks, 'qps');
  const bb = blockValues(b.blocks, 'qps');
  if (ratio !== null && c.enough) {
    const cv2 = (s: SortedSamples): number => (stddevOf(s) / meanOf(s)) ** 2 / s.length;
    const se = Math.sqrt(cv2(a.latenciesUs) + cv2(b.latenciesUs));
    ci = [ratio * Math.exp(-1.96 * se), ratio * Math.exp(1.96 * se)];
  }
  if (ba && bb) {
    pValue = mannWhitneyU(bb, ba).pValue;
    significant = pValue < c.alpha;
    test = 'mann-whitney-blocks';
  } else if (ci !== null) {
    significant = ci[0] > 1 || ci[1] < 1;
    test = 'delta-method';
  }
  const tested = { metric: 'throughput', unit: 'q/s', a: a.throughputQps, b: b.throughputQps } as const;
  return judgedMetric(
    { ...tested, ratio, ci, pValue, test, significant },
    false,
    ratio !== null && ratio < 1 - c.threshold,
  );
}

/** Cold start is one sample a side: shown with its ratio, never tested, never a regression. */
function coldStartVerdict({ a, b, threshold }: Comparison): MetricVerdict {
  const ratio =
    a.coldStartMs !== null && b.coldStartMs !== null && a.coldStartMs > 0 ? b.coldStartMs / a.coldStartMs : null;
  return {
    metric: 'coldStart',
    unit: 'ms',
    a: a.coldStartMs,
    b: b.coldStartMs,
    ratio,
    ci: null,
    pValue: null,
    test: 'none',
    significant: null,
    change: 'same',
    beyondThreshold: ratio !== null && ratio > 1 + threshold,
    regression: false,
  };
}

function workloadsVerdict(metrics: readonly MetricVerdict[]): string {
  const changed = metrics.filter((m) => m.change !== 'same' && m.ratio !== null);
  const pct = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;
  return (
    'different workloads, no regression verdict' +
    (changed.length > 0
      ? `; B against A: ${changed.map((m) => `${m.metric} ${pct(m.ratio as number)} (${m.change})`).join(', ')}`
      : '; no significant difference')
  );
}

function verdictOf(metrics: readonly MetricVerdict[], threshold: number): string {
  const regressions = metrics.filter((m) => m.regression);
  const changed = metrics.filter((m) => m.change !== 'same' && m.ratio !== null);
  const pct = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;
  if (regressions.length > 0)
    return (
      `REGRESSION beyond ${(threshold * 100).toFixed(1)}%: ` +
      regressions.map((m) => `${m.metric} ${pct(m.ratio as number)}`).join(', ')
    );
  if (changed.length > 0)
    return (
      `no regression beyond ${(threshold * 100).toFixed(1)}%; ` +
      `significant: ${changed.map((m) => `${m.metric} ${pct(m.ratio as number)} (${m.change})`).join(', ')}`
    );
  return 'no significant difference';
}

function sideOf(x: CompareInput): CompareSide {
  return {
    ref: x.ref,
    runId: x.runId ?? null,
    model: x.model,
    scenario: x.scenario,
    valid: x.valid,
    queries: x.latenciesUs.length,
    approximate: x.approximate,
    blocks: x.blocks?.length ?? 0,
  };
}
