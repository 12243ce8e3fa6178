import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { WeightEma } from '../../src/lib/train/ema';
import { useCpu } from '../helpers/tf';

before(useCpu);

test('WeightEma averages every weight with its decay, and withAverage() restores the live weights', async () => {
  const input = tfl.input({ shape: [2] });
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 1, kernelInitializer: 'zeros', biasInitializer: 'zeros' }).apply(input) as tfl.SymbolicTensor });
  const ema = new WeightEma(model, 0.9);
  // Live weights go 0 → 1 → 3; the average: 0.9·0 + 0.1·1 = 0.1, then 0.9·0.1 + 0.1·3 = 0.39.
  for (const v of [1, 3]) {
    model.setWeights([tf.fill([2, 1], v), tf.fill([1], v)]);
    ema.update();
  }
  const avg = await ema.values();
  for (const a of avg) for (const x of a) assert.ok(Math.abs(x - 0.39) < 1e-6, `average ${x}`);
  const seen = await ema.withAverage(async () => (await model.getWeights()[0]?.data())?.[0]);
  assert.ok(Math.abs((seen ?? 0) - 0.39) < 1e-6, 'the model holds the average inside withAverage');
  assert.equal((await model.getWeights()[0]?.data())?.[0], 3, 'and the live weights afterwards');
  ema.dispose();
});
