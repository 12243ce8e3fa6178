import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/lib/backend';
import { batchImages, classWeights, normalize, pixelStats } from '../../src/lib/data/batches';
import { ImageSet } from '../../src/lib/data/classes';
import { XrayData } from '../../src/lib/data/dataset';
import { camStageFor, gradCam, overlay } from '../../src/lib/eval/gradcam';
import { PROFILES } from '../../src/lib/experiment/profiles';
import { train } from '../../src/lib/train/trainer';
import { Rng } from '../../src/lib/util/rng';

before(async () => {
  await selectBackend();
});

const SIZE = 64;
const SQUARE = 14;

/** Class 1 = a bright square somewhere on noise; class 0 = noise only. The answer is the square. */
function squareSet(n: number, seed: number): { set: ImageSet; boxes: ([number, number] | undefined)[] } {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * SIZE * SIZE);
  const labels = new Uint8Array(n);
  const boxes: ([number, number] | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    const off = i * SIZE * SIZE;
    for (let k = 0; k < SIZE * SIZE; k++) images[off + k] = 60 + Math.floor(rng.next() * 90);
    labels[i] = i % 2;
    if (labels[i] === 1) {
      const x0 = 4 + rng.int(SIZE - SQUARE - 8);
      const y0 = 4 + rng.int(SIZE - SQUARE - 8);
      for (let y = y0; y < y0 + SQUARE; y++) for (let x = x0; x < x0 + SQUARE; x++) images[off + y * SIZE + x] = 250;
      boxes.push([x0, y0]);
    } else boxes.push(undefined);
  }
  const ids = Array.from({ length: n }, (_, i) => `square/${seed}/${i}`);
  return { set: { images, labels, size: SIZE, ids, patients: ids }, boxes };
}

test('Grad-CAM finds the region that decides the class (known answer: a bright square)', async () => {
  const trainSet = squareSet(96, 1).set;
  const val = squareSet(32, 2);
  const data: XrayData = {
    source: { kind: 'folder', path: 'synthetic' }, profile: 'smoke', size: SIZE, fit: 'squash',
    train: trainSet, val: val.set, test: val.set, split: { method: 'official', overlap: [] },
    stats: pixelStats(trainSet), classWeights: classWeights(trainSet.labels), skipped: [], notes: [], cacheHit: false, sourceCounts: {},
  };
    // The ResNet step learns this in 2–3 epochs (measured: val acc 1.0 from epoch 3); the bar is the task being learnt.
  const r = await train({ step: 'resnet', scale: 'smoke', seed: 0, data, recipe: { ...PROFILES.smoke.train, epochs: 3, batchSize: 16, augment: 'none', labelSmoothing: 0, dropPath: 0 } });
  assert.ok(r.best.valAcc > 0.9, `the model must first learn the task (val acc ${r.best.valAcc})`);
  const stage = camStageFor(r.model);
  assert.equal(stage, 3, 'at 64 px the last stage is 2×2, stage 3 is 4×4');
  let hits = 0;
  let ratioSum = 0;
  const positives = val.boxes.map((b, i) => [b, i] as const).filter(([b]) => b !== undefined);
  for (const [box, i] of positives) {
    const x = tf.tidy(() => normalize(batchImages(val.set, [i]), data.stats));
    const cam = await gradCam(r.model, x, { stage });
    x.dispose();
    const [x0, y0] = box as [number, number];
    // Mean heat inside the square vs outside it.
    let inside = 0;
    let outside = 0;
    for (let y = 0; y < SIZE; y++) for (let xx = 0; xx < SIZE; xx++) {
      const v = cam.heat[y * SIZE + xx] as number;
      if (xx >= x0 && xx < x0 + SQUARE && y >= y0 && y < y0 + SQUARE) inside += v;
      else outside += v;
    }
    const ratio = inside / (SQUARE * SQUARE) / Math.max(outside / (SIZE * SIZE - SQUARE * SQUARE), 1e-9);
    ratioSum += ratio;
    // The hottest pixel lies on (or within 8 px of) the square.
    const hot = cam.heat.indexOf(Math.max(...cam.heat));
    const [hx, hy] = [hot % SIZE, Math.floor(hot / SIZE)];
    if (hx >= x0 - 8 && hx < x0 + SQUARE + 8 && hy >= y0 - 8 && hy < y0 + SQUARE + 8) hits++;
  }
  assert.ok(hits / positives.length >= 0.75, `hottest point on the square in ${hits}/${positives.length} images`);
  assert.ok(ratioSum / positives.length > 2, `heat inside the square is ${(ratioSum / positives.length).toFixed(2)}× the heat outside`);
  r.model.dispose();
});

test('overlay() blends the colour map only where there is heat', () => {
  const gray = Uint8Array.from([100, 100]);
  const out = overlay(gray, Float32Array.from([0, 1]), 0.5);
  assert.deepEqual([...out.subarray(0, 3)], [100, 100, 100], 'no heat: the film itself');
  assert.ok((out[3] as number) > 150 && (out[5] as number) < 70, 'full heat: red dominates');
});
