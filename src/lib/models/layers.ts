import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../util/rng';
import { LAYER_NORM_EPS } from './config';

/**
 * Layers the stock tfjs-layers cannot serve, each serializable (registered under a `Kit*`
 * class name, so a saved model loads back) and checked against a reference in
 * test/models/layers.test.ts.
 *
 * The math lives in plain functions (layerNorm, gelu, ...) that the layers call, so the WebGPU
 * kernels (src/lib/kernels) can replace them with fused versions in one place.
 */

type Kwargs = Record<string, unknown>;
type ConfigDict = tf.serialization.ConfigDict;

/** The size of the last (channel, NHWC) axis of a layer's input shape. */
function channelsOf(inputShape: tfl.Shape | tfl.Shape[], layer: string): number {
  const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
  const channels = shape[shape.length - 1];
  if (channels == null) throw new Error(`${layer}: the channel axis must be known`);
  return channels;
}

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
}

/** Implementations of the layers' math; the kernels module swaps in fused ones on WebGPU. */
export interface LayerMath {
  /** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta. */
  layerNorm: (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number) => tf.Tensor;
  /** Exact GELU: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)). */
  gelu: (x: tf.Tensor) => tf.Tensor;
  /**
   * BatchNorm in training: normalize with the batch's statistics over every axis but the last
   * (NHWC: per channel over N, H, W). Returns y and the batch mean and biased variance, for the
   * running averages. The caller disposes mean and variance.
   */
  batchNormTrain: (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number) => { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D };
  /** A 1×1 conv as a linear map over the last axis: x [..., K] · kernel [K, N] (+ bias [N]) → [..., N]. */
  pointwise: (x: tf.Tensor, kernel: tf.Tensor2D, bias: tf.Tensor1D | undefined) => tf.Tensor;
}

/** Reference implementations from stock ops; autodiff gives their gradients. */
export const STOCK_MATH: LayerMath = {
  layerNorm: (x, gamma, beta, eps) =>
    tf.tidy(() => {
      // Moments over the channel axis only: gamma/beta/mean/var broadcast, nothing is tiled.
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
    }),
  gelu: (x) => tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))),
  // The same ops as tfjs-layers' BatchNormalization in training (moments, then batchNorm).
  batchNormTrain: (x, gamma, beta, eps) => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    return { y: tf.batchNorm(x, mean, variance, beta, gamma, eps), mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  },
  // What tfjs-layers' Dense does with a rank > 2 input: flatten to [rows, K], matmul + bias, reshape back.
  pointwise: (x, kernel, bias) =>
    tf.tidy(() => {
      const k = x.shape[x.rank - 1] as number;
      const n = kernel.shape[1];
      const y = tf.fused.matMul({ a: tf.reshape(x, [-1, k]) as tf.Tensor2D, b: kernel, bias });
      return tf.reshape(y, [...x.shape.slice(0, -1), n]);
    }),
};

let math: LayerMath = STOCK_MATH;

/** Replace the layers' math (the kernels module does this on WebGPU); returns the previous one. */
export function setLayerMath(next: LayerMath): LayerMath {
  const prev = math;
  math = next;
  return prev;
}

export function layerMath(): LayerMath {
  return math;
}

/**
 * LayerNorm over channels for channels-last (NHWC) tensors, as ConvNeXt's LayerNorm on
 * (N, H, W, C). Unlike tfjs-layers' LayerNormalization it never tiles gamma, beta, mean or
 * variance to the input's full shape (that stock layer took ~100 ms at [64,16,16,32] on an H100).
 */
export class LayerNorm extends tfl.layers.Layer {
  static className = 'KitLayerNorm';
  readonly epsilon: number;
  private gamma?: tfl.LayerVariable;
  private beta?: tfl.LayerVariable;

  constructor(args: { epsilon?: number; name?: string; trainable?: boolean } = {}) {
    super(args);
    this.epsilon = args.epsilon ?? LAYER_NORM_EPS;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(inputShape, this.name);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const gamma = (this.gamma as tfl.LayerVariable).read() as tf.Tensor1D;
    const beta = (this.beta as tfl.LayerVariable).read() as tf.Tensor1D;
    return math.layerNorm(one(inputs), gamma, beta, this.epsilon);
  }

  override getConfig(): ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}

/**
 * BatchNorm over the channel axis of NHWC tensors (Ioffe & Szegedy 2015), as ResNet uses it:
 * in training, normalize with the batch's statistics and update running averages
 * (running ← momentum · running + (1 − momentum) · batch; Keras's momentum 0.9 is PyTorch's 0.1);
 * at inference, normalize with the running averages. The same weights (gamma, beta,
 * moving_mean, moving_variance) and numbers as tfjs-layers' BatchNormalization, but the training
 * math goes through layerMath(), so the native backend runs it as two fused TensorFlow ops.
 */
export class BatchNorm extends tfl.layers.Layer {
  static className = 'KitBatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  private gamma?: tfl.LayerVariable;
  private beta?: tfl.LayerVariable;
  private movingMean?: tfl.LayerVariable;
  private movingVariance?: tfl.LayerVariable;

  constructor(args: { momentum: number; epsilon: number; name?: string; trainable?: boolean }) {
    super(args);
    this.momentum = args.momentum;
    this.epsilon = args.epsilon;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(inputShape, this.name);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.movingMean = this.addWeight('moving_mean', [channels], 'float32', tfl.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [channels], 'float32', tfl.initializers.ones(), undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const gamma = (this.gamma as tfl.LayerVariable).read() as tf.Tensor1D;
      const beta = (this.beta as tfl.LayerVariable).read() as tf.Tensor1D;
      const movingMean = this.movingMean as tfl.LayerVariable;
      const movingVariance = this.movingVariance as tfl.LayerVariable;
      if (kwargs['training'] !== true) return tf.batchNorm(x, movingMean.read(), movingVariance.read(), beta, gamma, this.epsilon);
      const { y, mean, variance } = math.batchNormTrain(x, gamma, beta, this.epsilon);
      const decay = 1 - this.momentum;
      for (const [running, batch] of [[movingMean, mean], [movingVariance, variance]] as const) {
        const old = running.read();
        running.write(tf.sub(old, tf.mul(tf.sub(old, batch), decay)));
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }

  override getConfig(): ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon };
  }
}

/**
 * A pointwise (1×1) convolution written as ConvNeXt writes it: a Linear layer over the channel
 * axis of NHWC, `nn.Linear(dim, 4 * dim)` (pwconv1/pwconv2) and ResNet's 1×1 convs. The same
 * weights as tfjs-layers' Dense (`kernel` [K, N], `bias` [N]), so the numbers are the same; the
 * math goes through layerMath(), so the native backend runs it as one MatMul and a BiasAdd with
 * a hand-written gradient, instead of Dense's chain of reshapes and transposes.
 */
export class Pointwise extends tfl.layers.Layer {
  static className = 'KitPointwise';
  readonly units: number;
  readonly useBias: boolean;
  private readonly kernelInitializer: ReturnType<typeof tfl.initializers.heNormal>;
  private kernel?: tfl.LayerVariable;
  private bias?: tfl.LayerVariable;

  constructor(args: { units: number; useBias: boolean; kernelInitializer?: ReturnType<typeof tfl.initializers.heNormal>; name?: string; trainable?: boolean }) {
    super(args);
    this.units = args.units;
    this.useBias = args.useBias;
    this.kernelInitializer = args.kernelInitializer ?? tfl.initializers.glorotUniform({});
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(inputShape, this.name);
    this.kernel = this.addWeight('kernel', [channels, this.units], 'float32', this.kernelInitializer);
    if (this.useBias) this.bias = this.addWeight('bias', [this.units], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [...shape.slice(0, -1), this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const kernel = (this.kernel as tfl.LayerVariable).read() as tf.Tensor2D;
    const bias = this.bias?.read() as tf.Tensor1D | undefined;
    return math.pointwise(one(inputs), kernel, bias);
  }

  override getConfig(): ConfigDict {
    return { ...super.getConfig(), units: this.units, useBias: this.useBias };
  }
}

/** GELU, exact erf form (PyTorch's nn.GELU() default, used by ConvNeXt). */
export class Gelu extends tfl.layers.Layer {
  static className = 'KitGelu';

  constructor(args: { name?: string } = {}) {
    super(args);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return math.gelu(one(inputs));
  }
}

/**
 * Layer scale (CaiT, used by ConvNeXt): multiply each channel of the residual branch by a
 * learned γ initialised small (1e-6), so every block starts close to the identity.
 */
export class LayerScale extends tfl.layers.Layer {
  static className = 'KitLayerScale';
  readonly initValue: number;
  private gamma?: tfl.LayerVariable;

  constructor(args: { initValue: number; name?: string }) {
    super(args);
    this.initValue = args.initValue;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(inputShape, this.name);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.constant({ value: this.initValue }));
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.mul(one(inputs), (this.gamma as tfl.LayerVariable).read());
  }

  override getConfig(): ConfigDict {
    return { ...super.getConfig(), initValue: this.initValue };
  }
}

/**
 * Stochastic depth (Huang et al. 2016): during training, drop a sample's whole residual branch
 * with probability `rate` and scale the kept ones by 1/(1 - rate), so the expected output is
 * unchanged; at inference, the identity. The random draws come from a seeded generator
 * (dropPathRng), so a resumed run drops the same branches as an uninterrupted one.
 */
export class DropPath extends tfl.layers.Layer {
  static className = 'KitDropPath';
  readonly rate: number;

  constructor(args: { rate: number; name?: string }) {
    super(args);
    this.rate = args.rate;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = one(inputs);
    if (kwargs['training'] !== true || this.rate === 0) return x;
    const batch = x.shape[0] ?? 1;
    const keep = 1 - this.rate;
    const mask = Array.from({ length: batch }, () => (dropPathRng.next() < keep ? 1 / keep : 0));
    // One factor per sample, broadcast over H, W, C.
    return tf.mul(x, tf.tensor(mask, [batch, ...x.shape.slice(1).map(() => 1)]));
  }

  override getConfig(): ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

let dropPathRng = new Rng(0);

/** The generator behind every DropPath layer; the trainer seeds it and saves its state. */
export function setDropPathRng(rng: Rng): void {
  dropPathRng = rng;
}

export function getDropPathRng(): Rng {
  return dropPathRng;
}

for (const cls of [BatchNorm, Pointwise, LayerNorm, Gelu, LayerScale, DropPath]) tf.serialization.registerClass(cls);
