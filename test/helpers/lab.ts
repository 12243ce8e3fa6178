import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { notebookEnv, PROJECT_ROOT } from './notebook-runner';

/**
 * JupyterLab in a real browser, for test/lab.test.ts: start the kit's launcher (scripts/lab.js)
 * on a free port with a token, and drive notebooks with test/lab/driver.py (Playwright for
 * Python, in the kit's .venv, using the system Chromium: Playwright never downloads one here).
 */

export const PYTHON: string = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
export const DRIVER: string = path.join(PROJECT_ROOT, 'test', 'lab', 'driver.py');
/** The browser binary: KIT_CHROMIUM, else Debian's `chromium` package. */
export const CHROMIUM: string = process.env.KIT_CHROMIUM || '/usr/bin/chromium';

/** Why the lab test cannot run here (undefined when it can): what is missing and how to get it. */
export function labMissing(): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `no browser at ${CHROMIUM}; fix: \`apt-get install chromium\` (or set KIT_CHROMIUM)`;
  const res = spawnSync(PYTHON, ['-c', 'import playwright'], { encoding: 'utf8' });
  if (res.status !== 0) return `Playwright is not installed in .venv; fix: \`.venv/bin/pip install -r requirements-lab.txt\``;
  return undefined;
}

export interface Lab {
  url: string;
  token: string;
  /** Everything the launcher and JupyterLab printed (for failure reports). */
  log(): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Stop the launcher's whole process group (it was started detached): SIGTERM, then SIGKILL. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') kill('SIGKILL');
}

/**
 * Start JupyterLab with `node scripts/lab.js` serving `root`, with its own settings (autosave off,
 * so notebooks keep their stripped outputs; every cell kept in the page; no news prompt) and an
 * empty workspace. `env` reaches the kernels too: they inherit the server's environment.
 */
export async function startLab(root: string, stateDir: string, env: NodeJS.ProcessEnv = {}): Promise<Lab> {
  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  const settings = path.join(stateDir, 'settings');
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(settings, '@jupyterlab', 'docmanager-extension'), { recursive: true });
  fs.mkdirSync(path.join(settings, '@jupyterlab', 'notebook-extension'), { recursive: true });
  fs.mkdirSync(path.join(settings, '@jupyterlab', 'apputils-extension'), { recursive: true });
  fs.writeFileSync(path.join(settings, '@jupyterlab', 'docmanager-extension', 'plugin.jupyterlab-settings'), '{"autosave": false}\n');
  fs.writeFileSync(path.join(settings, '@jupyterlab', 'notebook-extension', 'tracker.jupyterlab-settings'), '{"windowingMode": "none"}\n');
  // No "get notified about Jupyter news?" toast over the bottom right of every screenshot.
  fs.writeFileSync(path.join(settings, '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings'), '{"fetchNews": "false"}\n');
  const { PYTHONPATH: _drop, ...base } = notebookEnv(env);
  const args = [
    path.join(PROJECT_ROOT, 'scripts', 'lab.js'),
    '--no-browser',
    `--port=${port}`,
    '--ServerApp.port_retries=0',
    '--ServerApp.ip=127.0.0.1',
    `--IdentityProvider.token=${token}`,
    `--notebook-dir=${root}`,
    `--LabApp.user_settings_dir=${settings}`,
    `--LabApp.workspaces_dir=${path.join(stateDir, 'workspaces')}`,
  ];
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: base, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const lab: Lab = { url, token, log: () => log, stop: () => stopGroup(child) };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`scripts/lab.js exited with ${child.exitCode} before JupyterLab answered:\n${log}`);
    try {
      const res = await fetch(`${url}/api/status?token=${token}`);
      if (res.ok) return lab;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await lab.stop();
      throw new Error(`JupyterLab did not answer on ${url} within 90 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface LabResult {
  notebook: string;
  ok: boolean;
  problems: { cell: number; problem: string }[];
  live: Record<string, { samples: number; distinctStates: number; maxOutputs: number; finalOutputs: number }>;
  seconds: number;
  screenshot: string;
  /** The interrupt scenario only: the epochs the training cell's status line showed in each execution. */
  epochsShown?: { interrupted?: number[]; rerun?: number[] };
  /** The interrupt scenario only: the run's epoch count, and what the cell showed after each execution. */
  epochs?: number;
  interruptedText?: string;
  rerunText?: string;
  /** The interrupt scenario only: how long the kernel was held (SIGSTOP) while the menu was clicked. */
  kernelPausedSeconds?: number;
}

/** The interrupt scenario (test/lab/driver.py --interrupt-cell): see runInLab. */
export interface InterruptScenario {
  /** Index of the training cell in the notebook (markdown cells count, as in JupyterLab). */
  cell: number;
  /** A glob that matches once the run has written its first epoch checkpoint. */
  checkpoint: string;
  /** Where the screenshot of the interrupted cell goes. */
  screenshot: string;
}

export interface DriverRun {
  code: number | null;
  results: LabResult[];
  stderr: string;
}

/**
 * Run `notebooks` (paths relative to the lab's root) in the browser, in order. With `interrupt`
 * (one notebook): run its cells up to the training cell, interrupt that from the Kernel menu once
 * the checkpoint exists, and run it again (driver.py describes the steps).
 */
export function runInLab(lab: Lab, root: string, notebooks: readonly string[], outDir: string, interrupt?: InterruptScenario): Promise<DriverRun> {
  return new Promise((resolve, reject) => {
    const scenario = interrupt === undefined ? [] : [`--interrupt-cell=${interrupt.cell}`, `--checkpoint=${interrupt.checkpoint}`, `--interrupt-screenshot=${interrupt.screenshot}`];
    const args = [DRIVER, `--url=${lab.url}`, `--token=${lab.token}`, `--root=${root}`, `--out=${outDir}`, ...scenario, ...notebooks];
    const child = spawn(PYTHON, args, { cwd: PROJECT_ROOT, env: { ...process.env, KIT_CHROMIUM: CHROMIUM }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const results = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LabResult);
      resolve({ code, results, stderr });
    });
  });
}

export function formatLabRun(run: DriverRun): string {
  const lines = run.results.map(
    (r) => `${r.notebook}: ${r.ok ? 'ok' : 'FAILED'} (${r.seconds} s)${r.problems.map((p) => `\n  cell ${p.cell}: ${p.problem}`).join('')}`,
  );
  if (run.code !== 0) lines.push(`driver exit ${run.code}; stderr:\n${run.stderr.slice(-4000)}`);
  return lines.join('\n');
}
