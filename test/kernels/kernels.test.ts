import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/lib/backend';
import { installKitKernels, setPoisonOutputs, useStockKernels } from '../../src/lib/kernels';
import { layerMath, STOCK_MATH } from '../../src/lib/models/layers';
import { AdamW } from '../../src/lib/train/adamw';
import { randomArray, relError } from '../helpers/reference';

/**
 * Every kit kernel against the stock WebGPU kernel and the pure-JS cpu backend, on random inputs
 * of many shapes (odd sizes, strides 1/2/4, same/valid padding, batch 1, 1 and 3 channels), with
 * every output buffer poisoned with NaN first, so an element a kernel fails to write shows up.
 */
const TOL = 1e-4;

before(async () => {
  await selectBackend({ backend: 'webgpu', kitKernels: false });
});
after(() => setPoisonOutputs(false));

/** Evaluate fn on the stock webgpu kernels, the kit kernels (poisoned outputs) and the cpu backend. */
async function threeWays(fn: () => tf.Tensor | tf.Tensor[]): Promise<{ stock: Float32Array[]; kit: Float32Array[]; cpu: Float32Array[] }> {
  const read = async (): Promise<Float32Array[]> => {
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    const values = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose(list);
    return values;
  };
  await tf.setBackend('webgpu');
  useStockKernels();
  const stock = await read();
  await installKitKernels('webgpu');
  setPoisonOutputs(true);
  const kit = await read();
  setPoisonOutputs(false);
  await tf.setBackend('cpu');
  const cpu = await read();
  await tf.setBackend('webgpu');
  return { stock, kit, cpu };
}

function check(name: string, r: { stock: Float32Array[]; kit: Float32Array[]; cpu: Float32Array[] }): void {
  r.kit.forEach((k, i) => {
    assert.ok(k.every((v) => Number.isFinite(v)), `${name}: output ${i} has unwritten (NaN) elements`);
    const vsStock = relError(k, r.stock[i] as Float32Array);
    const vsCpu = relError(k, r.cpu[i] as Float32Array);
    assert.ok(vsStock <= TOL && vsCpu <= TOL, `${name}: output ${i} rel. error vs stock ${vsStock.toExponential(2)}, vs cpu ${vsCpu.toExponential(2)}`);
  });
}

/**
 * Inputs live on the host and become a tensor on whichever backend is active when called:
 * a webgpu tensor cannot be read synchronously by the cpu backend in Node.
 */
type Input = () => tf.Tensor;
const seeded = (shape: number[], seed: number, scale = 1, offset = 0): Input => {
  const values = Float32Array.from(randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), (v) => v + offset);
  return () => tf.tensor(values, shape);
};
const outShape = (c: { x: number[]; f: number[]; s: number; pad: 'same' | 'valid' }): number[] => {
  const dim = (n: number, k: number): number => (c.pad === 'same' ? Math.ceil(n / c.s) : Math.floor((n - k) / c.s) + 1);
  return [c.x[0] as number, dim(c.x[1] as number, c.f[0] as number), dim(c.x[2] as number, c.f[1] as number), c.f[3] as number];
};

type ConvCase = { x: [number, number, number, number]; f: [number, number, number, number]; s: number; pad: 'same' | 'valid' };
const CONV_CASES: ConvCase[] = [
  { x: [2, 17, 13, 1], f: [7, 7, 1, 5], s: 2, pad: 'same' },
  { x: [1, 9, 9, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [3, 11, 10, 3], f: [4, 4, 3, 6], s: 4, pad: 'valid' },
  { x: [2, 8, 8, 6], f: [3, 3, 6, 7], s: 2, pad: 'valid' },
  { x: [1, 5, 7, 16], f: [2, 2, 16, 9], s: 2, pad: 'valid' },
  { x: [4, 6, 6, 1], f: [1, 1, 1, 3], s: 1, pad: 'same' },
  // Images smaller than the kernel (a ResNet's last stage at 32 px): taps right of the image
  // must be skipped (a truncating division once made them read the next row).
  { x: [8, 2, 2, 8], f: [3, 3, 8, 8], s: 2, pad: 'same' },
  { x: [3, 1, 1, 5], f: [3, 3, 5, 6], s: 1, pad: 'same' },
];

for (const c of CONV_CASES) {
  test(`Conv2D forward, fused bias+ReLU, and Conv2DBackpropFilter: x [${c.x}] filter [${c.f}] stride ${c.s} ${c.pad}`, async () => {
    const x = seeded(c.x, 1);
    const f = seeded(c.f, 2);
    const bias = seeded([c.f[3]], 3);
    const dy = seeded(outShape(c), 4);
    check('conv2d', await threeWays(() => tf.conv2d(x() as tf.Tensor4D, f() as tf.Tensor4D, c.s, c.pad)));
    check('fused conv2d', await threeWays(() => tf.fused.conv2d({ x: x() as tf.Tensor4D, filter: f() as tf.Tensor4D, strides: c.s, pad: c.pad, bias: bias(), activation: 'relu' })));
    check('conv2d filter gradient', await threeWays(() => {
      const [xt, dyt] = [x(), dy()];
      return tf.grad((ff: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad), dyt)))(f());
    }));
  });
}

const DW_CASES: { x: [number, number, number, number]; k: number; s: number; pad: 'same' | 'valid' }[] = [
  { x: [2, 9, 11, 5], k: 7, s: 1, pad: 'same' },
  { x: [1, 8, 8, 3], k: 3, s: 2, pad: 'same' },
  { x: [3, 7, 9, 1], k: 5, s: 2, pad: 'valid' },
  { x: [2, 12, 12, 8], k: 3, s: 4, pad: 'same' },
  { x: [1, 4, 4, 96], k: 7, s: 1, pad: 'same' },
  { x: [4, 2, 2, 6], k: 7, s: 1, pad: 'same' },
  { x: [2, 2, 3, 4], k: 3, s: 2, pad: 'same' },
];

for (const c of DW_CASES) {
  test(`depthwise conv gradients (filter and input): x [${c.x}] kernel ${c.k} stride ${c.s} ${c.pad}`, async () => {
    const x = seeded(c.x, 5);
    const f = seeded([c.k, c.k, c.x[3], 1], 6);
    const dy = seeded(outShape({ ...c, f: [c.k, c.k, c.x[3], c.x[3]] }), 7);
    check('depthwise gradients', await threeWays(() => {
      const dyt = dy();
      const loss = (xx: tf.Tensor, ff: tf.Tensor): tf.Tensor => tf.sum(tf.mul(tf.depthwiseConv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad), dyt));
      return tf.grads(loss)([x(), f()]);
    }));
  });
}

for (const shape of [[2, 5, 7, 96], [1, 1, 1, 3], [3, 4, 4, 24], [64, 4, 4, 40]]) {
  test(`fused LayerNorm and GELU, forward and backward, shape [${shape}]`, async () => {
    const c = shape[3] as number;
    const x = seeded(shape, 8, 2, 0.5);
    const gamma = seeded([c], 9, 0.3, 1);
    const beta = seeded([c], 10, 0.3);
    const dy = seeded(shape, 11);
    // Under stock kernels layerMath() is the reference; under kit kernels it is the fused one.
    const ln = (): tf.Tensor[] => {
      const dyt = dy();
      return tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerMath().layerNorm(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6), dyt)))([x(), gamma(), beta()]);
    };
    const lnForward = (): tf.Tensor => layerMath().layerNorm(x(), gamma() as tf.Tensor1D, beta() as tf.Tensor1D, 1e-6);
    const gelu = (): tf.Tensor[] => {
      const [xt, dyt] = [x(), dy()];
      return [layerMath().gelu(xt), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layerMath().gelu(a), dyt)))(xt)];
    };
    check('layer norm', await threeWays(lnForward));
    check('layer norm gradients', await threeWays(ln));
    check('gelu', await threeWays(gelu));
  });
}

test('installing and removing the kit kernels switches the layer math and restores the stock kernels', async () => {
  await installKitKernels('webgpu');
  assert.notEqual(layerMath(), STOCK_MATH);
  const kitFunc = tf.getKernel('Conv2DBackpropFilter', 'webgpu')?.kernelFunc;
  useStockKernels();
  assert.equal(layerMath(), STOCK_MATH);
  assert.notEqual(tf.getKernel('Conv2DBackpropFilter', 'webgpu')?.kernelFunc, kitFunc);
  assert.equal(await installKitKernels('cpu'), false, 'only the webgpu backend gets kit kernels');
});

test('fused AdamW (KitAdamW) gives the same parameters and moments as the op-by-op AdamW over several steps', async () => {
  const shapes = [[3, 3, 5, 7], [7], [1]];
  const init = shapes.map((s, i) => seeded(s, 20 + i));
  const gradsAt = (step: number): Input[] => shapes.map((s, i) => seeded(s, 100 + 10 * step + i));
  const runWith = async (fused: boolean): Promise<Float32Array[]> => {
    if (fused) await installKitKernels('webgpu');
    else useStockKernels();
    if (fused) setPoisonOutputs(true);
    const vars = init.map((f, i) => tf.variable(f(), true, `adamw_${fused}_${i}_${Math.random()}`));
    const opt = new AdamW(vars, { weightDecay: 0.05 });
    for (let step = 0; step < 4; step++) {
      const g = gradsAt(step).map((f) => f());
      opt.apply(Object.fromEntries(vars.map((v, i) => [v.name, g[i] as tf.Tensor])), 1e-2 * (step + 1));
      tf.dispose(g);
    }
    setPoisonOutputs(false);
    const state = await opt.getState();
    const out = [...(await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array))), ...state.m, ...state.v];
    opt.dispose();
    tf.dispose(vars);
    return out;
  };
  const stock = await runWith(false);
  const fused = await runWith(true);
  stock.forEach((s, i) => assert.ok(relError(fused[i] as Float32Array, s) <= TOL, `tensor ${i}: ${relError(fused[i] as Float32Array, s)}`));
});
