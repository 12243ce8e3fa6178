import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/lib/backend';
import { loadNative } from '../../src/lib/backend/tensorflow';
import { readNpz } from '../../src/lib/data/npz';
import { installKitKernels } from '../../src/lib/kernels';
import { fuseForInference } from '../../src/lib/models/fuse';
import { planModel, planStats } from '../../src/lib/models/plan';
import { adaptPretrained } from '../../src/lib/pretrained/adapt';
import { checkMapping, readPretrained, transformTensor } from '../../src/lib/pretrained/convnext';
import { KitError } from '../../src/lib/util/errors';
import { tempDir } from '../helpers/data';
import { copyFixture, FIXTURES, writeSafetensors } from '../helpers/pretrained';
import { useCpu } from '../helpers/tf';

/**
 * PyTorch is the oracle: tools/pretrained_reference.py made four small random ConvNeXts with
 * transformers and timm (two sizes each, every weight random so a wrong mapping cannot hide),
 * saved them as those libraries save them, and wrote the logits of a fixed batch. The kit must
 * load each folder and give the same logits on every backend CI runs. The issue asks for 1e-4;
 * measured, every backend is within 1e-6, so the bar is 1e-5: tight enough to also catch the
 * tanh GELU (≥ 9e-5 off on these fixtures) and a LayerNorm eps of 1e-5 instead of 1e-6 (4e-5).
 */
const NAMES = ['hf-a', 'hf-b', 'timm-a', 'timm-b'];
const TOL = 1e-5;

function reference(name: string): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [k, a] of readNpz(path.join(FIXTURES, name, 'reference.npz'))) out.set(k, { shape: [...a.shape], values: Float32Array.from(a.data as Float32Array) });
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Logits of the imported model (as stored: RGB, its own classes) through model.apply and through the inference graph. */
async function kitLogits(name: string): Promise<{ apply: number; fused: number }> {
  const p = readPretrained(path.join(FIXTURES, name));
  const ref = reference(name);
  const input = ref.get('input') as { shape: number[]; values: Float32Array };
  const expected = (ref.get('logits') as { values: Float32Array }).values;
  const { model } = adaptPretrained(p, { size: input.shape[1] as number, inChannels: 3, numClasses: p.config.numClasses });
  const x = tf.tensor4d(input.values, input.shape as [number, number, number, number]);
  const y = model.apply(x, { training: false }) as tf.Tensor;
  const graph = fuseForInference(model);
  const yf = graph.predict(x);
  const out = { apply: maxAbsDiff(await y.data(), expected), fused: maxAbsDiff(await yf.data(), expected) };
  tf.dispose([x, y, yf]);
  graph.dispose();
  model.dispose();
  return out;
}

async function parityOn(backend: string): Promise<void> {
  for (const name of NAMES) {
    const { apply, fused } = await kitLogits(name);
    assert.ok(apply < TOL, `${name} on ${backend}: model.apply logits differ from PyTorch's by ${apply.toExponential(2)}`);
    assert.ok(fused < TOL, `${name} on ${backend}: inference-graph logits differ from PyTorch's by ${fused.toExponential(2)}`);
  }
}

test('HuggingFace and timm ConvNeXts (two sizes each) give PyTorch\'s logits within 1e-5 on the cpu backend', async () => {
  await useCpu();
  await parityOn('cpu');
});

const native = loadNative();
test('… and on the native tensorflow backend', { skip: native.ok ? false : `the native backend is not built here: ${native.reasons.join('; ')}` }, async () => {
  await selectBackend({ backend: 'tensorflow', reselect: true });
  await installKitKernels('tensorflow');
  await parityOn('tensorflow');
  await useCpu();
});

test('… and on webgpu (the kit\'s WGSL kernels)', async () => {
  await selectBackend({ backend: 'webgpu', reselect: true });
  await installKitKernels('webgpu');
  await parityOn('webgpu');
  await useCpu();
});

test('timm\'s grayscale adaptation: summing the RGB stem filters gives timm\'s own in_chans=1 logits (within 1e-5)', async () => {
  await useCpu();
  for (const name of ['timm-a', 'timm-b']) {
    const p = readPretrained(path.join(FIXTURES, name));
    const ref = reference(name);
    const input = ref.get('input_gray') as { shape: number[]; values: Float32Array };
    const { model, notes } = adaptPretrained(p, { size: 64, inChannels: 1, numClasses: p.config.numClasses, grayscale: 'sum' });
    const x = tf.tensor4d(input.values, input.shape as [number, number, number, number]);
    const y = model.predict(x) as tf.Tensor;
    const err = maxAbsDiff(await y.data(), (ref.get('logits_gray') as { values: Float32Array }).values);
    assert.ok(err < TOL, `${name}: gray logits differ from timm's by ${err.toExponential(2)}`);
    assert.match(notes.join('\n'), /stem: 3 → 1 input channel by summing its RGB filters/);
    tf.dispose([x, y]);
    model.dispose();
  }
});

test('the folder describes its network: layout, depths, widths, classes, exact parameter count, ImageNet normalization', () => {
  const hf = readPretrained(path.join(FIXTURES, 'hf-b'));
  assert.equal(hf.layout, 'hf');
  assert.deepEqual(hf.config.depths, [2, 1, 3, 1]);
  assert.deepEqual(hf.dims, [10, 20, 40, 80]);
  assert.equal(hf.config.numClasses, 2);
  assert.equal(hf.config.headNormEps, 1e-12);
  assert.equal(hf.variant, 'custom');
  assert.equal(hf.convMlp, false);
  const timm = readPretrained(path.join(FIXTURES, 'timm-a'));
  assert.equal(timm.layout, 'timm');
  assert.equal(timm.convMlp, true);
  assert.equal(timm.config.headNormEps, undefined);
  assert.deepEqual(timm.normalization, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], from: 'config.json pretrained_cfg' });
  for (const name of NAMES) {
    const p = readPretrained(path.join(FIXTURES, name));
    const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'fixture.json'), 'utf8')) as { params: number };
    assert.equal(p.params, fixture.params, `${name}: tensors in the file`);
    assert.equal(planStats(planModel(p.config, 64)).params, fixture.params, `${name}: the kit's count of the network it builds`);
    assert.ok(p.mapping.every((m) => m.status === 'ok') && p.missing.length === 0, name);
  }
});

test('real sizes map completely: facebook/convnext-tiny-224 (HF) and timm convnext_atto / convnext_tiny, ConvNeXt-T at 28,589,128 parameters', () => {
  for (const [name, variant] of [['hf-convnext-tiny-224', 'convnext_tiny'], ['timm-convnext_atto', 'convnext_atto'], ['timm-convnext_tiny', 'convnext_tiny']] as const) {
    const layout = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'layouts', `${name}.json`), 'utf8')) as { config: object; tensors: Record<string, number[]>; params: number };
    // The layouts hold names and shapes only: write zeros of those shapes, with the real config.json.
    const dir = tempDir(`layout-${name}`);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(layout.config));
    writeSafetensors(path.join(dir, 'model.safetensors'), Object.entries(layout.tensors).map(([k, shape]) => ({ name: k, shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)) })));
    const p = readPretrained(dir);
    assert.equal(p.variant, variant, name);
    assert.equal(p.params, layout.params, name);
    assert.equal(planStats(planModel(p.config, 224)).params, layout.params, `${name}: the kit's count`);
    assert.doesNotThrow(() => checkMapping(p), name);
    if (variant === 'convnext_tiny') assert.equal(layout.params, 28_589_128);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every unmatched, missing and mis-shaped tensor is listed in one error; nothing is left at its initial value', async () => {
  await useCpu();
  const dir = copyFixture('timm-a', 'broken');
  const file = path.join(dir, 'model.safetensors');
  const p0 = readPretrained(dir);
  const tensors = [...p0.tensors].map(([name, t]) => ({ name, shape: t.shape, values: t.values }));
  const edited = tensors
    .filter((t) => t.name !== 'stages.2.blocks.1.norm.bias')
    .map((t) => (t.name === 'stages.1.blocks.0.gamma' ? { ...t, name: 'stages.1.blocks.0.grn.gamma' } : t))
    .map((t) => (t.name === 'head.norm.weight' ? { ...t, shape: [8, 8], values: t.values.slice(0, 64) } : t));
  writeSafetensors(file, edited);
  const p = readPretrained(dir);
  assert.throws(
    () => adaptPretrained(p, { size: 64, numClasses: 2 }),
    (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.message, /1 unmatched, 1 mis-shaped, 2 missing/);
      assert.match(err.message, /unmatched {2}stages\.1\.blocks\.0\.grn\.gamma \[16\]/);
      assert.match(err.message, /mis-shaped head\.norm\.weight \[8,8\] → head_norm\/gamma wants \[64\] \(as is\)/);
      assert.match(err.message, /missing {4}s3_b2_norm\/beta/);
      assert.match(err.message, /missing {4}s2_b1_gamma\/gamma/);
      assert.match(err.message, /ConvNeXt V2/);
      return true;
    },
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a new head for other classes is seeded and announced; the same classes keep the pretrained head', async () => {
  await useCpu();
  const p = readPretrained(path.join(FIXTURES, 'hf-a'));
  const a = adaptPretrained(p, { size: 64, numClasses: 2, seed: 5 });
  const b = adaptPretrained(p, { size: 64, numClasses: 2, seed: 5 });
  const c = adaptPretrained(p, { size: 64, numClasses: 2, seed: 6 });
  const head = (m: typeof a): Float32Array => m.model.getLayer('head_fc').getWeights()[0]?.dataSync() as Float32Array;
  assert.deepEqual(head(a), head(b));
  assert.notDeepEqual(head(a), head(c));
  assert.deepEqual(a.init.newHead, { from: 3, to: 2 });
  assert.match(a.notes.join('\n'), /a new classifier for 2 classes .* replacing the pretrained 3-class one/);
  const kept = adaptPretrained(p, { size: 64, numClasses: 3 });
  assert.equal(kept.init.newHead, null);
  const fc = kitTensorOf(p, 'classifier.weight');
  assert.deepEqual(Array.from(head(kept)), Array.from(fc));
  for (const m of [a, b, c, kept]) m.model.dispose();
});

function kitTensorOf(p: ReturnType<typeof readPretrained>, key: string): Float32Array {
  const t = p.tensors.get(key);
  assert.ok(t !== undefined, key);
  return transformTensor(t, 'linear').values;
}

test('PyTorch layouts become TensorFlow.js ones: conv [O,I,kh,kw] → [kh,kw,I,O], depthwise [C,1,kh,kw] → [kh,kw,C,1], Linear [out,in] → [in,out]', () => {
  const values = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i);
  const conv = transformTensor({ dtype: 'F32', shape: [2, 3, 2, 2], values }, 'conv');
  assert.deepEqual(conv.shape, [2, 2, 3, 2]);
  // PyTorch W[o=1, i=2, y=1, x=0] sits at ((1·3+2)·2+1)·2+0 = 22; in TF.js at [y=1, x=0, i=2, o=1].
  assert.equal(conv.values[((1 * 2 + 0) * 3 + 2) * 2 + 1], 22);
  const dw = transformTensor({ dtype: 'F32', shape: [3, 1, 2, 2], values: values.slice(0, 12) }, 'depthwise');
  assert.deepEqual(dw.shape, [2, 2, 3, 1]);
  // W[c=2, 0, y=0, x=1] = (2·2+0)·2+1 = 9 → [0, 1, 2, 0].
  assert.equal(dw.values[(0 * 2 + 1) * 3 + 2], 9);
  const fc = transformTensor({ dtype: 'F32', shape: [2, 3], values: values.slice(0, 6) }, 'linear');
  assert.deepEqual(fc.shape, [3, 2]);
  assert.deepEqual(Array.from(fc.values), [0, 3, 1, 4, 2, 5]);
});

test('folders that are not a loadable ConvNeXt say what to do: a pickle (with the one-line conversion), no config.json, files from two models, V2', () => {
  const dir = tempDir('pretrained-bad');
  fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not read');
  assert.throws(() => readPretrained(dir), /pytorch_model\.bin is a PyTorch pickle[\s\S]*Fix: convert it once[\s\S]*torch\.load\('pytorch_model\.bin'[\s\S]*save_file/);
  fs.rmSync(path.join(dir, 'pytorch_model.bin'));
  assert.throws(() => readPretrained(dir), /no model\.safetensors in the folder \(it has: nothing\)[\s\S]*weights download/);
  fs.copyFileSync(path.join(FIXTURES, 'hf-a', 'model.safetensors'), path.join(dir, 'model.safetensors'));
  assert.throws(() => readPretrained(dir), /no config\.json in the folder/);
  fs.copyFileSync(path.join(FIXTURES, 'hf-b', 'config.json'), path.join(dir, 'config.json'));
  assert.throws(() => readPretrained(dir), /config\.json and model\.safetensors do not describe the same ConvNeXt: hidden_sizes is \[10,20,40,80\] in config\.json but \[8,16,32,64\] in the weights/);
  const v2 = { ...(JSON.parse(fs.readFileSync(path.join(FIXTURES, 'hf-a', 'config.json'), 'utf8')) as object), model_type: 'convnextv2' };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(v2));
  assert.throws(() => readPretrained(dir), /model_type is "convnextv2".*GRN/);
  assert.throws(() => readPretrained(path.join(dir, 'nope')), /no pretrained model folder here/);
  fs.rmSync(dir, { recursive: true, force: true });
});
