/** Pieces both report kinds use: the verdict card, the split bar, the environment table. */
import { COLORS } from '../shared/charts.js';
import { h, keyValueTable } from '../shared/dom.js';
import { formatMs } from '../shared/format.js';
import type { Env } from '../shared/report-types.js';

export function verdictCard(
  ok: boolean,
  okText: string,
  badText: string,
  summary: string,
  reasons: readonly string[],
  warnings: readonly string[],
): HTMLElement {
  const list = h(
    'ul',
    { class: 'reasons' },
    ...reasons.map((r) => h('li', { class: 'reason' }, r)),
    ...warnings.map((w) => h('li', { class: 'warning' }, w)),
  );
  return h(
    'section',
    { class: 'card', id: 'verdict', 'data-valid': String(ok) },
    h('h2', {}, 'Verdict'),
    h('div', {}, h('span', { class: `badge ${ok ? 'ok' : 'bad'}` }, ok ? okText : badText), ' ', summary),
    reasons.length + warnings.length > 0 ? list : null,
  );
}

export interface SplitPart {
  label: string;
  ms: number;
}

/** One horizontal bar cut into parts proportional to their time; each part's title gives its value. */
export function splitBar(parts: readonly SplitPart[]): HTMLElement {
  const total = parts.reduce((s, p) => s + Math.max(0, p.ms), 0);
  const bar = h('div', {
    class: 'split',
    role: 'img',
    'aria-label': parts.map((p) => `${p.label} ${formatMs(p.ms)} ms`).join(', '),
  });
  parts.forEach((p, i) => {
    const pct = total > 0 ? (Math.max(0, p.ms) / total) * 100 : 0;
    const seg = h('span', { title: `${p.label}: ${formatMs(p.ms)} ms (${pct.toFixed(1)} %)` });
    seg.style.width = `${pct}%`;
    seg.style.background = COLORS[i % COLORS.length] ?? '#888';
    bar.append(seg);
  });
  return bar;
}

export function splitLegend(labels: readonly string[]): HTMLElement {
  return h(
    'div',
    { class: 'legend' },
    ...labels.map((l, i) => {
      const sw = h('i');
      sw.style.background = COLORS[i % COLORS.length] ?? '#888';
      return h('span', {}, sw, l);
    }),
  );
}

export function envTable(e: Env): HTMLTableElement {
  return keyValueTable(
    [
      ['CPU', `${e.cpuModel} · ${e.cores} cores · ${e.totalMemoryGiB} GiB`],
      ['OS', `${e.platform}/${e.arch} ${e.osRelease}`],
      ['versions', `Node ${e.node} · onnxruntime ${e.onnxruntime} · rtinfer ${e.rtinfer}`],
      ['execution providers', e.executionProviders.join(', ')],
      [
        'load average',
        `${e.loadAvgBefore} before${e.loadAvgDuring !== undefined ? ` · ${e.loadAvgDuring} at the end` : ''}`,
      ],
      ['started', e.startedAt],
    ],
    { id: 'env' },
  );
}

export function stat(label: string, value: string): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'v' }, value), h('div', { class: 'k' }, label));
}

/** Session settings as "key value" pairs; options left at their default are absent from the object. */
export function describeSettings(o: object): string {
  const entries = Object.entries(o as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return entries.length === 0
    ? 'defaults'
    : entries.map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ');
}
