import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { ablationId } from '../../src/lib/experiment/ablation';
import { ablationDir, runDirOf, runLockHolder, runPaths } from '../../src/lib/runs';
import { sharedXrays, tempDir } from '../helpers/data';

const bin = path.join(projectRoot(), 'bin', 'convnext-xray.js');

function cli(args: string[], env: Record<string, string>): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A running child, its stderr so far, and a way to wait for a line on it or for its exit. */
function start(args: string[], env: Record<string, string>): { child: ChildProcess; stderr: () => string; waitFor: (re: RegExp) => Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const w of waiters.filter((x) => x.re.test(err))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stdout?.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (re: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      if (re.test(err)) return resolve();
      waiters.push({ re, resolve });
      void exit.then((code) => reject(new Error(`exited ${code} before ${re}:\n${err}`)));
    });
  return { child, stderr: () => err, waitFor, exit };
}

const lastWeights = (run: string): Buffer => fs.readFileSync(path.join(runPaths(run).last, 'weights.bin'));

test('Ctrl-C during `train`: a second `train` of the run meanwhile is refused naming the first; the first stops at a step boundary (exit 130, "interrupted … run again to resume", lock released); running again resumes to the weights of an uninterrupted run', async () => {
  const env = { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke' };
  const epochs = 20;
  const overrides = { epochs };
  const runs = tempDir();
  const straight = tempDir();
  const run = (root: string): string => runDirOf(ablationDir(root, ablationId('smoke', overrides)), { step: 'resnet', seed: 0 });
  const args = (root: string): string[] => ['train', '--step', 'resnet', '--override', `epochs=${epochs}`, '--runs-dir', root];

  const first = start([bin, ...args(runs)], env);
  await first.waitFor(new RegExp(`resnet seed 0 epoch 1/${epochs}: train loss [\\d.]+ · val loss`));
  const second = cli(args(runs), env);
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`another process is training this run: pid ${first.child.pid} on this machine \\(.+\\), since \\S+ \\(\\d+ s ago\\), started as \`node .*convnext-xray\\.js train --step resnet`));
  assert.match(second.stderr, new RegExp(`Fix: wait for it to finish, or stop it with \`kill -INT ${first.child.pid}\``));

  first.child.kill('SIGINT');
  assert.equal(await first.exit, 130, first.stderr());
  assert.match(first.stderr(), /SIGINT: stopping at the next training step \(the last checkpoint is kept\)/);
  const stop = new RegExp(`convnext-xray: training interrupted \\(SIGINT\\) at epoch (\\d+)/${epochs}, (step \\d+/4|before its validation); the checkpoint of epoch (\\d+) is kept \\(${run(runs).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)\\n  Fix: run the same command again to resume: it resumes from epoch (\\d+)`);
  const m = stop.exec(first.stderr());
  assert.ok(m, first.stderr());
  const kept = Number(m[3]);
  assert.ok(kept >= 1 && kept < epochs && Number(m[1]) === kept + 1 && Number(m[4]) === kept + 1, m[0]);
  assert.equal(runLockHolder(run(runs)), undefined, 'the lock is released');
  assert.equal(fs.readFileSync(runPaths(run(runs)).metrics, 'utf8').trim().split('\n').length, kept);

  const resumed = cli(args(runs), env);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, new RegExp(`epoch ${kept}/${epochs}:`), 'finished epochs are not trained again');
  assert.match(resumed.stderr, new RegExp(`epoch ${kept + 1}/${epochs}:`));
  const uninterrupted = cli(args(straight), env);
  assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
  assert.ok(lastWeights(run(runs)).equals(lastWeights(run(straight))), 'interrupted + resumed = uninterrupted, byte for byte');
  const curve = (root: string): number[][] => fs.readFileSync(runPaths(run(root)).metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { trainLoss: number; valAuc: number }).map((h) => [h.trainLoss, h.valAuc]);
  assert.deepEqual(curve(runs), curve(straight), 'and the same training curve');
});

test('SIGTERM during `ablate` stops the ablation the same way (exit 143); the ablation resumes where it stopped', async () => {
  const env = { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke' };
  const runs = tempDir();
  const args = [bin, 'ablate', '--steps', 'resnet', '--seeds', '1', '--override', 'epochs=20', '--runs-dir', runs];
  const a = start(args, env);
  await a.waitFor(/resnet seed 0 epoch 1\/20: /);
  a.child.kill('SIGTERM');
  assert.equal(await a.exit, 143, a.stderr());
  assert.match(a.stderr(), /training interrupted \(SIGTERM\) at epoch \d+\/20/);
  const run = runDirOf(ablationDir(runs, ablationId('smoke', { epochs: 20 })), { step: 'resnet', seed: 0 });
  assert.equal(runLockHolder(run), undefined);
  const again = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /resnet seed 0 epoch 1\/20: /, 'resumed, not restarted');
});

test('a second Ctrl-C exits at once (130), and the run\'s lock is still released', async () => {
  const dir = tempDir();
  // The CLI's handler around work that never reaches a step boundary (as during data loading).
  const script = `const { stopOnSignals } = require(${JSON.stringify(path.join(projectRoot(), 'dist', 'src', 'cli', 'common.js'))});
    const { lockRun } = require(${JSON.stringify(path.join(projectRoot(), 'dist', 'src', 'lib', 'runs'))});
    stopOnSignals();
    lockRun(${JSON.stringify(dir)}).then(() => { process.stderr.write('READY\\n'); setInterval(() => undefined, 1000); });`;
  const p = start(['-e', script], {});
  await p.waitFor(/READY/);
  assert.ok(runLockHolder(dir) !== undefined);
  p.child.kill('SIGINT');
  await p.waitFor(/stopping at the next training step/);
  p.child.kill('SIGINT');
  assert.equal(await p.exit, 130);
  assert.match(p.stderr(), /second SIGINT: exiting now; the last checkpoint is kept, run the same command again to resume/);
  assert.equal(runLockHolder(dir), undefined, 'released on exit');
});
