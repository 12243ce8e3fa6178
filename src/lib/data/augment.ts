import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend';
import { Rng } from '../util/rng';

/**
 * Augmentations for chest X-rays, applied on the device (the backend running the model) to a
 * batch in [0, 1], before normalization. Everything geometric is one projective transform per
 * image (crop + scale + rotation + shift in a single bilinear resample), so an augmented batch
 * costs one kernel, not five.
 *
 * What is deliberately NOT here:
 * - Horizontal flips are off by default: a chest film has a fixed left and right (the heart and
 *   the stomach bubble sit on the patient's left, the technologist's "L"/"R" marker is printed on
 *   the film). A flipped film shows anatomy no patient has (dextrocardia is about 1 in 10,000),
 *   so the model would learn from impossible images. Turn it on (`hflip: true`) to test this.
 * - Vertical flips never: nobody reads an upside-down chest X-ray.
 * - Color jitter beyond brightness/contrast: X-rays are grayscale intensity maps.
 */
export interface AugmentOptions {
  /** Random resized crop: fraction of the image area kept, and the crop's aspect-ratio range; null = off. */
  crop: { scale: [number, number]; ratio: [number, number] } | null;
  /** Largest rotation, in degrees, either way. Patients are not always positioned straight. */
  rotateDeg: number;
  /** Largest shift, as a fraction of the image side, along each axis. */
  translate: number;
  /** Largest brightness change, added in [0, 1] units (exposure differs between machines). */
  brightness: number;
  /** Largest relative contrast change (kVp and processing differ between sites). */
  contrast: number;
  /** Mirror left-right with probability 1/2. Off for X-rays, see above. */
  hflip: boolean;
}

/** The kit's default for X-rays: mild, anatomy-preserving. */
export const XRAY_AUGMENT: AugmentOptions = {
  crop: { scale: [0.7, 1], ratio: [0.85, 1 / 0.85] },
  rotateDeg: 10,
  translate: 0.06,
  brightness: 0.1,
  contrast: 0.15,
  hflip: false,
};

export const NO_AUGMENT: AugmentOptions = { crop: null, rotateDeg: 0, translate: 0, brightness: 0, contrast: 0, hflip: false };

/** One image's random draw, kept separate from the tensor work so it can be inspected and tested. */
export interface AugmentDraw {
  /** Projective transform mapping output pixel (x, y) to input pixel: tf.image.transform's 8 numbers. */
  transform: number[];
  brightness: number;
  contrast: number;
}

/** Draw the random parameters of one image of size h×w. */
export function drawAugment(options: AugmentOptions, h: number, w: number, rng: Rng): AugmentDraw {
  let sx = 1;
  let sy = 1;
  let cx = (w - 1) / 2;
  let cy = (h - 1) / 2;
  const centerX = cx;
  const centerY = cy;
  if (options.crop !== null) {
    const [lo, hi] = options.crop.scale;
    const [rlo, rhi] = options.crop.ratio;
    const area = rng.uniform(lo, hi);
    // Log-uniform aspect ratio, as torchvision's RandomResizedCrop, so 3/4 and 4/3 are equally likely.
    const ratio = Math.exp(rng.uniform(Math.log(rlo), Math.log(rhi)));
    sx = Math.min(1, Math.sqrt(area * ratio));
    sy = Math.min(1, Math.sqrt(area / ratio));
    // The crop's center, anywhere the crop still fits inside the image.
    cx += rng.uniform(-1, 1) * ((1 - sx) * (w - 1)) / 2;
    cy += rng.uniform(-1, 1) * ((1 - sy) * (h - 1)) / 2;
  }
  cx += rng.uniform(-1, 1) * options.translate * w;
  cy += rng.uniform(-1, 1) * options.translate * h;
  const theta = (rng.uniform(-1, 1) * options.rotateDeg * Math.PI) / 180;
  if (options.hflip && rng.next() < 0.5) sx = -sx;
  // input = crop center + R(theta) · diag(sx, sy) · (output - image center)
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const a0 = cos * sx;
  const a1 = -sin * sy;
  const b0 = sin * sx;
  const b1 = cos * sy;
  const transform = [a0, a1, cx - a0 * centerX - a1 * centerY, b0, b1, cy - b0 * centerX - b1 * centerY, 0, 0];
  return {
    transform,
    brightness: rng.uniform(-1, 1) * options.brightness,
    contrast: 1 + rng.uniform(-1, 1) * options.contrast,
  };
}

/**
 * Augment a batch. x: [B, H, W, C] float32 in [0, 1] (TF.js is channels-last, NHWC).
 * Returns a new tensor in [0, 1]; x is not disposed.
 */
export function augmentBatch(x: tf.Tensor4D, options: AugmentOptions, rng: Rng): tf.Tensor4D {
  const [b, h, w] = x.shape;
  const draws = Array.from({ length: b }, () => drawAugment(options, h, w, rng));
  return tf.tidy(() => {
    const geometric = options.crop !== null || options.rotateDeg > 0 || options.translate > 0 || options.hflip;
    let y: tf.Tensor4D = geometric
      ? tf.image.transform(x, tf.tensor2d(draws.flatMap((d) => d.transform), [b, 8]), 'bilinear', 'constant', 0)
      : x.clone();
    if (options.brightness > 0 || options.contrast > 0) {
      // Contrast scales around each image's own mean, so it does not also shift brightness.
      const mean = tf.mean(y, [1, 2, 3], true);
      const contrast = tf.tensor4d(draws.map((d) => d.contrast), [b, 1, 1, 1]);
      const brightness = tf.tensor4d(draws.map((d) => d.brightness), [b, 1, 1, 1]);
      y = tf.add(tf.add(tf.mul(tf.sub(y, mean), contrast), mean), brightness);
    }
    return tf.clipByValue(y, 0, 1);
  });
}

/**
 * `n` augmented draws of one image (pixels in 0–255, size×size), for looking at what the model
 * will see. Runs on the current backend; returns host arrays.
 */
export async function augmentPreview(pixels: Uint8Array, size: number, n: number, options: AugmentOptions, seed: number): Promise<Uint8Array[]> {
  await ensureBackend();
  const rng = new Rng(seed);
  const out = tf.tidy(() => {
    const one = tf.div(tf.tensor4d(Float32Array.from(pixels), [1, size, size, 1]), 255);
    const batch = tf.tile(one, [n, 1, 1, 1]) as tf.Tensor4D;
    return tf.round(tf.mul(augmentBatch(batch, options, rng), 255));
  });
  // Always read back asynchronously: the webgpu backend in Node cannot read synchronously.
  const data = await out.data();
  out.dispose();
  const px = size * size;
  return Array.from({ length: n }, (_, i) => Uint8Array.from(data.subarray(i * px, (i + 1) * px)));
}
