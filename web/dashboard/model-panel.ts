/**
 * One model's live card: p50/p90/p99 over time, throughput with refusals and deadline misses, queue
 * depth with the mean batch size, the latency distribution of the last minute, and the batch sizes
 * the engine ran in it. Fed a point a second by the SSE stream; keeps the server's window.
 */
import {
  COLORS,
  fmtMs,
  histogramChart,
  timeSeriesChart,
  type ChartHandle,
  type HistogramHandle,
} from '../shared/charts.js';
import { h } from '../shared/dom.js';
import { formatMs, formatRate } from '../shared/format.js';
import type { LiveDistribution, LivePoint } from './types.js';

const RED = '#c92a2a';
const ORANGE = '#e67700';
/** Points the stats row sums over: the last minute. */
const MINUTE = 60;

function stat(label: string): { el: HTMLElement; set(v: string): void } {
  const v = h('div', { class: 'v' }, '–');
  return {
    el: h('div', { class: 'stat' }, v, h('div', { class: 'k' }, label)),
    set: (text) => void (v.textContent = text),
  };
}

export class ModelPanel {
  readonly name: string;
  #points: LivePoint[] = [];
  #distribution: LiveDistribution = { counts: [], count: 0 };
  readonly #edges: readonly number[];
  readonly #window: number;
  readonly #intervalMs: number;
  readonly #latency: ChartHandle;
  readonly #rate: ChartHandle;
  readonly #queue: ChartHandle;
  #histogram: HistogramHandle | undefined;
  readonly #histogramBox: HTMLElement;
  readonly #batchLine: HTMLElement;
  readonly #deployment: HTMLElement;
  readonly #stats: Record<'p50' | 'p90' | 'p99' | 'rps' | 'queue' | 'refused' | 'missed', ReturnType<typeof stat>>;

  constructor(
    parent: HTMLElement,
    name: string,
    id: string,
    o: { bucketEdgesMs: readonly number[]; windowPoints: number; intervalMs: number },
  ) {
    this.name = name;
    this.#edges = o.bucketEdgesMs;
    this.#window = o.windowPoints;
    this.#intervalMs = o.intervalMs;
    this.#stats = {
      p50: stat('p50 (last second)'),
      p90: stat('p90'),
      p99: stat('p99'),
      rps: stat('answered/s'),
      queue: stat('queue depth'),
      refused: stat('refused, last min (429/503)'),
      missed: stat('deadline misses, last min (504)'),
    };
    const box = (suffix: string): HTMLDivElement => h('div', { class: 'chart', id: `${id}-${suffix}` });
    const lat = box('latency');
    const rate = box('rate');
    const queue = box('queue');
    this.#histogramBox = box('distribution');
    this.#batchLine = h('p', { class: 'caption', id: `${id}-batches` }, 'batches in the last minute: none yet');
    this.#deployment = h('p', { class: 'caption', id: `${id}-deployment` });
    const card = h(
      'section',
      { class: 'card model', id, 'data-model': name },
      h('h2', {}, name),
      this.#deployment,
      h('div', { class: 'stats' }, ...Object.values(this.#stats).map((s) => s.el)),
      h(
        'div',
        { class: 'grid2' },
        h('div', {}, h('h3', {}, 'End-to-end latency'), lat),
        h('div', {}, h('h3', {}, 'Throughput, refusals and deadline misses'), rate),
        h('div', {}, h('h3', {}, 'Queue depth and batch size'), queue),
        h('div', {}, h('h3', {}, 'Latency distribution, last minute'), this.#histogramBox, this.#batchLine),
      ),
    );
    parent.append(card);
    const height = 200;
    this.#latency = timeSeriesChart(
      lat,
      [
        { label: 'p50', color: COLORS[0] },
        { label: 'p90', color: COLORS[4] },
        { label: 'p99', color: RED },
      ],
      { height, y: { label: 'ms' }, format: fmtMs },
    );
    this.#rate = timeSeriesChart(
      rate,
      [
        { label: 'answered/s', color: COLORS[2] },
        { label: 'refused/s', color: ORANGE },
        { label: 'missed/s', color: RED, dash: [4, 3] },
      ],
      { height, y: { label: 'requests/s' } },
    );
    this.#queue = timeSeriesChart(
      queue,
      [
        { label: 'queue depth', color: COLORS[3] },
        { label: 'mean batch (rows)', color: COLORS[5], scale: 'right' },
      ],
      { height, y: { label: 'requests', integer: true }, right: { label: 'rows', floor: 2 } },
    );
  }

  /** The whole window (the snapshot at connect or reconnect). */
  /** How the server laid the model out (instances × threads) and why. */
  setDeployment(d: { instances: number; threads: number; hint?: string; reason?: string }): void {
    const layout = `${d.instances} instance${d.instances === 1 ? '' : 's'} × ${d.threads} thread${d.threads === 1 ? '' : 's'}`;
    this.#deployment.textContent = d.reason ?? (d.hint ? `${layout} (hint ${d.hint})` : layout);
  }

  setHistory(points: readonly LivePoint[], lastMinute: LiveDistribution): void {
    this.#points = points.slice(-this.#window);
    this.#distribution = lastMinute;
    this.#draw();
  }

  push(point: LivePoint, lastMinute: LiveDistribution): void {
    this.#points.push(point);
    if (this.#points.length > this.#window) this.#points.splice(0, this.#points.length - this.#window);
    this.#distribution = lastMinute;
    this.#draw();
  }

  #draw(): void {
    const p = this.#points;
    const xs = p.map((q) => q.t / 1000);
    this.#latency.setData([xs, p.map((q) => q.p50Ms), p.map((q) => q.p90Ms), p.map((q) => q.p99Ms)]);
    const perSecond = (n: number): number => (n * 1000) / this.#intervalMs;
    this.#rate.setData([
      xs,
      p.map((q) => q.rps),
      p.map((q) => perSecond(q.refused)),
      p.map((q) => perSecond(q.missed)),
    ]);
    this.#queue.setData([xs, p.map((q) => q.queueDepth), p.map((q) => (q.meanBatch > 0 ? q.meanBatch : null))]);
    this.#drawDistribution();
    this.#drawStats();
  }

  #drawDistribution(): void {
    const { counts } = this.#distribution;
    const first = counts.findIndex((c) => c > 0);
    if (first < 0) return;
    let last = counts.length - 1;
    while (last > first && (counts[last] ?? 0) === 0) last--;
    // Bucket i spans (edge[i-1], edge[i]]; the first starts one step (10^0.1) below 0.1 ms, and the
    // overflow bucket (over 10 s) one step above the last edge.
    const step = 10 ** 0.1;
    const lo = Math.max(0, first - 1);
    const hi = Math.min(counts.length - 1, last + 1);
    const edge = (i: number): number =>
      i < 0
        ? (this.#edges[0] ?? 0.1) / step
        : (this.#edges[i] ?? (this.#edges[this.#edges.length - 1] ?? 10_000) * step);
    const edgesMs: number[] = [];
    for (let i = lo - 1; i <= hi; i++) edgesMs.push(edge(i));
    const bins = { edgesMs, counts: counts.slice(lo, hi + 1) };
    // Made on first data, then given each minute's bins.
    if (this.#histogram) this.#histogram.setBins(bins);
    else this.#histogram = histogramChart(this.#histogramBox, bins, { height: 200 });
  }

  #drawStats(): void {
    const latest = this.#points.at(-1);
    const minute = this.#points.slice(-MINUTE);
    const s = this.#stats;
    const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${formatMs(v)} ms`);
    s.p50.set(ms(latest?.p50Ms));
    s.p90.set(ms(latest?.p90Ms));
    s.p99.set(ms(latest?.p99Ms));
    s.rps.set(latest ? formatRate(latest.rps) : '–');
    s.queue.set(latest ? String(latest.queueDepth) : '–');
    s.refused.set(String(minute.reduce((n, q) => n + q.refused, 0)));
    s.missed.set(String(minute.reduce((n, q) => n + q.missed, 0)));
    const batches = new Map<number, number>();
    for (const q of minute)
      for (const [size, n] of Object.entries(q.batches))
        batches.set(Number(size), (batches.get(Number(size)) ?? 0) + n);
    const sizes = [...batches.entries()].sort((a, b) => a[0] - b[0]);
    this.#batchLine.textContent = sizes.length
      ? `batches in the last minute, by size: ${sizes.map(([size, n]) => `${n} × ${size}`).join(' · ')} · ${this.#distribution.count} answered`
      : 'batches in the last minute: none yet';
    this.#batchLine.dataset['batches'] = String(sizes.reduce((n, [, c]) => n + c, 0));
  }
}
