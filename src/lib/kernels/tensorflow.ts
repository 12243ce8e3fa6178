import * as tf from '@tensorflow/tfjs-core';
import type { NativeAttr, NativeBackend } from '../backend/tensorflow';
import { LayerMath, STOCK_MATH } from '../models/layers';

/**
 * The kit's kernels for the native `tensorflow` backend (tfjs-node). Each calls one TensorFlow
 * op through the binding where tfjs-node has no kernel or builds a long chain of small ops:
 *
 * - `Transform` (tf.image.transform, the augmentation): tfjs-node has no kernel at all;
 *   TensorFlow's ImageProjectiveTransformV3 is the op tfjs's own kernel was modelled on.
 * - BatchNorm in training: FusedBatchNormV3 forward and FusedBatchNormGradV3 backward, two ops
 *   instead of moments + normalize and their ~25-op autodiff (layerMath().batchNormTrain).
 * - The ReLU gradient: ReluGrad, one op instead of tfjs-node's Step (seven ops: isNaN, greater,
 *   ones, fill, where, select) and a multiply.
 *
 * Everything else runs on tfjs-node's stock kernels. Tests: test/kernels/tensorflow.test.ts
 * compares each with the pure-JS cpu backend.
 */

function backendOf(args: { backend: unknown }): NativeBackend {
  return args.backend as NativeBackend;
}

function nativeBackend(): NativeBackend {
  return tf.backend() as unknown as NativeBackend;
}

function typeAttr(b: NativeBackend, name: string): NativeAttr {
  return { name, type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

/** tf.image.transform → ImageProjectiveTransformV3 (same definition: output pixel → input pixel). */
const transformKernel: tf.KernelConfig = {
  kernelName: 'Transform',
  backendName: 'tensorflow',
  kernelFunc: (args) => {
    const b = backendOf(args);
    const { image, transforms } = args.inputs as { image: tf.TensorInfo; transforms: tf.TensorInfo };
    const attrs = args.attrs as { interpolation: string; fillMode: string; fillValue: number; outputShape?: [number, number] };
    const [, h, w] = image.shape as [number, number, number, number];
    const [outH, outW] = attrs.outputShape ?? [h, w];
    const outputShape = tf.tensor1d([outH, outW], 'int32');
    const fillValue = tf.scalar(attrs.fillValue, 'float32');
    try {
      return b.executeSingleOutput(
        'ImageProjectiveTransformV3',
        [
          typeAttr(b, 'dtype'),
          { name: 'interpolation', type: b.binding.TF_ATTR_STRING, value: attrs.interpolation.toUpperCase() },
          { name: 'fill_mode', type: b.binding.TF_ATTR_STRING, value: attrs.fillMode.toUpperCase() },
        ],
        [image, transforms, outputShape, fillValue],
      );
    } finally {
      tf.dispose([outputShape, fillValue]);
    }
  },
};

/** dy · [x > 0] as one op. */
const reluGradKernel: tf.KernelConfig = {
  kernelName: 'KitReluGrad',
  backendName: 'tensorflow',
  kernelFunc: (args) => {
    const b = backendOf(args);
    const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    return b.executeSingleOutput('ReluGrad', [typeAttr(b, 'T')], [dy, x]);
  },
};

/**
 * ReLU's gradient: ReluGrad on the tensorflow backend; elsewhere exactly tfjs's own
 * (dy · step(x)), so registering it never changes another backend's numbers.
 */
const reluGradient: tf.GradConfig = {
  kernelName: 'Relu',
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return {
      x: () => (tf.getBackend() === 'tensorflow' ? (tf.engine().runKernel('KitReluGrad', { dy: dy as tf.Tensor, x }) as tf.Tensor) : tf.mul(dy as tf.Tensor, tf.cast(tf.step(x), 'float32'))),
    };
  },
};

/**
 * BatchNorm in training over every axis but the last (NHWC: statistics per channel over N, H, W),
 * as FusedBatchNormV3 with is_training; its gradient is FusedBatchNormGradV3 with the op's saved
 * statistics. Returns the biased batch variance, as tf.moments and tfjs-layers' BatchNormalization
 * (FusedBatchNormV3 reports the unbiased one, for Keras's moving average; scaled back here).
 */
function nativeBatchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (x.rank !== 4 || tf.getBackend() !== 'tensorflow') return STOCK_MATH.batchNormTrain(x, gamma, beta, eps);
  const b = nativeBackend();
  const attrs = (training: boolean): NativeAttr[] => [
    typeAttr(b, 'T'),
    typeAttr(b, 'U'),
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: eps },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: training },
  ];
  let stats: [tf.Tensor, tf.Tensor] | undefined;
  const op = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    // No running statistics in (empty mean/variance): the op uses the batch's.
    const empty = tf.tensor1d([], 'float32');
    const [y, mean, varianceUnbiased, r1, r2, r3] = b.executeMultipleOutputs('FusedBatchNormV3', attrs(true), [input, scale, offset, empty, empty], 6) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    empty.dispose();
    const n = input.size / (input.shape[3] as number);
    stats = [tf.keep(mean), tf.keep(n > 1 ? tf.mul(varianceUnbiased, (n - 1) / n) : varianceUnbiased)];
    save([input, scale, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sscale, s1, s2, s3] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const [dx, dscale, doffset] = b.executeMultipleOutputs('FusedBatchNormGradV3', attrs(true), [dy, sx, sscale, s1, s2, s3], 5);
        return [dx as tf.Tensor, dscale as tf.Tensor, doffset as tf.Tensor];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = (op as unknown as (...inputs: tf.Tensor[]) => tf.Tensor)(x, gamma, beta);
  const [mean, variance] = stats as [tf.Tensor, tf.Tensor];
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

export const NATIVE_MATH: LayerMath = { ...STOCK_MATH, batchNormTrain: nativeBatchNormTrain };

export const NATIVE_KERNELS: readonly tf.KernelConfig[] = [transformKernel, reluGradKernel];
export const NATIVE_GRADIENTS: readonly tf.GradConfig[] = [reluGradient];
