/** Number formatting for the pages; the same rules as src/report/format.ts uses for the terminal. */

export { formatBytes } from '../../src/util/format.js';

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 10) return ms.toFixed(2);
  if (ms >= 1) return ms.toFixed(3);
  return ms.toFixed(4);
}

export function formatRate(qps: number): string {
  return qps >= 100 ? qps.toFixed(0) : qps.toFixed(1);
}

export function formatShapes(shapes: Record<string, readonly number[]>): string {
  return Object.entries(shapes)
    .map(([n, d]) => `${n}=${d.join('x')}`)
    .join(' ');
}

/**
 * 3 significant digits, no exponent for the ranges charts show. `null` (a tick a log axis leaves
 * unlabelled, a missing value) and non-finite numbers give "".
 */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 1) return v.toFixed(3);
  if (a === 0) return '0';
  return v.toPrecision(3);
}

/** An axis tick: as formatNumber, without trailing zeros ("500", "1.5", "0.25"; "" for null). */
export function formatTick(v: number | null | undefined): string {
  const s = formatNumber(v);
  return s.includes('.') && !s.includes('e') ? s.replace(/\.?0+$/, '') : s;
}
