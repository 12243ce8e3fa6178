import { KitError } from '../util/errors';
import { escapeHtml } from './escape';

/** One row per object; columns are the union of keys, in the order they are first seen. */
export type Rows = readonly Readonly<Record<string, unknown>>[];

/**
 * What a danfo.js DataFrame or Series exposes (`columns`, `values`, `index`). Matched by shape so
 * that this module does not load danfo.js (and TensorFlow.js with it) just to draw a table.
 */
export interface FrameLike {
  columns: readonly string[];
  values: readonly unknown[];
  index: readonly (string | number)[];
}

export type TableInput = Rows | FrameLike;

export interface TableOptions {
  caption?: string;
  /** Digits after the decimal point for non-integer numbers (default 4). */
  digits?: number;
  /** tableText only: 'right' pads a column on the left, for numbers already formatted as text (default: left). */
  align?: Readonly<Record<string, 'left' | 'right'>>;
}

/** A table reduced to header and cells; `index` is set only when it carries information. */
export interface TableData {
  columns: string[];
  rows: unknown[][];
  index?: (string | number)[];
}

export function toTableData(input: TableInput): TableData {
  if (Array.isArray(input)) return rowsToTable(input as Rows);
  if (isFrameLike(input)) return frameToTable(input);
  throw new KitError(`A table needs an array of row objects or a danfo.js DataFrame/Series, but got ${describe(input)}.`, {
    where: 'showTable/tableHtml input',
    fix: 'Pass rows like [{ step: "stem", acc: 0.91 }, ...] or a danfo.js DataFrame.',
  });
}

/**
 * Format one cell: integers as they are, other numbers with `digits` decimals, tiny or huge ones
 * in exponent form (so 3e-5 does not print as 0.0000), null/undefined as empty.
 */
export function formatCell(value: unknown, digits = 4): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs >= 1e9 || abs < 0.5 * 10 ** -digits) return value.toExponential(Math.max(0, digits - 1));
    return value.toFixed(digits);
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value) ?? String(value);
}

/** The table as HTML; every header and cell is escaped, numbers are right-aligned. */
export function tableHtml(input: TableInput, options: TableOptions = {}): string {
  const table = toTableData(input);
  const digits = checkDigits(options.digits);
  const header = (table.index ? ['<th></th>'] : []).concat(table.columns.map((c) => `<th>${escapeHtml(c)}</th>`));
  const body = table.rows.map((row, r) => {
    const index = table.index ? [`<th>${escapeHtml(String(table.index[r] ?? ''))}</th>`] : [];
    const cells = row.map((v) => {
      const numeric = typeof v === 'number' || typeof v === 'bigint';
      return `<td${numeric ? ' class="num"' : ''}>${escapeHtml(formatCell(v, digits))}</td>`;
    });
    return `<tr>${index.concat(cells).join('')}</tr>`;
  });
  const caption = options.caption === undefined ? '' : `<caption>${escapeHtml(options.caption)}</caption>`;
  return `${TABLE_STYLE}<table class="kit-table">${caption}<thead><tr>${header.join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

/** The table as aligned plain text, for the CLI and for runs outside a notebook. */
export function tableText(input: TableInput, options: TableOptions = {}): string {
  const table = toTableData(input);
  const digits = checkDigits(options.digits);
  const lead = table.index ? [''] : [];
  const header = lead.concat(table.columns);
  const lines: string[][] = [header];
  table.rows.forEach((row, r) => {
    const index = table.index ? [String(table.index[r] ?? '')] : [];
    lines.push(index.concat(row.map((v) => formatCell(v, digits))));
  });
  const widths = header.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)));
  const right = header.map((name, c) => c >= lead.length && options.align?.[name] === 'right');
  const pad = (cell: string, c: number): string => (right[c] === true ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0));
  const text = lines.map((l) => l.map(pad).join('  ').trimEnd());
  if (text.length > 1) text.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return (options.caption === undefined ? [] : [options.caption]).concat(text).join('\n');
}

// Scoped by class so it never restyles the rest of the notebook page.
const TABLE_STYLE =
  '<style>.kit-table{border-collapse:collapse;font:13px system-ui,sans-serif;margin:4px 0}' +
  '.kit-table caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}' +
  '.kit-table th,.kit-table td{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:left}' +
  '.kit-table thead th{border-bottom:2px solid #9ca3af}' +
  '.kit-table td.num{text-align:right;font-variant-numeric:tabular-nums}</style>';

function rowsToTable(rows: Rows): TableData {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
    }
  }
  return { columns, rows: rows.map((row) => columns.map((c) => row[c])) };
}

function frameToTable(frame: FrameLike): TableData {
  // A Series has 1-D values and one column name; a DataFrame has one array per row.
  const isSeries = frame.values.length > 0 && !Array.isArray(frame.values[0]);
  const rows = isSeries ? frame.values.map((v) => [v]) : frame.values.map((r) => [...(r as readonly unknown[])]);
  const columns = [...frame.columns];
  const defaultIndex = frame.index.every((v, i) => v === i);
  return defaultIndex ? { columns, rows } : { columns, rows, index: [...frame.index] };
}

function isFrameLike(x: unknown): x is FrameLike {
  if (typeof x !== 'object' || x === null) return false;
  const f = x as Partial<Record<keyof FrameLike, unknown>>;
  return Array.isArray(f.columns) && Array.isArray(f.values) && Array.isArray(f.index);
}

function checkDigits(digits: number | undefined): number {
  if (digits === undefined) return 4;
  if (!Number.isInteger(digits) || digits < 0 || digits > 20) {
    throw new KitError(`Table digits must be an integer from 0 to 20, but got ${digits}.`, {
      where: 'TableOptions.digits',
      fix: 'Pass e.g. { digits: 3 } for three decimals.',
    });
  }
  return digits;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return `an object with keys [${Object.keys(x).slice(0, 5).join(', ')}]`;
}
