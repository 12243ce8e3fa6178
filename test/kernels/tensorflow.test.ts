import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/lib/backend';
import { loadNative } from '../../src/lib/backend/tensorflow';
import { augmentBatch, drawAugment, XRAY_AUGMENT } from '../../src/lib/data/augment';
import { installKitKernels, useStockKernels } from '../../src/lib/kernels';
import { kitOpsAvailable, NATIVE_INFERENCE, oneDnnAvailable } from '../../src/lib/kernels/tensorflow';
import { Activation, ConvGeometry, STOCK_INFERENCE } from '../../src/lib/models/fuse';
import { BatchNorm, layerMath } from '../../src/lib/models/layers';
import { Rng } from '../../src/lib/util/rng';
import { randomArray, relError } from '../helpers/reference';

/**
 * The kit's kernels for the native tensorflow backend (src/lib/kernels/tensorflow.ts) against
 * the pure-JS cpu backend: the same function, run on both, must agree to float tolerance.
 * Skipped only where `npm run setup` could not build the native backend (it says why).
 */
const native = loadNative();
const skip = native.ok ? false : `the native backend is not built here: ${native.reasons.join('; ')}`;
const TOL = 1e-4;

before(async () => {
  if (native.ok) await selectBackend({ backend: 'tensorflow' });
});

/**
 * fn's outputs on the tensorflow backend (kit kernels on) and on the cpu backend; cpuFn, when
 * given, is what runs on the cpu backend instead (the same math, computed another way).
 */
async function bothWays(fn: () => tf.Tensor[], cpuFn = fn): Promise<{ native: Float32Array[]; cpu: Float32Array[] }> {
  const read = async (f: () => tf.Tensor[]): Promise<Float32Array[]> => {
    const out = f();
    const values = await Promise.all(out.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(out);
    return values;
  };
  await tf.setBackend('tensorflow');
  await installKitKernels('tensorflow');
  const nativeOut = await read(fn);
  await tf.setBackend('cpu');
  const cpu = await read(cpuFn);
  await tf.setBackend('tensorflow');
  return { native: nativeOut, cpu };
}

function assertClose(name: string, r: { native: Float32Array[]; cpu: Float32Array[] }, tol = TOL): void {
  r.native.forEach((v, i) => {
    const err = relError(v, r.cpu[i] as Float32Array);
    assert.ok(err <= tol, `${name}: output ${i} differs from the cpu backend by ${err.toExponential(2)} (tolerance ${tol})`);
  });
}

const host = (shape: number[], seed: number, scale = 1, offset = 0): (() => tf.Tensor) => {
  const values = Float32Array.from(randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), (v) => v + offset);
  return () => tf.tensor(values, shape);
};

/**
 * tf.image.transform on a batch, and on the cpu backend image by image: tfjs-backend-cpu 4.22's
 * Transform returns after the first image of a batch (the rest stay at the fill value), so the
 * reference is built one image at a time.
 */
function transformBoth(image: () => tf.Tensor, transforms: number[][], ...rest: [string, string, number, [number, number]?]): [() => tf.Tensor[], () => tf.Tensor[]] {
  const [interpolation, fillMode, fillValue, outputShape] = rest as ['bilinear', 'constant', number, [number, number] | undefined];
  const one = (x: tf.Tensor, t: number[][]): tf.Tensor => tf.image.transform(x as tf.Tensor4D, tf.tensor2d(t.flat(), [t.length, 8]), interpolation, fillMode, fillValue, outputShape);
  const batched = (): tf.Tensor[] => [one(image(), transforms)];
  const perImage = (): tf.Tensor[] => {
    const x = image();
    return [tf.concat(transforms.map((t, i) => one(tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]), [t])), 0)];
  };
  return [batched, perImage];
}

test('Transform (tf.image.transform) runs as ImageProjectiveTransformV3 and matches tfjs for every interpolation and fill mode', { skip }, async () => {
  const image = host([3, 17, 13, 2], 1, 0.5, 0.5);
  const rng = new Rng(7);
  const transforms = Array.from({ length: 3 }, () => drawAugment({ ...XRAY_AUGMENT, rotateDeg: 25, translate: 0.2 }, 17, 13, rng).transform);
  for (const interpolation of ['bilinear', 'nearest'] as const) {
    for (const fillMode of ['constant', 'reflect', 'wrap', 'nearest'] as const) {
      const r = await bothWays(...transformBoth(image, transforms, interpolation, fillMode, 0.25));
      assertClose(`transform ${interpolation}/${fillMode}`, r);
    }
  }
  // Another output size than the input's.
  const r = await bothWays(...transformBoth(image, transforms, 'bilinear', 'constant', 0, [9, 21]));
  assert.equal(r.native[0]?.length, 3 * 9 * 21 * 2);
  assertClose('transform to 9×21', r);
});

test('augmentBatch() works on the tensorflow backend: every image is transformed, none left blank', { skip }, async () => {
  const x = host([4, 32, 32, 1], 3, 0.5, 0.5);
  await tf.setBackend('tensorflow');
  const out = augmentBatch(x() as tf.Tensor4D, XRAY_AUGMENT, new Rng(11));
  const perImageMean = await tf.mean(out, [1, 2, 3]).data();
  out.dispose();
  assert.equal(perImageMean.length, 4);
  for (const m of perImageMean) assert.ok(m > 0.2 && m < 0.8, `an augmented image has mean ${m}`);
});

test("ReLU's gradient (native ReluGrad) equals tfjs's, zero at x = 0", { skip }, async () => {
  const xs = Float32Array.from(randomArray(4 * 5 * 6 * 3, 5, 1));
  xs[0] = 0;
  const w = host([4, 5, 6, 3], 6);
  const r = await bothWays(() => {
    const x = tf.tensor(xs, [4, 5, 6, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), w())))(x);
    return [g];
  });
  assertClose('relu grad', r);
  assert.equal(Math.abs(r.native[0]?.[0] ?? NaN), 0);
});

test('BatchNorm in training (the kit\'s KitBatchNorm / KitBatchNormGrad): output, batch statistics and all three gradients match the stock ops', { skip }, async () => {
  for (const shape of [
    [8, 5, 7, 3],
    [3, 2, 1, 16],
    [1, 9, 9, 4],
  ]) {
    const x = host(shape, 9, 2, 0.3);
    const c = shape[3] as number;
    const gamma = host([c], 10, 0.5, 1);
    const beta = host([c], 11, 0.5);
    const dy = host(shape, 12);
    const r = await bothWays(() => {
      const [xs, gs, bs] = [x(), gamma() as tf.Tensor1D, beta() as tf.Tensor1D];
      let mean: tf.Tensor | undefined;
      let variance: tf.Tensor | undefined;
      const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
        const out = layerMath().batchNormTrain(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
        mean = tf.keep(out.mean);
        variance = tf.keep(out.variance);
        return tf.sum(tf.mul(out.y, dy()));
      };
      const y = layerMath().batchNormTrain(xs, gs, bs, 1e-5);
      tf.dispose([y.mean, y.variance]);
      const grads = tf.grads(f)([xs, gs, bs]);
      return [y.y, mean as tf.Tensor, variance as tf.Tensor, ...grads];
    });
    assertClose(`batchNormTrain ${shape.join('×')}`, r, 2e-4);
  }
});

test('pointwise (MatMul + BiasAdd, written-out gradient): output and gradients of x, kernel and bias match tfjs, with and without bias', { skip }, async () => {
  for (const [shape, n, withBias] of [
    [[4, 5, 3, 7], 11, true],
    [[2, 1, 1, 16], 64, true],
    [[3, 6, 6, 5], 4, false],
  ] as const) {
    const x = host([...shape], 21, 1);
    const k = shape[3];
    const kernel = host([k, n], 22, 0.5);
    const bias = host([n], 23, 0.5);
    const dy = host([...shape.slice(0, 3), n], 24);
    const r = await bothWays(() => {
      const f = (...args: tf.Tensor[]): tf.Tensor => tf.sum(tf.mul(layerMath().pointwise(args[0] as tf.Tensor, args[1] as tf.Tensor2D, args[2] as tf.Tensor1D | undefined), dy()));
      const inputs = withBias ? [x(), kernel(), bias()] : [x(), kernel()];
      return [layerMath().pointwise(inputs[0] as tf.Tensor, inputs[1] as tf.Tensor2D, inputs[2] as tf.Tensor1D | undefined), ...tf.grads(f)(inputs)];
    });
    assert.equal(r.native.length, withBias ? 4 : 3);
    assertClose(`pointwise ${shape.join('×')} → ${n}${withBias ? ' + bias' : ''}`, r);
  }
});

test('LayerNorm (the kit\'s KitLayerNorm / KitLayerNormGrad) and GELU (written-out derivative): values and gradients match tfjs', { skip }, async () => {
  for (const shape of [
    [4, 5, 3, 7],
    [2, 1, 1, 96],
    [6, 40],
  ]) {
    const c = shape[shape.length - 1] as number;
    const x = host(shape, 31, 2, 0.4);
    const gamma = host([c], 32, 0.5, 1);
    const beta = host([c], 33, 0.5);
    const dy = host(shape, 34);
    const ln = await bothWays(() => {
      const f = (a: tf.Tensor, g: tf.Tensor, bb: tf.Tensor): tf.Tensor => tf.sum(tf.mul(layerMath().layerNorm(a, g as tf.Tensor1D, bb as tf.Tensor1D, 1e-6), dy()));
      return [layerMath().layerNorm(x(), gamma() as tf.Tensor1D, beta() as tf.Tensor1D, 1e-6), ...tf.grads(f)([x(), gamma(), beta()])];
    });
    assertClose(`layerNorm ${shape.join('×')}`, ln, 2e-4);
    const gelu = await bothWays(() => [layerMath().gelu(x()), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layerMath().gelu(a), dy())))(x())]);
    assertClose(`gelu ${shape.join('×')}`, gelu);
  }
});

test('the BatchNorm layer updates its running statistics identically on both backends, and infers with them', { skip }, async () => {
  const x = host([6, 4, 4, 5], 13, 1.5, 0.7);
  const r = await bothWays(() => {
    const layer = new BatchNorm({ momentum: 0.9, epsilon: 1e-5, name: 'bn' });
    layer.apply(x(), { training: true });
    layer.apply(x(), { training: true });
    const inferred = layer.apply(x(), { training: false }) as tf.Tensor;
    const weights = layer.getWeights();
    return [inferred, ...weights.map((w) => w.clone())];
  });
  assertClose('BatchNorm layer', r);
  // moving_mean moved from 0 towards the batch mean: 1 - 0.9² of the way after two steps.
  assert.ok((r.native[3] ?? new Float32Array()).some((v) => Math.abs(v) > 1e-3));
});

test('useStockKernels() puts the stock ReLU gradient back on the tensorflow backend, and the numbers stay the same', { skip }, async () => {
  const x = host([2, 3, 3, 2], 14);
  await tf.setBackend('tensorflow');
  await installKitKernels('tensorflow');
  const kit = await tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x()).data();
  useStockKernels();
  assert.equal(tf.getGradient('Relu')?.gradFunc.toString().includes('KitReluGrad'), false);
  const stock = await tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x()).data();
  assert.deepEqual(Array.from(kit), Array.from(stock));
  await installKitKernels('tensorflow');
});

test('the binding built by setup has the kit\'s ops and passes list attributes (so oneDNN\'s fused ops run)', { skip }, async () => {
  await tf.setBackend('tensorflow');
  assert.equal(kitOpsAvailable(), true, 'KitLayerNorm is not registered: the binding was not built from native/kit_ops.cc (run `npm run setup`)');
  assert.equal(oneDnnAvailable(), true, '_MklNativeFusedConv2D did not run: list attributes are not passed, or oneDNN is off (TF_ENABLE_ONEDNN_OPTS=0)');
});

test('the kit\'s ops reject bad shapes with a message that names them (no crash, no garbage)', { skip }, async () => {
  await tf.setBackend('tensorflow');
  const b = tf.backend() as unknown as { executeMultipleOutputs: (name: string, attrs: unknown[], inputs: tf.Tensor[], n: number) => tf.Tensor[] };
  const x = tf.ones([2, 3, 4]);
  assert.throws(() => b.executeMultipleOutputs('KitLayerNorm', [], [x, tf.ones([5]), tf.zeros([5])], 3), /KitLayerNorm: gamma must be \[4\] for x of shape \[2,3,4\], got \[5\]/);
  assert.throws(() => b.executeMultipleOutputs('KitBatchNorm', [], [x, tf.ones([4]), tf.zeros([3])], 3), /KitBatchNorm: beta must have 4 elements/);
  assert.throws(() => b.executeMultipleOutputs('KitBatchNormGrad', [], [tf.ones([2, 4]), x, tf.ones([4]), tf.zeros([4]), tf.ones([4])], 3), /KitBatchNormGrad: dy must have x's shape \[2,3,4\]/);
});

test('inference ops (oneDNN fused conv, depthwise conv and matmul with bias, residual sum and ReLU/GELU) match tfjs\'s on the cpu backend for every epilogue', { skip }, async () => {
  const acts: (Activation | null)[] = [null, 'relu', 'gelu'];
  const convCases: { x: number[]; filter: number[]; g: ConvGeometry }[] = [
    { x: [2, 9, 9, 3], filter: [3, 3, 3, 5], g: { stride: 1, padding: 'same', depthwise: false } },
    { x: [2, 9, 8, 4], filter: [3, 3, 4, 6], g: { stride: 2, padding: 'same', depthwise: false } },
    { x: [2, 8, 8, 3], filter: [2, 2, 3, 4], g: { stride: 2, padding: 'valid', depthwise: false } },
    { x: [2, 9, 9, 4], filter: [7, 7, 4, 1], g: { stride: 1, padding: 'same', depthwise: true } },
    { x: [2, 8, 8, 4], filter: [3, 3, 4, 1], g: { stride: 2, padding: 'same', depthwise: true } },
  ];
  for (const [i, c] of convCases.entries()) {
    const cout = c.g.depthwise ? (c.filter[2] as number) : (c.filter[3] as number);
    const x = host(c.x, 40 + i);
    const filter = host(c.filter, 50 + i, 0.4);
    const bias = host([cout], 60 + i, 0.5);
    const side = (n: number, k: number): number => (c.g.padding === 'same' ? Math.ceil(n / c.g.stride) : Math.floor((n - k) / c.g.stride) + 1);
    const residual = host([c.x[0] as number, side(c.x[1] as number, c.filter[0] as number), side(c.x[2] as number, c.filter[1] as number), cout], 70 + i);
    for (const act of acts) {
      for (const withResidual of [false, true]) {
        const run = (m: typeof STOCK_INFERENCE) => (): tf.Tensor[] => [m.conv(x() as tf.Tensor4D, filter() as tf.Tensor4D, bias() as tf.Tensor1D, c.g, { act, residual: withResidual ? residual() : undefined })];
        const r = await bothWays(run(NATIVE_INFERENCE), run(STOCK_INFERENCE));
        assertClose(`conv ${c.filter.join('×')} ${JSON.stringify(c.g)} act ${act} residual ${withResidual}`, r);
      }
    }
  }
  for (const [i, shape] of [[2, 5, 5, 8], [3, 16]].entries()) {
    const k = shape[shape.length - 1] as number;
    const x = host(shape, 80 + i);
    const kernel = host([k, 12], 81 + i, 0.4);
    const bias = host([12], 82 + i, 0.5);
    const residual = host([...shape.slice(0, -1), 12], 83 + i);
    for (const act of acts) {
      for (const withResidual of [false, true]) {
        const run = (m: typeof STOCK_INFERENCE) => (): tf.Tensor[] => [m.linear(x(), kernel() as tf.Tensor2D, bias() as tf.Tensor1D, { act, residual: withResidual ? residual() : undefined })];
        const r = await bothWays(run(NATIVE_INFERENCE), run(STOCK_INFERENCE));
        assertClose(`linear ${shape.join('×')}→12 act ${act} residual ${withResidual}`, r);
      }
    }
  }
  const x = host([3, 4, 4, 10], 90, 2, 0.5);
  const ln = await bothWays(() => [NATIVE_INFERENCE.layerNorm(x(), host([10], 91, 0.5, 1)() as tf.Tensor1D, host([10], 92)() as tf.Tensor1D, 1e-6)], () => [STOCK_INFERENCE.layerNorm(x(), host([10], 91, 0.5, 1)() as tf.Tensor1D, host([10], 92)() as tf.Tensor1D, 1e-6)]);
  assertClose('inference layerNorm', ln);
});
