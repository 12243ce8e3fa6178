import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { batchImages, batchIndices, batchLabels, classWeights, normalize, pixelStats } from '../../src/lib/data/batches';
import { ImageSet } from '../../src/lib/data/classes';
import { Rng } from '../../src/lib/util/rng';
import { useCpu } from '../helpers/tf';

before(useCpu);

const set: ImageSet = {
  images: Uint8Array.from([0, 255, 255, 0, 51, 51, 51, 51, 102, 0, 0, 102]),
  labels: Uint8Array.from([1, 0, 1]),
  size: 2,
  ids: ['a', 'b', 'c'],
  patients: ['a', 'b', 'c'],
};

test('batchImages() gives [B, H, W, 1] in [0, 1] in the requested order', () => {
  const x = batchImages(set, [2, 0]);
  assert.deepEqual(x.shape, [2, 2, 2, 1]);
  assert.deepEqual([...x.dataSync()].map((v) => Math.round(v * 255)), [102, 0, 0, 102, 0, 255, 255, 0]);
  assert.deepEqual([...batchLabels(set, [2, 0]).dataSync()], [1, 1]);
});

test('pixelStats() and normalize() give zero mean and unit std on the set itself', () => {
  const s = pixelStats(set);
  const x = normalize(batchImages(set, [0, 1, 2]), s);
  const v = [...x.dataSync()];
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  assert.ok(Math.abs(mean) < 1e-6 && Math.abs(std - 1) < 1e-5);
});

test('classWeights() balances the Kermany training counts', () => {
  const labels = new Uint8Array(1341 + 3875);
  labels.fill(1, 1341);
  const w = classWeights(labels);
  assert.ok(Math.abs((w[0] as number) - 5216 / 2 / 1341) < 1e-12);
  assert.ok(Math.abs((w[0] as number) * 1341 - (w[1] as number) * 3875) < 1e-9, 'each class weighs the same in total');
});

test('batchIndices() covers every index once, is seeded, and drops a short last batch on request', () => {
  const a = batchIndices(10, 4, { shuffle: true, rng: new Rng(5) });
  assert.deepEqual(a.map((b) => b.length), [4, 4, 2]);
  assert.deepEqual(a.flat().sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(batchIndices(10, 4, { shuffle: true, rng: new Rng(5) }), a);
  assert.deepEqual(batchIndices(10, 4, { shuffle: false, dropLast: true }), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  assert.throws(() => batchIndices(10, 0, { shuffle: false }), /positive integer/);
});
