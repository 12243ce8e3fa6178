import * as tf from '@tensorflow/tfjs-core';
import { requireBackend } from '../util/errors';
import { Rng } from '../util/rng';
import { CLASS_NAMES, classCounts, ImageSet, setLength } from './classes';

/** Mean and standard deviation of the pixels in [0, 1] units: the normalization of the model input. */
export interface PixelStats {
  mean: number;
  std: number;
}

/**
 * Pixel statistics of a set (computed on the training split only, then reused for val and test,
 * so no information flows from the evaluation data into preprocessing).
 */
export function pixelStats(set: ImageSet): PixelStats {
  let sum = 0;
  let sumSq = 0;
  for (const v of set.images) {
    sum += v;
    sumSq += v * v;
  }
  const n = set.images.length;
  const mean = sum / n / 255;
  const variance = sumSq / n / (255 * 255) - mean * mean;
  return { mean, std: Math.sqrt(Math.max(variance, 1e-12)) };
}

/**
 * Class weights n / (k · n_c): each class contributes equally to the loss in total. With the
 * Kermany training split's 1341 NORMAL and 3875 PNEUMONIA images this is about [1.94, 0.67].
 */
export function classWeights(labels: Uint8Array): number[] {
  const counts = classCounts(labels);
  const n = labels.length;
  return counts.map((c) => (c === 0 ? 0 : n / (CLASS_NAMES.length * c)));
}

export interface BatchOrder {
  shuffle: boolean;
  /** Required when shuffle is true; advanced by the shuffle, so a saved state resumes the same order. */
  rng?: Rng;
  /** Drop a last, smaller batch (keeps batch-norm statistics sane on tiny batches). */
  dropLast?: boolean;
}

/** The batches of one epoch, as lists of indices into the set. */
export function batchIndices(n: number, batchSize: number, order: BatchOrder): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const idx = Array.from({ length: n }, (_, i) => i);
  if (order.shuffle) {
    if (order.rng === undefined) throw new Error('batchIndices: shuffle needs an rng');
    order.rng.shuffle(idx);
  }
  const out: number[][] = [];
  for (let s = 0; s < n; s += batchSize) {
    const batch = idx.slice(s, s + batchSize);
    if (order.dropLast === true && batch.length < batchSize && out.length > 0) break;
    out.push(batch);
  }
  return out;
}

/** Images at `indices` as a float32 tensor [B, H, W, 1] in [0, 1] (NHWC, TF.js's layout). */
export function batchImages(set: ImageSet, indices: readonly number[]): tf.Tensor4D {
  requireBackend();
  const px = set.size * set.size;
  const data = new Float32Array(indices.length * px);
  indices.forEach((src, dst) => {
    const image = set.images.subarray(src * px, (src + 1) * px);
    for (let k = 0; k < px; k++) data[dst * px + k] = (image[k] as number) / 255;
  });
  return tf.tensor4d(data, [indices.length, set.size, set.size, 1]);
}

/** Labels at `indices` as int32 [B]. */
export function batchLabels(set: ImageSet, indices: readonly number[]): tf.Tensor1D {
  requireBackend();
  return tf.tensor1d(indices.map((i) => set.labels[i] ?? 0), 'int32');
}

/** (x - mean) / std, the model's input scale. x: [B, H, W, 1] in [0, 1]. */
export function normalize(x: tf.Tensor4D, stats: PixelStats): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(x, stats.mean), stats.std));
}

/** Number of batches of an epoch. */
export function batchCount(set: ImageSet, batchSize: number, dropLast = false): number {
  const n = setLength(set);
  return dropLast && n >= batchSize ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}
