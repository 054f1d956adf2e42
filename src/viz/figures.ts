// Plotly figure specs as plain JSON data (no plotly.js needed to build them): line, bar with error bars, histogram.
// The spec format is plotly.js's own figure schema ({ data: traces, layout }), see https://plotly.com/javascript/reference/.
import { InputError } from "../core/errors";

export interface PlotlyTrace {
  type: "scatter" | "bar" | "histogram";
  name?: string;
  [key: string]: unknown;
}

export interface PlotlyAxis {
  title?: { text: string };
  type?: "linear" | "log" | "category";
  [key: string]: unknown;
}

export interface PlotlyLayout {
  width: number;
  height: number;
  title?: { text: string };
  xaxis: PlotlyAxis;
  yaxis: PlotlyAxis;
  showlegend: boolean;
  margin: { l: number; r: number; t: number; b: number };
  [key: string]: unknown;
}

/** A plotly figure: JSON-serialisable, renderable by renderFigures or any plotly front end. */
export interface PlotlyFigure {
  data: PlotlyTrace[];
  layout: PlotlyLayout;
}

export interface FigureOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Pixels (default 640 x 400). */
  width?: number;
  height?: number;
  /** Log-scaled y axis. */
  logY?: boolean;
}

export interface LineSeries {
  name: string;
  y: readonly number[];
  /** Default 0, 1, 2, ... */
  x?: readonly number[];
  dash?: "solid" | "dash" | "dot";
  /** Draw markers as well as lines. */
  markers?: boolean;
}

export interface BarSeries {
  name: string;
  categories: readonly string[];
  values: readonly number[];
  /** Symmetric error bar per category (e.g. a standard deviation or a CI half-width). */
  errors?: readonly number[];
}

export interface HistogramSeries {
  name: string;
  values: readonly number[];
}

/** One line per series, sharing axes (e.g. loss curves). Non-finite values become gaps. */
export function lineFigure(series: readonly LineSeries[], options: FigureOptions = {}): PlotlyFigure {
  const data: PlotlyTrace[] = series.map((s, i) => {
    if (s.x && s.x.length !== s.y.length) {
      throw new InputError(`x has ${s.x.length} values but y has ${s.y.length}`, { field: `series.${i}.x` });
    }
    return {
      type: "scatter",
      mode: s.markers ? "lines+markers" : "lines",
      name: s.name,
      x: s.x ? [...s.x] : s.y.map((_, j) => j),
      y: s.y.map(finiteOrNull),
      line: { dash: s.dash ?? "solid" },
    };
  });
  return { data, layout: baseLayout(options, data.length) };
}

/** Grouped bars: one trace per series over shared categories, with optional error bars. */
export function barFigure(series: readonly BarSeries[], options: FigureOptions = {}): PlotlyFigure {
  const data: PlotlyTrace[] = series.map((s, i) => {
    if (s.values.length !== s.categories.length) {
      throw new InputError(`${s.values.length} values for ${s.categories.length} categories`, { field: `series.${i}.values` });
    }
    if (s.errors && s.errors.length !== s.values.length) {
      throw new InputError(`${s.errors.length} errors for ${s.values.length} values`, { field: `series.${i}.errors` });
    }
    const trace: PlotlyTrace = { type: "bar", name: s.name, x: [...s.categories], y: s.values.map(finiteOrNull) };
    if (s.errors) trace.error_y = { type: "data", array: s.errors.map(finiteOrNull), visible: true };
    return trace;
  });
  const layout = baseLayout(options, data.length);
  layout.barmode = "group";
  layout.xaxis.type = "category";
  return { data, layout };
}

/** Overlaid histograms with shared bins (`bins` equal-width bins over the range of all values, default 20). */
export function histogramFigure(
  series: readonly HistogramSeries[],
  options: FigureOptions & { bins?: number } = {},
): PlotlyFigure {
  const edges = binEdges(series.flatMap((s) => s.values.filter(Number.isFinite)), options.bins ?? 20);
  const data: PlotlyTrace[] = series.map((s) => ({
    type: "histogram",
    name: s.name,
    x: s.values.filter(Number.isFinite),
    xbins: edges,
    autobinx: false,
    opacity: series.length > 1 ? 0.6 : 1,
  }));
  const layout = baseLayout({ yTitle: "count", ...options }, data.length);
  layout.barmode = "overlay";
  return { data, layout };
}

/** Plotly xbins for `bins` equal-width bins covering [min, max]; a constant sample gets one unit-wide bin. */
export function binEdges(values: readonly number[], bins: number): { start: number; end: number; size: number } {
  if (!Number.isInteger(bins) || bins < 1) throw new InputError(`bins must be a positive integer, got ${bins}`, { field: "bins" });
  if (values.length === 0) return { start: 0, end: 1, size: 1 };
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) return { start: lo - 0.5, end: hi + 0.5, size: 1 };
  const size = (hi - lo) / bins;
  // the end is nudged so the maximum falls inside the last bin (plotly bins are [start, start + size))
  return { start: lo, end: hi + size * 1e-9, size };
}

function baseLayout(o: FigureOptions, traces: number): PlotlyLayout {
  const layout: PlotlyLayout = {
    width: o.width ?? 640,
    height: o.height ?? 400,
    xaxis: o.xTitle ? { title: { text: o.xTitle } } : {},
    yaxis: o.yTitle ? { title: { text: o.yTitle } } : {},
    showlegend: traces > 1,
    margin: { l: 64, r: 24, t: o.title ? 56 : 24, b: 56 },
  };
  if (o.title) layout.title = { text: o.title };
  if (o.logY) layout.yaxis.type = "log";
  return layout;
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
