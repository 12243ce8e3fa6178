import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { KitError, messageOf } from '../util/errors';
import { writeFileAtomic } from '../util/fs';
import { escapeHtml, jsonForScript } from './escape';
import type { Figure } from './figure';
import { tableHtml, type TableInput, type TableOptions } from './table';

export interface FigureHtmlOptions {
  /** The div id; give the same id again to redraw that chart (`liveFigure` does). */
  id?: string;
  /** Chart height in pixels (default: `layout.height`, else 420). */
  height?: number;
}

/**
 * A div and a script that draws `fig` into it once `window.Plotly` exists. In a notebook the
 * Plotly script is a separate, earlier output, so the chart polls for it (up to 10 s) instead of
 * assuming load order. If the div already holds a chart, Plotly.react updates it rather than
 * rebuilding it.
 */
export function figureHtml(fig: Figure, options: FigureHtmlOptions = {}): string {
  const id = options.id ?? newPlotId();
  checkId(id);
  const height = options.height ?? layoutHeight(fig) ?? 420;
  if (!Number.isFinite(height) || height <= 0) {
    throw new KitError(`Figure height must be a positive number of pixels, but got ${height}.`, {
      where: 'figureHtml options.height',
      fix: 'Pass e.g. { height: 360 }, or leave it out for 420 px.',
    });
  }
  const payload = jsonForScript({ data: fig.data, layout: fig.layout ?? {}, config: fig.config ?? {} });
  return (
    `<div id="${id}" class="kit-plot" style="width:100%;height:${height}px"></div>\n` +
    `<script type="text/javascript">\n(function () {\n` +
    `  var fig = ${payload};\n` +
    `  var tries = 0;\n` +
    `  function draw() {\n` +
    `    var el = document.getElementById(${JSON.stringify(id)});\n` +
    `    var P = window.Plotly;\n` +
    `    if (!el || !P) {\n` +
    `      if (++tries < 200) { setTimeout(draw, 50); return; }\n` +
    `      if (el) el.textContent = "Plotly did not load, so this chart cannot be drawn. Re-run the first cell that shows a chart.";\n` +
    `      return;\n` +
    `    }\n` +
    `    if (el._fullLayout) P.react(el, fig.data, fig.layout, fig.config);\n` +
    `    else P.newPlot(el, fig.data, fig.layout, fig.config);\n` +
    `  }\n` +
    `  draw();\n` +
    `})();\n</script>`
  );
}

/** A fresh div id for a chart. */
export function newPlotId(): string {
  return `kit-plot-${crypto.randomBytes(6).toString('hex')}`;
}

let plotlySource: string | undefined;

/**
 * `<script>` holding all of plotly.min.js (about 4.8 MB), read once per process. Inlined rather
 * than loaded from a CDN so charts work offline and inside exported HTML files.
 */
export function plotlyScriptTag(): string {
  plotlySource ??= readPlotlySource();
  return `<script type="text/javascript">${plotlySource}</script>`;
}

function readPlotlySource(): string {
  let file: string;
  try {
    file = require.resolve('plotly.js-dist-min/plotly.min.js');
  } catch (err) {
    throw new KitError('plotly.js-dist-min is not installed, so charts cannot be drawn.', {
      where: 'plotly.js-dist-min/plotly.min.js',
      fix: 'Run `npm install` in the kit folder.',
      cause: err,
    });
  }
  try {
    // A literal "</script" would end the element early; "<\/script" means the same to JS.
    return fs.readFileSync(file, 'utf8').replace(/<\/(script)/gi, '<\\/$1');
  } catch (err) {
    throw new KitError(`Could not read Plotly from ${file}: ${messageOf(err)}`, {
      where: file,
      fix: 'Reinstall it with `npm install`.',
      cause: err,
    });
  }
}

/** A part of a standalone page: a chart, raw HTML, a heading, or a table. */
export type HtmlBlock = Figure | string | { heading: string } | ({ table: TableInput } & TableOptions);

export interface StandalonePage {
  title: string;
  body: readonly HtmlBlock[];
}

/**
 * A complete HTML document that opens offline: Plotly is inlined once in <head> (only when the
 * page has a chart), then each block in order. The same page data always gives the same bytes.
 */
export function standaloneHtml(page: StandalonePage): string {
  const hasFigure = page.body.some(isFigure);
  // Ids by position, so the same report data always gives the same file.
  const blocks = page.body.map((block, i) => `<section>${blockHtml(block, `figure-${i + 1}`)}</section>`);
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(page.title)}</title>`,
    PAGE_STYLE,
    hasFigure ? plotlyScriptTag() : '',
    '</head>',
    '<body>',
    `<h1>${escapeHtml(page.title)}</h1>`,
    ...blocks,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Write `standaloneHtml(page)` to `file` atomically (readers never see half a report). */
export function writeHtml(file: string, page: StandalonePage): void {
  writeFileAtomic(file, standaloneHtml(page));
}

const PAGE_STYLE =
  '<style>body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;' +
  'max-width:1100px;margin:24px auto;padding:0 16px}section{margin:16px 0}h1{font-size:24px}h2{font-size:19px}</style>';

function blockHtml(block: HtmlBlock, id: string): string {
  if (typeof block === 'string') return block;
  if (isFigure(block)) return figureHtml(block, { id });
  if ('heading' in block) return `<h2>${escapeHtml(block.heading)}</h2>`;
  const { table, ...options } = block;
  return tableHtml(table, options);
}

function isFigure(block: HtmlBlock): block is Figure {
  return typeof block === 'object' && Array.isArray((block as Partial<Figure>).data);
}

function layoutHeight(fig: Figure): number | undefined {
  const h = fig.layout?.['height'];
  return typeof h === 'number' ? h : undefined;
}

function checkId(id: string): void {
  // The id is pasted into an attribute and a JS string, so only plain characters are allowed.
  if (!/^[A-Za-z][\w-]*$/.test(id)) {
    throw new KitError(`A chart id must be a letter followed by letters, digits, "_" or "-", but got ${JSON.stringify(id)}.`, {
      where: 'figureHtml options.id',
      fix: 'Use an id like "loss-curve", or leave it out to get a fresh one.',
    });
  }
}
