/**
 * The parts of rtinfer.bench/1 and rtinfer.sweep/1 that the report page reads. Written out here
 * because the library's own types pull in Node's (the page compiles against the DOM only);
 * test/web/report.test.ts assigns the library's BenchReport and SweepReport to these, so a change
 * to a report that the page would misread fails typecheck there.
 */

export interface Percentiles {
  mean: number;
  stddev: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export interface EarlyStop {
  percentile: number;
  confidence: number;
  queries: number;
  satisfied: boolean;
  overLatencyAllowed: number;
  estimateMs: number | null;
  minQueries: number;
}

export interface Ci {
  lowerMs: number;
  upperMs: number;
}

export interface Env {
  cpuModel: string;
  cores: number;
  totalMemoryGiB: number;
  platform: string;
  arch: string;
  osRelease: string;
  node: string;
  onnxruntime: string;
  rtinfer: string;
  executionProviders: string[];
  loadAvgBefore: number;
  startedAt: string;
  loadAvgDuring?: number;
}

export interface BenchReport {
  schema: string;
  scenario: string;
  model: {
    label: string;
    path: string | null;
    bytes: number;
    default: boolean;
    target: string | null;
    inputs: Array<{ name: string; dtype: string; runShape: number[] }>;
  };
  settings: {
    session: object;
    shapes: Record<string, number[]>;
    defaultedShapes: string[];
    input: { fill: string; samples: number; seed: number; description: string };
    durationMs: number;
    minQueries: number;
    scenario: Record<string, unknown>;
  };
  coldStart: { readMs: number | null; sessionCreateMs: number | null; firstInferenceMs: number };
  warmup: { queries: number; ms: number };
  /** metric: 'p90', 'p99', 'p99.9', ... (--percentile) or 'throughput'. */
  headline: {
    metric: 'throughput' | `p${string}`;
    valueMs: number | null;
    samplesPerSecond: number;
    claimable: boolean;
    percentile?: number | null;
  };
  latencyMs: Percentiles;
  /** Absent in reports written before it was added. */
  latencyDistribution?: {
    quantiles: { q: number[]; ms: number[] };
    histogram: { edgesMs: number[]; counts: number[] };
  };
  confidence: { level: number; p50: Ci | null; p90: Ci | null; p99: Ci | null };
  earlyStopping: { p90: EarlyStop; p99: EarlyStop };
  throughput: { qps: number; samplesPerSecond: number; queries: number; issued: number; durationMs: number };
  refused: Record<string, number>;
  peak?: { p99BoundMs: number; qps: number; probes: Array<{ qps: number; pass: boolean; p99Ms: number }> };
  server?: {
    targetQps: number;
    achievedQps: number;
    latencyBoundMs: number | null;
    overBound: number;
    pass: boolean | null;
  };
  generator?: { slipMs: { p50: number; p99: number; max: number }; lagging: boolean };
  engine?: {
    instances: number;
    threadsPerInstance: number;
    /** Where the layout came from (absent when --instances or --threads gave it). */
    layout?: { hint: string; reason?: string };
    batching: { mode: string; maxBatchSize: number };
    queueMs: { p50: number; p99: number };
    inferenceMs: { p50: number; p99: number };
    meanBatchRequests: number;
    batchSizes: Record<number, number>;
  };
  stability: {
    windows: Array<{ qps: number; meanMs: number }>;
    percentage: number;
    qpsSpreadPct: number;
    latencySpreadPct: number;
    stable: boolean;
  };
  pipeline?: {
    head: string;
    images: number;
    stagesMs: Record<string, { p50: number; p90: number; p99: number; mean: number }>;
    skipped?: string[];
  };
  /** bench --video (src/video/video-bench.ts): the paced replay and the max-fps search. */
  video?: VideoBench;
  cpu: { msPerQuery: number; utilization: number };
  eventLoopLagMs: { mean: number; p99: number; max: number };
  memory: { peakRssMB: number };
  validity: { valid: boolean; reasons: string[]; warnings: string[] };
  env: Env;
}

export interface VideoBench {
  file: string;
  width: number;
  height: number;
  sourceFps: number | null;
  fps: number;
  path: string;
  summary: {
    framesIn: number;
    processed: number;
    dropped: number;
    late: number;
    deadlineMs: number | null;
    achievedFps: number;
    inOrder: boolean;
    captureToResultMs: { p50: number; p90: number; p99: number; mean: number; max: number };
    stagesMs: Record<string, { p50: number; p90: number; p99: number; mean: number }>;
    sourceBehind?: { frames: number; maxLagMs: number };
    decoderCpuMs?: { total: number; perFrame: number };
  };
  singleStreamP99Ms: number;
  verdict: { keepsUp: boolean; text: string; p99WithinTwiceSingleStream: boolean };
  maxFps?: {
    fps: number;
    bound: 'found' | 'at-cap' | 'below-min';
    failedFps: number | null;
    probeMs: number;
    probes: Array<{
      fps: number;
      framesIn: number;
      processed: number;
      dropped: number;
      late: number;
      sourceBehind: number;
      captureToResultP99Ms: number;
      sustained: boolean;
    }>;
  };
}

export interface SweepPoint {
  instances: number;
  threads: number;
  batch: number;
  load: { kind: 'concurrency' | 'qps'; value: number };
  queries: number;
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** The latency at settings.percentile; absent in reports written before --percentile. */
  headlineMs?: number;
  queueMs: number;
  inferenceMs: number;
  meanBatchRequests: number;
  refused: number;
  pareto: boolean;
}

export interface SweepReport {
  schema: string;
  model: { label: string; path: string | null; shapes: Record<string, number[]> };
  settings: {
    batch: number[];
    instances: number[];
    threads: number[];
    load: { kind: 'concurrency' | 'qps'; values: number[] };
    durationMs: number;
    minQueries: number;
    seed: number;
    session: object;
    percentile?: number;
  };
  grid: { points: number; measured: number; ms: number };
  points: SweepPoint[];
  env: Env;
}

/** What src/report embeds in #rtinfer-data for the report page. */
export type ReportPageData = { kind: 'bench'; report: BenchReport } | { kind: 'sweep'; report: SweepReport };
