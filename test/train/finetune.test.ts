import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/lib/backend';
import { loadXrayData, XrayData } from '../../src/lib/data/dataset';
import { decodeXray } from '../../src/lib/data/decode';
import { loadClassifier, predictFiles } from '../../src/lib/eval/inference';
import { runAblation, recipeOf } from '../../src/lib/experiment/ablation';
import { evaluateAblation, pretrainedComparison } from '../../src/lib/experiment/evaluate';
import { deltaFigure } from '../../src/lib/experiment/figures';
import { HF_FINETUNE, PROFILES } from '../../src/lib/experiment/profiles';
import { ablationReport, finetuneRows, reportRows } from '../../src/lib/experiment/report';
import { readRunMeta, runDirOf, runPaths } from '../../src/lib/runs';
import { learningRate } from '../../src/lib/train/schedule';
import { train } from '../../src/lib/train/trainer';
import { KitError } from '../../src/lib/util/errors';
import { sharedXrays, tempDir } from '../helpers/data';
import { FIXTURES } from '../helpers/pretrained';

/**
 * Fine-tuning as a first-class run (issue 12, item 5): the PyTorch-made fixtures stand in for
 * hub weights (this machine has no hub access), on the shared X-rays under the smoke profile.
 */
before(async () => {
  await selectBackend();
});

const profile = PROFILES.smoke;
const recipe = { ...profile.finetune, epochs: 2 };
const WEIGHTS = path.join(FIXTURES, 'timm-b');
let cached: XrayData | undefined;
async function xrays(): Promise<XrayData> {
  cached ??= await loadXrayData({ profile, source: { kind: 'folder', path: sharedXrays() } });
  return cached;
}

test('train({ init }) fine-tunes the pretrained ConvNeXt on the X-rays, records the init, and resumes to the same weights', async () => {
  const data = await xrays();
  const notes: string[] = [];
  const opts = { step: 'convnext', scale: 'smoke' as const, seed: 1, data, recipe, init: { weights: WEIGHTS }, onNote: (l: string) => notes.push(l) };
  const straight = await train({ ...opts, runDir: path.join(tempDir(), 'run') });
  assert.equal(straight.finished, true);
  // The network is the weights' (widths 10-20-40-80, depths 2-1-3-1), not the smoke scale's.
  assert.deepEqual([straight.config.width, straight.config.depths], [10, [2, 1, 3, 1]]);
  assert.deepEqual(straight.normalization, { mean: (0.485 + 0.456 + 0.406) / 3, std: (0.229 + 0.224 + 0.225) / 3 });
  assert.match(notes.join('\n'), /stem: 3 → 1 input channel[\s\S]*head: a new classifier for 2 classes/);
  const meta = readRunMeta(straight.runDir as string);
  assert.equal(meta.init?.layout, 'timm');
  assert.equal(meta.init?.grayscale, 'sum');
  assert.deepEqual(meta.init?.newHead, { from: 4, to: 2 });
  const fixture = JSON.parse(fs.readFileSync(path.join(WEIGHTS, 'fixture.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
  assert.equal(meta.init?.sha256, fixture.files['model.safetensors']?.sha256);

  const dir = path.join(tempDir(), 'run');
  const first = await train({ ...opts, runDir: dir, stopAfterEpochs: 1 });
  assert.equal(first.epochsDone, 1);
  first.model.dispose();
  const resumed = await train({ ...opts, runDir: dir });
  const lastWeights = (d: string): Buffer => fs.readFileSync(path.join(runPaths(d).last, 'weights.bin'));
  assert.ok(lastWeights(dir).equals(lastWeights(straight.runDir as string)), 'identical final weights after the resume');
  assert.deepEqual(resumed.history.map((h) => [h.trainLoss, h.valAuc]), straight.history.map((h) => [h.trainLoss, h.valAuc]));
  straight.model.dispose();
  resumed.model.dispose();

  // A run started from these weights is not continued from others, nor from scratch.
  await assert.rejects(train({ ...opts, runDir: dir, init: { weights: path.join(FIXTURES, 'timm-a') } }), /this run folder was started from .*timm-b .* and would now continue from .*timm-a/);
  await assert.rejects(train({ ...opts, runDir: dir, init: { weights: WEIGHTS, grayscale: 'repeat' } }), /would now continue .*repeat/);
});

test('predict reproduces the recorded preprocessing: the pretraining\'s gray mean/std, the size and the fit', async () => {
  const data = await xrays();
  const dir = path.join(tempDir(), 'run');
  const r = await train({ step: 'convnext', scale: 'smoke', seed: 0, data, recipe: { ...recipe, epochs: 1 }, init: { weights: WEIGHTS }, runDir: dir, onNote: () => undefined });
  r.model.dispose();
  const clf = await loadClassifier(dir);
  assert.deepEqual(clf.input.normalization, r.normalization);
  assert.equal(clf.meta.init?.source, WEIGHTS);
  const file = path.join(sharedXrays(), 'test', 'PNEUMONIA', fs.readdirSync(path.join(sharedXrays(), 'test', 'PNEUMONIA')).sort()[0] as string);
  const [got] = await predictFiles(clf, [file]);
  // By hand: decode as training does, scale to [0, 1], normalize with the pretraining's gray stats.
  const { pixels } = await decodeXray(file, clf.input.size, clf.input.fit, file);
  const { mean, std } = r.normalization;
  const x = tf.tensor4d(Float32Array.from(pixels, (v) => (v / 255 - mean) / std), [1, clf.input.size, clf.input.size, 1]);
  const probs = tf.softmax(clf.model.predict(x) as tf.Tensor);
  const expected = await probs.data();
  assert.ok(Math.abs((got?.probabilities['PNEUMONIA'] as number) - (expected[1] as number)) < 1e-5, `${got?.probabilities['PNEUMONIA']} vs ${expected[1]}`);
  tf.dispose([x, probs]);
  clf.model.dispose();
});

test('only ConvNeXt takes pretrained weights, and a folder that is not a model says so before training', async () => {
  const data = await xrays();
  await assert.rejects(train({ step: 'resnet', scale: 'smoke', seed: 0, data, recipe, init: { weights: WEIGHTS } }), (err: unknown) => err instanceof KitError && /pretrained weights are a ConvNeXt, the roadmap's last step, not "resnet"/.test(err.message));
  await assert.rejects(train({ step: 'convnext', scale: 'smoke', seed: 0, data, recipe, init: { weights: tempDir() } }), /no model\.safetensors in the folder/);
});

test('the ablation\'s pretrained row: `convnext (pretrained)` after the roadmap, compared with ConvNeXt from scratch, never in the roadmap\'s deltas', async () => {
  const data = await xrays();
  const runsDir = tempDir();
  const init = { weights: WEIGHTS };
  const outcome = await runAblation({ profile: 'smoke', steps: ['layer-norm', 'separate-downsampling'], seeds: 1, overrides: { epochs: 1 }, pretrained: init, data, runsDir });
  assert.deepEqual(outcome.runs.map((r) => [r.spec.step, r.spec.init !== undefined]), [['layer-norm', false], ['separate-downsampling', false], ['convnext', true]]);
  assert.ok(fs.existsSync(runDirOf(outcome.dir, { step: 'convnext', seed: 0, init })));
  assert.match(runDirOf(outcome.dir, { step: 'convnext', seed: 0, init }), /convnext\+pretrained\/0$/);
  // Its recipe is the profile's finetune one (with the ablation's overrides).
  assert.deepEqual(readRunMeta(runDirOf(outcome.dir, { step: 'convnext', seed: 0, init })).recipe, recipeOf({ overrides: { epochs: 1 }, init }, PROFILES.smoke));
  const report = ablationReport(outcome.dir);
  assert.deepEqual(report.steps.map((s) => s.step), ['layer-norm', 'separate-downsampling', 'convnext (pretrained)']);
  const row = report.steps[2];
  assert.equal(row?.pretrained, true);
  assert.equal(row?.previous, 'separate-downsampling', 'compared with the same network from scratch');
  assert.equal(row?.paperTop1, undefined);
  assert.equal(report.steps[1]?.previous, 'layer-norm');
  assert.deepEqual(deltaFigure(report).data[0]?.x, ['separate-downsampling'], 'the roadmap delta chart leaves the pretrained row out');
  assert.equal(reportRows(report)[2]?.step, 'convnext (pretrained)');
  const evaluated = evaluateAblation(outcome.dir, { rounds: 50 });
  assert.deepEqual(evaluated.map((s) => [s.step, s.pretrained ?? false]), [['layer-norm', false], ['separate-downsampling', false], ['convnext (pretrained)', true]]);
  // Notebook 03's table: the two models, the difference on the fine-tuned one.
  const rows = finetuneRows(report);
  assert.deepEqual(rows.map((r) => r.model), ['separate-downsampling (from scratch)', 'convnext (pretrained)']);
  assert.equal(rows[0]?.['Δ test AUC'], '');
  assert.match(String(rows[1]?.['Δ test AUC']), /^[+-]\d\.\d{3}$/);
  // Notebook 04's: per seed, the paired bootstrap interval of the AUC difference on the same test images.
  const [cmp] = pretrainedComparison(evaluated, { rounds: 200 });
  const scratchAuc = evaluated[1]?.runs[0]?.evaluation.metrics.rocAuc.value as number;
  const ftAuc = evaluated[2]?.runs[0]?.evaluation.metrics.rocAuc.value as number;
  assert.equal(cmp?.['separate-downsampling test AUC'], Number(scratchAuc.toFixed(3)));
  assert.equal(cmp?.['convnext (pretrained) test AUC'], Number(ftAuc.toFixed(3)));
  assert.equal(cmp?.['Δ AUC (pretrained − scratch)'], `${ftAuc - scratchAuc >= 0 ? '+' : ''}${(ftAuc - scratchAuc).toFixed(3)}`);
});

test('the finetune recipe is the HuggingFace Trainer workflow (AdamW 2e-4, batch 32, 4 epochs, linear decay, clip 1.0) at each profile\'s budget', () => {
  assert.deepEqual({ lr: HF_FINETUNE.lr, batch: HF_FINETUNE.batchSize, epochs: HF_FINETUNE.epochs, wd: HF_FINETUNE.weightDecay, warmup: HF_FINETUNE.warmupEpochs, clip: HF_FINETUNE.clipGradNorm, schedule: HF_FINETUNE.schedule }, { lr: 2e-4, batch: 32, epochs: 4, wd: 0, warmup: 0, clip: 1, schedule: 'linear' });
  assert.deepEqual(PROFILES.finetune.finetune, HF_FINETUNE);
  assert.equal(PROFILES.finetune.data.imageSize, 224);
  for (const p of Object.values(PROFILES)) assert.deepEqual([p.finetune.epochs, p.finetune.batchSize, p.finetune.lr], [p.train.epochs, p.train.batchSize, 2e-4], p.name);
  // Linear: from lr to minLr in equal steps, as transformers' get_linear_schedule_with_warmup (no warmup).
  const o = { lr: 2e-4, minLr: 0, warmupSteps: 0, totalSteps: 4, shape: 'linear' as const };
  [2e-4, 1.5e-4, 1e-4, 0.5e-4].forEach((want, s) => assert.ok(Math.abs(learningRate(s, o) - want) < 1e-12, `step ${s}: ${learningRate(s, o)}`));
});
