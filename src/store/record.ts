/**
 * From a command's report to a stored run: the model file's sha256, the git commit of the working
 * directory, a key that groups runs of the same setting, the headline figures and the histogram.
 * `recordRun` is what bench, sweep, tune (and optimize) call after a run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RtinferError } from '../errors.js';
import type { BenchReport } from '../loadgen/bench-report.js';
import type { SweepReport } from '../loadgen/sweep.js';
import type { TuneReport } from '../tune/tune.js';
import type { NewRun, RunKind, RunStore, StoredRun } from './run-store.js';
import { SqliteRunStore } from './sqlite-store.js';

/** A saved report (`--json` output) as parsed JSON; `expected` names what it should be, for the error. */
export async function readReportFile(ref: string, expected: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(ref, 'utf8');
  } catch (error) {
    throw new RtinferError(
      'RTI_ERR_RUN_NOT_FOUND',
      `cannot read report ${ref}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RtinferError('RTI_ERR_ARG_INVALID', `${ref} is not JSON: expected ${expected}`);
  }
}

export const DEFAULT_STORE = path.join('.rtinfer', 'runs.db');

/**
 * Where runs go: `--store PATH`, else RTINFER_STORE, else .rtinfer/runs.db in the working directory; null with
 * --no-store.
 */
export function storePath(o: {
  store?: string | undefined;
  noStore?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): string | null {
  if (o.noStore) return null;
  const env = o.env ?? process.env;
  const p =
    o.store ??
    (env['RTINFER_STORE'] !== undefined && env['RTINFER_STORE'] !== '' ? env['RTINFER_STORE'] : DEFAULT_STORE);
  return path.resolve(o.cwd ?? process.cwd(), p);
}

/** Opens the SQLite store at `file` (created with its folder unless `create` is false). */
export function openRunStore(file: string, options: { create?: boolean } = {}): RunStore {
  return new SqliteRunStore(file, options);
}

export async function sha256File(file: string): Promise<string | null> {
  if (!existsSync(file)) return null;
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch {
    return null;
  }
  return hash.digest('hex');
}

/** HEAD of the git repository holding `cwd`, or null (no git, not a repository, or git too slow). */
export function gitCommit(cwd = process.cwd()): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd,
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'ignore'],
      encoding: 'utf8',
    });
    const sha = out.trim();
    return /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
  } catch {
    return null;
  }
}

/** 'k=v' → [k, v]; the key is a word, the value anything. */
export function parseTag(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq > 0 ? text.slice(0, eq).trim() : '';
  if (!/^[A-Za-z0-9_.:/-]+$/.test(key))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --tag '${text}' (expected KEY=VALUE, a key of letters, digits and _.:/-)`,
    );
  return [key, text.slice(eq + 1)];
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

export function settingKey(parts: unknown): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex').slice(0, 12);
}

function shapesText(shapes: Record<string, number[]>): string {
  return Object.entries(shapes)
    .map(([n, d]) => `${n}=${d.join('x')}`)
    .join(' ');
}

/** What `recordRun` takes: one report of a known kind. */
export type Recordable =
  | { kind: 'bench'; report: BenchReport; histogram?: string | null }
  | { kind: 'sweep'; report: SweepReport }
  | { kind: 'tune'; report: TuneReport }
  | { kind: 'optimize'; report: OptimizeRecord };

/**
 * The minimum an optimize report gives the store (src/optimize builds it). The optimize command
 * records its run as bench does, with the shared flags of src/cli/store-flags.ts:
 *
 *   const store = openStoreFor(storeSettingsFrom(values));            // before the work
 *   await recordAndGate(store, settings, { kind: 'optimize', report: { model: { label, path: out },
 *     settings: { method: 'int8', calibration: 'minmax' }, startedAt, valid: accuracyOk,
 *     figures: { p50Ms, p99Ms }, env, histogram: recorder.encode(), ...report } }, null, null, log);
 */
export interface OptimizeRecord {
  model: { label: string; path: string | null };
  /** The setting that distinguishes this optimisation (method, calibration, ...). */
  settings: Record<string, unknown>;
  startedAt: string;
  valid: boolean | null;
  figures?: Partial<NewRun['figures']>;
  env?: unknown;
  histogram?: string | null;
  [key: string]: unknown;
}

export interface RecordMeta {
  label?: string | null;
  tags?: Record<string, string>;
  /** Default: `git rev-parse HEAD` in the working directory. */
  gitCommit?: string | null;
}

/** What a report gives the store: a run less the model hash and git commit, which `recordRun` adds. */
export type ReportRun = Omit<NewRun, 'gitCommit' | 'model'> & { model: { label: string; path: string | null } };
type RunBase = Pick<ReportRun, 'label' | 'tags'>;

/** A stored run's fields from a report, without the model hash and git commit. */
export function runFromReport(r: Recordable, meta: RecordMeta = {}): ReportRun {
  const base: RunBase = { label: meta.label ?? null, tags: meta.tags ?? {} };
  switch (r.kind) {
    case 'bench':
      return benchRun(r.report, r.histogram, base);
    case 'sweep':
      return sweepRun(r.report, base);
    case 'tune':
      return tuneRun(r.report, base);
    case 'optimize':
      return optimizeRun(r.report, base);
  }
}

/** The setting key hashes everything that makes two bench runs comparable; the text says it for people. */
function benchRun(b: BenchReport, histogram: string | null | undefined, base: RunBase): ReportRun {
  const parts = {
    scenario: b.scenario,
    target: b.model.target,
    session: b.settings.session,
    shapes: b.settings.shapes,
    input: b.settings.input.fill,
    scenarioSettings: b.settings.scenario,
    pipeline: b.pipeline?.head ?? null,
  };
  const sc = Object.entries(b.settings.scenario)
    .filter(([k, v]) => k !== 'engine' && v !== null && v !== undefined)
    .map(([k, v]) => `${k} ${String(v)}`);
  const session = Object.entries(b.settings.session).map(
    ([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
  );
  return {
    ...base,
    kind: 'bench',
    scenario: b.scenario,
    model: { label: b.model.label, path: b.model.target ?? b.model.path },
    setting: {
      key: settingKey(parts),
      text: [b.scenario, shapesText(b.settings.shapes), ...sc, ...session].filter((s) => s !== '').join(' · '),
    },
    startedAt: b.env.startedAt,
    valid: b.validity.valid,
    figures: {
      p50Ms: b.latencyMs.p50,
      p90Ms: b.latencyMs.p90,
      p99Ms: b.latencyMs.p99,
      qps: b.throughput.qps,
      coldStartMs:
        b.coldStart.sessionCreateMs === null
          ? b.coldStart.firstInferenceMs
          : (b.coldStart.readMs ?? 0) + b.coldStart.sessionCreateMs + b.coldStart.firstInferenceMs,
    },
    report: b,
    settings: b.settings,
    env: b.env,
    histogram: histogram ?? b.latencyHistogram ?? null,
  };
}

/**
 * A sweep is stored under one point's figures, the one with the highest throughput, which the row
 * names: the lowest p50 and p99 of any point beside it read as one configuration that never ran.
 */
function sweepRun(s: SweepReport, base: RunBase): ReportRun {
  const best = [...s.points].sort((x, y) => y.throughput - x.throughput)[0];
  const point = best
    ? ` · figures of its highest-throughput point: batch ${best.batch}, ${best.load.kind} ${best.load.value}, ` +
      `${best.instances} × ${best.threads}`
    : '';
  return {
    ...base,
    kind: 'sweep',
    scenario: `sweep-${s.settings.load.kind}`,
    model: { label: s.model.label, path: s.model.path },
    setting: {
      key: settingKey({ sweep: s.settings, shapes: s.model.shapes }),
      text:
        `sweep batch ${s.settings.batch.join(',')} ` +
        `· ${s.settings.load.kind} ${s.settings.load.values.join(',')} · ` +
        `instances ${s.settings.instances.join(',')} · threads ${s.settings.threads.join(',')}${point}`,
    },
    startedAt: s.env.startedAt,
    valid: null,
    figures: {
      p50Ms: best?.latencyMs.p50 ?? null,
      p90Ms: best?.latencyMs.p90 ?? null,
      p99Ms: best?.latencyMs.p99 ?? null,
      qps: best?.throughput ?? null,
      coldStartMs: null,
    },
    report: s,
    settings: s.settings,
    env: s.env,
    histogram: null,
  };
}

/** A tune is stored under its chosen configuration's figures, verified where it was. */
function tuneRun(t: TuneReport, base: RunBase): ReportRun {
  const m = t.chosen?.verification ?? t.chosen?.search ?? null;
  const ok = m !== null && m.status === 'ok';
  return {
    ...base,
    kind: 'tune',
    scenario: `tune-${t.scenario}`,
    model: {
      label: t.space.variants.map((v) => path.basename(v.model)).join(' '),
      path: t.space.variants[0]?.model ?? null,
    },
    setting: {
      key: settingKey({
        slo: t.slo.text,
        scenario: t.scenario,
        objective: t.objective,
        variants: t.space.variants.map((v) => v.id),
      }),
      text: `tune ${t.slo.text} · ${t.scenario} · ${t.objective}`,
    },
    startedAt: t.env.startedAt,
    valid: t.verdict.met,
    figures: {
      p50Ms: null,
      p90Ms: null,
      p99Ms: ok && Number.isFinite(m.latencyMs) ? m.latencyMs : null,
      qps: ok ? m.throughput : null,
      coldStartMs: null,
    },
    report: t,
    settings: {
      slo: t.slo,
      scenario: t.scenario,
      objective: t.objective,
      budgetMs: t.budgetMs,
      axes: t.space.axes,
    },
    env: t.env,
    histogram: null,
  };
}

function optimizeRun(o: OptimizeRecord, base: RunBase): ReportRun {
  return {
    ...base,
    kind: 'optimize',
    scenario: 'optimize',
    model: o.model,
    setting: {
      key: settingKey(o.settings),
      text: `optimize ${Object.entries(o.settings)
        .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join(' · ')}`,
    },
    startedAt: o.startedAt,
    valid: o.valid,
    figures: { p50Ms: null, p90Ms: null, p99Ms: null, qps: null, coldStartMs: null, ...o.figures },
    report: o,
    settings: o.settings,
    env: o.env ?? null,
    histogram: o.histogram ?? null,
  };
}

/** Hashes the model, reads the git commit and adds the run; returns its id. */
export async function recordRun(store: RunStore, r: Recordable, meta: RecordMeta = {}): Promise<number> {
  const run = runFromReport(r, meta);
  const sha = run.model.path !== null && !/^https?:/.test(run.model.path) ? await sha256File(run.model.path) : null;
  return store.add({
    ...run,
    model: { ...run.model, sha256: sha },
    gitCommit: meta.gitCommit !== undefined ? meta.gitCommit : gitCommit(),
  });
}

/**
 * A stored run by reference: an id, 'last' (the newest; with `like`, the newest of the same kind,
 * model and setting), or 'label:NAME' (the newest with that label).
 */
export async function resolveRun(
  store: RunStore,
  ref: string,
  like?: { kind: RunKind; settingKey: string; sha256: string | null },
): Promise<StoredRun> {
  let id: number | undefined;
  if (/^\d+$/.test(ref)) id = Number(ref);
  else if (ref === 'last') {
    const rows = await store.list({
      limit: 1,
      ...(like ? { kind: like.kind, settingKey: like.settingKey, ...(like.sha256 ? { model: like.sha256 } : {}) } : {}),
    });
    id = rows[0]?.id;
  } else if (ref.startsWith('label:') && ref.length > 6) {
    id = (await store.list({ label: ref.slice(6), limit: 1 }))[0]?.id;
  } else {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid run reference '${ref}' (expected a run id, last or label:NAME)`,
    );
  }
  const run = id === undefined ? undefined : await store.get(id);
  if (run === undefined)
    throw new RtinferError(
      'RTI_ERR_RUN_NOT_FOUND',
      `no stored run '${ref}' in ${store.location}${like ? ` for this model and setting` : ''} (see rtinfer runs)`,
    );
  return run;
}
