/**
 * A small scatter chart rendered to inline SVG on the server side, so a report page needs no
 * script and no network to show its curve.
 */

export interface ChartPoint {
  x: number;
  y: number;
  label: string;
  /** Drawn as a larger, filled marker (e.g. a Pareto-optimal point). */
  highlight?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Points joined by a line, in order (e.g. the Pareto frontier). */
  line?: ChartPoint[];
  width?: number;
  height?: number;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** 1, 2 or 5 times a power of ten, so axis labels read well. */
export function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toPrecision(2).replace(/\.?0+$/, '');
}

export function scatterSvg(points: readonly ChartPoint[], o: ChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 420;
  const m = { l: 64, r: 24, t: 36, b: 52 };
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const maxX = Math.max(1e-9, ...finite.map((p) => p.x)) * 1.08;
  const maxY = Math.max(1e-9, ...finite.map((p) => p.y)) * 1.1;
  const sx = (x: number): number => m.l + (x / maxX) * (W - m.l - m.r);
  const sy = (y: number): number => H - m.b - (y / maxY) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(o.title)}">`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(o.title)}</text>`);
  const xs = niceStep(maxX, 6);
  for (let v = 0; v <= maxX; v += xs) {
    parts.push(`<line x1="${sx(v)}" y1="${m.t}" x2="${sx(v)}" y2="${H - m.b}" stroke="#eee"/><text x="${sx(v)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${fmt(v)}</text>`);
  }
  const ys = niceStep(maxY, 5);
  for (let v = 0; v <= maxY; v += ys) {
    parts.push(`<line x1="${m.l}" y1="${sy(v)}" x2="${W - m.r}" y2="${sy(v)}" stroke="#eee"/><text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`);
  }
  parts.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<text x="${(W + m.l) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(H - m.b + m.t) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(o.yLabel)}</text>`);
  if (o.line && o.line.length > 1) {
    parts.push(`<polyline fill="none" stroke="#d9480f" stroke-width="2" points="${o.line.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
  }
  for (const p of finite) {
    parts.push(
      `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="${p.highlight ? 6 : 4}" fill="${p.highlight ? '#d9480f' : '#1c7ed6'}" fill-opacity="${p.highlight ? 0.9 : 0.6}"><title>${escapeXml(p.label)}</title></circle>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
