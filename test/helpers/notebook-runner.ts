import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Execute a notebook the way a student would, with the project's tslab kernel, and check the
 * result. Used by test/notebooks.test.ts (the real notebooks) and test/notebook-runner.test.ts.
 *
 * A notebook passes when `jupyter nbconvert --execute` exits 0 and the executed notebook has:
 * - no output of type "error";
 * - no stderr stream output containing "Error" (catches errors a cell caught and printed, and
 *   tslab's own reports), unless the cell has the tag `allow-stderr-error`
 *   (JupyterLab: property inspector → Common Tools → Cell Tags);
 * - an execution_count on every non-empty code cell (i.e. every cell ran, none was dropped).
 *
 * Two tslab 1.0.22 quirks shape this:
 * - After an error, tslab ignores requests for 200 ms, so later cells come back empty. The runner
 *   therefore never passes --allow-errors: the first failing cell ends the run.
 * - tslab sends no `execute_input` message, so nbclient never fills in execution_count. A
 *   generated nbconvert config copies the count from each cell's execute_reply, and also logs every
 *   executed cell (outputs included) to a .jsonl file. nbconvert writes no output notebook when a
 *   cell fails, so that log is what shows a failed run's stderr, cell by cell.
 */

/** The project root: the folder above this file whose package.json names the kit. */
export const PROJECT_ROOT: string = findProjectRoot(__dirname);
export const NOTEBOOKS_DIR: string = path.join(PROJECT_ROOT, 'notebooks');
export const JUPYTER: string = path.join(PROJECT_ROOT, '.venv', 'bin', 'jupyter');
export const KERNEL_NAME = 'tslab';
/** Cell tag that lets a cell print "Error" on stderr (e.g. a cell that shows a caught error). */
export const ALLOW_STDERR_ERROR_TAG = 'allow-stderr-error';

export type Output =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string | string[] }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] }
  | { output_type: 'execute_result' | 'display_data'; data: Record<string, unknown>; metadata?: unknown; execution_count?: number | null };

export interface Cell {
  id?: string;
  cell_type: 'code' | 'markdown' | 'raw';
  source: string | string[];
  metadata: { tags?: string[]; [key: string]: unknown };
  outputs?: Output[];
  execution_count?: number | null;
}

export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** Something wrong with one cell of an executed notebook. */
export interface CellProblem {
  /** 0-based index into the notebook's cells (markdown cells count too, as in JupyterLab). */
  cell: number;
  problem: string;
}

export interface RunOptions {
  /** Where the executed notebook, its HTML and the logs go (created; old files of this notebook are replaced). */
  outDir: string;
  /** Also export the executed (or partially executed) notebook to HTML. Default true. */
  html?: boolean;
  /** Per-cell timeout in seconds. Default 1800: a training cell on the cpu backend is slow. */
  cellTimeoutS?: number;
  /** Extra environment for nbconvert and the kernel (KIT_PROFILE defaults to `smoke`). */
  env?: NodeJS.ProcessEnv;
}

export interface NotebookRun {
  notebook: string;
  ok: boolean;
  /** nbconvert's exit code (null when killed by a signal). */
  exitCode: number | null;
  seconds: number;
  /** The source notebook with the outputs of every cell that ran (also when the run failed). */
  executed: Notebook;
  /** The executed notebook on disk: nbconvert's output, or `<name>.partial.ipynb` after a failure. */
  executedPath: string;
  htmlPath: string | undefined;
  /** The first cell that did not finish (error, timeout, dead kernel), if nbconvert failed. */
  failedCell: number | undefined;
  problems: CellProblem[];
  /** Everything nbconvert (and the kernel process outside cell executions) wrote to stderr. */
  nbconvertStderr: string;
}

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'convnext-xray-kit') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no convnext-xray-kit package.json above ${start}`);
  }
}

export function sourceOf(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

function textOf(text: string | string[]): string {
  return Array.isArray(text) ? text.join('') : text;
}

/** Everything a cell wrote to one stream, concatenated. */
export function streamText(cell: Cell, name: 'stdout' | 'stderr'): string {
  return (cell.outputs ?? [])
    .map((o) => (o.output_type === 'stream' && o.name === name ? textOf(o.text) : ''))
    .join('');
}

/** The notebooks in `dir` (sorted by name, so 01-… runs before 02-…), optionally only those whose name contains one of `filters`. */
export function listNotebooks(dir: string = NOTEBOOKS_DIR, filters: readonly string[] = []): string[] {
  if (!fs.existsSync(dir)) return [];
  const names = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.ipynb') && !n.endsWith('.nbconvert.ipynb'))
    .sort();
  const wanted = filters.map((f) => f.toLowerCase());
  return names.filter((n) => wanted.length === 0 || wanted.some((f) => n.toLowerCase().includes(f))).map((n) => path.join(dir, n));
}

/** A tslab notebook with one code cell per source string (for tests). */
export function makeNotebook(sources: readonly string[], tags: readonly (readonly string[])[] = []): Notebook {
  return {
    cells: sources.map((source, i) => ({
      id: `cell-${i}`,
      cell_type: 'code',
      source,
      metadata: tags[i] ? { tags: [...tags[i]] } : {},
      outputs: [],
      execution_count: null,
    })),
    metadata: {
      kernelspec: { name: KERNEL_NAME, display_name: 'TypeScript', language: 'typescript' },
      language_info: { name: 'typescript' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** The checks of an executed notebook (see the top of this file). Pure: no kernel needed. */
export function checkNotebook(nb: Notebook): CellProblem[] {
  const problems: CellProblem[] = [];
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'code' || sourceOf(cell).trim() === '') return;
    for (const o of cell.outputs ?? []) {
      if (o.output_type === 'error') problems.push({ cell: i, problem: `error output: ${o.ename}: ${o.evalue}` });
    }
    const stderr = streamText(cell, 'stderr');
    if (stderr.includes('Error') && !(cell.metadata.tags ?? []).includes(ALLOW_STDERR_ERROR_TAG)) {
      problems.push({ cell: i, problem: `stderr contains "Error" (tag the cell ${ALLOW_STDERR_ERROR_TAG} if that is expected)` });
    }
    if (cell.execution_count === null || cell.execution_count === undefined) {
      problems.push({ cell: i, problem: 'no execution_count: the cell did not run' });
    }
  });
  return problems;
}

function readNotebook(file: string): Notebook {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Notebook;
}

/** The nbconvert config (Python) that fills in execution_count and logs every executed cell. */
function nbconvertConfig(cellLog: string): string {
  return `# Generated by test/helpers/notebook-runner.ts for one run; see the comment there.
import json

def _on_cell_executed(cell, cell_index, execute_reply):
    content = execute_reply.get("content", {})
    if cell.get("execution_count") is None and content.get("execution_count") is not None:
        cell["execution_count"] = content["execution_count"]
    entry = {"index": cell_index, "status": content.get("status"),
             "execution_count": cell.get("execution_count"), "outputs": cell.get("outputs", [])}
    with open(${JSON.stringify(cellLog)}, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\\n")

c.ExecutePreprocessor.on_cell_executed = _on_cell_executed
`;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The environment nbconvert and the kernel run with: this Node and the venv first on PATH, KIT_PROFILE=smoke unless set. */
export function notebookEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const first = [path.dirname(process.execPath), path.dirname(JUPYTER)];
  const rest = (process.env.PATH ?? '').split(path.delimiter).filter((p) => p !== '' && !first.includes(p));
  return {
    ...process.env,
    KIT_PROFILE: process.env.KIT_PROFILE || 'smoke',
    ...extra,
    PATH: [...first, ...rest].join(path.delimiter),
    JUPYTER_PREFER_ENV_PATH: '1',
  };
}

/**
 * Execute `notebookPath` with nbconvert and the tslab kernel; the kernel starts in the notebook's
 * folder, as in JupyterLab. Never throws for a failing notebook: the result says what went wrong.
 */
export async function runNotebook(notebookPath: string, options: RunOptions): Promise<NotebookRun> {
  if (!fs.existsSync(JUPYTER)) {
    throw new Error(`${path.relative(PROJECT_ROOT, JUPYTER)} is missing: run \`npm run setup\` (it creates .venv with nbconvert and the tslab kernel)`);
  }
  const source = readNotebook(notebookPath);
  const stem = path.basename(notebookPath, '.ipynb');
  const outDir = path.resolve(options.outDir);
  fs.mkdirSync(outDir, { recursive: true });
  const file = (suffix: string): string => path.join(outDir, `${stem}${suffix}`);
  for (const suffix of ['.ipynb', '.partial.ipynb', '.html', '.partial.html', '.cells.jsonl', '.nbconvert-config.py']) {
    fs.rmSync(file(suffix), { force: true });
  }
  const cellLog = file('.cells.jsonl');
  fs.writeFileSync(file('.nbconvert-config.py'), nbconvertConfig(cellLog));
  const env = notebookEnv(options.env);

  const started = Date.now();
  const res = await exec(
    JUPYTER,
    [
      'nbconvert',
      `--config=${file('.nbconvert-config.py')}`,
      '--to=notebook',
      '--execute',
      `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`,
      `--ExecutePreprocessor.timeout=${options.cellTimeoutS ?? 1800}`,
      `--output-dir=${outDir}`,
      `--output=${stem}`,
      notebookPath,
    ],
    path.dirname(notebookPath),
    env,
  );
  const seconds = (Date.now() - started) / 1000;

  // What ran, from the cell log: the only record of outputs when nbconvert failed.
  const logged = new Map<number, { execution_count: number | null; outputs: Output[]; status: string }>();
  if (fs.existsSync(cellLog)) {
    for (const line of fs.readFileSync(cellLog, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const e = JSON.parse(line) as { index: number; execution_count: number | null; outputs: Output[]; status: string };
      logged.set(e.index, e);
    }
  }
  let executed: Notebook;
  let executedPath = file('.ipynb');
  let failedCell: number | undefined;
  if (res.code === 0 && fs.existsSync(executedPath)) {
    executed = readNotebook(executedPath);
  } else {
    executed = structuredClone(source);
    executed.cells.forEach((cell, i) => {
      const e = logged.get(i);
      if (e) {
        cell.outputs = e.outputs;
        cell.execution_count = e.execution_count;
      } else if (cell.cell_type === 'code') {
        cell.outputs = [];
        cell.execution_count = null;
      }
    });
    // The failing cell: one whose reply said error, else the first runnable cell that never finished.
    failedCell = [...logged.entries()].find(([, e]) => e.status === 'error')?.[0];
    failedCell ??= source.cells.findIndex((c, i) => c.cell_type === 'code' && sourceOf(c).trim() !== '' && !logged.has(i));
    if (failedCell === -1) failedCell = undefined;
    executedPath = file('.partial.ipynb');
    fs.writeFileSync(executedPath, `${JSON.stringify(executed, null, 1)}\n`);
  }

  let htmlPath: string | undefined;
  let htmlError = '';
  if (options.html ?? true) {
    const htmlStem = path.basename(executedPath, '.ipynb');
    const h = await exec(JUPYTER, ['nbconvert', '--to=html', `--output-dir=${outDir}`, `--output=${htmlStem}`, executedPath], outDir, env);
    if (h.code === 0) htmlPath = path.join(outDir, `${htmlStem}.html`);
    else htmlError = `\n[HTML export of ${executedPath} failed (exit ${h.code})]\n${h.stderr}`;
  }

  // The failed cell is reported as such, and nothing after it ran: no need to list more.
  const problems = checkNotebook(executed).filter((p) => failedCell === undefined || p.cell < failedCell);
  return {
    notebook: notebookPath,
    ok: res.code === 0 && problems.length === 0,
    exitCode: res.code,
    seconds,
    executed,
    executedPath,
    htmlPath,
    failedCell,
    problems,
    nbconvertStderr: res.stderr + htmlError,
  };
}

function indent(text: string, prefix = '    '): string {
  return text.replace(/\n$/, '').replace(/^/gm, prefix);
}

/**
 * A report a person can act on: the notebook, the failing cell's index and source, every cell's
 * stderr (where tslab puts the real error text), and nbconvert's own error.
 */
export function formatRun(run: NotebookRun): string {
  const rel = path.relative(PROJECT_ROOT, run.notebook);
  const lines: string[] = [];
  const status = run.ok ? 'passed' : run.exitCode === 0 ? 'ran, but the executed notebook has problems' : `failed: nbconvert exited with ${run.exitCode ?? 'a signal'}`;
  lines.push(`notebook ${rel}: ${status} (${run.seconds.toFixed(1)} s, KIT_PROFILE=${process.env.KIT_PROFILE || 'smoke'})`);
  const cellIndexes = new Set<number>(run.problems.map((p) => p.cell));
  if (run.failedCell !== undefined) cellIndexes.add(run.failedCell);
  for (const i of [...cellIndexes].sort((a, b) => a - b)) {
    const cell = run.executed.cells[i];
    if (!cell) continue;
    const what = [
      ...(i === run.failedCell ? ['execution stopped here (error, timeout or dead kernel)'] : []),
      ...run.problems.filter((p) => p.cell === i).map((p) => p.problem),
    ];
    lines.push('', `cell ${i} (0-based; execution_count ${cell.execution_count ?? 'none'}): ${what.join('; ')}`, '  source:', indent(sourceOf(cell)));
  }
  const stderrCells = run.executed.cells.map((c, i) => [i, streamText(c, 'stderr')] as const).filter(([, s]) => s.trim() !== '');
  if (stderrCells.length > 0) {
    lines.push('', 'stderr of the cells that ran:');
    for (const [i, s] of stderrCells) lines.push(`  cell ${i}:`, indent(s));
  }
  if (!run.ok && run.exitCode !== 0) {
    const err = run.nbconvertStderr;
    // nbclient's exceptions (CellExecutionError, CellTimeoutError, DeadKernelError) repeat the cell
    // source and its stderr: start the excerpt there, else at the last Python exception line.
    let at = err.indexOf('nbclient.exceptions.');
    if (at < 0) at = [...err.matchAll(/^\S*(Error|Exception)\b.*$/gm)].pop()?.index ?? -1;
    let excerpt = at >= 0 ? err.slice(at) : err.slice(-6000);
    if (run.failedCell !== undefined) excerpt = excerpt.replace(/(following cell:\n)-{18}\n[\s\S]*?\n-{18}\n/, `$1[cell ${run.failedCell}, source shown above]\n`);
    if (stderrCells.length > 0) excerpt = excerpt.replace(/^----- stderr -----\n[\s\S]*?\n-{18}\n/m, '----- stderr ----- [shown above]\n');
    lines.push('', 'nbconvert stderr (from its error on):', indent(excerpt.trimEnd()));
  }
  lines.push('', `executed notebook: ${path.relative(PROJECT_ROOT, run.executedPath)}`);
  if (run.htmlPath) lines.push(`HTML: ${path.relative(PROJECT_ROOT, run.htmlPath)}`);
  return lines.join('\n');
}
