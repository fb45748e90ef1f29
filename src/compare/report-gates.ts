/**
 * Baseline gates for the reports that keep no latency distribution: a sweep (per-point figures) and
 * a tune (the chosen configuration's verified figures). Without distributions there is no
 * significance test, so these compare ratios against the threshold only; run them with a threshold
 * above the machine's run-to-run noise (bench/compare measures it for bench).
 */
import type { SweepReport } from '../loadgen/sweep.js';
import type { TuneReport } from '../tune/tune.js';

export interface GateVerdict {
  regression: boolean;
  /** One line per compared item, then the verdict. */
  lines: string[];
}

const pct = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;

/**
 * Points are matched on instances, threads, batch and load; a point regresses when its throughput falls or its p99
 * rises beyond the threshold.
 */
export function compareSweeps(a: SweepReport, b: SweepReport, threshold: number): GateVerdict {
  const key = (p: SweepReport['points'][number]): string =>
    `${p.instances}x${p.threads} batch ${p.batch} ${p.load.kind} ${p.load.value}`;
  const base = new Map(a.points.map((p) => [key(p), p]));
  const lines: string[] = [];
  let regression = false;
  let matched = 0;
  for (const p of b.points) {
    const q = base.get(key(p));
    if (!q) continue;
    matched++;
    const qps = q.throughput > 0 ? p.throughput / q.throughput : 1;
    const p99 = q.latencyMs.p99 > 0 ? p.latencyMs.p99 / q.latencyMs.p99 : 1;
    const bad = qps < 1 - threshold || p99 > 1 + threshold;
    if (bad) regression = true;
    lines.push(`  ${key(p)}: throughput ${pct(qps)}, p99 ${pct(p99)}${bad ? '  REGRESSION' : ''}`);
  }
  lines.push(
    matched === 0
      ? 'no point of the baseline matches this grid: nothing compared'
      : `${regression ? 'REGRESSION' : 'no regression'} beyond ${(threshold * 100).toFixed(1)}% ` +
          `over ${matched} matching points (ratios only: a sweep keeps no distributions to test)`,
  );
  return { regression, lines };
}

/** The chosen configuration's verified throughput against the baseline's; losing the SLO is a regression too. */
export function compareTunes(a: TuneReport, b: TuneReport, threshold: number): GateVerdict {
  const figure = (t: TuneReport) => {
    const m = t.chosen?.verification ?? t.chosen?.search ?? null;
    return m !== null && m.status === 'ok' ? m : null;
  };
  const ma = figure(a);
  const mb = figure(b);
  if (ma === null) return { regression: false, lines: ['the baseline chose nothing: nothing compared'] };
  if (mb === null || !b.verdict.met)
    return {
      regression: a.verdict.met,
      lines: [
        `baseline chose ${a.chosen?.key ?? '-'} (${ma.throughput} q/s); ` +
          `this run chose nothing that meets the SLO${a.verdict.met ? ': REGRESSION' : ''}`,
      ],
    };
  const ratio = ma.throughput > 0 ? mb.throughput / ma.throughput : 1;
  const regression = ratio < 1 - threshold;
  return {
    regression,
    lines: [
      `  chosen: baseline ${a.chosen?.key} ${ma.throughput} q/s, ` +
        `this run ${b.chosen?.key} ${mb.throughput} q/s (${pct(ratio)})`,
      `${regression ? 'REGRESSION' : 'no regression'} beyond ${(threshold * 100).toFixed(1)}% (ratio only)`,
    ],
  };
}
