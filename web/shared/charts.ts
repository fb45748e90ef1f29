/**
 * uPlot chart helpers shared by the report and the dashboard pages. Each chart is drawn into a
 * container element and, after every draw, sets `data-chart` (its kind) and `data-points` (how many
 * finite data points it drew), `data-series-points` (that count per series label) and `data-ticks`
 * (the tick labels of each axis) on that element, so a test or a user can tell an empty chart from a
 * drawn one without reading pixels.
 */
import uPlot from 'uplot';
import { formatNumber, formatTick } from './format.js';

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

/** Finite points per shown series, by label: `{"p50": 12, ...}`. */
function pointsBySeries(u: uPlot): Record<string, number> {
  const out: Record<string, number> = {};
  for (let s = 1; s < u.data.length; s++) {
    const series = u.series[s];
    if (!series || series.show === false) continue;
    let n = 0;
    for (const v of u.data[s] ?? []) if (v !== null && v !== undefined && Number.isFinite(v)) n++;
    out[typeof series.label === 'string' ? series.label : String(s)] = n;
  }
  return out;
}

function mark(el: HTMLElement, kind: string): uPlot.Hooks.Arrays['draw'] {
  el.dataset['chart'] = kind;
  return [
    (u: uPlot) => {
      el.dataset['points'] = String(countPoints(u));
      el.dataset['seriesPoints'] = JSON.stringify(pointsBySeries(u));
      // The tick labels each axis drew (uPlot keeps them on the axis), for tests that read the axes.
      el.dataset['ticks'] = JSON.stringify(u.axes.map((a) => (a as { _values?: unknown[] | null })._values ?? []));
    },
  ];
}

function widthOf(el: HTMLElement): number {
  return Math.max(320, Math.floor(el.clientWidth || 640));
}

/** Creates the plot and keeps it as wide as its container. */
function mount(
  el: HTMLElement,
  kind: string,
  opts: Omit<uPlot.Options, 'width' | 'height'> & { height?: number },
  data: uPlot.AlignedData,
): ChartHandle {
  const height = opts.height ?? DEFAULT_HEIGHT;
  const plot = new uPlot(
    {
      ...opts,
      width: widthOf(el),
      height,
      hooks: { ...opts.hooks, draw: [...(opts.hooks?.draw ?? []), ...(mark(el, kind) ?? [])] },
    },
    data,
    el,
  );
  let last = widthOf(el);
  const ro =
    typeof ResizeObserver === 'undefined'
      ? undefined
      : new ResizeObserver(() => {
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
      ...(s.pointsOnly
        ? { paths: () => null, points: { show: true, size: s.pointSize ?? 8, fill: color, stroke: color } }
        : s.pointSize
          ? { points: { show: true, size: s.pointSize, fill: color, stroke: color } }
          : {}),
      spanGaps: true,
      value: (_u: uPlot, v: number | null) => fmt(v),
    };
  });
}

export const fmtMs = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : `${formatNumber(v)} ms`);

/** uPlot axis `values` for numbers: formatTick on every tick. */
export const tickValues = (_u: uPlot, vals: ReadonlyArray<number | null>): string[] => vals.map(formatTick);

/** Tick steps for whole counts (queries, requests, queue depth): never 0.5 or 2.5. */
export const INTEGER_INCRS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8,
];

/** A 0-based range with headroom; an all-zero series gets 0..floor rather than 0..1e-9. */
function zeroBased(floor: number, headroom = 1.1): uPlot.Range.Function {
  return (_u, _min, max) => [0, Math.max(floor, Number.isFinite(max) ? max : 0) * headroom];
}

export interface HistogramBins {
  /** n + 1 bin edges in ms, ascending (log-spaced in rtinfer.bench/1). */
  edgesMs: readonly number[];
  /** n counts. */
  counts: readonly number[];
}

export interface HistogramHandle extends ChartHandle {
  /** Replaces the bins (any number of them) and redraws, axis labels included. */
  setBins(bins: HistogramBins): void;
}

/**
 * Latency histogram. Bars sit on the bin index, so rtinfer's log-spaced bins come out equally wide
 * (a log latency axis) while the labels show the bins' edges in ms. `setBins` swaps the bins.
 */
export function histogramChart(
  el: HTMLElement,
  bins: HistogramBins,
  o: { title?: string; height?: number } = {},
): HistogramHandle {
  let cur = bins;
  const n = (): number => cur.counts.length;
  const edge = (i: number): number => cur.edgesMs[i] ?? NaN;
  const every = (): number => Math.max(1, Math.ceil(n() / 8));
  const xRange = (): uPlot.Range.MinMax => [-0.6, Math.max(1, n()) - 0.4];
  const table = (b: HistogramBins): uPlot.AlignedData => [b.counts.map((_c, i) => i), [...b.counts]];
  const bars = uPlot.paths.bars?.({ size: [0.92, Infinity], align: 0 });
  const handle = mount(
    el,
    'histogram',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: false, range: () => xRange() }, y: { range: zeroBased(1, 1.05) } },
      axes: [
        // Ticks at bin boundaries (x = i - 0.5 is the lower edge of bin i), labelled with the edge in ms.
        {
          label: 'latency (ms, log scale)',
          splits: () => Array.from({ length: Math.floor(n() / every()) + 1 }, (_v, k) => k * every() - 0.5),
          values: (_u, vals) => vals.map((v) => formatTick(edge(Math.round(v + 0.5)))),
        },
        // Whole queries only: no 2.5 ticks.
        { label: 'queries', incrs: INTEGER_INCRS, values: tickValues },
      ],
      series: [
        {
          label: 'bin',
          value: (_u, v) => (v === null ? '–' : `${formatNumber(edge(v))}–${formatNumber(edge(v + 1))} ms`),
        },
        {
          label: 'queries',
          stroke: COLORS[0],
          fill: 'rgba(28,126,214,0.35)',
          width: 1,
          ...(bars ? { paths: bars } : {}),
          points: { show: false },
        },
      ],
    },
    table(cur),
  );
  return {
    ...handle,
    setBins: (b) => {
      cur = b;
      handle.plot.batch(() => {
        handle.plot.setData(table(b));
        const [min, max] = xRange();
        handle.plot.setScale('x', { min: min ?? -0.6, max: max ?? 0.6 });
      });
    },
  };
}

export interface CdfSeries {
  label: string;
  color?: string;
  /** [latency ms, fraction 0..1] pairs, fraction ascending (nearest-rank quantiles). */
  points: ReadonlyArray<readonly [number, number]>;
  /**
   * How many queries the quantiles come from. With it, quantiles past 1 - 1/count (which nearest
   * rank reads as the maximum anyway) are left out, and the maximum (q = 1) is drawn at
   * q = 1 - 1/count, where the maximum's quantiles (1 - 1/count, 1] begin. Without it the maximum sits half a
   * decade past the last other quantile. Either way its tick says "max".
   */
  count?: number;
}

/** x of quantile q on the "nines" axis: -log10(1 - q); 0.9 → 1, 0.99 → 2. */
export const ninesX = (q: number): number => -Math.log10(1 - q);

/** "50%", "99.9%" for an x on the nines axis. */
function ninesLabel(x: number): string {
  const q = 1 - 10 ** -x;
  const pct = Math.round(q * 100 * 1e6) / 1e6;
  return `${Number.isInteger(pct) ? pct.toFixed(0) : String(pct)}%`;
}

/**
 * Latency by percentile, on the nines axis that HdrHistogram plots use: x = -log10(1 - q), so 90 %,
 * 99 %, 99.9 % ... are equally spaced and the tail gets as much room as the body. y is latency in ms.
 * The maximum (q = 1, x infinite) is clamped as CdfSeries.count says and its tick is labelled "max".
 */
export function cdfChart(
  el: HTMLElement,
  series: readonly CdfSeries[],
  o: { title?: string; height?: number } = {},
): ChartHandle {
  let maxX = 0;
  const tables = series.map((s) => {
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && p[1] >= 0 && p[1] <= 1);
    const cut = s.count !== undefined && s.count > 0 ? 1 - 1 / s.count : 1;
    const body = pts.filter((p) => p[1] < 1 && p[1] <= cut + 1e-12);
    const top = pts.find((p) => p[1] === 1) ?? (s.count === 1 ? pts[0] : undefined);
    const lastX = body.length ? ninesX(body[body.length - 1]?.[1] ?? 0) : 0;
    const xs = body.map((p) => ninesX(p[1]));
    const ys = body.map((p) => p[0]);
    if (top) {
      const x = s.count !== undefined && s.count > 1 ? Math.max(Math.log10(s.count), lastX) : lastX + 0.5;
      xs.push(x);
      ys.push(top[0]);
      maxX = Math.max(maxX, x);
    } else maxX = Math.max(maxX, lastX);
    return [xs, ys] as uPlot.AlignedData;
  });
  const data = tables.length === 1 ? (tables[0] as uPlot.AlignedData) : uPlot.join(tables);
  const isMax = (x: number): boolean => maxX > 0 && Math.abs(x - maxX) < 1e-9;
  // 0 %, 50 %, then each nine the data reaches; "max" where the maximum sits. A nine within a fifth
  // of a decade of the max gives way to it (the labels would overlap).
  const splits = (): number[] => {
    const ticks = [0, Math.log10(2)];
    for (let k = 1; k <= Math.floor(maxX + 1e-9); k++) ticks.push(k);
    return [...ticks.filter((t) => maxX - t >= 0.2 || t === 0), ...(maxX > 0 ? [maxX] : [])].sort((a, b) => a - b);
  };
  const xLabel = (v: number | null): string => (v === null ? '–' : isMax(v) ? 'max' : ninesLabel(v));
  return mount(
    el,
    'cdf',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: false, range: () => [0, Math.max(1, maxX) * 1.03] }, y: { range: zeroBased(1e-3) } },
      axes: [
        { label: 'percentile ("nines" scale)', splits, values: (_u, vals) => vals.map((v) => xLabel(v)) },
        { label: 'latency (ms)', values: tickValues },
      ],
      series: [
        { label: 'percentile', value: (_u, v) => xLabel(v) },
        ...seriesOf(
          series.map((s) => ({ label: s.label, pointSize: 4, ...(s.color ? { color: s.color } : {}) })),
          fmtMs,
        ),
      ],
    },
    data,
  );
}

/** A value axis of a time-series chart. */
export interface ValueAxis {
  label?: string;
  /** Whole numbers (counts, queue depth): integer ticks only, and 0..4 when everything is zero. */
  integer?: boolean;
  /** The top of the range is at least this (default 4 for integer axes, 1 otherwise). */
  floor?: number;
}

/**
 * Values over time: x is Unix time in seconds; `setData` with a sliding window to animate it.
 * Series on `scale: 'right'` get a right-hand axis (`right`).
 */
export function timeSeriesChart(
  el: HTMLElement,
  series: readonly SeriesSpec[],
  o: { title?: string; height?: number; y?: ValueAxis; right?: ValueAxis; format?: (v: number | null) => string } = {},
): ChartHandle {
  const fmt = o.format ?? ((v: number | null) => (v === null ? '–' : formatNumber(v)));
  const right = series.some((s) => s.scale === 'right');
  const empty: uPlot.AlignedData = [[], ...series.map(() => [])];
  const range = (a: ValueAxis | undefined): uPlot.Range.Function => zeroBased(a?.floor ?? (a?.integer ? 4 : 1));
  const axis = (a: ValueAxis | undefined): uPlot.Axis => ({
    label: a?.label ?? '',
    values: tickValues,
    ...(a?.integer ? { incrs: INTEGER_INCRS } : {}),
  });
  return mount(
    el,
    'timeseries',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: true }, y: { range: range(o.y) }, ...(right ? { right: { range: range(o.right) } } : {}) },
      axes: [
        {},
        axis(o.y),
        ...(right ? [{ ...axis(o.right), side: 1 as const, scale: 'right', grid: { show: false } }] : []),
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
export function tradeoffChart(
  el: HTMLElement,
  points: readonly TradeoffPoint[],
  o: { title?: string; height?: number; latencyLabel?: string } = {},
): ChartHandle {
  const sorted = points
    .filter((p) => Number.isFinite(p.throughput) && Number.isFinite(p.latencyMs))
    .sort((a, b) => a.throughput - b.throughput || a.latencyMs - b.latencyMs);
  const xs = sorted.map((p) => p.throughput);
  const all = sorted.map((p) => (p.pareto ? null : p.latencyMs));
  const front = sorted.map((p) => (p.pareto ? p.latencyMs : null));
  const labelAt = (i: number | null | undefined): string =>
    i === null || i === undefined ? '' : (sorted[i]?.label ?? '');
  return mount(
    el,
    'tradeoff',
    {
      ...(o.title ? { title: o.title } : {}),
      height: o.height ?? 340,
      scales: { x: { time: false, range: zeroBased(1, 1.08) }, y: { range: zeroBased(1e-3) } },
      axes: [
        { label: 'throughput (queries/s)', values: tickValues },
        { label: o.latencyLabel ?? 'p99 latency (ms)', values: tickValues },
      ],
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

/** Colours for many series; the frontier's orange (FRONTIER_COLOR) is not among the first ten. */
const CURVE_COLORS = [
  '#1c7ed6',
  '#2b8a3e',
  '#7048e8',
  '#0c8599',
  '#c2255c',
  '#495057',
  '#74b816',
  '#1864ab',
  '#862e9c',
  '#5c940d',
];
export const FRONTIER_COLOR = '#e8590c';

function curveColor(i: number): string {
  return CURVE_COLORS[i] ?? `hsl(${Math.round((i * 137.508) % 360)}, 55%, 42%)`;
}

export interface CurvePoint {
  throughput: number;
  latencyMs: number;
  pareto: boolean;
  /** What the hover line says about this point (its configuration and load). */
  label: string;
}

export interface Curve {
  /** Legend entry, e.g. "1×1 b8". */
  label: string;
  /** The points in load order: the line joins them in this order. */
  points: readonly CurvePoint[];
}

/**
 * Latency–throughput curves: one line per configuration through its points in load order (so a
 * curve that bends back at saturation shows it), each its own colour and legend entry, and the
 * Pareto frontier (no other point has more throughput at a lower latency) on top: a thick orange
 * line through the frontier points by throughput, each ringed. Hovering a point names it.
 *
 * Each point is one row of the plot's data (x = its throughput), with a value only in its own
 * curve's column and, when it is on the frontier, in the frontier's; so `data-points` is the number
 * of points plus the number of frontier points, and `data-series-points` gives each series' count.
 */
export function curveChart(
  el: HTMLElement,
  curves: readonly Curve[],
  o: { title?: string; height?: number; latencyLabel?: string } = {},
): ChartHandle {
  const ok = (p: CurvePoint): boolean => Number.isFinite(p.throughput) && Number.isFinite(p.latencyMs);
  const rows = curves
    .flatMap((c, ci) => c.points.filter(ok).map((p, k) => ({ p, ci, k })))
    .sort((a, b) => a.p.throughput - b.p.throughput || a.p.latencyMs - b.p.latencyMs);
  const xs = rows.map((r) => r.p.throughput);
  const columns = curves.map((_c, ci) => rows.map((r) => (r.ci === ci ? r.p.latencyMs : null)));
  const frontier = rows.map((r) => (r.p.pareto ? r.p.latencyMs : null));
  // Row indices of each curve in load order, for the path builder.
  const order = curves.map((_c, ci) =>
    rows
      .map((r, i) => ({ r, i }))
      .filter((e) => e.r.ci === ci)
      .sort((a, b) => a.r.k - b.r.k)
      .map((e) => e.i),
  );
  const inLoadOrder =
    (ci: number): uPlot.Series.PathBuilder =>
    (u) => {
      const path = new Path2D();
      const ys = u.data[ci + 1] ?? [];
      (order[ci] ?? []).forEach((row, k) => {
        const x = u.valToPos(u.data[0][row] ?? 0, 'x', true);
        const y = u.valToPos(ys[row] ?? 0, 'y', true);
        if (k === 0) path.moveTo(x, y);
        else path.lineTo(x, y);
      });
      return { stroke: path, fill: null, clip: null, flags: 0 };
    };
  const labelAt = (i: number | null | undefined): string =>
    i === null || i === undefined ? '' : (rows[i]?.p.label ?? '');
  // From 0 unless the points sit far from it (then 0 would squeeze them into a corner; the axis says where it starts).
  const throughputRange: uPlot.Range.Function = (_u, min, max) => {
    if (!Number.isFinite(min) || !Number.isFinite(max) || max <= 0) return [0, 1];
    const span = max - min || max;
    const lo = min - span * 0.15;
    return [lo < max * 0.35 ? 0 : lo, max + span * 0.1];
  };
  return mount(
    el,
    'curve',
    {
      ...(o.title ? { title: o.title } : {}),
      height: o.height ?? 380,
      scales: { x: { time: false, range: throughputRange }, y: { range: zeroBased(1e-3) } },
      axes: [
        { label: 'throughput (queries/s)', values: tickValues },
        { label: o.latencyLabel ?? 'p99 latency (ms)', values: tickValues },
      ],
      cursor: { points: { size: 12 } },
      series: [
        { label: 'point', value: (u, _v) => labelAt(u.cursor.idx) },
        ...curves.map((c, ci): uPlot.Series => {
          const color = curveColor(ci);
          return {
            label: c.label,
            stroke: color,
            width: 1.5,
            paths: inLoadOrder(ci),
            points: { show: true, size: 7, fill: color, stroke: color },
            spanGaps: true,
            value: (_u, v) => fmtMs(v),
          };
        }),
        // Drawn last, so on top: a line through the frontier points, each ringed.
        {
          label: 'Pareto frontier',
          stroke: FRONTIER_COLOR,
          width: 3,
          points: { show: true, size: 15, width: 2.5, fill: 'rgba(255,255,255,0)', stroke: FRONTIER_COLOR },
          spanGaps: true,
          value: (_u, v) => fmtMs(v),
        },
      ],
    },
    [xs, ...columns, frontier] as uPlot.AlignedData,
  );
}

/** Lines over a categorical x axis (1..n), labelled by `labels`: e.g. percentiles per sweep point. */
export function categoryChart(
  el: HTMLElement,
  labels: readonly string[],
  series: readonly (SeriesSpec & { values: readonly (number | null)[] })[],
  o: { title?: string; height?: number; yLabel?: string } = {},
): ChartHandle {
  const xs = labels.map((_l, i) => i + 1);
  return mount(
    el,
    'category',
    {
      ...(o.title ? { title: o.title } : {}),
      ...(o.height ? { height: o.height } : {}),
      scales: { x: { time: false, range: [0.5, labels.length + 0.5] }, y: { range: zeroBased(1e-3) } },
      axes: [
        {
          label: 'point',
          splits: () => xs,
          values: (_u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : '')),
        },
        { label: o.yLabel ?? '', values: tickValues },
      ],
      series: [
        { label: 'point', value: (_u, v) => (v === null ? '' : `${v}: ${labels[v - 1] ?? ''}`) },
        ...seriesOf(
          series.map((s) => ({ pointSize: 7, ...s })),
          fmtMs,
        ),
      ],
    },
    [xs, ...series.map((s) => [...s.values])] as uPlot.AlignedData,
  );
}
