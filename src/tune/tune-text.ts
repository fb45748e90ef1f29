/** The `rtinfer.tune/1` report as text (the CLI's default output); the HTML page is report/tune-html.ts. */
import { formatTable } from '../util/format.js';
import type { CandidateReport, MeasurementReport, TuneReport } from './tune.js';

const MAX_ROWS = 25;

function ms(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : x.toFixed(2);
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`;
}

/** Chosen first, then feasible by throughput, then the rest by latency. */
export function orderedCandidates(r: TuneReport): CandidateReport[] {
  const m = (c: CandidateReport): MeasurementReport | null => c.full ?? c.quick;
  return [...r.candidates].sort((a, b) => {
    if (a.key === r.chosen?.key) return -1;
    if (b.key === r.chosen?.key) return 1;
    if (a.feasible !== b.feasible) return a.feasible ? -1 : 1;
    return (
      (m(b)?.throughput ?? 0) - (m(a)?.throughput ?? 0) || (m(a)?.latencyMs ?? Infinity) - (m(b)?.latencyMs ?? Infinity)
    );
  });
}

/** A candidate's figures as table cells: q/s, the SLO percentile, the unloaded one, accuracy. */
export function candidateFigureCells(c: CandidateReport): string[] {
  const m = c.full ?? c.quick;
  return [String(m?.throughput ?? '-'), ms(m?.latencyMs), ms(m?.unloadedMs), c.accuracy ? pct(c.accuracy.score) : '-'];
}

/** The text output's candidate table: a head row, then the first MAX_ROWS candidates in order. */
export function candidateTable(r: TuneReport): string[][] {
  const label = r.slo.label;
  const head = ['', 'candidate', 'phase', 'len', 'status', 'q/s', `${label} ms`, `unloaded ${label}`, 'accuracy'];
  const out = [head];
  for (const c of orderedCandidates(r).slice(0, MAX_ROWS)) {
    const m = c.full ?? c.quick;
    const mark = (c.key === r.chosen?.key ? '>' : ' ') + (c.pareto ? '*' : ' ');
    const status = m?.status === 'ok' ? (c.feasible ? 'meets' : 'misses') : (m?.status ?? '-');
    out.push([mark, c.key, c.phase, c.full ? 'full' : 'quick', status, ...candidateFigureCells(c)]);
  }
  return out;
}

function figures(r: TuneReport, m: MeasurementReport): string {
  if (m.status !== 'ok') return `${m.status}${m.note ? ` (${m.note})` : ''}`;
  return r.scenario === 'server'
    ? `${m.throughput} q/s (peak Poisson rate) at ${r.slo.label} ${ms(m.latencyMs)} ms; unloaded ${ms(m.unloadedMs)} ms`
    : `${r.slo.label} ${ms(m.latencyMs)} ms at ${m.throughput} q/s`;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** `--variants auto`: each variant made, its file, accuracy and fate in the search; the skipped ones with why. */
function autoVariantLines(r: TuneReport): string[] {
  const a = r.autoVariants;
  if (!a) return [];
  const out = [
    `  variants  made from ${a.source} into ${a.dir} in ${(a.elapsedMs / 1000).toFixed(1)} s (${a.budget})` +
      (a.method ? `, int8 by ${a.method} calibration on ${a.calibration?.files ?? 0} file(s)` : '') +
      `; accuracy on ${a.accuracyOn}`,
  ];
  for (const m of a.made) {
    const acc =
      (m.accuracy ?? [])
        .map((x) =>
          x.score === null
            ? `accuracy n/a${x.note ? ` (${x.note})` : ''}`
            : `${x.metric ?? ''} ${pct(x.score)}, drop ${pct(x.drop)}`,
        )
        .join('; ') || 'accuracy not checked';
    const fate = !m.status
      ? ''
      : m.status.chosen
        ? 'CHOSEN'
        : m.status.dropped.length > 0
          ? `DROPPED: ${m.status.dropped.join('; ')}`
          : m.status.measured > 0
            ? `searched (${m.status.measured} measured)`
            : 'not measured (budget)';
    out.push(
      `            ${m.kind.padEnd(5)} ${mb(m.bytes)} in ${(m.elapsedMs / 1000).toFixed(1)} s ` +
        `· ${acc} · ${fate} · ${m.model}`,
    );
  }
  for (const s of a.skipped) out.push(`            ${s.kind.padEnd(5)} skipped: ${s.reason}`);
  for (const n of a.notes) out.push(`  note      ${n}`);
  return out;
}

/** One variant's accuracy line after its name: the reference, or its score and drop. */
function accuracyFigures(a: NonNullable<TuneReport['accuracy']>['variants'][number]): string {
  if (a.reference) return 'reference';
  return `${a.metric ?? 'n/a'} ${pct(a.score)}, drop ${pct(a.drop)}${a.images ? ` over ${a.images} image(s)` : ''}`;
}

const STOPPED: Record<TuneReport['search']['stoppedBy'], string> = {
  budget: 'stopped at the budget',
  interrupted: 'INTERRUPTED',
  converged: 'converged',
};

export function renderTuneText(r: TuneReport): string {
  const s = r.search;
  const stopped = STOPPED[s.stoppedBy];
  const maxDrop = r.maxAccuracyDrop !== null ? ` · max accuracy drop ${pct(r.maxAccuracyDrop)}` : '';
  const lines = [
    `rtinfer tune · SLO ${r.slo.text} · ${r.scenario} · objective ${r.objective}${maxDrop}`,
    `  space     ${r.space.variants.length} variant(s) · ${r.space.gridSize} configurations in the full grid · ` +
      `${r.space.cores} cores${r.space.oversubscribe ? ' (oversubscription allowed)' : ''}`,
    `  search    ${s.measured} measured (${pct(s.fractionOfGrid)} of the grid: ` +
      `${s.evaluations.quick} quick, ${s.evaluations.full} full, ${s.evaluations.abandoned} abandoned early) ` +
      `in ${(s.elapsedMs / 1000).toFixed(1)} s · ${stopped}`,
  ];
  for (const p of s.pruned.variants) lines.push(`  pruned    ${p.variant}: ${p.reason}`);
  if (r.accuracy) {
    lines.push(`  accuracy  reference ${r.accuracy.reference}`);
    for (const a of r.accuracy.variants)
      lines.push(`            ${a.variant}: ${accuracyFigures(a)}${a.note && !a.reference ? ` (${a.note})` : ''}`);
  }
  if (r.autoVariants) lines.push(...autoVariantLines(r));
  lines.push('', formatTable(candidateTable(r), '  '));
  if (r.candidates.length > MAX_ROWS) lines.push(`  ... ${r.candidates.length - MAX_ROWS} more in --json`);
  lines.push('  > chosen   * Pareto set (latency, throughput, accuracy)', '');
  if (r.chosen) {
    lines.push(`chosen      ${r.chosen.key}`);
    if (r.autoVariants) {
      const made = r.autoVariants.made.find((m) => m.status?.chosen);
      const origin = made ? ` (the ${made.kind} variant made by --variants auto)` : ' (as given)';
      lines.push(`  model     ${r.chosen.variant.model}${origin}`);
    }
    lines.push(`  search    ${figures(r, r.chosen.search)}`);
    lines.push(
      `  verified  ${r.chosen.verification ? figures(r, r.chosen.verification) : 'not run'} (fresh ` +
        `engine, full length)`,
    );
  }
  lines.push(`verdict     ${r.verdict.met ? 'MET' : 'NOT MET'}: ${r.verdict.text}`);
  for (const c of r.verdict.closest) lines.push(`  closest   ${c.key}: ${figures(r, c.measurement)}`);
  lines.push(`elapsed     ${(r.elapsedMs / 1000).toFixed(1)} s in all`);
  return lines.join('\n');
}
