/** The stages of a vision pipeline run (decode, preprocess, inference, postprocess) and their summary. */
import type { LatencyRecorder } from '../stats/latency-recorder.js';

export const STAGE_NAMES = ['decode', 'preprocess', 'inference', 'postprocess'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export interface StageSummary {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export function summarize(r: LatencyRecorder): StageSummary {
  const ms = (us: number): number => Math.round(us) / 1000;
  return r.count
    ? {
        p50: ms(r.valueAtQuantileUs(0.5)),
        p90: ms(r.valueAtQuantileUs(0.9)),
        p99: ms(r.valueAtQuantileUs(0.99)),
        mean: ms(r.meanUs),
      }
    : { p50: 0, p90: 0, p99: 0, mean: 0 };
}
