import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { sharedXrays, tempDir } from '../helpers/data';

const bin = path.join(projectRoot(), 'bin', 'convnext-xray.js');

function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('convnext-xray data stats --json reports the shared data: 1341/3875 train, 234/390 test, no patient overlap', () => {
  const r = cli(['data', 'stats', '--json'], { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke', KIT_CACHE_DIR: tempDir() });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { sourceSplits: Record<string, { NORMAL: number; PNEUMONIA: number; patients: number }>; split: { patientOverlap: number } };
  assert.deepEqual([s.sourceSplits['train']?.NORMAL, s.sourceSplits['train']?.PNEUMONIA], [1341, 3875]);
  assert.deepEqual([s.sourceSplits['test']?.NORMAL, s.sourceSplits['test']?.PNEUMONIA], [234, 390]);
  assert.equal(s.split.patientOverlap, 0);
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
  assert.match(a.stderr, /unknown command "dta"[\s\S]*Fix: use one of: device, data stats, stages, data download/);
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
