/**
 * The plan as text (the answer first, then the curve) and as a self-contained HTML page (inline SVG, no script).
 */
import { formatTable } from '../util/format.js';
import { escapeHtml, jsonForScript } from '../util/html.js';
import type { PlanPoint, PlanReport } from './plan.js';

const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : x === Infinity ? 'inf' : '-');
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function planHeadline(r: PlanReport): string {
  if (r.chosen === null)
    return `no replica count meets ${r.slo.text} at ${r.rateQps} q/s with ${pct(r.headroom)} headroom`;
  const c = r.chosen;
  const size = `${c.replicas} replica${c.replicas === 1 ? '' : 's'} (${c.cores} core${c.cores === 1 ? '' : 's'})`;
  return (
    `${size} meet ${r.slo.text} at ${r.rateQps} q/s with ${pct(r.headroom)} headroom: ` +
    `at ${c.checkedAtQps.toFixed(1)} q/s the simulated ${r.slo.label} is ${ms(c.sloMs)} ms, ` +
    `utilization ${pct(c.utilization)}`
  );
}

function row(p: PlanPoint, chosen: number | null): string[] {
  return [
    p.replicas === chosen ? '>' : '',
    String(p.replicas),
    String(p.cores),
    pct(p.utilization),
    ms(p.p50Ms),
    ms(p.p99Ms),
    ms(p.sloMs),
    pct(p.withinBound),
    p.goodputQps.toFixed(1),
    String(p.refused + p.expired),
    p.meetsSlo ? 'yes' : 'no',
  ];
}

export function renderPlanText(r: PlanReport): string {
  const s = r.service;
  const deadline = r.replica.deadlineMs !== null ? `, deadline ${r.replica.deadlineMs} ms` : '';
  const lines = [
    `rtinfer plan: ${planHeadline(r)}`,
    '',
    `one replica: ${r.replica.instances} instance(s) x ${r.replica.threads} thread(s) = ${r.replica.cores} core(s), ` +
      `capacity ${r.replica.capacityQps.toFixed(1)} q/s (1 / mean service time per instance)`,
    `service time: mean ${ms(s.meanMs)} ms, p50 ${ms(s.p50Ms)} ms, p99 ${ms(s.p99Ms)} ms, from ${s.source}`,
    `simulation: Poisson arrivals, ${r.balancer} balancer, ` +
      `queue limit ${r.replica.maxQueueSize} per replica${deadline}, ` +
      `${r.requestsPerPoint} requests per point, seed ${r.seed}`,
    '',
    `at ${r.rateQps} q/s (${r.slo.label} counts refused requests as late; ` +
      `goodput = answered within ${r.slo.boundMs} ms per second):`,
    formatTable(
      [
        [
          '',
          'N',
          'cores',
          'util',
          'p50 ms',
          'p99 ms',
          `SLO ${r.slo.label}`,
          'within',
          'goodput q/s',
          'refused',
          'meets',
        ],
        ...r.curve.map((p) => row(p, r.chosen?.replicas ?? null)),
      ],
      '  ',
    ),
  ];
  if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}

/** An SVG line chart of the SLO percentile and goodput over N. */
function chart(r: PlanReport): string {
  const W = 640;
  const H = 260;
  const pad = 48;
  const pts = r.curve;
  if (pts.length < 2) return '';
  const xs = pts.map((p) => p.replicas);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const finite = pts.map((p) => p.sloMs).filter(Number.isFinite);
  const yMax = Math.max(r.slo.boundMs * 1.5, ...finite) || 1;
  const gMax = Math.max(...pts.map((p) => p.goodputQps), r.rateQps) || 1;
  const X = (n: number): number => pad + ((n - x0) / Math.max(1, x1 - x0)) * (W - 2 * pad);
  const Y = (v: number, max: number): number => H - pad + 0 - (Math.min(v, max) / max) * (H - 2 * pad);
  const line = (vals: number[], max: number): string =>
    pts
      .map((p, i) => {
        const v = vals[i] as number;
        return `${i === 0 ? 'M' : 'L'}${X(p.replicas).toFixed(1)},${Y(Number.isFinite(v) ? v : max, max).toFixed(1)}`;
      })
      .join(' ');
  const ticks = xs.map((n) => `<text x="${X(n)}" y="${H - pad + 16}" text-anchor="middle">${n}</text>`).join('');
  const label = `${escapeHtml(r.slo.label)} and goodput over replicas`;
  const yBound = Y(r.slo.boundMs, yMax);
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-size="11" role="img" aria-label="${label}">
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#888"/>${ticks}
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">replicas</text>
<line x1="${pad}" y1="${yBound}" x2="${W - pad}" y2="${yBound}" stroke="#a00" stroke-dasharray="4 3"/>
<text x="${pad + 2}" y="${yBound - 4}" fill="#a00">SLO ${escapeHtml(r.slo.text)}</text>
<path d="${line(
    pts.map((p) => p.sloMs),
    yMax,
  )}" fill="none" stroke="#1f6feb" stroke-width="2"/>
<path d="${line(
    pts.map((p) => p.goodputQps),
    gMax,
  )}" fill="none" stroke="#2da44e" stroke-width="2"/>
<text x="${pad}" y="14" fill="#1f6feb">${escapeHtml(r.slo.label)} ms (0..${yMax.toFixed(0)})</text>
<text x="${W - pad}" y="14" fill="#2da44e" text-anchor="end">goodput q/s (0..${gMax.toFixed(0)})</text>
</svg>`;
}

const PLAN_CSS =
  'body{font:14px system-ui,sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto}';

export function renderPlanHtml(r: PlanReport): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtinfer plan · ${escapeHtml(r.slo.text)} at ${r.rateQps} q/s</title>
<style>${PLAN_CSS}</style></head>
<body><h1>rtinfer plan</h1>
<p><b>${escapeHtml(planHeadline(r))}</b></p>
${chart(r)}
<pre>${escapeHtml(renderPlanText(r))}</pre>
<script type="application/json" id="rtinfer-plan">${jsonForScript(r)}</script>
</body></html>
`;
}
