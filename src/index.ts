/**
 * rtinfer's public API: named exports only, types apart.
 */

// errors
export { ERROR_CATALOGUE, RtinferError, isRtinferError } from './errors.js';
export type { ErrorCode, ErrorKind } from './errors.js';

// runtime: models, sessions, shapes, input data
export { readModel, createSession } from './runtime/session.js';
export type { Dim, LoadedModel, ModelSource, RuntimeSession, TensorSpec } from './runtime/session.js';
export {
  validateSessionSettings,
  toOrtOptions,
  GRAPH_OPT_LEVELS,
  EXECUTION_MODES,
  LOG_LEVELS,
} from './runtime/session-options.js';
export type { SessionSettings, GraphOptLevel, ExecutionMode, LogLevel } from './runtime/session-options.js';
export { listExecutionProviders, assertProvidersAvailable } from './runtime/providers.js';
export type { ProviderStatus } from './runtime/providers.js';
export { parseShapeArg, resolveShapes, checkFits, describeDefaults } from './runtime/shapes.js';
export type { ShapeOverride, ResolvedShapes, DefaultedDim, ResolveOptions } from './runtime/shapes.js';
export { buildSamples, parseInputArg, DEFAULT_INPUT_PLAN } from './runtime/inputs.js';
export type { Feeds, InputConstant, InputFile, InputPlan, SampleSet } from './runtime/inputs.js';
export { DTYPES, isTensorDType, elementCount } from './runtime/dtypes.js';
export type { TensorDType, TensorData, NumericArray } from './runtime/dtypes.js';
export { createRng, syntheticData } from './runtime/synthetic.js';
export type { Rng, SyntheticFill } from './runtime/synthetic.js';
export { parseNpy, encodeNpy, parseRawBin } from './runtime/npy.js';
export type { LoadedArray } from './runtime/npy.js';
export { toFloat16Bits, fromFloat16Bits } from './runtime/float16.js';
export { inspectModel } from './runtime/model-info.js';
export type { ModelInfo, TensorInfo, OperatorCount, ParameterSummary } from './runtime/model-info.js';
export { estimateFlops } from './runtime/flops.js';
export type { FlopsEstimate } from './runtime/flops.js';
export { imageSizeFromMetadata } from './runtime/metadata.js';
export { defaultModel } from './runtime/default-model.js';
export type { DefaultModel } from './runtime/default-model.js';

// engine: worker-thread inference under the deadline-aware scheduler
export { createEngine, PRIORITY_RANGE } from './engine/engine.js';
export type {
  AbortLike,
  Engine,
  EngineOptions,
  EngineConfig,
  EngineHealth,
  BatchingOptions,
  InferOptions,
  Inputs,
  Outputs,
} from './engine/engine.js';
export type { EngineStats, RequestTiming, OutcomeCounts, HistogramSummary } from './engine/engine-metrics.js';
export type { HopLegs } from './engine/worker-pool.js';
export { Scheduler } from './engine/scheduler.js';
export type { BatchPolicy, BatchMode, QueuedRequest, SchedulerHooks, SchedulerOptions } from './engine/scheduler.js';
export { LatencyModel, LatencyModels } from './engine/latency-model.js';
export type { LatencyPoint } from './engine/latency-model.js';
export { realClock } from './util/clock.js';
export type { Clock } from './util/clock.js';

// measurement: scenarios, targets, sweeps
export { runBench, BENCH_SCHEMA, SCENARIOS } from './loadgen/bench.js';
export type { BenchOptions, BenchReport, BenchOutcome, Scenario, EngineSettings, PeakReport } from './loadgen/bench.js';
export { runMultiStream, runServer, runOffline, runConcurrency } from './loadgen/scenarios.js';
export type { ScenarioRun, RunControl } from './loadgen/scenarios.js';
export { poissonArrivals } from './loadgen/arrivals.js';
export { searchPeak } from './loadgen/peak.js';
export type { ProbeResult, PeakSearchOptions, PeakSearchResult } from './loadgen/peak.js';
export { stabilityOf } from './loadgen/stability.js';
export type { Stability, StabilityWindow } from './loadgen/stability.js';
export { paretoFrontier } from './loadgen/pareto.js';
export { runSweep, SWEEP_SCHEMA } from './loadgen/sweep.js';
export type { SweepOptions, SweepPoint, SweepReport } from './loadgen/sweep.js';
export { createHttpTarget, parseModelUrl } from './loadgen/http-target.js';
export { createGrpcTarget, parseGrpcUrl } from './loadgen/grpc-target.js';
export { createRemoteTarget, parseTargetUrl } from './loadgen/remote-target.js';
export type { HttpTarget, HttpTargetOptions } from './loadgen/http-target.js';

// KServe v2 / Open Inference Protocol
export {
  encodeInferRequest,
  decodeInferRequest,
  encodeInferResponse,
  decodeInferResponse,
  modelMetadata,
  specsFromMetadata,
  toV2Datatype,
  fromV2Datatype,
} from './protocol/kserve-v2.js';
export type { V2Tensor, V2ModelMetadata, DecodedInferRequest, InferRequestOptions } from './protocol/kserve-v2.js';
export { runSingleStream } from './loadgen/single-stream.js';
export type { Phase, Progress, RunQuery, SingleStreamOptions, SingleStreamRun } from './loadgen/single-stream.js';
export { captureEnvironment } from './loadgen/environment.js';
export type { Environment } from './loadgen/environment.js';

// statistics
export {
  LatencyRecorder,
  summarizeLatency,
  quantileCiRanks,
  earlyStoppingRank,
  binomialCdf,
  quantileSorted,
  sortSamples,
} from './stats/index.js';
export type { LatencySummary, QuantileCi, EarlyStoppingVerdict, SortedSamples } from './stats/index.js';

// vision: preprocessing, heads, NMS, drawing, pipelines
export * from './vision/index.js';

// tune: accuracy of model variants against a reference
export {
  measureAccuracy,
  pickReference,
  createReferenceCache,
  DEFAULT_ACCURACY_SAMPLES,
  EVAL_SCORE_THRESHOLD,
} from './accuracy/accuracy.js';
export type { AccuracyOptions, AccuracyReport, AccuracyMetric, ReferenceCache } from './accuracy/accuracy.js';
export { tensorError } from './accuracy/tensor-error.js';
export type { ComparedModel, TensorErrorOptions } from './accuracy/tensor-error.js';
export { meanAveragePrecision, averagePrecision, boxIou } from './accuracy/map.js';
export type { TruthBox, PredictedBox, MapResult, MapOptions, ClassAp } from './accuracy/map.js';
export { top1Agreement, tensorErrorScore, TensorErrorAccumulator } from './accuracy/agreement.js';
export type { TensorErrorStats } from './accuracy/agreement.js';
export { loadLabelledSet, parseLabelledSet } from './accuracy/labels.js';
export type { LabelledSet } from './accuracy/labels.js';
export { listImages } from './accuracy/image-list.js';
// tune: the search for the configuration that meets a latency SLO
export { runTune, TUNE_SCHEMA, paretoIndices } from './tune/tune.js';
export type {
  TuneOptions,
  TuneReport,
  CandidateReport,
  MeasurementReport,
  VariantAccuracyReport,
} from './tune/tune.js';
export { runStrategy, OBJECTIVES } from './tune/strategy.js';
export type {
  Evaluate,
  EvaluateOptions,
  Measurement,
  Objective,
  StrategyOptions,
  StrategyResult,
  Trial,
} from './tune/strategy.js';
export { buildVariants, defaultAxes, enumerate as enumerateSpace, gridSize, TUNE_SCENARIOS } from './tune/space.js';
export type { Candidate as TuneCandidate, SearchSpace, SpaceAxes, Variant, TuneScenario } from './tune/space.js';
export { measureCandidate, levelsForBudget } from './tune/measure.js';
export { parseSlo, parseBudgetMs, parseAccuracyDrop, parseResolutions } from './tune/slo.js';
export type { Slo } from './tune/slo.js';
export { tunedConfig, renderConfigFile } from './tune/config-out.js';
export {
  makeAutoVariants,
  parseVariantsOption,
  checkCalibrationFits,
  AUTO_VARIANT_KINDS,
} from './tune/auto-variants.js';
export type {
  AutoVariantKind,
  AutoVariantsOptions,
  AutoVariantsReport,
  AutoVariantMade,
} from './tune/auto-variants.js';
export type { TunedConfig } from './tune/config-out.js';
export { renderTuneText } from './tune/tune-text.js';
export { renderTuneHtml } from './report/tune-html.js';

// server
export { createRtinferServer } from './server/server.js';
export type { RtinferServer, ServerOptions, LoadedModelEntry, ModelState } from './server/server.js';
export { validateConfig, loadConfigFile, SERVER_DEFAULTS } from './server/config.js';
export type { ServerConfig, ModelConfig } from './server/config.js';
export { LiveStats, LIVE_SCHEMA, LIVE_BUCKET_EDGES_MS } from './server/live-stats.js';
export type {
  LivePoint,
  LiveSnapshot,
  LiveTick,
  LiveDistribution,
  LiveSource,
  LiveStatsOptions,
} from './server/live-stats.js';

// run store and comparison: record runs, read them back, compare two with significance
export { SqliteRunStore } from './store/sqlite-store.js';
export { RUN_KINDS } from './store/run-store.js';
export type { RunStore, NewRun, StoredRun, RunSummary, RunFilter, RunKind } from './store/run-store.js';
export {
  openRunStore,
  recordRun,
  resolveRun,
  runFromReport,
  storePath,
  gitCommit,
  sha256File,
  DEFAULT_STORE,
} from './store/record.js';
export type { Recordable, RecordMeta, OptimizeRecord } from './store/record.js';
export { MIGRATIONS, SCHEMA_VERSION } from './store/migrations.js';
export { compareRuns, quantileRatioCi, COMPARE_SCHEMA, COMPARE_METRICS } from './compare/compare.js';
export type {
  CompareInput,
  CompareOptions,
  CompareReport,
  CompareMetric,
  MetricVerdict,
  CompareSide,
  BlockFigures,
} from './compare/compare.js';
export { inputFromReport, inputFromStoredRun, resolveSide, histogramSamples } from './compare/sources.js';
export { runInterleaved, blockOrder } from './compare/interleaved.js';
export type { InterleavedOptions } from './compare/interleaved.js';
export { renderCompareText } from './compare/compare-text.js';
export { renderCompareHtml, renderHistoryHtml } from './report/runs-html.js';
export { mannWhitneyU } from './stats/mann-whitney.js';
export type { UTest } from './stats/mann-whitney.js';
export { EXIT, exitCodeOf } from './cli/exit-codes.js';

// optimize (#15): int8 QDQ, fp16, fixed shapes, pre-optimized graph
export { optimizeModel, writeAtomic, ortOptimized } from './optimize/optimize.js';
export type { OptimizeOptions, OptimizeReport, Int8Options, OpCount } from './optimize/optimize.js';
export { quantizeStatic } from './optimize/quantize.js';
export type { QuantizeOptions, QuantizeResult } from './optimize/quantize.js';
export { collectRanges, listCalibrationFiles, loadCalibrationFeeds, splitCalibration } from './optimize/calibrate.js';
export { CALIBRATION_METHODS } from './optimize/ranges.js';
export type { CalibrationMethod } from './optimize/ranges.js';
export { convertToFloat16 } from './optimize/fp16.js';
export { fixShapes } from './optimize/fixed-shapes.js';
export { nodeSensitivity } from './optimize/sensitivity.js';
export type { NodeSensitivity, SensitivityResult } from './optimize/sensitivity.js';
export { renderOptimizeText, renderOptimizeHtml } from './optimize/optimize-text.js';

// scaling out (#18): deployment manifests, capacity planning, several targets
export { buildDeployment, deployFiles, renderYaml, DEPLOY_SCHEMA } from './deploy/deploy.js';
export type { DeployOptions, DeployResult } from './deploy/deploy.js';
export type { DeploySpec, DeployModel, DeployKind, ScaleMetric } from './deploy/deploy-spec.js';
export { runPlan, PLAN_SCHEMA } from './plan/plan.js';
export type { PlanOptions, PlanReport, PlanPoint } from './plan/plan.js';
export { simulate, BALANCERS } from './plan/simulate.js';
export type { SimOptions, SimResult, Balancer } from './plan/simulate.js';
export {
  empiricalServiceTime,
  quantileServiceTime,
  constantServiceTime,
  exponentialServiceTime,
} from './plan/service-time.js';
export type { ServiceTime } from './plan/service-time.js';
export { renderPlanText, renderPlanHtml } from './plan/plan-text.js';
export { createMultiTarget, joinTargets, TARGET_BALANCERS } from './loadgen/multi-target.js';

// reports
export { renderBenchText } from './report/bench-text.js';
export { perQueryCsv } from './report/csv.js';
export { renderSweepText, renderSweepCsv } from './report/sweep-report.js';
export { renderBenchHtml, renderSweepHtml } from './report/html-report.js';
export { renderPage, webAsset } from './report/web-assets.js';
export type { PageOptions, WebEntry } from './report/web-assets.js';

export { RTINFER_VERSION } from './version.js';
