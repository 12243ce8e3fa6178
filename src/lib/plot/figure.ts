/**
 * Plotly figures as plain data. Traces, layout and config are loosely typed on purpose: they are
 * passed through to Plotly unchanged, and its reference (https://plotly.com/javascript/reference/)
 * is the documentation. The builders below only cover what notebooks write again and again.
 */

/** One Plotly trace, e.g. `{ type: 'scatter', x, y, name }`. */
export type Trace = Record<string, unknown>;
/** Plotly layout (titles, axes, legend, size). */
export type Layout = Record<string, unknown>;
/** Plotly config (toolbar, responsiveness). */
export type PlotConfig = Record<string, unknown>;

export interface Figure {
  data: Trace[];
  layout?: Layout;
  config?: PlotConfig;
}

/** Values along an axis; typed arrays (e.g. from `tensor.dataSync()`) are accepted as they are. */
export type Values = readonly (number | string | null)[] | ArrayLike<number>;

/**
 * A white background with light grid lines, like plotly.py's "plotly_white". plotly.js has no
 * named templates, so it is spelled out; the user's own layout still overrides any of it.
 */
const WHITE_TEMPLATE: Layout = {
  layout: {
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 13, color: '#2a3f5f' },
    colorway: ['#636efa', '#EF553B', '#00cc96', '#ab63fa', '#FFA15A', '#19d3f3', '#FF6692', '#B6E880', '#FF97FF', '#FECB52'],
    xaxis: { gridcolor: '#ebf0f8', zerolinecolor: '#ebf0f8', linecolor: '#c8d4e3', automargin: true },
    yaxis: { gridcolor: '#ebf0f8', zerolinecolor: '#ebf0f8', linecolor: '#c8d4e3', automargin: true },
    hovermode: 'closest',
  },
};

const DEFAULT_CONFIG: PlotConfig = { responsive: true, displaylogo: false };

/**
 * A figure with the kit's defaults: white template, compact margins (room on top only when there
 * is a title), responsive width, no Plotly logo. Strings given as `title` (of the figure or of any
 * axis) are turned into `{ text }`, the only form plotly.js 3+ accepts.
 */
export function figure(data: Trace | readonly Trace[], layout: Layout = {}, config: PlotConfig = {}): Figure {
  const traces = Array.isArray(data) ? [...(data as readonly Trace[])] : [data as Trace];
  const normalized = normalizeTitles(layout);
  const margin = { l: 56, r: 24, b: 48, t: normalized['title'] === undefined ? 24 : 56 };
  return {
    data: traces,
    layout: {
      template: WHITE_TEMPLATE,
      autosize: true,
      ...normalized,
      margin: { ...margin, ...asRecord(normalized['margin']) },
    },
    config: { ...DEFAULT_CONFIG, ...config },
  };
}

/** A line through (x, y); `extra` adds or overrides any trace attribute (name, line, error_y). */
export function line(x: Values, y: Values, extra: Trace = {}): Trace {
  return { type: 'scatter', mode: 'lines', x, y, ...extra };
}

/** Points at (x, y). */
export function scatter(x: Values, y: Values, extra: Trace = {}): Trace {
  return { type: 'scatter', mode: 'markers', x, y, ...extra };
}

/** Vertical bars: one per category in `x`. */
export function bar(x: Values, y: Values, extra: Trace = {}): Trace {
  return { type: 'bar', x, y, ...extra };
}

/** A histogram of `values` (Plotly picks the bins unless `extra.xbins` / `nbinsx` says). */
export function histogram(values: Values, extra: Trace = {}): Trace {
  return { type: 'histogram', x: values, ...extra };
}

/**
 * A heatmap of `z` (rows top to bottom as given, e.g. a confusion matrix with true labels as
 * rows); label the axes with `extra.x` / `extra.y`.
 */
export function heatmap(z: readonly Values[], extra: Trace = {}): Trace {
  return { type: 'heatmap', z, colorscale: 'Blues', ...extra };
}

/** The figure's title text, if it has one (for text fallbacks outside a notebook). */
export function figureTitle(fig: Figure): string | undefined {
  return titleText(fig.layout?.['title']);
}

function titleText(title: unknown): string | undefined {
  if (typeof title === 'string') return title;
  const text = asRecord(title)['text'];
  return typeof text === 'string' ? text : undefined;
}

/** `title: 'x'` → `title: { text: 'x' }` for the figure and every axis (xaxis, yaxis2, ...). */
function normalizeTitles(layout: Layout): Layout {
  const out: Layout = { ...layout };
  if (typeof out['title'] === 'string') out['title'] = { text: out['title'] };
  for (const [key, value] of Object.entries(out)) {
    if (!/^[xyz]axis\d*$/.test(key)) continue;
    const axis = asRecord(value);
    if (typeof axis['title'] === 'string') out[key] = { ...axis, title: { text: axis['title'] } };
  }
  return out;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
