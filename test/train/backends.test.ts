import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/lib/backend';
import { loadNative } from '../../src/lib/backend/tensorflow';
import { augmentBatch, XRAY_AUGMENT } from '../../src/lib/data/augment';
import { buildModel } from '../../src/lib/models/build';
import { configFor } from '../../src/lib/models/steps';
import { AdamW, clipByGlobalNorm } from '../../src/lib/train/adamw';
import { crossEntropy } from '../../src/lib/train/loss';
import { Rng } from '../../src/lib/util/rng';
import { randomArray, relError } from '../helpers/reference';

/**
 * The same first training steps, from the same seed, on the native tensorflow backend (with its
 * kernels: Transform, fused BatchNorm, ReluGrad, flat AdamW) and on webgpu (with the kit's WGSL
 * kernels): the losses and the weights after the steps must agree to float tolerance. Covers a
 * ResNet step (BatchNorm, ReLU) and the final ConvNeXt step (LayerNorm, GELU, layer scale).
 */
const native = loadNative();
const skip = native.ok ? false : `the native backend is not built here: ${native.reasons.join('; ')}`;

interface Trace {
  losses: number[];
  /** The gradient of every trainable variable at the first step. */
  grads: Float32Array[];
  /** Every weight (BatchNorm running statistics too) after the first step. */
  weights: Float32Array[];
}

/**
 * Adam moves a parameter by about lr whatever its gradient's size (lr · m̂ / √v̂), so where two
 * backends' float sums give a gradient of opposite sign the parameter ends up to 2·lr apart,
 * and later steps amplify that slightly. So: the first step is compared strictly (gradients to
 * 1e-3 of each tensor's largest value, weights to 2·lr), the next steps' losses to 1%.
 */
const LR = 1e-4;

/**
 * The initialization. A ReLU whose input lies within float noise of 0 can flip between backends
 * and change the gradients by ~1e-2, past the 1e-3 bar; whether one does depends on the draw.
 * Measured for the ResNet step (smoke, 32 px, this batch): with the positional layer names seeds
 * 0, 1, 2, 5 of 0–7 flipped one; since layers are named by role (seeds come from the names,
 * build.ts) seeds 3 and 4 do (seed 3: one input of s3_b2_act_out at 1.5e-5), 0 does not.
 */
const SEED = 0;

async function firstSteps(backend: 'tensorflow' | 'webgpu', step: string, steps: number): Promise<Trace> {
  await selectBackend({ backend, reselect: true });
  const size = 32;
  const batch = 8;
  const model = buildModel(configFor(step, { scale: 'smoke', inChannels: 1, numClasses: 2 }), size, { seed: SEED });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new AdamW(vars, { weightDecay: 0.05 });
  const rng = new Rng(5);
  const losses: number[] = [];
  let firstGrads: Float32Array[] = [];
  let firstWeights: Float32Array[] = [];
  for (let s = 0; s < steps; s++) {
    const pixels = Float32Array.from(randomArray(batch * size * size, 100 + s, 0.5), (v) => v + 0.5);
    const x = tf.tidy(() => tf.sub(augmentBatch(tf.tensor4d(pixels, [batch, size, size, 1]), XRAY_AUGMENT, rng), 0.5));
    const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i + s) % 2), 'int32');
    const { value, grads } = tf.variableGrads(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y, { smoothing: 0.1 }), vars);
    if (s === 0) firstGrads = await Promise.all(vars.map(async (v) => Float32Array.from(await (grads[v.name] as tf.Tensor).data())));
    const clipped = clipByGlobalNorm(grads, 5);
    optimizer.apply(clipped.grads, LR);
    tf.dispose([x, y, clipped.norm, ...Object.values(clipped.grads)]);
    if (s === 0) firstWeights = await Promise.all(model.weights.map(async (w) => Float32Array.from(await w.read().data())));
    losses.push((await value.data())[0] as number);
    value.dispose();
  }
  optimizer.dispose();
  model.dispose();
  return { losses, grads: firstGrads, weights: firstWeights };
}

for (const step of ['resnet', 'separate-downsampling']) {
  test(`${step}: the first training steps on tensorflow and on webgpu from the same seed agree: gradients, weights after one step, losses`, { skip }, async () => {
    const tfTrace = await firstSteps('tensorflow', step, 3);
    const gpuTrace = await firstSteps('webgpu', step, 3);
    // The first step's gradients: the whole forward and backward pass, variable by variable.
    tfTrace.grads.forEach((g, i) => {
      const err = relError(g, gpuTrace.grads[i] as Float32Array);
      assert.ok(err <= 1e-3, `gradient of variable ${i} differs by ${err.toExponential(2)} (relative to its largest element)`);
    });
    assert.equal(tfTrace.weights.length, gpuTrace.weights.length);
    tfTrace.weights.forEach((w, i) => {
      const other = gpuTrace.weights[i] as Float32Array;
      let worst = 0;
      for (let k = 0; k < w.length; k++) worst = Math.max(worst, Math.abs((w[k] as number) - (other[k] as number)));
      assert.ok(worst <= 2 * LR + 1e-5, `weight ${i} differs by up to ${worst.toExponential(2)} after the first step`);
    });
    tfTrace.losses.forEach((l, i) => assert.ok(Math.abs(l - (gpuTrace.losses[i] as number)) <= 1e-2 * Math.abs(l), `step ${i}: loss ${l} on tensorflow, ${gpuTrace.losses[i]} on webgpu`));
    assert.ok(Math.abs((tfTrace.losses[0] as number) - (gpuTrace.losses[0] as number)) <= 1e-4, 'the first loss (same weights, same batch) must agree to 1e-4');
    // The losses moved: the steps trained, so this is not a comparison of two initializations.
    assert.notEqual(tfTrace.losses[0], tfTrace.losses[2]);
  });
}
