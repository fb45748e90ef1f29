/**
 * A measured run that deploy and plan start from: a stored run (an id, last, label:NAME; through the
 * run store's interface) or a saved JSON report (rtinfer tune|sweep|bench --json > file.json).
 */
import { RtinferError } from '../errors.js';
import type { BenchReport } from '../loadgen/bench-report.js';
import type { SweepReport } from '../loadgen/sweep.js';
import { openRunStore, readReportFile, resolveRun, storePath } from '../store/record.js';
import type { TuneReport } from '../tune/tune.js';

export type RunSource =
  | { kind: 'tune'; ref: string; report: TuneReport }
  | { kind: 'sweep'; ref: string; report: SweepReport }
  | { kind: 'bench'; ref: string; report: BenchReport; histogram: string | null };

const SCHEMAS: Readonly<Record<string, RunSource['kind']>> = {
  'rtinfer.tune/1': 'tune',
  'rtinfer.sweep/1': 'sweep',
  'rtinfer.bench/1': 'bench',
};

function fromReport(report: unknown, ref: string, histogram: string | null): RunSource {
  const schema = (report as { schema?: unknown } | null)?.schema;
  const kind = typeof schema === 'string' ? SCHEMAS[schema] : undefined;
  if (kind === undefined)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `${ref} is not a rtinfer tune, sweep or bench report (schema ${JSON.stringify(schema)})`,
    );
  if (kind === 'bench')
    return {
      kind,
      ref,
      report: report as BenchReport,
      histogram: histogram ?? (report as BenchReport).latencyHistogram ?? null,
    };
  return kind === 'tune' ? { kind, ref, report: report as TuneReport } : { kind, ref, report: report as SweepReport };
}

/**
 * `ref` ending in .json is a report file; anything else a stored run in --store (default $RTINFER_STORE or
 * .rtinfer/runs.db).
 */
export async function loadRunSource(ref: string, store?: string): Promise<RunSource> {
  if (/\.json$/i.test(ref))
    return fromReport(await readReportFile(ref, 'a rtinfer tune, sweep or bench report (--json)'), ref, null);
  const file = storePath({ store });
  if (file === null)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `--from-run '${ref}' names a stored run, but the store is off`);
  const runs = openRunStore(file, { create: false });
  try {
    const run = await resolveRun(runs, ref);
    return fromReport(run.report, `run ${run.id}`, run.histogram);
  } finally {
    await runs.close();
  }
}
