/**
 * uPlot chart helpers shared by the report and the dashboard pages. Each chart is drawn into a
 * container element and, after every draw, sets `data-chart` (its kind) and `data-points` (how many
 * finite data points it drew) on that element, so a test or a user can tell an empty chart from a
 * drawn one without reading pixels.
 */
import uPlot from 'uplot';

export const COLORS = ['#1c7ed6', '#d9480f', '#2b8a3e', '#7048e8', '#e67700', '#0c8599', '#c2255c', '#495057'];

export interface ChartHandle {
  plot: uPlot;
  /** Replaces the data and redraws (keeps the series). */
  setData(data: uPlot.AlignedData): void;
  destroy(): void;
}

export interface SeriesSpec {
  label: string;
  color?: string;
  /** Scale key; give a second one (e.g. 'right') to plot against a right-hand axis. */
  scale?: string;
  /** Points only, no line (a scatter). */
  pointsOnly?: boolean;
  dash?: number[];
  width?: number;
  /** Marks each data point with a dot of this size (px). */
  pointSize?: number;
}

const DEFAULT_HEIGHT = 280;

function countPoints(u: uPlot): number {
  let n = 0;
  for (let s = 1; s < u.data.length; s++) {
    if (u.series[s]?.show === false) continue;
    for (const v of u.data[s] ?? []) if (v !== null && v !== undefined && Number.isFinite(v)) n++;
  }
  return n;
}

function mark(el: HTMLElement, kind: string): uPlot.Hooks.Arrays['draw'] {
  el.dataset['chart'] = kind;
  return [(u: uPlot) => void (el.dataset['points'] = String(countPoints(u)))];
}

function widthOf(el: HTMLElement): number {
  return Math.max(320, Math.floor(el.clientWidth || 640));
}

/** Creates the plot and keeps it as wide as its container. */
function mount(el: HTMLElement, kind: string, opts: Omit<uPlot.Options, 'width' | 'height'> & { height?: number }, data: uPlot.AlignedData): ChartHandle {
  const height = opts.height ?? DEFAULT_HEIGHT;
  const plot = new uPlot({ ...opts, width: widthOf(el), height, hooks: { ...opts.hooks, draw: [...(opts.hooks?.draw ?? []), ...(mark(el, kind) ?? [])] } }, data, el);
  let last = widthOf(el);
  const ro = typeof ResizeObserver === 'undefined' ? undefined : new ResizeObserver(() => {
    const w = widthOf(el);
    if (w !== last) {
      last = w;
      plot.setSize({ width: w, height });
    }
  });
  ro?.observe(el);
  return {
    plot,
    setData: (d) => plot.setData(d),
    destroy: () => {
      ro?.disconnect();
      plot.destroy();
    },
  };
}

function seriesOf(specs: readonly SeriesSpec[], fmt: (v: number | null) => string): uPlot.Series[] {
  return specs.map((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length] ?? '#333';
    return {
      label: s.label,
      stroke: color,
      width: s.pointsOnly ? 0 : (s.width ?? 2),
      ...(s.scale ? { scale: s.scale } : {}),
      ...(s.dash ? { dash: s.dash } : {}),
      ...(s.pointsOnly ? { paths: () => null, points: { show: true, size: s.pointSize ?? 8, fill: color, stroke: color } } : s.pointSize ? { points: { show: true, size: s.pointSize, fill: color, stroke: color } } : {}),
      spanGaps: true,
      value: (_u: uPlot, v: number | null) => fmt(v),
    };
  });
}

export const fmtMs = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : `${formatNumber(v)} ms`);

/** 3 significant digits, no exponent for the ranges charts show. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 1) return v.toFixed(3);
  if (a === 0) return '0';
  return v.toPrecision(3);
}

export interface HistogramBins {
  /** n + 1 bin edges in ms, ascending (log-spaced in rtinfer.bench/1). */
  edgesMs: readonly number[];
  /** n counts. */
  counts: readonly number[];
}

/**
 * Latency histogram. Bars sit on the bin index, so rtinfer's log-spaced bins come out equally wide
 * (a log latency axis) while the labels show the bins' edges in ms.
 */
export function histogramChart(el: HTMLElement, bins: HistogramBins, o: { title?: string; height?: number } = {}): ChartHandle {
  const n = bins.counts.length;
  const xs = bins.counts.map((_c, i) => i);
  const ys = [...bins.counts];
  const edge = (i: number): number => bins.edgesMs[i] ?? NaN;
  const every = Math.max(1, Math.ceil(n / 8));
  const bars = uPlot.paths.bars?.({ size: [0.92, Infinity], align: 0 });
  return mount(
    el,
    'histogram',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: false, range: [-0.6, n - 0.4] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      axes: [
        // Ticks at bin boundaries (x = i - 0.5 is the lower edge of bin i), labelled with the edge in ms.
        { label: 'latency (ms, log scale)', splits: () => Array.from({ length: Math.floor(n / every) + 1 }, (_v, k) => k * every - 0.5), values: (_u, vals) => vals.map((v) => formatNumber(edge(Math.round(v + 0.5)))) },
        // Whole queries only: no 2.5 ticks.
        { label: 'queries', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7] },
      ],
      series: [
        { label: 'bin', value: (_u, v) => (v === null ? '–' : `${formatNumber(edge(v))}–${formatNumber(edge(v + 1))} ms`) },
        { label: 'queries', stroke: COLORS[0], fill: 'rgba(28,126,214,0.35)', width: 1, ...(bars ? { paths: bars } : {}), points: { show: false } },
      ],
    },
    [xs, ys],
  );
}

export interface CdfSeries {
  label: string;
  color?: string;
  /** [latency ms, fraction 0..1] pairs, latency ascending. */
  points: ReadonlyArray<readonly [number, number]>;
}

/** Cumulative distribution: share of queries at or below each latency. Several series share one latency axis. */
export function cdfChart(el: HTMLElement, series: readonly CdfSeries[], o: { title?: string; height?: number; logX?: boolean } = {}): ChartHandle {
  const tables = series.map((s) => [s.points.map((p) => p[0]), s.points.map((p) => p[1] * 100)] as uPlot.AlignedData);
  const data = tables.length === 1 ? (tables[0] as uPlot.AlignedData) : uPlot.join(tables);
  return mount(
    el,
    'cdf',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: false, ...(o.logX ? { distr: 3 } : {}) }, y: { range: [0, 100] } },
      axes: [{ label: 'latency (ms)', values: (_u, vals) => vals.map((v) => formatNumber(v)) }, { label: '% of queries at or below' }],
      series: [
        { label: 'latency', value: (_u, v) => fmtMs(v) },
        ...seriesOf(
          series.map((s) => ({ label: s.label, ...(s.color ? { color: s.color } : {}) })),
          (v) => (v === null ? '–' : `${formatNumber(v)} %`),
        ),
      ],
    },
    data,
  );
}

/**
 * Values over time: x is Unix time in seconds; `setData` with a sliding window to animate it.
 * Series on `scale: 'right'` get a right-hand axis labelled `rightLabel`.
 */
export function timeSeriesChart(
  el: HTMLElement,
  series: readonly SeriesSpec[],
  o: { title?: string; height?: number; yLabel?: string; rightLabel?: string; format?: (v: number | null) => string } = {},
): ChartHandle {
  const fmt = o.format ?? ((v: number | null) => (v === null ? '–' : formatNumber(v)));
  const right = series.some((s) => s.scale === 'right');
  const empty: uPlot.AlignedData = [[], ...series.map(() => [])];
  return mount(
    el,
    'timeseries',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1e-9, max) * 1.1] }, ...(right ? { right: { range: (_u, _min, max) => [0, Math.max(1e-9, max) * 1.1] } } : {}) },
      axes: [
        {},
        { label: o.yLabel ?? '', values: (_u, vals) => vals.map((v) => formatNumber(v)) },
        ...(right ? [{ side: 1 as const, scale: 'right', label: o.rightLabel ?? '', grid: { show: false }, values: (_u: uPlot, vals: number[]) => vals.map((v) => formatNumber(v)) }] : []),
      ],
      series: [{}, ...seriesOf(series, fmt)],
    },
    empty,
  );
}

export interface TradeoffPoint {
  throughput: number;
  latencyMs: number;
  pareto: boolean;
  label: string;
}

/**
 * Latency–throughput: every configuration as a point, the Pareto frontier (no other point has
 * more throughput at a lower latency) as a line through its points.
 */
export function tradeoffChart(el: HTMLElement, points: readonly TradeoffPoint[], o: { title?: string; height?: number; latencyLabel?: string } = {}): ChartHandle {
  const sorted = points.filter((p) => Number.isFinite(p.throughput) && Number.isFinite(p.latencyMs)).sort((a, b) => a.throughput - b.throughput || a.latencyMs - b.latencyMs);
  const xs = sorted.map((p) => p.throughput);
  const all = sorted.map((p) => (p.pareto ? null : p.latencyMs));
  const front = sorted.map((p) => (p.pareto ? p.latencyMs : null));
  const labelAt = (i: number | null | undefined): string => (i === null || i === undefined ? '' : (sorted[i]?.label ?? ''));
  return mount(
    el,
    'tradeoff',
    {
      ...(o.title ? { title: o.title } : {}),
      height: o.height ?? 340,
      scales: { x: { time: false, range: (_u, _min, max) => [0, Math.max(1e-9, max) * 1.08] }, y: { range: (_u, _min, max) => [0, Math.max(1e-9, max) * 1.1] } },
      axes: [{ label: 'throughput (queries/s)', values: (_u, vals) => vals.map((v) => formatNumber(v)) }, { label: o.latencyLabel ?? 'p99 latency (ms)', values: (_u, vals) => vals.map((v) => formatNumber(v)) }],
      cursor: { points: { size: 10 } },
      series: [
        { label: 'configuration', value: (u, _v) => labelAt(u.cursor.idx) },
        ...seriesOf(
          [
            { label: 'other points', color: COLORS[0] ?? '#1c7ed6', pointsOnly: true },
            { label: 'Pareto frontier', color: COLORS[1] ?? '#d9480f', width: 2, pointSize: 10 },
          ],
          fmtMs,
        ),
      ],
    },
    [xs, all, front],
  );
}

/** Lines over a categorical x axis (1..n), labelled by `labels`: e.g. percentiles per sweep point. */
export function categoryChart(el: HTMLElement, labels: readonly string[], series: readonly (SeriesSpec & { values: readonly (number | null)[] })[], o: { title?: string; height?: number; yLabel?: string } = {}): ChartHandle {
  const xs = labels.map((_l, i) => i + 1);
  return mount(
    el,
    'category',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: false, range: [0.5, labels.length + 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1e-9, max) * 1.1] } },
      axes: [
        { label: 'point', splits: () => xs, values: (_u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : '')) },
        { label: o.yLabel ?? '', values: (_u, vals) => vals.map((v) => formatNumber(v)) },
      ],
      series: [{ label: 'point', value: (_u, v) => (v === null ? '' : `${v}: ${labels[v - 1] ?? ''}`) }, ...seriesOf(series.map((s) => ({ pointSize: 7, ...s })), fmtMs)],
    },
    [xs, ...series.map((s) => [...s.values])] as uPlot.AlignedData,
  );
}
