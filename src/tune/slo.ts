/**
 * The tuner's targets as the user writes them: a latency objective (`p99<=50ms`), a time budget
 * (`10m`), an accuracy drop (`1%`). Each parser fails with one line that names the option and
 * shows the expected form.
 */
import { RtinferError } from '../errors.js';

export interface Slo {
  /** As written back in reports: "p99<=50ms". */
  text: string;
  /** The percentile as a fraction, e.g. 0.99. */
  quantile: number;
  /** "p99" */
  label: string;
  boundMs: number;
}

const SLO = /^p(\d{1,2}(?:\.\d+)?)\s*<=\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s)?$/i;
const UNIT: Readonly<Record<string, number>> = { us: 0.001, µs: 0.001, ms: 1, s: 1000 };

function invalid(option: string, text: string, expected: string): never {
  throw new RtinferError('RTI_ERR_ARG_INVALID', `${option}: expected ${expected}, got '${text}'`);
}

/**
 * `p99<=50ms`, `p90<=0.1s`, `p99.9<=200ms`. A bound includes its value: `<` alone is refused, not read as `<=` behind
 * the user's back.
 */
export function parseSlo(text: string): Slo {
  if (/^p[\d.]+\s*<\s*[\d.]/i.test(text.trim()))
    invalid('--slo', text, 'a bound written with <= (the bound includes its value), like "p99<=50ms"');
  const m = SLO.exec(text.trim());
  if (!m) invalid('--slo', text, 'like "p99<=50ms"');
  const pct = Number(m[1]);
  const boundMs = Number(m[2]) * (UNIT[(m[3] ?? 'ms').toLowerCase()] ?? 1);
  if (!(pct >= 50 && pct < 100)) invalid('--slo', text, 'a percentile from p50 to p99.99, like "p99<=50ms"');
  if (!(boundMs > 0)) invalid('--slo', text, 'a bound above 0, like "p99<=50ms"');
  const label = `p${m[1]}`;
  return { text: `${label}<=${+boundMs.toFixed(3)}ms`, quantile: Number((pct / 100).toFixed(6)), label, boundMs };
}

const BUDGET = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/;
const BUDGET_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** `10m`, `90s`, `1h`; a bare number is seconds. At least 1 s, at most 24 h. */
export function parseBudgetMs(text: string): number {
  const m = BUDGET.exec(text.trim());
  if (!m) invalid('--budget', text, 'a duration like "10m", "90s" or "1h"');
  const ms = Number(m[1]) * (BUDGET_UNIT[m[2] ?? 's'] ?? 1000);
  if (!(ms >= 1000) || ms > 86_400_000) invalid('--budget', text, 'a duration from 1s to 24h');
  return ms;
}

/** `1%` or `0.01`: the fraction of the reference's accuracy a variant may lose. */
export function parseAccuracyDrop(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(%)?$/.exec(text.trim());
  if (!m) invalid('--max-accuracy-drop', text, 'a percentage like "1%" or a fraction like 0.01');
  const v = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (!(v >= 0 && v <= 1)) invalid('--max-accuracy-drop', text, 'a value from 0% to 100%');
  return v;
}

/** `640,480,320` (square) or `640x480,320x320` (height x width). */
export function parseResolutions(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:x(\d+))?$/.exec(part.trim());
    const h = Number(m?.[1]);
    const w = Number(m?.[2] ?? m?.[1]);
    if (!m || !(h >= 8 && h <= 8192 && w >= 8 && w <= 8192))
      invalid('--resolutions', text, 'sizes like "640,480,320" or "640x480" from 8 to 8192');
    out.push([h, w]);
  }
  return out;
}
