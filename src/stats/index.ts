export type { SortedSamples } from './sorted.js';
export { meanOf, nearestRank, quantileSorted, sortSamples, stddevOf } from './sorted.js';
export { binomialCdf, binomialLogPmf, binomialPmf, binomialSf } from './binomial.js';
export type { QuantileCiRanks } from './quantile-ci.js';
export { quantileCiRanks } from './quantile-ci.js';
export type { EarlyStoppingRank } from './early-stopping.js';
export { earlyStoppingMinQueries, earlyStoppingRank } from './early-stopping.js';
export { LatencyRecorder, MAX_TRACKABLE_US, MIN_TRACKABLE_US } from './latency-recorder.js';
export type { EarlyStoppingVerdict, LatencySummary, QuantileCi, SummarizeOptions } from './summary.js';
export { summarizeLatency } from './summary.js';
export type { LatencyDistribution } from './distribution.js';
export {
  BINS_PER_OCTAVE,
  DISTRIBUTION_QUANTILES,
  latencyDistribution,
  logHistogram,
  quantileTable,
} from './distribution.js';
