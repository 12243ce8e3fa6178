import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ablationId } from '../../src/lib/experiment/ablation';
import { ablationDir, runDirOf, runPaths } from '../../src/lib/runs';
import { sharedXrays } from '../helpers/data';
import { notebookEnv, PROJECT_ROOT } from '../helpers/notebook-runner';

/**
 * Kernel › Interrupt during training in a real tslab kernel, as in notebook 03: the cell that
 * trains is interrupted (jupyter_client's interrupt_kernel: SIGINT to the kernel process) after
 * its first epoch, and re-run at once. The interrupted loop must stop (not go on in the
 * background), the re-run must resume it (each epoch trained once), and the weights must be
 * those of an uninterrupted run. nbconvert cannot interrupt a cell, so a small Python driver
 * (test/helpers/kernel_session.py, run with the project's .venv) talks to the kernel.
 */
const PYTHON = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
const DRIVER = path.join(PROJECT_ROOT, 'test', 'helpers', 'kernel_session.py');

fs.mkdirSync(path.join(PROJECT_ROOT, 'test-output'), { recursive: true });
const dir = fs.mkdtempSync(path.join(PROJECT_ROOT, 'test-output', 'nb-interrupt-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface CellResult {
  status: string;
  stdout: string;
  stderr: string;
  errors: string[];
  interrupted: boolean;
  seconds: number;
}

function runSession(cells: { code: string; interrupt_on?: string; timeout?: number }[]): Promise<CellResult[]> {
  const file = path.join(dir, 'session.json');
  fs.writeFileSync(file, JSON.stringify({ kernel: 'tslab', cwd: dir, cells }));
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [DRIVER, file], { cwd: dir, env: notebookEnv({ XRAY_DATA: sharedXrays() }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`kernel driver exited ${code}\n${stderr}`));
      resolve((JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { cells: CellResult[] }).cells);
    });
  });
}

const epochsPrinted = (text: string): number[] => [...text.matchAll(/^EPOCH (\d+)$/gm)].map((m) => Number(m[1]));

test('Kernel › Interrupt stops training in a tslab kernel; the cell re-run at once resumes it to the weights of an uninterrupted run', { skip: !fs.existsSync(PYTHON) && 'no .venv: run `npm run setup`' }, async (t) => {
  const interrupted = path.join(dir, 'runs');
  const straight = path.join(dir, 'straight');
  const epochs = 20;
  const overrides = { epochs };
  const run = (root: string): string => runDirOf(ablationDir(root, ablationId('smoke', overrides)), { step: 'resnet', seed: 0 });
  const lib = path.relative(dir, path.join(PROJECT_ROOT, 'dist', 'src', 'lib')).split(path.sep).join('/');
  const trainCell = (root: string, label: string): string =>
    `const ${label} = await kit.experiment.trainOrLoad(spec, profile, data, ${JSON.stringify(ablationDir(root, ablationId('smoke', overrides)))}, { onEpoch: (s, m) => console.log('EPOCH ' + m.epoch) });\nconsole.log('DONE ${label} ' + ${label}.result.epochs);`;
  const cells = await runSession([
    {
      code: `import * as kit from '${lib}';\nimport * as fs from 'fs';\nconst profile = kit.getProfile('smoke');\nawait kit.backend.selectBackend();\nconst data = await kit.data.loadXrayData({ profile: profile });\nconst spec = { step: 'resnet', seed: 0, profile: 'smoke', overrides: ${JSON.stringify(overrides)} };\nconsole.log('READY in kernel: ' + kit.util.inTslabKernel());`,
    },
    { code: trainCell(interrupted, 'first'), interrupt_on: '^EPOCH 1$', timeout: 120 },
    { code: trainCell(interrupted, 'again') },
    { code: `await null;\nconsole.log('SIGINT listeners ' + process.listenerCount('SIGINT'));\nconsole.log('lock left: ' + fs.existsSync(${JSON.stringify(runPaths(run(interrupted)).lock)}));` },
    { code: trainCell(straight, 'straight') },
  ]);
  const [setup, first, again, check, uninterrupted] = cells;
  t.diagnostic(JSON.stringify(cells.map((c) => ({ status: c.status, seconds: c.seconds, interrupted: c.interrupted, stdout: c.stdout.trim().split('\n').slice(-3), stderr: c.stderr.slice(0, 300) }))));
  assert.ok(setup && first && again && check && uninterrupted, `the driver stopped early: ${JSON.stringify(cells.at(-1))}`);
  assert.match(setup.stdout, /READY in kernel: true/);
  assert.equal(first.interrupted, true, 'the first training cell was interrupted');
  assert.doesNotMatch(first.stdout, /DONE first/);
  assert.match(first.stderr, /Interrupted asynchronously/, 'tslab ends the interrupted cell');

  // The re-run trains each epoch after the checkpoint once: the old loop stopped, no second loop.
  assert.equal(again.status, 'ok', again.stderr);
  assert.match(again.stdout, new RegExp(`DONE again ${epochs}`));
  const before = epochsPrinted(first.stdout);
  const after = epochsPrinted(again.stdout);
  assert.deepEqual([...before, ...after], Array.from({ length: epochs }, (_, i) => i + 1), `epochs printed: interrupted cell ${before}, re-run ${after}`);
  const metrics = fs.readFileSync(runPaths(run(interrupted)).metrics, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { epoch: number }).epoch);
  assert.deepEqual(metrics, Array.from({ length: epochs }, (_, i) => i + 1));
  // The listener of train() is removed afterwards (tslab's own stays), and the lock released.
  assert.match(check.stdout, /SIGINT listeners 1\n/);
  assert.match(check.stdout, /lock left: false/);

  assert.equal(uninterrupted.status, 'ok', uninterrupted.stderr);
  const weights = (root: string): Buffer => fs.readFileSync(path.join(runPaths(run(root)).last, 'weights.bin'));
  assert.ok(weights(interrupted).equals(weights(straight)), 'interrupted + re-run reaches the weights of the uninterrupted run, byte for byte');
});
