import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../../src/lib/backend';
import { loadNative } from '../../src/lib/backend/tensorflow';
import { installKitKernels } from '../../src/lib/kernels';
import { buildModel } from '../../src/lib/models/build';
import { fuseForInference, InferenceNode } from '../../src/lib/models/fuse';
import { BatchNorm } from '../../src/lib/models/layers';
import { configFor, STEP_IDS } from '../../src/lib/models/steps';
import { KitError } from '../../src/lib/util/errors';
import { randomArray, relError } from '../helpers/reference';
import { useCpu } from '../helpers/tf';

/**
 * The inference graph (models/fuse.ts) must compute exactly what model.apply(x, {training:
 * false}) computes. Freshly built models would hide folding mistakes (BatchNorm starts as the
 * identity: mean 0, variance 1, γ 1, β 0; layer scale at 1e-6 makes blocks the identity), so
 * every weight, running statistics included, is first set to random values.
 */
const SIZE = 32;

function randomizeWeights(model: tfl.LayersModel, seed: number): void {
  model.weights.forEach((w, i) => {
    const n = w.shape.reduce((a, b) => (a as number) * (b as number), 1) as number;
    const values = randomArray(n, seed + i, 0.5);
    // Variances must be positive; γ around 1 keeps activations in range through deep stacks.
    const name = w.originalName;
    const v = name.endsWith('moving_variance') ? values.map((z) => 0.5 + Math.abs(z)) : name.endsWith('gamma') ? values.map((z) => 1 + z / 2) : values;
    const t = tf.tensor(Float32Array.from(v), w.shape as number[]);
    w.write(t);
    t.dispose();
  });
}

async function compare(step: string): Promise<{ err: number; nodes: readonly InferenceNode[]; summary: ReturnType<ReturnType<typeof fuseForInference>['summary']> }> {
  const model = buildModel(configFor(step, { scale: 'smoke', inChannels: 1, numClasses: 2 }), SIZE, { seed: 0 });
  randomizeWeights(model, 7);
  const x = tf.tensor4d(Float32Array.from(randomArray(3 * SIZE * SIZE, 11, 1)), [3, SIZE, SIZE, 1]);
  const expected = await (model.apply(x, { training: false }) as tf.Tensor).data();
  const graph = fuseForInference(model);
  const got = await graph.predict(x).data();
  const out = { err: relError(Float32Array.from(got), Float32Array.from(expected)), nodes: graph.nodes, summary: graph.summary() };
  graph.dispose();
  model.dispose();
  x.dispose();
  return out;
}

test('every roadmap step: the inference graph gives model.apply\'s logits on the cpu backend (tfjs\'s fused ops)', async () => {
  await useCpu();
  for (const step of STEP_IDS) {
    const { err } = await compare(step);
    assert.ok(err < 1e-4, `${step}: fused logits differ by ${err.toExponential(2)}`);
  }
});

const native = loadNative();
test('every roadmap step: the inference graph gives model.apply\'s logits on the native backend (oneDNN fused ops, the kit\'s LayerNorm)', { skip: native.ok ? false : `the native backend is not built here: ${native.reasons.join('; ')}` }, async () => {
  await selectBackend({ backend: 'tensorflow', reselect: true });
  await installKitKernels('tensorflow');
  for (const step of STEP_IDS) {
    const { err } = await compare(step);
    assert.ok(err < 1e-4, `${step}: fused logits differ by ${err.toExponential(2)}`);
  }
  await useCpu();
});

test('resnet and ConvNeXt: the inference graph gives model.apply\'s logits on webgpu (the kit\'s WGSL kernels)', async () => {
  // webgpu is required in CI (lavapipe there); the kit's fused conv replaces tfjs's FusedConv2D.
  await selectBackend({ backend: 'webgpu', reselect: true });
  await installKitKernels('webgpu');
  for (const step of ['resnet', 'separate-downsampling']) {
    const { err } = await compare(step);
    assert.ok(err < 1e-4, `${step}: fused logits differ by ${err.toExponential(2)}`);
  }
  await useCpu();
});

test('resnet: every BatchNorm is folded, every residual sum and ReLU runs inside a conv', async () => {
  await useCpu();
  const config = configFor('resnet', { scale: 'smoke', inChannels: 1, numClasses: 2 });
  const { nodes, summary } = await compare('resnet');
  const blocks = config.depths.reduce((a, b) => a + b, 0);
  assert.deepEqual(Object.keys(summary.kinds).sort(), ['conv', 'globalAvgPool', 'input', 'linear', 'maxPool']);
  assert.equal(summary.fusedResiduals, blocks);
  // 1 stem ReLU + 3 per bottleneck block (two inside, one after the sum).
  assert.equal(summary.fusedActivations, 1 + 3 * blocks);
  const batchNorms = buildModel(config, SIZE).layers.filter((l) => l instanceof BatchNorm).length;
  assert.equal(summary.foldedLayers, batchNorms);
  assert.ok(nodes.every((n) => n.kind !== 'scaleShift' && n.kind !== 'act' && n.kind !== 'add'));
});

test('ConvNeXt (separate-downsampling): layer scale folded into pwconv2, the residual sum into pwconv2, GELU into pwconv1', async () => {
  await useCpu();
  const config = configFor('separate-downsampling', { scale: 'smoke', inChannels: 1, numClasses: 2 });
  const { summary } = await compare('separate-downsampling');
  const blocks = config.depths.reduce((a, b) => a + b, 0);
  assert.equal(summary.kinds.scaleShift, undefined);
  assert.equal(summary.kinds.act, undefined);
  assert.equal(summary.fusedResiduals, blocks);
  assert.equal(summary.fusedActivations, blocks);
  assert.equal(summary.foldedLayers, blocks);
  // LayerNorm stays: stem, one per block, one per downsampling layer, and the head's.
  assert.equal(summary.kinds.layerNorm, 1 + blocks + (config.depths.length - 1) + 1);
});

test('the graph is a snapshot that leaks nothing: predict() keeps no tensors, dispose() frees its own and leaves the model intact', async () => {
  await useCpu();
  const model = buildModel(configFor('separate-downsampling', { scale: 'smoke', inChannels: 1, numClasses: 2 }), SIZE, { seed: 0 });
  randomizeWeights(model, 3);
  const x = tf.randomNormal([2, SIZE, SIZE, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const graph = fuseForInference(model);
  const owned = tf.memory().numTensors - before;
  assert.ok(owned > 0);
  const read = async (): Promise<number[]> => {
    const out = graph.predict(x);
    const values = Array.from(await out.data());
    out.dispose();
    return values;
  };
  const first = await read();
  assert.equal(tf.memory().numTensors, before + owned, 'predict() leaked tensors');
  // Training further changes the model, not the graph (fuse again to see new weights).
  randomizeWeights(model, 4);
  assert.deepEqual(await read(), first);
  graph.dispose();
  assert.equal(tf.memory().numTensors, before, 'dispose() left tensors behind');
  const stillWorks = await (model.apply(x, { training: false }) as tf.Tensor).data();
  assert.equal(stillWorks.length, 4);
  model.dispose();
});

test('a layer the graph does not know runs as itself; a layer applied twice is refused with what to do', async () => {
  await useCpu();
  const input = tfl.input({ shape: [8, 8, 2] });
  const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh', name: 'tanh_conv' }).apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(conv) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor });
  const x = tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
  const graph = fuseForInference(model);
  assert.equal(graph.nodes.find((n) => n.name === 'tanh_conv')?.kind, 'layer');
  assert.ok(relError(Float32Array.from(await graph.predict(x).data()), Float32Array.from(await (model.apply(x) as tf.Tensor).data())) < 1e-5);
  graph.dispose();

  const shared = tfl.layers.dense({ units: 2, name: 'shared' });
  const a = tfl.input({ shape: [2] });
  const twice = tfl.model({ inputs: a, outputs: shared.apply(shared.apply(a)) as tfl.SymbolicTensor });
  assert.throws(() => fuseForInference(twice), (e: unknown) => e instanceof KitError && /layer "shared" is used 2 times/.test(e.message) && /model\.apply/.test(String(e.fix)));
});
