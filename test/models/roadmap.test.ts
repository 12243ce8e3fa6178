import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { decodeXray } from '../../src/lib/data/decode';
import { buildModel } from '../../src/lib/models/build';
import { LAYER_NORM_EPS, ModelConfig } from '../../src/lib/models/config';
import { KIT_FORMAT, loadModel, saveModel } from '../../src/lib/models/io';
import { DropPath, LayerNorm, LayerScale } from '../../src/lib/models/layers';
import { planModel, planStats, planWeights } from '../../src/lib/models/plan';
import { checkInputSize, configFor, FLOP_DEVIATIONS, GROUPS, KERNEL_VARIANTS, resolveStep, ScaleName, STEP_IDS, STEPS, validateConfig } from '../../src/lib/models/steps';
import { KitError } from '../../src/lib/util/errors';
import { sharedXrays, tempDir } from '../helpers/data';
import { useCpu } from '../helpers/tf';

const SIZE = 32;
let xrays: tf.Tensor4D;

before(async () => {
  await useCpu();
  // Four real X-rays (2 per class) at 32 px, scaled to [0, 1].
  const root = sharedXrays();
  const files = ['NORMAL', 'PNEUMONIA'].flatMap((cls) => fs.readdirSync(path.join(root, 'test', cls)).sort().slice(0, 2).map((f) => path.join(root, 'test', cls, f)));
  const pixels = await Promise.all(files.map(async (f) => (await decodeXray(f, SIZE, 'squash')).pixels));
  xrays = tf.div(tf.tensor4d(Float32Array.from(pixels.flatMap((p) => [...p])), [4, SIZE, SIZE, 1]), 255) as tf.Tensor4D;
});

for (const scale of ['smoke', 'atto'] as ScaleName[]) {
  for (const step of STEP_IDS) {
    test(`roadmap step ${step} at scale ${scale}: builds, finite logits on real X-rays, one step moves every weight, save/load round-trips`, async () => {
      const config = configFor(step, { scale });
      const model = buildModel(config, SIZE);
      const logits = model.apply(xrays, { training: false }) as tf.Tensor;
      assert.deepEqual(logits.shape, [4, 2]);
      assert.ok((await tf.all(tf.isFinite(logits)).data())[0] === 1, 'finite logits');

      // Trainable weights agree with the analytic count.
      const trainable = model.trainableWeights.reduce((s, w) => s + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
      assert.equal(trainable, planStats(planModel(config, SIZE)).params);

      // One Adam step on a real batch changes every trainable weight (Adam normalizes the step,
      // so even weights behind layer scale's 1e-6 move).
      const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
      const labels = tf.oneHot(tf.tensor1d([0, 0, 1, 1], 'int32'), 2);
      const optimizer = tf.train.adam(1e-3);
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(xrays, { training: true }) as tf.Tensor) as tf.Scalar);
      model.trainableWeights.forEach((w, i) => {
        const after = w.read().dataSync();
        const prev = before[i] as Float32Array;
        let changed = 0;
        for (let k = 0; k < after.length; k++) if (after[k] !== prev[k]) changed++;
        assert.ok(changed > 0, `weight ${w.name} did not change`);
      });

      const dir = path.join(tempDir(), 'model');
      await saveModel(model, dir, { step, scale });
      const loaded = await loadModel(dir);
      assert.deepEqual(loaded.kit, { step, scale });
      assert.equal(loaded.format, KIT_FORMAT);
      const a = await (model.apply(xrays, { training: false }) as tf.Tensor).data();
      const b = await (loaded.model.apply(xrays, { training: false }) as tf.Tensor).data();
      assert.deepEqual(b, a, 'identical outputs after save → load');
      optimizer.dispose();
      model.dispose();
      loaded.model.dispose();
    });
  }
}

test('paper scale: ResNet-50 has 25.6M parameters and ConvNeXt-T 28.6M (3 channels, 1000 classes)', () => {
  const count = (step: string): number => planStats(planModel(configFor(step, { scale: 'paper', inChannels: 3, numClasses: 1000 }), 224)).params;
  assert.ok(Math.abs(count('resnet') - 25.6e6) <= 0.1e6, `ResNet-50 ${count('resnet')}`);
  assert.ok(Math.abs(count('separate-downsampling') - 28.6e6) <= 0.1e6, `ConvNeXt-T ${count('separate-downsampling')}`);
  // The built tfjs model agrees with the count (the plan is what gets built).
  const model = buildModel(configFor('separate-downsampling', { scale: 'paper', inChannels: 3, numClasses: 1000 }), 224);
  assert.equal(model.trainableWeights.reduce((s, w) => s + (w.shape as number[]).reduce((a, b) => a * b, 1), 0), count('separate-downsampling'));
  model.dispose();
});

test("paper scale: every step's GFLOPs at 224 px is within 5% of Table 10 (documented exceptions pinned)", () => {
  const gflops = (name: string): number => planStats(planModel(configFor(name, { scale: 'paper', inChannels: 3, numClasses: 1000 }), 224)).flops / 1e9;
  for (const step of STEPS) {
    const ours = gflops(step.id);
    const off = Math.abs(ours / step.paper.gflops - 1);
    if (FLOP_DEVIATIONS[step.id] !== undefined) {
      assert.ok(off > 0.05, `${step.id} is listed as a deviation but matches`);
      assert.equal(ours, gflops(STEPS[step.index - 1]?.id ?? ''), 'LN costs no convolution FLOPs');
      continue;
    }
    assert.ok(off <= 0.05, `${step.id}: ${ours.toFixed(3)} vs paper ${step.paper.gflops}`);
  }
  for (const [k, v] of Object.entries(KERNEL_VARIANTS)) {
    const ours = gflops(`kernel-${k}`);
    assert.ok(Math.abs(ours / v.gflops - 1) <= 0.05, `kernel ${k}: ${ours} vs ${v.gflops}`);
  }
});

test('the final step is ConvNeXt: block order, LN eps 1e-6, layer scale 1e-6, downsampling layers, head', () => {
  const config = configFor('separate-downsampling', { scale: 'paper', inChannels: 3, numClasses: 1000, dropPath: 0.1 });
  const model = buildModel(config, 224);
  const names = model.layers.map((l) => l.name);
  // Stem: 4×4/4 conv + LayerNorm.
  const stem = model.getLayer('stem_conv') as tfl.layers.Layer & { kernelSize: number[]; strides: number[] };
  assert.deepEqual([stem.kernelSize, stem.strides], [[4, 4], [4, 4]]);
  assert.ok(model.getLayer('stem_norm') instanceof LayerNorm);
  // Block: dwconv 7×7 → LN → pwconv1 (×4) → GELU → pwconv2 → γ → drop path → + input, named as ConvNeXt's code names them.
  const block = names.filter((n) => n.startsWith('s1_b1_'));
  assert.deepEqual(block, ['s1_b1_dwconv', 's1_b1_norm', 's1_b1_pwconv1', 's1_b1_act', 's1_b1_pwconv2', 's1_b1_gamma', 's1_b1_add']);
  assert.deepEqual(names.filter((n) => n.startsWith('s1_b2_')), ['s1_b2_dwconv', 's1_b2_norm', 's1_b2_pwconv1', 's1_b2_act', 's1_b2_pwconv2', 's1_b2_gamma', 's1_b2_drop_path', 's1_b2_add']);
  assert.equal((model.getLayer('s1_b1_pwconv1') as tfl.layers.Layer & { units: number }).units, 384);
  assert.equal((model.getLayer('s1_b1_pwconv2') as tfl.layers.Layer & { units: number }).units, 96);
  for (const l of model.layers) {
    if (l instanceof LayerNorm) assert.equal(l.epsilon, LAYER_NORM_EPS);
    if (l instanceof LayerScale) assert.equal(l.initValue, 1e-6);
  }
  assert.equal(LAYER_NORM_EPS, 1e-6);
  // Downsampling: LN + 2×2/2 conv before stages 2–4; no shortcut convs in any block.
  for (const s of [2, 3, 4]) {
    assert.ok(model.getLayer(`s${s}_downsample_norm`) instanceof LayerNorm);
    const d = model.getLayer(`s${s}_downsample_conv`) as tfl.layers.Layer & { kernelSize: number[]; strides: number[] };
    assert.deepEqual([d.kernelSize, d.strides], [[2, 2], [2, 2]]);
  }
  assert.ok(!names.some((n) => /^s\d+_b\d+_downsample_/.test(n)));
  // Head: global average pool → LN → Linear.
  assert.deepEqual(names.slice(-3), ['head_pool', 'head_norm', 'head_fc']);
  // Stochastic depth rises linearly from 0 (first block) to the rate (last block): 18 blocks.
  const rates = model.layers.filter((l): l is DropPath => l instanceof DropPath).map((l) => l.rate);
  assert.equal(rates.length, 17, 'the first block has rate 0 and gets no DropPath layer');
  assert.ok(Math.abs((rates[rates.length - 1] as number) - 0.1) < 1e-12);
  assert.ok(Math.abs((rates[0] as number) - 0.1 / 17) < 1e-12);
  model.dispose();
});

test('layers are named by role: torchvision\'s in the ResNet block, ConvNeXt\'s in the inverted block, whatever their position', () => {
  const blockNames = (step: string): string[] => {
    const model = buildModel(configFor(step, { scale: 'smoke' }), SIZE);
    const names = model.layers.map((l) => l.name).filter((n) => n.startsWith('s2_b1_'));
    model.dispose();
    return names.map((n) => n.slice('s2_b1_'.length));
  };
  // The first block of stage 2 downsamples, so its shortcut has a strided 1×1 conv + norm (torchvision's `downsample`).
  const sorted = (xs: string[]): string[] => [...xs].sort();
  assert.deepEqual(sorted(blockNames('resnet')), sorted(['conv1', 'norm1', 'act1', 'conv2', 'norm2', 'act2', 'conv3', 'norm3', 'downsample_conv', 'downsample_norm', 'add', 'act_out']));
  assert.deepEqual(sorted(blockNames('depthwise')), sorted(blockNames('resnet')), 'the depthwise conv stays conv2, as ResNeXt\'s grouped conv');
  const inverted = ['pwconv1', 'pwconv1_norm', 'act', 'dwconv', 'norm', 'dwconv_act', 'pwconv2', 'pwconv2_norm', 'downsample_conv', 'downsample_norm', 'add', 'act_out'];
  assert.deepEqual(sorted(blockNames('inverted-bottleneck')), sorted(inverted));
  // Moving the depthwise conv up moves layers, not names: the same set, in a new order.
  assert.deepEqual(sorted(blockNames('move-up-dwconv')), sorted(inverted));
  const order = (step: string): string[] => blockNames(step).filter((n) => /conv\d?$/.test(n) && !n.startsWith('downsample'));
  assert.deepEqual(order('inverted-bottleneck'), ['pwconv1', 'dwconv', 'pwconv2']);
  assert.deepEqual(order('move-up-dwconv'), ['dwconv', 'pwconv1', 'pwconv2']);
  // The micro-design steps remove the layers named after the conv they follow; ConvNeXt's norm and act remain.
  assert.deepEqual(sorted(blockNames('fewer-norms')), sorted(['dwconv', 'norm', 'pwconv1', 'act', 'pwconv2', 'downsample_conv', 'downsample_norm', 'add']));
});

test('groups select the last step of their group, and kernel variants set the kernel', () => {
  assert.equal(resolveStep('macro-design').step.id, 'patchify-stem');
  assert.equal(resolveStep('convnext').step.id, 'separate-downsampling');
  assert.equal(resolveStep('large-kernel').step.id, 'kernel-7');
  assert.equal(configFor('kernel-11', { scale: 'smoke' }).kernelSize, 11);
  assert.equal(configFor('gelu', { scale: 'smoke', kernelSize: 5 }).kernelSize, 5);
  assert.equal(configFor('move-up-dwconv', { scale: 'smoke', kernelSize: 5 }).kernelSize, 3, 'before the large-kernel step the kernel stays 3');
  for (const [group, step] of Object.entries(GROUPS)) assert.equal(resolveStep(group).step.id, step);
});

test('each step changes only what the paper changes', () => {
  const expected: Record<string, string[]> = {
    'stage-ratio': ['depths'], 'patchify-stem': ['stem'], depthwise: ['spatialConv'], wider: ['width'], 'inverted-bottleneck': ['block'],
    'move-up-dwconv': ['spatialFirst'], 'kernel-7': ['kernelSize'], gelu: ['activation'], 'fewer-activations': ['activations'],
    'fewer-norms': ['norms'], 'layer-norm': ['norm'], 'separate-downsampling': ['downsampling', 'layerScale'],
  };
  for (const step of STEPS.slice(1)) {
    const prev = configFor(STEPS[step.index - 1]?.id ?? '', { scale: 'paper' });
    const next = configFor(step.id, { scale: 'paper' });
    const changed = (Object.keys(next) as (keyof typeof next)[]).filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(next[k]));
    assert.deepEqual(changed, expected[step.id], step.id);
  }
});

test('bad input: unknown step, invalid scale, input too small for the total stride — each lists what is valid', () => {
  assert.throws(() => configFor('convnext-v2'), (e: unknown) => e instanceof KitError && /unknown roadmap step "convnext-v2"/.test(e.message) && /resnet, stage-ratio/.test(e.fix) && /kernel-9/.test(e.fix) && /macro-design/.test(e.fix));
  assert.throws(() => configFor('resnet', { scale: 'huge' as ScaleName }), (e: unknown) => e instanceof KitError && /paper, femto, atto, smoke/.test(e.fix));
  assert.throws(() => checkInputSize(16), (e: unknown) => e instanceof KitError && /16 px is too small for the total stride of 32/.test(e.message));
  assert.throws(() => buildModel(configFor('resnet', { scale: 'smoke' }), 24), /too small/);
  assert.throws(() => configFor('resnet', { dropPath: 1 }), /dropPath/);
});

test('buildModel() initial weights are seeded: same seed, same weights; another seed, others', async () => {
  const config = configFor('separate-downsampling', { scale: 'smoke' });
  const w = async (seed: number): Promise<Float32Array[]> => {
    const m = buildModel(config, SIZE, { seed });
    const out = await Promise.all(m.trainableWeights.map(async (v) => (await v.read().data()) as Float32Array));
    m.dispose();
    return out;
  };
  const [a, b, c] = [await w(1), await w(1), await w(2)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a[0], c[0]);
});

test('planWeights lists exactly the weights buildModel creates, for every step (names, NHWC shapes, trainable)', async () => {
  await useCpu();
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
  for (const step of STEP_IDS) {
    const config = configFor(step, { scale: 'smoke', inChannels: 1, numClasses: 2 });
    const model = buildModel(config, 64);
    const built = model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[], trainable: w.trainable }));
    assert.deepEqual(planWeights(planModel(config, 64)).sort(byName), built.sort(byName), step);
    model.dispose();
  }
});

test('headNormEps: the head LayerNorm takes it (HuggingFace\'s 1e-12), absent means 1e-6, and a bad one is refused', async () => {
  await useCpu();
  const config = configFor('convnext', { scale: 'smoke' });
  const eps = (c: ModelConfig): unknown => (buildModel(c, 32).getLayer('head_norm').getConfig() as { epsilon?: number }).epsilon;
  assert.equal(eps(config), 1e-6);
  assert.equal(eps({ ...config, headNormEps: 1e-12 }), 1e-12);
  assert.throws(() => validateConfig({ ...config, headNormEps: 0 }), /headNormEps 0/);
});
