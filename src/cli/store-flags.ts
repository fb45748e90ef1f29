/**
 * The run-store options every measuring command shares (--store, --no-store, --label, --tag) and
 * the gate (--baseline, --threshold): opening the store before a run (a store that cannot be used
 * fails in one line before any time is spent), recording after it, and comparing with a baseline.
 */
import { compareRuns, type CompareInput, type CompareReport } from '../compare/compare.js';
import { renderCompareText } from '../compare/compare-text.js';
import { inputFromStoredRun } from '../compare/sources.js';
import { firstLine, RtinferError } from '../errors.js';
import type { RunKind, RunStore, StoredRun } from '../store/run-store.js';
import {
  openRunStore,
  parseTag,
  recordRun,
  resolveRun,
  runFromReport,
  sha256File,
  storePath,
  type Recordable,
} from '../store/record.js';
import { listValue, stringValue, type OptionSpec, type ParsedValues } from './args.js';
import { article } from '../util/format.js';

export const STORE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'store',
    type: 'string',
    value: 'PATH',
    description: 'run store (SQLite) to record this run in (default $RTINFER_STORE or .rtinfer/runs.db)',
  },
  { name: 'no-store', type: 'boolean', description: 'do not record this run' },
  {
    name: 'label',
    type: 'string',
    value: 'NAME',
    description: 'label the stored run (rtinfer compare label:NAME ...)',
  },
  {
    name: 'tag',
    type: 'string',
    multiple: true,
    value: 'K=V',
    description: 'tag the stored run, e.g. --tag branch=main',
  },
];

export const GATE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'baseline',
    type: 'string',
    value: 'ID|last|label:NAME',
    description:
      'compare with this stored run (last: the newest of the same model and setting); exit 5 on a regression',
  },
  {
    name: 'threshold',
    type: 'string',
    value: 'PCT',
    description: 'with --baseline: a significant change worse than this is a regression (default 5%)',
  },
];

export interface StoreSettings {
  path: string | null;
  label: string | null;
  tags: Record<string, string>;
}

export function storeSettingsFrom(values: ParsedValues): StoreSettings {
  const noStore = values['no-store'] === true;
  const store = stringValue(values, 'store');
  if (noStore && store !== undefined)
    throw new RtinferError('RTI_ERR_ARG_INVALID', 'give --store PATH or --no-store, not both');
  const tags = Object.fromEntries(listValue(values, 'tag').map(parseTag));
  const label = stringValue(values, 'label') ?? null;
  if (label !== null && !/^[^\s]{1,100}$/.test(label))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --label '${label}' (expected up to 100 characters without spaces)`,
    );
  return { path: storePath({ store, noStore }), label, tags };
}

/** '5%', '5' (percent) or '0.5%' → a fraction. */
export function parseThreshold(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const pct = m ? Number(m[1]) : NaN;
  if (!(pct >= 0 && pct < 1000))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --threshold '${text}' (expected a percentage such as 5%)`);
  return pct / 100;
}

export interface Gate {
  ref: string;
  threshold: number;
  /** Resolved before the run when it is an id or a label (a typo fails before any time is spent). */
  run: StoredRun | null;
}

export async function gateFrom(values: ParsedValues, store: RunStore | null, kind: RunKind): Promise<Gate | null> {
  const ref = stringValue(values, 'baseline');
  const threshold = stringValue(values, 'threshold');
  if (ref === undefined) {
    if (threshold !== undefined)
      throw new RtinferError('RTI_ERR_ARG_MISSING', '--threshold needs --baseline ID|last|label:NAME to compare with');
    return null;
  }
  if (store === null)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--baseline reads the run store, which --no-store turns off');
  const run = ref === 'last' ? null : await resolveRun(store, ref);
  if (run !== null && run.kind !== kind)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `--baseline ${ref} is ${article(run.kind)} run, not ${article(kind)} run`,
    );
  return { ref, threshold: threshold === undefined ? 0.05 : parseThreshold(threshold), run };
}

/** Opens the store before the run; null with --no-store. */
export function openStoreFor(s: StoreSettings): RunStore | null {
  return s.path === null ? null : openRunStore(s.path);
}

/**
 * Opens the store and resolves the gate before a run, closing the store again when the gate fails
 * (a baseline typo or --baseline with --no-store), so that nothing is left open on the error path.
 */
export async function openStoreAndGate(
  values: ParsedValues,
  kind: RunKind,
): Promise<{ settings: StoreSettings; store: RunStore | null; gate: Gate | null }> {
  const settings = storeSettingsFrom(values);
  const store = openStoreFor(settings);
  try {
    return { settings, store, gate: await gateFrom(values, store, kind) };
  } catch (error) {
    await store?.close();
    throw error;
  }
}

export interface Recorded {
  id: number | null;
  /** The judge's verdict against the baseline, when there was one. */
  verdict: { regression: boolean; text: string } | null;
}

/** Compares this run with the baseline run; its text is printed as it is. */
export type Judge = (baseline: StoredRun) => { regression: boolean; text: string };

/** The bench judge: compareRuns over the baseline's histogram and this run's latencies. */
export function benchJudge(current: CompareInput, threshold: number, ref: string): Judge {
  return (baseline) => {
    const c = compareRuns(inputFromStoredRun(baseline, ref), current, { threshold });
    return { regression: c.regression, text: comparisonText(c) };
  };
}

/** The judge of a report kind with its own comparison (sweep, tune); null without a gate. */
export function reportJudge<R>(
  gate: Gate | null,
  report: R,
  compare: (baseline: R, current: R, threshold: number) => { regression: boolean; lines: string[] },
): Judge | null {
  if (gate === null) return null;
  return (baseline) => {
    const v = compare(baseline.report as R, report, gate.threshold);
    return { regression: v.regression, text: [`\ncompared with baseline ${baseline.id}:`, ...v.lines].join('\n') };
  };
}

/**
 * After a run: compares with the baseline (before adding, so 'last' is the previous run) and
 * records. A store that fails now only warns: the report is printed whatever happens to the store.
 */
export async function recordAndGate(
  store: RunStore | null,
  s: StoreSettings,
  r: Recordable,
  gate: Gate | null,
  judge: Judge | null,
  log: (line: string) => void,
): Promise<Recorded> {
  let verdict: Recorded['verdict'] = null;
  if (gate !== null && store !== null && judge !== null) {
    let baseline = gate.run;
    if (baseline === null) {
      const run = runFromReport(r);
      const sha = run.model.path !== null && !/^https?:/.test(run.model.path) ? await sha256File(run.model.path) : null;
      try {
        baseline = await resolveRun(store, 'last', {
          kind: r.kind as RunKind,
          settingKey: run.setting.key,
          sha256: sha,
        });
      } catch (error) {
        if (!(error instanceof RtinferError && error.code === 'RTI_ERR_RUN_NOT_FOUND')) throw error;
        log('no baseline yet: no stored run of this model and setting; this run becomes the next baseline');
      }
    }
    if (baseline !== null) {
      if (baseline.kind !== r.kind)
        throw new RtinferError(
          'RTI_ERR_ARG_INVALID',
          `--baseline ${gate.ref} is ${article(baseline.kind)} run; this is ${article(r.kind)} run`,
        );
      verdict = judge(baseline);
    }
  }
  let id: number | null = null;
  if (store !== null) {
    try {
      id = await recordRun(store, r, { label: s.label, tags: s.tags });
      log(`stored as run ${id} in ${store.location}`);
    } catch (error) {
      log(`warning: the run was not stored: ${firstLine(error)}`);
    }
  }
  return { id, verdict };
}

export function comparisonText(c: CompareReport): string {
  return `\ncompared with baseline ${c.a.runId ?? c.a.ref}:\n${renderCompareText(c)}`;
}
