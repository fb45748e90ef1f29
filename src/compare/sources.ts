/** The sides of a comparison: a stored run, a rtinfer.bench/1 report file, or a run just measured. */
import { RtinferError } from '../errors.js';
import type { BenchReport } from '../loadgen/bench-report.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { sortSamples, type SortedSamples } from '../stats/sorted.js';
import type { RunStore, StoredRun } from '../store/run-store.js';
import { readReportFile, resolveRun } from '../store/record.js';
import type { CompareInput } from './compare.js';
import { article } from '../util/format.js';

function coldStartOf(r: BenchReport): number | null {
  const c = r.coldStart;
  if (c.sessionCreateMs === null) return c.firstInferenceMs;
  return (c.readMs ?? 0) + c.sessionCreateMs + c.firstInferenceMs;
}

/**
 * Latencies rebuilt from the report's quantile table: n values at the mid-quantiles (i − ½)/n, linear between table
 * rows.
 */
function fromQuantileTable(r: BenchReport): SortedSamples {
  const { q, ms } = r.latencyDistribution?.quantiles ?? { q: [], ms: [] };
  const n = r.throughput.queries;
  if (q.length < 2 || n < 1) return sortSamples([]);
  const out: number[] = [];
  let j = 0;
  for (let i = 1; i <= n; i++) {
    const p = (i - 0.5) / n;
    while (j + 1 < q.length - 1 && (q[j + 1] as number) < p) j++;
    const q0 = q[j] as number;
    const q1 = q[j + 1] as number;
    const t = q1 > q0 ? Math.min(1, Math.max(0, (p - q0) / (q1 - q0))) : 0;
    out.push(((ms[j] as number) + t * ((ms[j + 1] as number) - (ms[j] as number))) * 1000);
  }
  return sortSamples(out);
}

export function histogramSamples(encoded: string): SortedSamples {
  // values() is ascending already.
  return Array.from(LatencyRecorder.decode(encoded).values()) as unknown as SortedSamples;
}

export function inputFromReport(r: BenchReport, ref: string, runId?: number, histogram?: string | null): CompareInput {
  if (r.schema !== 'rtinfer.bench/1')
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `${ref} is not a rtinfer.bench/1 report ` +
        `(schema ${JSON.stringify((r as { schema?: unknown }).schema)}): compare takes bench runs`,
    );
  const encoded = histogram ?? r.latencyHistogram ?? null;
  return {
    ref,
    ...(runId !== undefined ? { runId } : {}),
    model: r.model.label,
    scenario: r.scenario,
    valid: r.validity?.valid ?? null,
    latenciesUs: encoded !== null ? histogramSamples(encoded) : fromQuantileTable(r),
    throughputQps: r.throughput.qps,
    coldStartMs: coldStartOf(r),
    approximate: encoded === null,
    // Older or hand-made reports may lack the inputs: then nothing is said about them.
    ...(Array.isArray(r.model?.inputs) && r.model.inputs.length > 0
      ? { inputs: r.model.inputs.map((i) => `${i.name}=${i.runShape.join('x') || 'scalar'}`).join(' ') }
      : {}),
  };
}

export function inputFromStoredRun(run: StoredRun, ref: string): CompareInput {
  if (run.kind !== 'bench')
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `run ${run.id} (${ref}) is ${article(run.kind)} run: compare takes bench runs`,
    );
  return inputFromReport(run.report as BenchReport, ref, run.id, run.histogram);
}

/** A report file's path (.json), a run id, 'last' (the newest run) or 'label:NAME' (the newest with that label). */
export async function resolveSide(ref: string, store: RunStore | null): Promise<CompareInput> {
  if (/\.json$/i.test(ref))
    return inputFromReport(
      (await readReportFile(ref, 'a rtinfer.bench/1 report (rtinfer bench --json)')) as BenchReport,
      ref,
    );
  if (store === null)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `'${ref}' names a stored run, but the store is off (--no-store)`);
  return inputFromStoredRun(await resolveRun(store, ref), ref);
}
