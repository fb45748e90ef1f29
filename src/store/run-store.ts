/**
 * The run store's contract: what a stored run holds and the operations the CLI and library need.
 * SQLite (sqlite-store.ts) is the embedded implementation; a shared server database for a team
 * would implement the same interface (every method returns a Promise for that reason), see the
 * README's "Run store" section.
 */

export const RUN_KINDS = ['bench', 'sweep', 'tune', 'optimize'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/** What is recorded about one run. */
export interface NewRun {
  kind: RunKind;
  /** bench: its scenario; sweep, tune, optimize: the kind again or the tune scenario. */
  scenario: string;
  model: { label: string; path: string | null; sha256: string | null };
  /**
   * Groups runs that measured the same thing (scenario, session, shapes, load); a short hash plus a readable summary.
   */
  setting: { key: string; text: string };
  label: string | null;
  tags: Record<string, string>;
  gitCommit: string | null;
  /** ISO time the run started. */
  startedAt: string;
  /** The run's validity verdict (bench), whether its SLO was met (tune); null when it has none. */
  valid: boolean | null;
  /** Headline figures, for listing and the history page without parsing reports. */
  figures: {
    p50Ms: number | null;
    p90Ms: number | null;
    p99Ms: number | null;
    qps: number | null;
    coldStartMs: number | null;
  };
  /** The full JSON report (rtinfer.bench/1, rtinfer.sweep/1, rtinfer.tune/1, ...). */
  report: unknown;
  settings: unknown;
  env: unknown;
  /** The latency distribution as HDR's compressed base64 encoding (LatencyRecorder.encode), when the run has one. */
  histogram: string | null;
}

export interface StoredRun extends NewRun {
  id: number;
  /** When it was stored. */
  createdAt: string;
  rtinfer: string;
}

/** A row of `rtinfer runs`: a stored run without its report, settings, environment or histogram. */
export type RunSummary = Omit<StoredRun, 'report' | 'settings' | 'env' | 'histogram'>;

export interface RunFilter {
  kind?: RunKind;
  /** Substring of the model's label or path, or its sha256 prefix. */
  model?: string;
  label?: string;
  /** Every one must match. */
  tags?: Record<string, string>;
  scenario?: string;
  settingKey?: string;
  /** ISO date or time bounds on startedAt (inclusive). */
  since?: string;
  until?: string;
  /** Newest first; default 100. */
  limit?: number;
}

export interface RunStore {
  /** Where the runs are (a file path, or a URL for a server store). */
  readonly location: string;
  add(run: NewRun): Promise<number>;
  get(id: number): Promise<StoredRun | undefined>;
  /** Newest first. */
  list(filter?: RunFilter): Promise<RunSummary[]>;
  /** Removes the runs; returns how many there were. */
  remove(ids: readonly number[]): Promise<number>;
  close(): Promise<void>;
}
