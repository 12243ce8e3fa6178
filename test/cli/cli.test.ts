import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { ablationId } from '../../src/lib/experiment/ablation';
import { ablationDir, readRunResult, runDirOf, RunResult, writeAblationMeta, writeRunResult } from '../../src/lib/runs';
import type { DataStats } from '../../src/lib/data/stats';
import { makeXrayFolder, sharedXrays, tempDir } from '../helpers/data';

const bin = path.join(projectRoot(), 'bin', 'convnext-xray.js');

function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('convnext-xray data stats --json reports the shared data: 1341/3875 train, 234/390 test, no train/val patient overlap, the published 170 train/test patient ids', () => {
  const env = { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke', KIT_CACHE_DIR: tempDir() };
  const r = cli(['data', 'stats', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as DataStats;
  assert.deepEqual([s.sourceSplits['train']?.NORMAL, s.sourceSplits['train']?.PNEUMONIA], [1341, 3875]);
  assert.deepEqual([s.sourceSplits['test']?.NORMAL, s.sourceSplits['test']?.PNEUMONIA], [234, 390]);
  assert.equal(s.split.patientOverlap, 0);
  // A property of the published split, reported whatever the profile's caps; no image is shared.
  assert.equal(s.trainTestPatientOverlap, 170);
  assert.deepEqual(s.leakage?.source.map((o) => [o.between.join('/'), o.patients, o.images]), [['train/test', 170, 0]]);
  const text = cli(['data', 'stats'], env);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /leakage {2}on disk train and test: 170 patient ids in both \(person1, /);
});

test('convnext-xray device --json names the backend and the adapter', () => {
  const r = cli(['device', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { backend: string; adapter?: { vendor: string; description: string } };
  assert.ok(['tensorflow', 'webgpu', 'cpu'].includes(report.backend));
  if (report.backend === 'webgpu') assert.ok((report.adapter?.vendor ?? '').length > 0);
});

test('convnext-xray rejects an unknown command, option or profile with the valid choices', () => {
  const a = cli(['dta']);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /unknown command "dta"[\s\S]*Fix: use one of: device, data stats, stages, train, ablate, report, predict, evaluate, bench, data download/);
  const b = cli(['data', 'stat']);
  assert.match(b.stderr, /unknown command "data stat"[\s\S]*data stats, data download/);
  const c = cli(['device', '--jsn']);
  assert.match(c.stderr, /unknown option --jsn for "device"[\s\S]*--json, --backend/);
  const d = cli(['data', 'stats', '--profile', 'huge'], { XRAY_DATA: sharedXrays() });
  assert.match(d.stderr, /unknown profile "huge"[\s\S]*smoke, cpu, default, paper/);
  const e = cli(['data', 'download', '--size', '100']);
  assert.match(e.stderr, /no PneumoniaMNIST file at 100 px[\s\S]*28, 64, 128, 224/);
});

test('convnext-xray data stats explains a wrong data folder', () => {
  const r = cli(['data', 'stats'], { XRAY_DATA: tempDir() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /wrong layout: no train or test folder; found nothing/);
});

test('convnext-xray stages --json lists every step with params and FLOPs; --size/--scale apply', () => {
  const r = cli(['stages', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { step: string; params: number; gflops: number; paperGflops: number }[];
  assert.deepEqual(rows.map((x) => x.step), ['resnet', 'stage-ratio', 'patchify-stem', 'depthwise', 'wider', 'inverted-bottleneck', 'move-up-dwconv', 'kernel-7', 'gelu', 'fewer-activations', 'fewer-norms', 'layer-norm', 'separate-downsampling']);
  assert.ok(Math.abs((rows[0]?.params ?? 0) - 25.557e6) < 1e3);
  const small = JSON.parse(cli(['stages', '--json', '--size', '64', '--scale', 'femto', '--channels', '1', '--classes', '2']).stdout) as { gflops: number }[];
  assert.ok((small[0]?.gflops ?? 1) < 0.1);
  const bad = cli(['stages', '--size', '16']);
  assert.match(bad.stderr, /too small for the total stride of 32/);
});

test('train → ablate → report → evaluate → predict through the CLI, with bad input explained', () => {
  const env = { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke', KIT_RUNS_DIR: tempDir() };
  const t = cli(['train', '--step', 'resnet', '--seed', '0', '--override', 'epochs=1', '--json'], env);
  assert.equal(t.code, 0, t.stderr);
  const trained = JSON.parse(t.stdout) as { spec: { step: string }; test: { auc: number } };
  assert.equal(trained.spec.step, 'resnet');
  const a = cli(['ablate', '--steps', 'resnet,gelu', '--seeds', '1', '--override', 'epochs=1'], env);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /resnet seed 0: finished before, skipped/, 'the run trained by `train` is reused');
  const dir = path.join(env.KIT_RUNS_DIR, a.stdout.match(/ablation (\S+):/)?.[1] ?? '');
  const html = path.join(tempDir(), 'report.html');
  const r = cli(['report', dir, '--json', '--html', html], env);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { steps: { step: string; delta?: { testAuc: { diff: number } } }[] };
  assert.deepEqual(report.steps.map((s) => s.step), ['resnet', 'gelu']);
  assert.ok(fs.statSync(html).size > 4e6, 'the HTML report carries plotly.js');
  const e = cli(['evaluate', path.join(dir, 'gelu', '0'), '--split', 'test', '--json', '--rounds', '100'], env);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout) as { metrics: Record<string, { value: number; lo: number; hi: number }>; threshold: { chosenOn: string } };
  for (const k of ['accuracy', 'sensitivity', 'specificity', 'precision', 'f1', 'rocAuc', 'prAuc', 'ece']) assert.ok(ev.metrics[k] !== undefined, k);
  assert.equal(ev.threshold.chosenOn, 'val');
  const image = path.join(sharedXrays(), 'test', 'PNEUMONIA', 'person1_virus_6.jpeg');
  const p = cli(['predict', image, '--checkpoint', path.join(dir, 'gelu', '0'), '--json'], env);
  assert.equal(p.code, 0, p.stderr);
  const pred = JSON.parse(p.stdout) as { predictions: { probabilities: Record<string, number> }[] };
  assert.ok(Math.abs((pred.predictions[0]?.probabilities['PNEUMONIA'] ?? 0) + (pred.predictions[0]?.probabilities['NORMAL'] ?? 0) - 1) < 1e-5);
  // Bad input: a non-image, a folder without a model, an unknown override, a wrong split.
  assert.match(cli(['predict', path.join(projectRoot(), 'README.md'), '--checkpoint', path.join(dir, 'gelu', '0')], env).stderr, /cannot read image[\s\S]*README\.md/);
  assert.match(cli(['predict', image, '--checkpoint', tempDir()], env).stderr, /no model checkpoint here/);
  assert.match(cli(['train', '--step', 'gelu', '--override', 'epochz=1'], env).stderr, /unknown training option "epochz"/);
  assert.match(cli(['evaluate', path.join(dir, 'gelu', '0'), '--split', 'train'], env).stderr, /unknown split "train"/);
  assert.match(cli(['train', '--step', 'convnext-v3'], env).stderr, /unknown roadmap step "convnext-v3"/);
});

test('data stats finds test images copied into train (same name or renamed) and shared patient ids; train warns, --strict-splits refuses (train and ablate)', async () => {
  const root = tempDir();
  const files = await makeXrayFolder(root, { train: 14, test: 4 });
  const copies: [string, string][] = [];
  for (const cls of ['NORMAL', 'PNEUMONIA']) {
    const [same, renamed] = files[`test/${cls}`] as string[];
    copies.push([same as string, path.join(root, 'train', cls, path.basename(same as string))], [renamed as string, path.join(root, 'train', cls, `scan_${cls.toLowerCase()}_0.jpeg`)]);
  }
  for (const [from, to] of copies) fs.copyFileSync(from, to);
  const rel = (f: string): string => path.relative(root, f).split(path.sep).join('/');
  const env = { XRAY_DATA: root, KIT_PROFILE: 'smoke', KIT_CACHE_DIR: tempDir(), KIT_RUNS_DIR: tempDir() };
  const j = cli(['data', 'stats', '--json'], env);
  assert.equal(j.code, 0, j.stderr);
  const s = JSON.parse(j.stdout) as DataStats;
  const onDisk = s.leakage?.source[0];
  assert.deepEqual(onDisk && [onDisk.between, onDisk.images, onDisk.identical, onDisk.patients], [['train', 'test'], 4, 4, 2]);
  assert.deepEqual(onDisk?.pairs.map((p) => `${p.b}=${p.a}`).sort(), copies.map(([from, to]) => `${rel(from)}=${rel(to)}`).sort());
  assert.equal(s.trainTestPatientOverlap, 2, 'counted though two names carry no patient id');
  // Where the val split put the copies, the model's splits share them too.
  assert.equal((s.leakage?.splits ?? []).filter((o) => o.between[1] === 'test').reduce((n, o) => n + o.images, 0), 4);
  const t = cli(['data', 'stats'], env);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /leakage {2}on disk train and test: 2 patient ids in both \(IM-0\d+, person\d+\); 4 images of test with a copy in train \(4 identical, 0 near-identical\)/);
  for (const [from, to] of copies) assert.ok(t.stdout.includes(`same     ${rel(from)} = ${rel(to)}`), `${rel(from)} listed`);

  const warned = cli(['train', '--step', 'resnet', '--override', 'epochs=1', '--json'], env);
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /note: warning: leakage across splits/);
  const strict = cli(['train', '--step', 'resnet', '--override', 'epochs=1', '--strict-splits'], env);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /the splits share data[\s\S]*scan_normal_0\.jpeg[\s\S]*Fix: .*drop --strict-splits/);
  const ablate = cli(['ablate', '--steps', 'gelu', '--seeds', '1', '--override', 'epochs=1', '--strict-splits'], env);
  assert.equal(ablate.code, 1);
  assert.match(ablate.stderr, /the splits share data/);
});

test('train refuses a validation split without one class (1 NORMAL image in train/), with the counts per class per split', async () => {
  const root = tempDir();
  await makeXrayFolder(root, { train: [1, 24], test: 5 });
  const env = { XRAY_DATA: root, KIT_PROFILE: 'smoke', KIT_CACHE_DIR: tempDir(), KIT_RUNS_DIR: tempDir() };
  const r = cli(['train', '--step', 'resnet'], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the splits cannot measure what training needs: val has 0 NORMAL images/);
  assert.match(r.stderr, /train NORMAL 1, PNEUMONIA \d+; val NORMAL 0, PNEUMONIA \d+; test NORMAL 5, PNEUMONIA 5/);
  assert.match(r.stderr, /Fix: add NORMAL images to train\/NORMAL\//);
  assert.doesNotMatch(r.stderr, /best val AUC/);
  assert.deepEqual(fs.readdirSync(env.KIT_RUNS_DIR), [], 'no run folder');
});

/** A finished run as result.json holds it, with made-up numbers (no training). */
function fakeResult(step: string, seed: number, testAuc: number): RunResult {
  const history = [{ epoch: 1, trainLoss: 0.6, valLoss: 0.5, valAcc: 0.7, valAuc: testAuc - 0.01, lr: 1e-3, imgPerSec: 100, seconds: 2, best: true }];
  return {
    spec: { step, seed, profile: 'smoke', overrides: {} }, backend: 'cpu', best: { epoch: 1, valAuc: testAuc - 0.01, valAcc: 0.7, valLoss: 0.5 },
    test: { acc: 0.75 + seed / 100, auc: testAuc, loss: 0.4 }, epochs: 1, wallSeconds: 12, imgPerSec: 100, history, finishedAt: '2024-01-01T00:00:00.000Z',
  };
}

test('convnext-xray report --runs-dir reads the ablation by id from that folder, whatever KIT_RUNS_DIR says', () => {
  const runs = tempDir();
  const dir = ablationDir(runs, 'smoke');
  writeAblationMeta(dir, { id: 'smoke', profile: 'smoke', overrides: {}, recipe: {}, steps: ['resnet', 'gelu'], seeds: 2 });
  for (const [step, aucs] of [['resnet', [0.8, 0.82]], ['gelu', [0.85, 0.86]]] as const) aucs.forEach((auc, seed) => writeRunResult(runDirOf(dir, { step, seed }), fakeResult(step, seed, auc)));
  const env = { KIT_RUNS_DIR: tempDir() };
  const byId = cli(['report', 'smoke', '--runs-dir', runs, '--json'], env);
  assert.equal(byId.code, 0, byId.stderr);
  const byPath = cli(['report', dir, '--json'], env);
  assert.equal(byId.stdout, byPath.stdout, 'the same report as when the folder is given');
  const report = JSON.parse(byId.stdout) as { dir: string; runs: number; steps: { step: string; testAuc: { mean: number; n: number } }[] };
  assert.equal(report.dir, dir);
  assert.equal(report.runs, 4);
  assert.deepEqual(report.steps.map((x) => [x.step, x.testAuc.n]), [['resnet', 2], ['gelu', 2]]);
  const text = cli(['report', 'smoke', '--runs-dir', runs], env);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.equal(lines[0], 'ablation smoke (smoke), 4 finished runs, backend cpu');
  // The same table as notebook 03 and the HTML page (experiment/report.ts reportRows).
  assert.match(lines[1] ?? '', /^step +seeds +val AUC +test AUC +test accuracy +Δ test AUC +95% CI +ImageNet top-1 \(paper\) +ImageNet Δ +img\/s$/);
  assert.match(lines[2] ?? '', /^-+( +-+){9}$/);
  assert.match(lines[3] ?? '', /^resnet +2 +0\.800 ± 0\.014 +0\.810 ± 0\.014 +0\.755 ± 0\.007 +78\.8 +\d+$/);
  assert.match(lines[4] ?? '', /^gelu +2 +0\.845 ± 0\.007 +0\.855 ± 0\.007 +0\.755 ± 0\.007 +\+0\.045 +\[[-+0-9.]+, [-+0-9.]+\]( \*)? +[\d.]+ +\+1\.8 +\d+$/);
  // The id is a folder name in --runs-dir, not a path; and the folder is still needed.
  assert.match(cli(['report', dir, '--runs-dir', runs]).stderr, /with --runs-dir, the argument is an ablation id/);
  assert.match(cli(['report', '--runs-dir', runs]).stderr, /report needs the ablation folder[\s\S]*report smoke --runs-dir/);
  assert.match(cli(['report', 'cpu', '--runs-dir', runs]).stderr, /no ablation folder here/);
});

test('train, ablate and evaluate --runs-dir write and read the run there, not under KIT_RUNS_DIR', () => {
  const runs = tempDir();
  const env = { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke', KIT_RUNS_DIR: tempDir() };
  const t = cli(['train', '--step', 'resnet', '--override', 'epochs=1', '--runs-dir', runs, '--json'], env);
  assert.equal(t.code, 0, t.stderr);
  const id = ablationId('smoke', { epochs: 1 });
  const run = runDirOf(ablationDir(runs, id), { step: 'resnet', seed: 0 });
  assert.deepEqual(readRunResult(run)?.spec, (JSON.parse(t.stdout) as RunResult).spec, 'the run is in <runs-dir>/<id>/<step>/<seed>');
  assert.deepEqual(fs.readdirSync(env.KIT_RUNS_DIR), [], 'nothing under KIT_RUNS_DIR');
  const a = cli(['ablate', '--steps', 'resnet', '--seeds', '1', '--override', 'epochs=1', '--runs-dir', runs], env);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /resnet seed 0: finished before, skipped/, 'ablate finds the run train wrote there');
  const e = cli(['evaluate', `${id}/resnet/0`, '--runs-dir', runs, '--json', '--rounds', '50'], env);
  assert.equal(e.code, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as { run: string }).run, run);
  assert.match(cli(['evaluate', 'resnet/0', '--runs-dir', runs], env).stderr, /with --runs-dir, the argument is <ablation id>\/<step>\/<seed>, got "resnet\/0"/);
});
