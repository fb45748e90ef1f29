/**
 * The slice of src/tune/tune.ts's TuneReport that the tune page reads. DOM-free, so tests can check
 * at compile time that the library's report fits it (web/ is typechecked apart from src/).
 */
import type { Env } from '../shared/report-types.js';

export interface Measurement {
  status: 'ok' | 'abandoned' | 'failed';
  meetsSlo: boolean;
  throughput: number;
  latencyMs: number | null;
  unloadedMs: number | null;
  queries: number;
  elapsedMs: number;
  note?: string;
}
export interface CandidateRow {
  key: string;
  phase: string;
  quick: Measurement | null;
  full: Measurement | null;
  accuracy: { score: number; drop: number } | null;
  feasible: boolean;
  pareto: boolean;
}
export interface TunePageReport {
  schema: string;
  slo: { text: string; label: string; boundMs: number };
  scenario: string;
  objective: string;
  maxAccuracyDrop: number | null;
  space: { variants: Array<{ id: string }>; cores: number; gridSize: number };
  search: {
    measured: number;
    evaluations: { quick: number; full: number; abandoned: number };
    gridSize: number;
    fractionOfGrid: number;
    elapsedMs: number;
    stoppedBy: string;
    pruned: { variants: Array<{ variant: string; reason: string }> };
  };
  accuracy: {
    reference: string;
    variants: Array<{
      variant: string;
      reference: boolean;
      metric: string | null;
      score: number | null;
      drop: number | null;
      note?: string;
    }>;
  } | null;
  candidates: CandidateRow[];
  chosen: { key: string; config: unknown; search: Measurement; verification: Measurement | null } | null;
  verdict: { met: boolean; text: string; closest: Array<{ key: string; measurement: Measurement }> };
  /** `--variants auto` only (added within rtinfer.tune/1; null otherwise, absent from older reports). */
  autoVariants?: {
    dir: string;
    accuracyOn: string;
    elapsedMs: number;
    made: Array<{
      kind: string;
      model: string;
      bytes: number;
      elapsedMs: number;
      accuracy?: Array<{ variant: string; metric: string | null; score: number | null; drop: number | null }>;
      status?: { measured: number; chosen: boolean; dropped: string[] };
    }>;
    skipped: Array<{ kind: string; reason: string }>;
  } | null;
  elapsedMs: number;
  env: Env & { rtinfer: string };
}
