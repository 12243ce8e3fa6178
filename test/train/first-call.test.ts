import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { sharedXrays, tempDir } from '../helpers/data';

/**
 * The library used before a backend is chosen, each case in a fresh Node process (a backend, once
 * chosen, stays for the process): entry points that can choose one (train, runOne, runAblation,
 * loadClassifier, predictFiles, …) do; synchronous ones that cannot (building a model, making a
 * batch) say to call selectBackend() first, instead of tfjs's "No backend found in registry".
 */
const LIB = path.join(projectRoot(), 'dist', 'src', 'lib');
const SYNTHETIC = path.join(projectRoot(), 'dist', 'test', 'helpers', 'synthetic.js');

function fresh(body: string): { code: number | null; stdout: string; stderr: string } {
  const script = `const kit = require(${JSON.stringify(LIB)});\n(async () => { ${body} })().catch((e) => { console.log('UNCAUGHT ' + e.name + ': ' + e.message); process.exit(2); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, XRAY_DATA: sharedXrays() } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('synchronous entry points used before selectBackend() say to call it (no raw "No backend found in registry")', () => {
  const r = fresh(`
    const attempts = {
      buildModel: () => kit.models.buildModel(kit.models.configFor('resnet', { scale: 'smoke' }), 32),
      batchImages: () => kit.data.batchImages({ images: new Uint8Array(4), labels: new Uint8Array(1), size: 2, ids: ['a'], patients: ['a'] }, [0]),
      loadModel: () => kit.models.loadModel('/nonexistent'),
      rawTfjs: () => { try { require('@tensorflow/tfjs-core').tensor([1]); } catch (e) { throw kit.util.explainError(e); } },
    };
    for (const [name, f] of Object.entries(attempts)) {
      try { await f(); console.log(name + ': no error'); } catch (e) { console.log(name + ': ' + e.name + ': ' + e.message.replace(/\\n/g, ' | ')); }
    }`);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 4, r.stdout);
  for (const line of lines) {
    assert.match(line, /^\w+: KitError: no TensorFlow\.js backend is chosen yet: the library was used before selectBackend\(\) \| +Fix: call `await kit\.backend\.selectBackend\(\)` first/, line);
    assert.doesNotMatch(line, /No backend found in registry/);
  }
});

test('runOne() first thing in a process chooses a backend itself and trains; loadClassifier() + predictFiles() first thing in another do too', () => {
  const runDir = path.join(tempDir(), 'run');
  const trained = fresh(`
    const { squaresData } = require(${JSON.stringify(SYNTHETIC)});
    const profile = kit.getProfile('smoke');
    const r = await kit.experiment.runOne({ step: 'resnet', seed: 0, profile: 'smoke', overrides: {} }, profile, { ...profile.train, epochs: 1 }, squaresData(32, { train: 32, val: 16, test: 16 }), ${JSON.stringify(runDir)});
    console.log('TRAINED on ' + r.backend);`);
  assert.equal(trained.code, 0, trained.stdout + trained.stderr);
  assert.match(trained.stdout, /TRAINED on (tensorflow|webgpu|cpu)/);
  const image = path.join(sharedXrays(), 'test', 'NORMAL', fs.readdirSync(path.join(sharedXrays(), 'test', 'NORMAL'))[0] as string);
  const predicted = fresh(`
    const clf = await kit.evaluation.loadClassifier(${JSON.stringify(runDir)});
    const [p] = await kit.evaluation.predictFiles(clf, [${JSON.stringify(image)}]);
    console.log('PREDICTED ' + p.predicted);`);
  assert.equal(predicted.code, 0, predicted.stdout + predicted.stderr);
  assert.match(predicted.stdout, /PREDICTED (NORMAL|PNEUMONIA)/);
});
