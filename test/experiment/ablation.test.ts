import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { selectBackend } from '../../src/lib/backend';
import { ablationId, parseShard, planRuns, runAblation, shardRuns } from '../../src/lib/experiment/ablation';
import { runDirOf, runPaths } from '../../src/lib/runs';
import { ablationReport } from '../../src/lib/experiment/report';
import { KitError } from '../../src/lib/util/errors';
import { tempDir } from '../helpers/data';
import { squaresData } from '../helpers/synthetic';

before(async () => {
  await selectBackend();
});

test('--shard splits the runs disjointly and completely', () => {
  const runs = planRuns('smoke', ['resnet', 'gelu', 'separate-downsampling'], 3);
  assert.equal(runs.length, 9);
  for (const count of [1, 2, 4, 9, 12]) {
    const parts = Array.from({ length: count }, (_, index) => shardRuns(runs, { index, count }));
    const keys = parts.flat().map((r) => `${r.step}/${r.seed}`);
    assert.equal(keys.length, runs.length, `n=${count}: every run once`);
    assert.equal(new Set(keys).size, runs.length, `n=${count}: no run twice`);
  }
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  for (const bad of ['5/5', '1/0', 'a/b', '3']) assert.throws(() => parseShard(bad), KitError);
  // Seed-major order: every step with seed 0 comes first.
  assert.deepEqual(runs.slice(0, 3).map((r) => r.seed), [0, 0, 0]);
});

test('ablation ids: the profile, plus a hash of the overrides that ignores their order', () => {
  assert.equal(ablationId('smoke', {}), 'smoke');
  assert.equal(ablationId('smoke', { epochs: 3, lr: 1e-3 }), ablationId('smoke', { lr: 1e-3, epochs: 3 }));
  assert.notEqual(ablationId('smoke', { epochs: 3 }), ablationId('smoke', { epochs: 4 }));
});

test('an ablation writes every run, skips finished runs when restarted, and reports per step', async () => {
  const runsDir = tempDir();
  const data = squaresData(32, { train: 32, val: 16, test: 16 });
  const common = { profile: 'smoke', steps: ['resnet', 'separate-downsampling'], seeds: 2, overrides: { epochs: 1 }, runsDir, data };
  const first = await runAblation(common);
  assert.equal(first.runs.length, 4);
  assert.ok(first.runs.every((r) => !r.skipped));
  for (const r of first.runs) assert.ok(fs.existsSync(runPaths(runDirOf(first.dir, r.spec)).result));
  const stamp = fs.statSync(runPaths(runDirOf(first.dir, { step: 'resnet', seed: 0 })).result).mtimeMs;

  const again = await runAblation(common);
  assert.ok(again.runs.every((r) => r.skipped), 'finished runs are skipped');
  assert.equal(fs.statSync(runPaths(runDirOf(first.dir, { step: 'resnet', seed: 0 })).result).mtimeMs, stamp, 'and not rewritten');

  const report = ablationReport(first.dir);
  assert.deepEqual(report.steps.map((s) => s.step), ['resnet', 'separate-downsampling']);
  assert.equal(report.runs, 4);
  const [a, b] = report.steps;
  assert.equal(a?.testAuc.n, 2);
  const d = b?.delta?.testAuc;
  assert.ok(d !== undefined && Math.abs(d.diff - ((b?.testAuc.mean ?? 0) - (a?.testAuc.mean ?? 0))) < 1e-12);
  assert.ok(d.lo <= d.diff && d.diff <= d.hi);
  assert.equal(b?.paperDelta, 3.2, 'ImageNet: 82.0 − 78.8');
  assert.equal(report.curves.length, 4);
});

test('report explains a folder that is not an ablation', () => {
  assert.throws(() => ablationReport(path.join(tempDir(), 'nope')), /no ablation folder here/);
  assert.throws(() => ablationReport(tempDir()), /no finished run/);
});
