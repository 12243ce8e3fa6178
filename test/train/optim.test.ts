import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, clipByGlobalNorm } from '../../src/lib/train/adamw';
import { crossEntropy } from '../../src/lib/train/loss';
import { learningRate } from '../../src/lib/train/schedule';
import { randomArray, relError } from '../helpers/reference';
import { useCpu } from '../helpers/tf';

before(useCpu);

/** AdamW in float64, exactly as torch.optim.AdamW documents it. */
function adamw64(p: Float64Array, grads: Float64Array[], lrs: number[], wd: number, decay: boolean): Float64Array {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  const x = Float64Array.from(p);
  grads.forEach((g, t) => {
    const lr = lrs[t] as number;
    for (let i = 0; i < x.length; i++) {
      if (decay) x[i] = (x[i] as number) * (1 - lr * wd);
      m[i] = b1 * (m[i] as number) + (1 - b1) * (g[i] as number);
      v[i] = b2 * (v[i] as number) + (1 - b2) * (g[i] as number) ** 2;
      const mh = (m[i] as number) / (1 - b1 ** (t + 1));
      const vh = (v[i] as number) / (1 - b2 ** (t + 1));
      x[i] = (x[i] as number) - (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  return x;
}

test('AdamW matches a float64 reference over several steps, with decay on kernels and none on 1-D params', () => {
  const kernel0 = randomArray(24, 1);
  const bias0 = randomArray(6, 2);
  const kernel = tf.variable(tf.tensor2d(Float32Array.from(kernel0), [4, 6]), true, 'kernel');
  const bias = tf.variable(tf.tensor1d(Float32Array.from(bias0)), true, 'bias');
  const opt = new AdamW([kernel, bias], { weightDecay: 0.05 });
  assert.deepEqual(opt.decayed(), ['kernel']);
  const steps = 6;
  const lrs = Array.from({ length: steps }, (_, t) => 1e-2 * (1 + t) / steps);
  const gk = Array.from({ length: steps }, (_, t) => randomArray(24, 10 + t));
  const gb = Array.from({ length: steps }, (_, t) => randomArray(6, 20 + t, 1e-3));
  for (let t = 0; t < steps; t++) {
    opt.apply({ kernel: tf.tensor2d(Float32Array.from(gk[t] as Float64Array), [4, 6]), bias: tf.tensor1d(Float32Array.from(gb[t] as Float64Array)) }, lrs[t] as number);
  }
  assert.ok(relError(kernel.dataSync(), adamw64(kernel0, gk, lrs, 0.05, true)) < 1e-5);
  assert.ok(relError(bias.dataSync(), adamw64(bias0, gb, lrs, 0.05, false)) < 1e-5);
  // Not Adam + L2: the decayed and undecayed references differ by more than the tolerance.
  assert.ok(relError(adamw64(kernel0, gk, lrs, 0.05, true), adamw64(kernel0, gk, lrs, 0.05, false)) > 1e-4);
  assert.equal(opt.step, steps);
});

test('AdamW state round-trips: a restored optimizer continues identically', async () => {
  const mk = (): tf.Variable => tf.variable(tf.tensor1d([1, -2, 3]), true, `w${Math.random()}`);
  const a = mk();
  const optA = new AdamW([a]);
  optA.apply({ [a.name]: tf.tensor1d([0.1, 0.2, -0.3]) }, 0.01);
  const state = await optA.getState();
  const b = tf.variable(a.clone(), true, 'b');
  const optB = new AdamW([b]);
  optB.setState({ ...state, names: [b.name] });
  optA.apply({ [a.name]: tf.tensor1d([0.3, -0.1, 0.2]) }, 0.01);
  optB.apply({ [b.name]: tf.tensor1d([0.3, -0.1, 0.2]) }, 0.01);
  assert.deepEqual(b.dataSync(), a.dataSync());
  const c = new AdamW([tf.variable(tf.zeros([4]))]);
  assert.throws(() => c.setState(state), /other variables/);
});

test('AdamW flat and per-variable layouts give the same numbers; a parameter without a gradient is left alone; state moves between layouts', async () => {
  const make = (layout: 'flat' | 'per-variable'): { vars: tf.Variable[]; opt: AdamW } => {
    const vars = [tf.variable(tf.tensor2d(Float32Array.from(randomArray(12, 3)), [3, 4]), true, `k${layout}`), tf.variable(tf.tensor1d(Float32Array.from(randomArray(4, 4))), true, `b${layout}`), tf.variable(tf.tensor1d([5, 6]), true, `u${layout}`)];
    return { vars, opt: new AdamW(vars, { layout }) };
  };
  const flat = make('flat');
  const per = make('per-variable');
  for (let t = 0; t < 3; t++) {
    for (const { vars, opt } of [flat, per]) {
      const [k, b] = vars as [tf.Variable, tf.Variable];
      // The third variable never gets a gradient.
      opt.apply({ [k.name]: tf.tensor2d(Float32Array.from(randomArray(12, 30 + t)), [3, 4]), [b.name]: tf.tensor1d(Float32Array.from(randomArray(4, 40 + t))) }, 0.01);
    }
  }
  flat.vars.forEach((v, i) => assert.deepEqual(Array.from(v.dataSync()), Array.from((per.vars[i] as tf.Variable).dataSync())));
  assert.deepEqual(Array.from((flat.vars[2] as tf.Variable).dataSync()), [5, 6]);
  const fromFlat = await flat.opt.getState();
  const fromPer = await per.opt.getState();
  assert.deepEqual(fromFlat.m.map((a) => Array.from(a)), fromPer.m.map((a) => Array.from(a)));
  assert.deepEqual(Array.from(fromFlat.v[2] as Float32Array), [0, 0]);
  // A flat state restored into a per-variable optimizer (and back) continues identically.
  per.opt.setState(fromFlat);
  flat.opt.setState(fromPer);
  const g = Float32Array.from(randomArray(12, 99));
  flat.opt.apply({ [(flat.vars[0] as tf.Variable).name]: tf.tensor2d(g, [3, 4]) }, 0.02);
  per.opt.apply({ [(per.vars[0] as tf.Variable).name]: tf.tensor2d(g, [3, 4]) }, 0.02);
  assert.deepEqual(Array.from((flat.vars[0] as tf.Variable).dataSync()), Array.from((per.vars[0] as tf.Variable).dataSync()));
});

test('clipByGlobalNorm() scales to the max norm and leaves small gradients alone', () => {
  const { grads, norm } = clipByGlobalNorm({ a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) }, 1);
  assert.ok(Math.abs((norm.dataSync()[0] as number) - 5) < 1e-6);
  assert.ok(relError([...(grads['a'] as tf.Tensor).dataSync(), ...(grads['b'] as tf.Tensor).dataSync()], [0.6, 0, 0, 0.8]) < 1e-5);
  const small = clipByGlobalNorm({ a: tf.tensor1d([0.3, 0.4]) }, 1);
  assert.ok(relError((small.grads['a'] as tf.Tensor).dataSync(), [0.3, 0.4]) < 1e-5);
});

test('learningRate(): linear warmup, then cosine from lr to minLr', () => {
  const o = { lr: 1e-3, minLr: 1e-5, warmupSteps: 10, totalSteps: 110 };
  assert.ok(Math.abs(learningRate(0, o) - 1e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(9, o) - 1e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(10, o) - 1e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(60, o) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-15, 'half way: the mean of lr and minLr');
  assert.ok(Math.abs(learningRate(110, o) - 1e-5) < 1e-15);
  assert.ok(learningRate(35, o) > learningRate(85, o));
});

test('crossEntropy(): plain, label-smoothed and class-weighted values by hand', () => {
  const logits = tf.tensor2d([[2, 0], [0, 1]]);
  const labels = tf.tensor1d([0, 1], 'int32');
  const lse = (a: number, b: number): number => Math.log(Math.exp(a) + Math.exp(b));
  const ce0 = lse(2, 0) - 2; // sample 0, true class 0
  const ce1 = lse(0, 1) - 1;
  assert.ok(Math.abs((crossEntropy(logits, labels).dataSync()[0] as number) - (ce0 + ce1) / 2) < 1e-6);
  // ε = 0.1, K = 2: target 0.95 on the true class, 0.05 on the other.
  const s0 = 0.95 * (lse(2, 0) - 2) + 0.05 * (lse(2, 0) - 0);
  const s1 = 0.95 * (lse(0, 1) - 1) + 0.05 * (lse(0, 1) - 0);
  assert.ok(Math.abs((crossEntropy(logits, labels, { smoothing: 0.1 }).dataSync()[0] as number) - (s0 + s1) / 2) < 1e-6);
  // Weights [3, 1]: (3·ce0 + 1·ce1) / (3 + 1).
  assert.ok(Math.abs((crossEntropy(logits, labels, { classWeights: [3, 1] }).dataSync()[0] as number) - (3 * ce0 + ce1) / 4) < 1e-6);
});
