/**
 * `rtinfer tune --target URL --slo "p99<=X"`: a served model's layout is the server's own, so what
 * tuning can find against it is its capacity within the SLO: the highest Poisson rate whose p99
 * holds (the bench's peak search, confirmed by a full-length run at that rate).
 */
import { RtinferError } from '../errors.js';
import { runBench } from '../loadgen/bench.js';
import type { BenchReport } from '../loadgen/bench-report.js';
import type { ShapeOverride } from '../runtime/shapes.js';
import type { Slo } from '../tune/slo.js';
import { EXIT } from './exit-codes.js';

export interface TargetTuneResult {
  report: BenchReport;
  /** The highest rate found within the SLO (0 when none), and whether the confirmation held it. */
  qps: number;
  met: boolean;
  text: string;
}

/** Run lengths (tests shorten them; the defaults are the bench's). */
export interface TargetTuneLengths {
  probeDurationMs?: number;
  durationMs?: number;
  minQueries?: number;
}

export async function tuneTarget(
  target: string,
  slo: Slo,
  shapes: ShapeOverride[],
  onPhase: (line: string) => void,
  lengths: TargetTuneLengths = {},
): Promise<TargetTuneResult> {
  if (Math.abs(slo.quantile - 0.99) > 1e-9)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `with --target the SLO bounds p99 (the peak search's bound): got ${slo.text}`,
    );
  onPhase(`tune: ${target} serves with its own layout: searching the highest Poisson rate within ${slo.text}`);
  const { report } = await runBench({
    target,
    scenario: 'server',
    findPeak: {
      p99Ms: slo.boundMs,
      ...(lengths.probeDurationMs !== undefined ? { probeDurationMs: lengths.probeDurationMs } : {}),
    },
    ...(lengths.durationMs !== undefined ? { durationMs: lengths.durationMs } : {}),
    ...(lengths.minQueries !== undefined ? { minQueries: lengths.minQueries } : {}),
    shapes,
    onPhase: (phase, detail) => onPhase(`tune: ${phase}${detail ? ` (${detail})` : ''}`),
  });
  const peak = report.peak;
  const qps = peak?.qps ?? 0;
  const met = qps > 0 && report.server?.pass === true;
  const probes = (peak?.probes ?? [])
    .map((p) => `${p.qps} q/s ${p.pass ? 'held' : 'missed'} (p99 ${p.p99Ms} ms)`)
    .join(', ');
  const text = [
    `rtinfer tune --target ${target} · SLO ${slo.text}`,
    `probes: ${probes || 'none'}`,
    met
      ? `verdict: met: the served model holds ${slo.text} up to ${qps} q/s (confirmation run: ` +
        `p99 ${report.latencyMs.p99} ms at ${report.server?.achievedQps ?? qps} q/s)`
      : qps > 0
        ? `verdict: NOT met: the confirmation run at ${qps} q/s did not hold ${slo.text} ` +
          `(p99 ${report.latencyMs.p99} ms)`
        : `verdict: NOT met: no probed rate held ${slo.text}`,
  ].join('\n');
  return { report, qps, met, text };
}

export function targetExitCode(r: TargetTuneResult): number {
  return r.met ? EXIT.ok : EXIT.boundFailed;
}
