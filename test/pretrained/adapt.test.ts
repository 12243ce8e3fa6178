import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { adaptPretrained, adaptStemBias, adaptStemKernel, type GrayscaleMode } from '../../src/lib/pretrained/adapt';
import { readPretrained, type PretrainedConvNeXt } from '../../src/lib/pretrained/convnext';
import { KitError } from '../../src/lib/util/errors';
import { blobs } from '../helpers/data';
import { FIXTURES } from '../helpers/pretrained';
import { useCpu } from '../helpers/tf';

/**
 * The trusted reference for the grayscale stem is the pretrained RGB network itself: an X-ray
 * shown to it as (g, g, g). `repeat` must be exactly that with each channel normalized with its
 * own ImageNet mean/std; `sum` (timm's adapt_input_conv) exactly that with all three channels
 * normalized with the averaged mean/std.
 */
const SIZE = 64;
const BATCH = 2;
const TOL = 1e-4;

/** A batch of generated radiographs, pixels in [0, 1]: [BATCH, SIZE, SIZE] row-major. */
function grayBatch(): Float64Array {
  const g = new Float64Array(BATCH * SIZE * SIZE);
  for (let b = 0; b < BATCH; b++) blobs(SIZE, SIZE, 11 + b).forEach((v, i) => (g[b * SIZE * SIZE + i] = v / 255));
  return g;
}

/** The gray batch shown to an RGB model: each pixel repeated to 3 channels, channel c normalized as (g − mean[c]) / std[c]. NHWC. */
function asRgb(g: Float64Array, mean: readonly number[], std: readonly number[]): tf.Tensor4D {
  const x = new Float32Array(g.length * 3);
  for (let i = 0; i < g.length; i++) for (let c = 0; c < 3; c++) x[3 * i + c] = ((g[i] as number) - (mean[c] as number)) / (std[c] as number);
  return tf.tensor4d(x, [BATCH, SIZE, SIZE, 3]);
}

/** The gray batch as one channel, normalized as (g − mean) / std. NHWC. */
function asGray(g: Float64Array, stats: { mean: number; std: number }): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(g, (v) => (v - stats.mean) / stats.std), [BATCH, SIZE, SIZE, 1]);
}

function logits(model: tfl.LayersModel, x: tf.Tensor4D): Float32Array {
  const y = model.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  tf.dispose([x, y]);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

const mean3 = (v: readonly number[]): number => ((v[0] as number) + (v[1] as number) + (v[2] as number)) / 3;

/** Logits of the RGB model (as stored) on the gray batch, normalized per channel (repeat's reference) and with the averaged stats (sum's). */
function rgbReferences(p: PretrainedConvNeXt, g: Float64Array): { perChannel: Float32Array; averaged: Float32Array } {
  const { model } = adaptPretrained(p, { size: SIZE, inChannels: 3, numClasses: p.config.numClasses });
  const { mean, std } = p.normalization;
  const perChannel = logits(model, asRgb(g, mean, std));
  const m = mean3(mean);
  const s = mean3(std);
  const averaged = logits(model, asRgb(g, [m, m, m], [s, s, s]));
  model.dispose();
  return { perChannel, averaged };
}

/** Logits of the 1-channel adapted model, its input normalized with the stats adaptPretrained returns. */
function grayLogits(p: PretrainedConvNeXt, g: Float64Array, grayscale: GrayscaleMode): Float32Array {
  const adapted = adaptPretrained(p, { size: SIZE, inChannels: 1, numClasses: p.config.numClasses, grayscale });
  const stats = adapted.normalization;
  assert.ok(stats !== undefined, 'a 1-channel model comes with its input normalization');
  const { mean, std } = p.normalization;
  assert.ok(Math.abs(stats.mean - mean3(mean)) < 1e-12 && Math.abs(stats.std - mean3(std)) < 1e-12, `the gray stats are the averages of the RGB ones: ${JSON.stringify(stats)}`);
  const out = logits(adapted.model, asGray(g, stats));
  adapted.model.dispose();
  return out;
}

test('grayscale "repeat" gives the RGB model\'s logits on the gray image repeated to 3 channels, each normalized with its own ImageNet mean/std', async () => {
  await useCpu();
  const g = grayBatch();
  for (const name of ['timm-a', 'hf-a']) {
    const p = readPretrained(path.join(FIXTURES, name));
    assert.deepEqual(p.normalization.mean, [0.485, 0.456, 0.406], `${name}: RGB-pretrained with ImageNet's mean`);
    const before = tf.memory().numTensors;
    const reference = rgbReferences(p, g).perChannel;
    const err = maxAbsDiff(grayLogits(p, g, 'repeat'), reference);
    assert.ok(err < TOL, `${name}: repeat's logits differ from the repeated-RGB reference by ${err.toExponential(2)}`);
    assert.equal(tf.memory().numTensors, before, `${name}: no tensors left behind`);
  }
});

test('grayscale "sum" is timm\'s: the RGB model on the repeated gray image with the averaged mean/std on all three channels, not repeat\'s per-channel one', async () => {
  await useCpu();
  const g = grayBatch();
  for (const name of ['timm-a', 'hf-a']) {
    const p = readPretrained(path.join(FIXTURES, name));
    const { perChannel, averaged } = rgbReferences(p, g);
    const sum = grayLogits(p, g, 'sum');
    const err = maxAbsDiff(sum, averaged);
    assert.ok(err < TOL, `${name}: sum's logits differ from the averaged-normalization reference by ${err.toExponential(2)}`);
    const apart = maxAbsDiff(sum, perChannel);
    assert.ok(apart > 1e-3, `${name}: sum's logits should differ from the per-channel reference, but are ${apart.toExponential(2)} apart`);
  }
});

test('adaptStemKernel() and adaptStemBias() on a 1×1 stem with 3 inputs and 2 outputs match the values worked out by hand', () => {
  // TF.js layout [kh, kw, in, out] = [1, 1, 3, 2]: W[c][o] with c = R, G, B.
  const kernel = { shape: [1, 1, 3, 2], values: Float32Array.from([1, 2, /* G */ 3, -1, /* B */ 0.5, 4]) };
  const bias = Float32Array.from([0.25, -0.5]);
  // Means (0.25, 0.5, 0.75) → m̄ = 0.5; stds (0.25, 0.5, 0.75) → s̄ = 0.5.
  const rgb = { mean: [0.25, 0.5, 0.75], std: [0.25, 0.5, 0.75], from: 'test' };

  // sum: Σ_c W[c][o] = (1 + 3 + 0.5, 2 − 1 + 4); the bias is kept.
  assert.deepEqual(Array.from(adaptStemKernel(kernel, 'sum', rgb)), [4.5, 5]);
  const kept = adaptStemBias(bias, kernel, 'sum', rgb);
  assert.deepEqual(Array.from(kept), [0.25, -0.5]);
  assert.notEqual(kept, bias, 'a copy, not the pretrained array');

  // repeat: Σ_c (s̄/s_c)·W[c][o] with s̄/s_c = (2, 1, 2/3): (2 + 3 + 1/3, 4 − 1 + 8/3) = (16/3, 17/3).
  const k = adaptStemKernel(kernel, 'repeat', rgb);
  assert.equal(k.length, 2);
  assert.ok(Math.abs((k[0] as number) - 16 / 3) < 1e-6 && Math.abs((k[1] as number) - 17 / 3) < 1e-6, `repeat kernel ${Array.from(k)}`);
  // bias + Σ_c ((m̄ − m_c)/s_c)·W[c][o] with shifts (1, 0, −1/3): (0.25 + 1 − 1/6, −0.5 + 2 − 4/3) = (13/12, 1/6).
  const b = adaptStemBias(bias, kernel, 'repeat', rgb);
  assert.ok(Math.abs((b[0] as number) - 13 / 12) < 1e-6 && Math.abs((b[1] as number) - 1 / 6) < 1e-6, `repeat bias ${Array.from(b)}`);
  assert.deepEqual(Array.from(bias), [0.25, -0.5], 'the pretrained bias is not changed');
});

test('an unknown grayscale mode or a channel count other than 1 or 3 is a KitError, before any model is built', async () => {
  await useCpu();
  const p = readPretrained(path.join(FIXTURES, 'timm-a'));
  const before = tf.memory().numTensors;
  assert.throws(
    () => adaptPretrained(p, { size: SIZE, numClasses: 2, grayscale: 'average' as GrayscaleMode }),
    (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.problem, /unknown grayscale mode "average"/);
      assert.match(err.fix, /"sum" or "repeat"/);
      assert.match(err.cliFix ?? '', /--grayscale sum or --grayscale repeat/);
      return true;
    },
  );
  assert.throws(
    () => adaptPretrained(p, { size: SIZE, inChannels: 2, numClasses: 2 }),
    (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.problem, /cannot adapt a 3-channel stem to 2 channels/);
      assert.equal(err.where, p.dir);
      assert.match(err.fix, /inChannels 1 or 3/);
      return true;
    },
  );
  assert.equal(tf.memory().numTensors, before);
});

function fixtureSha256(name: string): string {
  const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'fixture.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
  return (fixture.files['model.safetensors'] as { sha256: string }).sha256;
}

test('init records where the weights came from: layout, variant, the file\'s sha256, the grayscale mode, the new head and the pretraining normalization', async () => {
  await useCpu();
  const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

  const timmDir = path.join(FIXTURES, 'timm-a');
  const timm = adaptPretrained(readPretrained(timmDir), { size: SIZE, inChannels: 1, numClasses: 2, grayscale: 'repeat' });
  assert.deepEqual(timm.init, {
    source: timmDir, layout: 'timm', variant: 'custom', sha256: fixtureSha256('timm-a'),
    grayscale: 'repeat', newHead: { from: 3, to: 2 }, pretrainNormalization: { ...imagenet, from: 'config.json pretrained_cfg' },
  });
  assert.match(timm.notes.join('\n'), /stem: 3 → 1 input channel by folding the repeated gray channel/);
  timm.model.dispose();

  // hf-a has no preprocessor_config.json: ImageNet's by default. No grayscale given: sum.
  const hfDir = path.join(FIXTURES, 'hf-a');
  const hfGray = adaptPretrained(readPretrained(hfDir), { size: SIZE, numClasses: 3 });
  assert.deepEqual(hfGray.init, {
    source: hfDir, layout: 'hf', variant: 'custom', sha256: fixtureSha256('hf-a'),
    grayscale: 'sum', newHead: null, pretrainNormalization: { ...imagenet, from: 'ImageNet default' },
  });
  assert.equal(hfGray.config.inChannels, 1, 'one input channel by default');
  hfGray.model.dispose();

  // Channels and classes as stored: nothing adapted, no gray normalization.
  const hfRgb = adaptPretrained(readPretrained(hfDir), { size: SIZE, inChannels: 3, numClasses: 3, grayscale: 'repeat' });
  assert.equal(hfRgb.init.grayscale, null);
  assert.equal(hfRgb.init.newHead, null);
  assert.equal(hfRgb.normalization, undefined);
  assert.deepEqual(hfRgb.notes, []);
  hfRgb.model.dispose();
});
