import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { buildModel } from '../../src/lib/models/build';
import { KIT_FORMAT, loadModel, saveModel } from '../../src/lib/models/io';
import { configFor, STEP_IDS } from '../../src/lib/models/steps';
import { KitError } from '../../src/lib/util/errors';
import { tempDir } from '../helpers/data';
import { formatOneName, rewriteAsFormatOne } from '../helpers/format1';
import { randomArray } from '../helpers/reference';
import { useCpu } from '../helpers/tf';

before(useCpu);

const SIZE = 32;

/** A smoke-scale model of `step` (with drop path, so every kind of layer is there), saved as the trainer saves it: config in the metadata. */
async function saved(step: string): Promise<{ dir: string; model: ReturnType<typeof buildModel>; config: ReturnType<typeof configFor> }> {
  const config = configFor(step, { scale: 'smoke', dropPath: 0.1 });
  const model = buildModel(config, SIZE, { seed: 5 });
  const dir = path.join(tempDir(), 'model');
  await saveModel(model, dir, { step, config });
  return { dir, model, config };
}

test('saveModel() writes the kit format beside the metadata; loadModel() gives back the metadata as saved', async () => {
  const { dir, model } = await saved('resnet');
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { kit: Record<string, unknown> };
  assert.equal(json.kit['format'], KIT_FORMAT);
  assert.equal(KIT_FORMAT, 2);
  const loaded = await loadModel(dir);
  assert.equal(loaded.format, KIT_FORMAT);
  assert.deepEqual(Object.keys(loaded.kit).sort(), ['config', 'step']);
  loaded.model.dispose();
  model.dispose();
});

test('every roadmap step: a model saved before the role names (format 1) loads under today\'s names with the same logits', async () => {
  const x = tf.tensor4d(Float32Array.from(randomArray(2 * SIZE * SIZE, 3, 1)), [2, SIZE, SIZE, 1]);
  for (const step of STEP_IDS) {
    const { dir, model, config } = await saved(step);
    rewriteAsFormatOne(dir, config);
    const text = fs.readFileSync(path.join(dir, 'model.json'), 'utf8');
    // The rewritten file really has the old names (e.g. ConvNeXt's pwconv1 was pwconv2).
    for (const l of model.layers) assert.ok(text.includes(`"${formatOneName(l.name, config)}"`), `${step}: ${l.name} as format 1`);
    const loaded = await loadModel(dir);
    assert.equal(loaded.format, 1);
    assert.deepEqual(loaded.model.layers.map((l) => l.name), model.layers.map((l) => l.name), `${step}: today's names`);
    const want = await (model.apply(x, { training: false }) as tf.Tensor).data();
    const got = await (loaded.model.apply(x, { training: false }) as tf.Tensor).data();
    assert.deepEqual(got, want, `${step}: the same logits`);
    loaded.model.dispose();
    model.dispose();
  }
  x.dispose();
});

test('a format-1 model that records no config is refused: the error names the format and what to do', async () => {
  const { dir, model, config } = await saved('separate-downsampling');
  model.dispose();
  rewriteAsFormatOne(dir, config, (kit) => delete kit['config']);
  await assert.rejects(loadModel(dir), (e: unknown) =>
    e instanceof KitError && /older kit \(format 1, no kit\.format/.test(e.message) && /records no config/.test(e.message) && /model\.json/.test(e.message)
    && /train the model again/.test(e.fix) && /older kit version/.test(e.fix));
});

test('a format-1 model whose layers are not its config\'s is refused, naming a layer', async () => {
  const { dir, model } = await saved('separate-downsampling');
  model.dispose();
  // Renamed as a resnet block would have been: not what its config (ConvNeXt) had.
  rewriteAsFormatOne(dir, configFor('inverted-bottleneck', { scale: 'smoke' }));
  await assert.rejects(loadModel(dir), (e: unknown) => e instanceof KitError && /format 1/.test(e.message) && /not those of the config it recorded \((unexpected|missing) s\d_b\d_/.test(e.message));
});

test('a model from a newer kit is refused with the format found and "update"', async () => {
  const { dir, model } = await saved('resnet');
  model.dispose();
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { kit: Record<string, unknown> };
  json.kit['format'] = KIT_FORMAT + 1;
  fs.writeFileSync(file, JSON.stringify(json));
  await assert.rejects(loadModel(dir), (e: unknown) => e instanceof KitError && new RegExp(`kit format ${KIT_FORMAT + 1}; this kit reads formats 1 and ${KIT_FORMAT}`).test(e.message) && /newer kit: update/.test(e.fix));
});
