import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { augmentBatch, drawAugment, NO_AUGMENT, XRAY_AUGMENT } from '../../src/lib/data/augment';
import { Rng } from '../../src/lib/util/rng';
import { useCpu } from '../helpers/tf';

before(useCpu);

test('augmentBatch() with everything off returns the input unchanged', () => {
  const x = tf.randomUniform([2, 6, 6, 1]) as tf.Tensor4D;
  const y = augmentBatch(x, NO_AUGMENT, new Rng(0));
  assert.deepEqual(y.arraySync(), x.arraySync());
});

test('drawAugment() builds the exact transform of a 90° rotation about the center', () => {
  const d = drawAugment({ ...NO_AUGMENT, rotateDeg: 90 }, 3, 3, { uniform: () => 1, next: () => 0 } as unknown as Rng);
  // output (x, y) -> input (cx + (x-cx)cos - (y-cy)sin, cy + (x-cx)sin + (y-cy)cos), cos 0, sin 1, c = 1
  const t = d.transform.map((v) => Math.round(v * 1e6) / 1e6 + 0);
  assert.deepEqual(t, [0, -1, 2, 1, 0, 0, 0, 0]);
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
  const y = tf.image.transform(x, tf.tensor2d([d.transform]), 'nearest').dataSync();
  // Output pixel (x, y) reads input (2 - y, x): the image turned by 90°.
  assert.deepEqual([...y], [3, 6, 9, 2, 5, 8, 1, 4, 7]);
});

test('augmentBatch() keeps values in [0, 1] and varies between draws but repeats with the same seed', () => {
  const x = tf.randomUniform([4, 16, 16, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
  const a = augmentBatch(x, XRAY_AUGMENT, new Rng(1)).dataSync();
  const b = augmentBatch(x, XRAY_AUGMENT, new Rng(1)).dataSync();
  const c = augmentBatch(x, XRAY_AUGMENT, new Rng(2)).dataSync();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every((v) => v >= 0 && v <= 1));
});

test('drawAugment() never flips vertically and flips horizontally only when asked', () => {
  const rng = new Rng(3);
  let flips = 0;
  for (let i = 0; i < 400; i++) {
    const t = drawAugment(XRAY_AUGMENT, 32, 32, rng).transform;
    // The y axis keeps its direction (b1 > 0) and, without hflip, so does x (a0 > 0).
    assert.ok((t[4] as number) > 0 && (t[0] as number) > 0);
    const f = drawAugment({ ...XRAY_AUGMENT, hflip: true }, 32, 32, rng).transform;
    if ((f[0] as number) < 0) flips++;
  }
  assert.ok(flips > 150 && flips < 250, `about half flipped with hflip on, got ${flips}/400`);
});

test('drawAugment() keeps a random resized crop inside the image', () => {
  const rng = new Rng(4);
  for (let i = 0; i < 200; i++) {
    const t = drawAugment({ ...NO_AUGMENT, crop: XRAY_AUGMENT.crop }, 64, 64, rng).transform;
    for (const [x, y] of [[0, 0], [63, 0], [0, 63], [63, 63]] as const) {
      const ix = (t[0] as number) * x + (t[1] as number) * y + (t[2] as number);
      const iy = (t[3] as number) * x + (t[4] as number) * y + (t[5] as number);
      assert.ok(ix >= -1e-9 && ix <= 63 + 1e-9 && iy >= -1e-9 && iy <= 63 + 1e-9, `corner maps outside: ${ix}, ${iy}`);
    }
  }
});
