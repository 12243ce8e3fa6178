import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DropPath, Gelu, LayerNorm, LayerScale, setDropPathRng } from '../../src/lib/models/layers';
import { Rng } from '../../src/lib/util/rng';
import { gelu64, geluGrad64, randomArray, relError } from '../helpers/reference';
import { useCpu } from '../helpers/tf';

before(useCpu);

/** Float64 LayerNorm over the last axis and its gradients for upstream gradient dy. */
function layerNorm64(x: Float64Array, dy: Float64Array, g: Float64Array, b: Float64Array, c: number, eps: number) {
  const n = x.length / c;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const dg = new Float64Array(c);
  const db = new Float64Array(c);
  for (let r = 0; r < n; r++) {
    let mean = 0;
    for (let k = 0; k < c; k++) mean += x[r * c + k] as number;
    mean /= c;
    let v = 0;
    for (let k = 0; k < c; k++) v += ((x[r * c + k] as number) - mean) ** 2;
    v /= c;
    const inv = 1 / Math.sqrt(v + eps);
    const xhat = Array.from({ length: c }, (_, k) => ((x[r * c + k] as number) - mean) * inv);
    const dxhat = xhat.map((_, k) => (dy[r * c + k] as number) * (g[k] as number));
    const m1 = dxhat.reduce((a, z) => a + z, 0) / c;
    const m2 = dxhat.reduce((a, z, k) => a + z * (xhat[k] as number), 0) / c;
    for (let k = 0; k < c; k++) {
      const i = r * c + k;
      y[i] = (xhat[k] as number) * (g[k] as number) + (b[k] as number);
      dx[i] = inv * ((dxhat[k] as number) - m1 - (xhat[k] as number) * m2);
      dg[k] = (dg[k] as number) + (dy[i] as number) * (xhat[k] as number);
      db[k] = (db[k] as number) + (dy[i] as number);
    }
  }
  return { y, dx, dg, db };
}

for (const shape of [[2, 3, 5, 8], [1, 1, 1, 3], [4, 7, 7, 96]] as const) {
  test(`LayerNorm matches a float64 reference in values and gradients, shape [${shape}]`, () => {
    const c = shape[3];
    const size = (shape as readonly number[]).reduce((a, b) => a * b, 1);
    // An offset and a scale per row, so the normalization has real work to do.
    const x = randomArray(size, 1, 3).map((v, i) => v + (i % 7) * 0.5);
    const dy = randomArray(size, 2);
    const layer = new LayerNorm({ epsilon: 1e-6 });
    layer.build([null, shape[1], shape[2], c]);
    const g = randomArray(c, 3).map((v) => 1 + 0.5 * v);
    const b = randomArray(c, 4, 0.3);
    layer.setWeights([tf.tensor1d(Float32Array.from(g)), tf.tensor1d(Float32Array.from(b))]);
    const ref = layerNorm64(x, dy, g, b, c, 1e-6);
    const xt = tf.tensor4d(Float32Array.from(x), [...shape]);
    const dyt = tf.tensor4d(Float32Array.from(dy), [...shape]);
    const y = layer.apply(xt) as tf.Tensor;
    assert.ok(relError(y.dataSync(), ref.y) < 1e-5, `forward rel. error ${relError(y.dataSync(), ref.y)}`);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xt) as tf.Tensor, dyt)) as tf.Scalar, layer.trainableWeights.map((w) => w.read() as tf.Variable));
    const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx) as tf.Tensor, dyt)))(xt);
    assert.ok(relError(dx.dataSync(), ref.dx) < 1e-5, `dx rel. error ${relError(dx.dataSync(), ref.dx)}`);
    const [gName, bName] = layer.trainableWeights.map((w) => (w.read() as tf.Variable).name);
    assert.ok(relError((grads[gName as string] as tf.Tensor).dataSync(), ref.dg) < 1e-5);
    assert.ok(relError((grads[bName as string] as tf.Tensor).dataSync(), ref.db) < 1e-5);
  });
}

test('GELU is the exact erf form: values and gradients match float64 within 1e-5', () => {
  const x = Float64Array.from([...randomArray(200, 5, 6), 0, -0.5, 0.5, 1e-3, -8, 8]);
  const xt = tf.tensor1d(Float32Array.from(x));
  const layer = new Gelu();
  const y = layer.apply(xt) as tf.Tensor;
  assert.ok(relError(y.dataSync(), x.map(gelu64)) < 1e-5, `forward ${relError(y.dataSync(), x.map(gelu64))}`);
  const dx = tf.grad((v: tf.Tensor) => tf.sum(layer.apply(v) as tf.Tensor))(xt);
  assert.ok(relError(dx.dataSync(), x.map(geluGrad64)) < 1e-5, `grad ${relError(dx.dataSync(), x.map(geluGrad64))}`);
  // Not the tanh approximation: at x = 1 they differ in the 4th decimal.
  assert.ok(Math.abs((y.dataSync()[x.indexOf(0.5)] as number) - gelu64(0.5)) < 1e-6);
});

test('LayerScale multiplies channels by γ (initialised to its value) and passes gradients', () => {
  const layer = new LayerScale({ initValue: 1e-6 });
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
  const y = layer.apply(x) as tf.Tensor;
  assert.ok(relError(y.dataSync(), [1, 2, 3, 4, 5, 6].map((v) => v * 1e-6)) < 1e-6);
  const { grads } = tf.variableGrads(() => tf.sum(layer.apply(x) as tf.Tensor) as tf.Scalar, [layer.trainableWeights[0]?.read() as tf.Variable]);
  // d/dγ_c Σ γ_c x = Σ over positions of channel c: [1+4, 2+5, 3+6].
  assert.deepEqual([...(Object.values(grads)[0] as tf.Tensor).dataSync()], [5, 7, 9]);
});

test('DropPath is the identity at inference and drops whole samples, rescaled, in training', () => {
  const layer = new DropPath({ rate: 0.25 });
  const x = tf.ones([400, 2, 2, 3]);
  assert.deepEqual((layer.apply(x, { training: false }) as tf.Tensor).dataSync(), x.dataSync());
  assert.deepEqual((layer.apply(x) as tf.Tensor).dataSync(), x.dataSync());
  setDropPathRng(new Rng(11));
  const y = tf.reshape(layer.apply(x, { training: true }) as tf.Tensor, [400, 12]).arraySync() as number[][];
  const kept = y.filter((row) => row.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).length;
  const dropped = y.filter((row) => row.every((v) => v === 0)).length;
  assert.equal(kept + dropped, 400, 'each sample is kept or dropped as a whole');
  assert.ok(Math.abs(dropped / 400 - 0.25) < 0.06, `drop share ${dropped / 400}`);
  // Seeded: the same generator state gives the same mask.
  setDropPathRng(new Rng(11));
  assert.deepEqual(tf.reshape(layer.apply(x, { training: true }) as tf.Tensor, [400, 12]).arraySync(), y);
  // Gradient flows through kept samples only, scaled by 1/keep.
  setDropPathRng(new Rng(11));
  const dx = tf.reshape(tf.grad((v: tf.Tensor) => tf.sum(layer.apply(v, { training: true }) as tf.Tensor))(x), [400, 12]).arraySync() as number[][];
  assert.deepEqual(dx, y);
});

test('custom layers survive serialization: config round-trips through the registry', () => {
  for (const layer of [new LayerNorm({ epsilon: 1e-6, name: 'ln' }), new Gelu({ name: 'g' }), new LayerScale({ initValue: 1e-6, name: 'ls' }), new DropPath({ rate: 0.1, name: 'dp' })]) {
    const cls = tf.serialization.SerializationMap.getMap().classNameMap[(layer.constructor as unknown as { className: string }).className];
    assert.ok(cls !== undefined, `${layer.getClassName()} is registered`);
    const copy = tfl.layers.Layer.fromConfig(cls[0] as never, layer.getConfig()) as tfl.layers.Layer;
    assert.deepEqual(copy.getConfig(), layer.getConfig());
  }
});
