import * as path from 'node:path';
import { escapeHtml } from '../plot/escape';
import { figureTitle, type Figure } from '../plot/figure';
import { figureHtml, newPlotId, plotlyScriptTag, type FigureHtmlOptions } from '../plot/html';
import { checkGrayImages, imageGridHtml, type GrayImage, type ImageGridOptions } from '../plot/images';
import { tableHtml, tableText, type TableInput, type TableOptions } from '../plot/table';
import { tslabJupyterModules } from '../util/kernel';
import { formatProgressLine, terminalProgress, type ProgressSink, type ProgressUpdate } from '../util/progress';

/** The part of a tslab `Display` the kit uses. */
export interface HtmlDisplay {
  html(s: string): void;
}

/** Where rich output goes: tslab's `display` (a new output each call) and `newDisplay()` (one output updated in place). */
export interface DisplayHost {
  display: HtmlDisplay;
  newDisplay(): HtmlDisplay;
}

// undefined: detect tslab; null: behave as outside a notebook; a host: use it (tests).
let injectedHost: DisplayHost | null | undefined;
let tslabHost: DisplayHost | undefined;
// The kernel is one process per notebook page, so "Plotly was sent to this page" is process state.
let plotlyShown = false;

/**
 * Replace the tslab display with `host` (a recorder in tests), `null` to act as outside a
 * notebook, or `undefined` to go back to detecting tslab. Also forgets that Plotly was sent and
 * which tslab was found, so each test starts from a fresh "page".
 */
export function setDisplayForTests(host: DisplayHost | null | undefined): void {
  injectedHost = host;
  tslabHost = undefined;
  plotlyShown = false;
}

/** True when running inside a tslab kernel that can show rich output. */
export function inNotebook(): boolean {
  return currentHost() !== undefined;
}

/** Show raw HTML; outside a notebook, print a one-line note instead. */
export function showHtml(html: string): void {
  const host = currentHost();
  if (host === undefined) {
    console.log(`[html output, ${html.length} characters: shown in notebooks only]`);
    return;
  }
  host.display.html(html);
}

/**
 * Show a Plotly figure. The first chart in a kernel process also sends plotly.min.js, once; later
 * charts reuse it (it stays on the page even if that cell is re-run).
 */
export function show(fig: Figure, options: FigureHtmlOptions = {}): void {
  const host = currentHost();
  if (host === undefined) {
    console.log(`[figure: ${describeFigure(fig)}]`);
    return;
  }
  ensurePlotly(host);
  host.display.html(figureHtml(fig, options));
}

/** Show rows or a danfo.js DataFrame as an HTML table; outside a notebook, print it as text. */
export function showTable(input: TableInput, options: TableOptions = {}): void {
  const host = currentHost();
  if (host === undefined) {
    console.log(tableText(input, options));
    return;
  }
  host.display.html(tableHtml(input, options));
}

/** Show grayscale images in a grid with captions; outside a notebook, print what they are. */
export async function showImages(images: readonly GrayImage[], options: ImageGridOptions = {}): Promise<void> {
  const host = currentHost();
  if (host === undefined) {
    checkGrayImages(images);
    const sizes = [...new Set(images.map((img) => `${img.width}×${img.height}`))].join(', ');
    const captions = images.flatMap((img) => (img.caption === undefined ? [] : [img.caption]));
    console.log(`[images: ${images.length} (${sizes})${captions.length > 0 ? `: ${captions.join(', ')}` : ''}]`);
    return;
  }
  host.display.html(await imageGridHtml(images, options));
}

export interface LiveFigure {
  /** The chart's div id, the same for every update. */
  readonly id: string;
  /** Redraw the chart in its one output with `fig` (Plotly.react, so it updates, not stacks). */
  update(fig: Figure): void;
}

/**
 * A chart that is redrawn in place, e.g. training curves after every epoch. Each update re-sends
 * the whole figure, so call it per epoch (or every few hundred ms), not per batch.
 */
export function liveFigure(options: { height?: number } = {}): LiveFigure {
  const id = newPlotId();
  let output: HtmlDisplay | undefined;
  let noted = false;
  return {
    id,
    update(fig: Figure): void {
      const host = currentHost();
      if (host === undefined) {
        // One note, not one per epoch, so CLI logs stay readable.
        if (!noted) console.log(`[live figure: ${describeFigure(fig)}]`);
        noted = true;
        return;
      }
      ensurePlotly(host);
      output ??= host.newDisplay();
      output.html(figureHtml(fig, { id, height: options.height }));
    },
  };
}

/**
 * A ProgressSink drawn as one output updated in place: a line per label (finished stages stay
 * visible). At most one redraw per `minIntervalMs` (default 250 ms, about 4 a second) because
 * each redraw is a message to the browser; a finished update is drawn at once, and a skipped
 * one is drawn when the interval ends, so the last state is always on screen. Outside a
 * notebook it is the terminal progress bar.
 */
export function progressDisplay(options: { minIntervalMs?: number } = {}): ProgressSink {
  const host = currentHost();
  if (host === undefined) return terminalProgress();
  const interval = options.minIntervalMs ?? 250;
  const output = host.newDisplay();
  const lines = new Map<string, { start: number; line: string }>();
  let lastDraw = -Infinity;
  let pending: NodeJS.Timeout | undefined;

  const draw = (): void => {
    if (pending !== undefined) clearTimeout(pending);
    pending = undefined;
    lastDraw = Date.now();
    const text = [...lines.values()].map((l) => escapeHtml(l.line)).join('\n');
    output.html(`<div class="kit-progress" style="font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre">${text}</div>`);
  };

  return (u: ProgressUpdate): void => {
    const now = Date.now();
    const start = lines.get(u.label)?.start ?? now;
    lines.set(u.label, { start, line: formatProgressLine(u, (now - start) / 1000) });
    const finished = u.total !== undefined && u.done >= u.total;
    if (finished || now - lastDraw >= interval) {
      draw();
    } else if (pending === undefined) {
      pending = setTimeout(draw, interval - (now - lastDraw));
      // A pending redraw must not keep a CLI or test process alive.
      pending.unref();
    }
  };
}

/**
 * One output that each html() call replaces in place (a status line, a table that refreshes).
 * Outside a notebook, html() does nothing: callers print their own text there.
 */
export function newOutput(): HtmlDisplay {
  const host = currentHost();
  if (host === undefined) return { html: () => undefined };
  return host.newDisplay();
}

function ensurePlotly(host: DisplayHost): void {
  if (plotlyShown) return;
  host.display.html(plotlyScriptTag());
  plotlyShown = true;
}

function currentHost(): DisplayHost | undefined {
  if (injectedHost !== undefined) return injectedHost ?? undefined;
  tslabHost ??= findTslabHost();
  return tslabHost;
}

/**
 * tslab's display functions, if this process is a tslab kernel that has started running cells.
 * Looks for tslab's jupyter module among already loaded modules instead of requiring it: that
 * keeps the CLI from loading tslab (and TypeScript), finds the kernel's own copy even when tslab
 * is installed globally, and display calls outside a kernel would throw "Not ready".
 */
function findTslabHost(): DisplayHost | undefined {
  for (const { file, exports } of tslabJupyterModules()) {
    if ((exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData == null) continue;
    try {
      const tslab = require(path.join(path.dirname(file), 'public.js')) as Partial<DisplayHost>;
      if (tslab.display !== undefined && typeof tslab.newDisplay === 'function') {
        return { display: tslab.display, newDisplay: tslab.newDisplay.bind(tslab) };
      }
    } catch {
      // Not a usable tslab; keep looking, else fall back to text.
    }
  }
  return undefined;
}

function describeFigure(fig: Figure): string {
  const title = figureTitle(fig);
  if (title !== undefined) return title;
  const types = [...new Set(fig.data.map((t) => (typeof t['type'] === 'string' ? t['type'] : 'scatter')))];
  return `${fig.data.length} trace${fig.data.length === 1 ? '' : 's'} (${types.join(', ')})`;
}
