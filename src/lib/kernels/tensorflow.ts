import * as tf from '@tensorflow/tfjs-core';
import { ConvGeometry, Epilogue, activate, InferenceMath, STOCK_INFERENCE } from '../models/fuse';
import { LayerMath, STOCK_MATH } from '../models/layers';

/**
 * The kit's kernels for the native `tensorflow` backend (tfjs-node). Each calls one TensorFlow
 * op through the binding where tfjs-node has no kernel or builds a long chain of small ops:
 *
 * - `Transform` (tf.image.transform, the augmentation): tfjs-node has no kernel at all;
 *   TensorFlow's ImageProjectiveTransformV3 is the op tfjs's own kernel was modelled on.
 * - BatchNorm in training: the kit's own KitBatchNorm / KitBatchNormGrad on the CPU
 *   (native/kit_ops.cc), FusedBatchNormV3 / GradV3 on a GPU; two ops instead of moments +
 *   normalize and their ~25-op autodiff (layerMath().batchNormTrain).
 * - The ReLU gradient: ReluGrad, one op instead of tfjs-node's Step (seven ops: isNaN, greater,
 *   ones, fill, where, select) and a multiply.
 * - Pointwise (1×1) convs: BatchMatMulV2 + BiasAdd with a written-out gradient (layerMath().pointwise).
 * - LayerNorm: the kit's own op and its gradient (native/kit_ops.cc); GELU: its
 *   derivative written out (layerMath().layerNorm, .gelu).
 *
 * - Inference (models/fuse.ts): conv / depthwise conv / matmul with bias, residual sum and
 *   ReLU or GELU in one oneDNN kernel (NATIVE_INFERENCE).
 *
 * Everything else runs on tfjs-node's stock kernels. Tests: test/kernels/tensorflow.test.ts
 * compares each with the pure-JS cpu backend.
 */

/**
 * The part of tfjs-node's binding the kit uses (defined here, where the kit calls ops through
 * it; backend/tensorflow.ts loads it).
 */
export interface NativeBinding {
  TF_Version: string;
  isUsingGpuDevice(): boolean;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
  TF_FLOAT: number;
  TF_INT32: number;
}

/** tfjs-node's backend object, as far as the kit calls it. */
export interface NativeBackend {
  binding: NativeBinding;
  isUsingGpuDevice: boolean;
  executeSingleOutput(name: string, attrs: NativeAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

/** One attribute of a TensorFlow op (TFE_OpSetAttr*): its name, TF_ATTR_* type and value. */
export interface NativeAttr {
  name: string;
  type: number;
  /** Lists of strings and of types need the binding that scripts/native.js patches. */
  value: boolean | number | string | number[] | string[];
}

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

/** The attributes of FusedBatchNormV3 / FusedBatchNormGradV3 in training mode. */
function fusedBatchNormAttrs(b: NativeBackend, eps: number, format: 'NHWC' | 'NCHW'): NativeAttr[] {
  return [
    typeAttr(b, 'T'),
    typeAttr(b, 'U'),
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: eps },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: format },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
}

/**
 * FusedBatchNormV3 in training with the batch's own statistics (no running mean/variance in):
 * [y, batch mean, unbiased batch variance, reserve 1..3], the reserves being what the gradient needs.
 */
function fusedBatchNorm(b: NativeBackend, x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, eps: number, format: 'NHWC' | 'NCHW'): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
  const empty = tf.tensor1d([], 'float32');
  const out = b.executeMultipleOutputs('FusedBatchNormV3', fusedBatchNormAttrs(b, eps, format), [x, scale, offset, empty, empty], 6);
  empty.dispose();
  return out as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
}

/** FusedBatchNormGradV3 of fusedBatchNorm: [dx, dscale, doffset]. */
function fusedBatchNormGrad(b: NativeBackend, dy: tf.Tensor, x: tf.Tensor, scale: tf.Tensor, reserves: tf.Tensor[], eps: number, format: 'NHWC' | 'NCHW'): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const [dx, dscale, doffset] = b.executeMultipleOutputs('FusedBatchNormGradV3', fusedBatchNormAttrs(b, eps, format), [dy, x, scale, ...reserves], 5);
  return [dx as tf.Tensor, dscale as tf.Tensor, doffset as tf.Tensor];
}

/** One BatchNorm training op: its output, the batch mean and biased variance, and what its gradient needs. */
interface BatchNormForward {
  y: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  saved: tf.Tensor[];
}

/**
 * BatchNorm in training as a custom op: `forward` runs the TensorFlow op(s), `backward` turns
 * (dy, saved) into [dx, dγ, dβ]. The batch statistics come out beside y, kept, for the running
 * averages (the caller disposes them).
 */
function batchNormOp(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, forward: (input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) => BatchNormForward, backward: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[]): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let stats: [tf.Tensor, tf.Tensor] | undefined;
  const op = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    const f = forward(input, scale, offset);
    stats = [tf.keep(f.mean), tf.keep(f.variance)];
    save(f.saved);
    return { value: f.y, gradFunc: backward };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = (op as unknown as (...inputs: tf.Tensor[]) => tf.Tensor)(x, gamma, beta);
  const [mean, variance] = stats as [tf.Tensor, tf.Tensor];
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * BatchNorm in training over every axis but the last (NHWC: statistics per channel over N, H, W).
 * On the CPU as the kit's own ops (native/kit_ops.cc): KitBatchNorm returns the biased batch
 * variance itself, and KitBatchNormGrad needs only the batch mean and variance; measured at
 * [32,16,16,64]: 189 vs 364 µs forward, 256 vs 500 µs backward, against FusedBatchNormV3 / GradV3.
 * Where the kit's ops are not available (a GPU), FusedBatchNormV3 with is_training, and
 * FusedBatchNormGradV3 with the op's saved reserves; it reports the unbiased variance (for
 * Keras's moving average), scaled back here to the biased one of tf.moments and tfjs-layers.
 */
function nativeBatchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (x.rank !== 4 || tf.getBackend() !== 'tensorflow') return STOCK_MATH.batchNormTrain(x, gamma, beta, eps);
  const b = nativeBackend();
  if (kitOpsAvailable()) {
    const epsilon: NativeAttr[] = [{ name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: eps }];
    return batchNormOp(
      x, gamma, beta,
      (input, scale, offset) => {
        const [y, mean, variance] = b.executeMultipleOutputs('KitBatchNorm', epsilon, [input, scale, offset], 3) as [tf.Tensor, tf.Tensor, tf.Tensor];
        return { y, mean, variance, saved: [input, scale, mean, variance] };
      },
      (dy, saved) => b.executeMultipleOutputs('KitBatchNormGrad', epsilon, [dy, ...saved], 3),
    );
  }
  return batchNormOp(
    x, gamma, beta,
    (input, scale, offset) => {
      const [y, mean, varianceUnbiased, r1, r2, r3] = fusedBatchNorm(b, input, scale, offset, eps, 'NHWC');
      const n = input.size / (input.shape[3] as number);
      return { y, mean, variance: n > 1 ? tf.mul(varianceUnbiased, (n - 1) / n) : varianceUnbiased, saved: [input, scale, r1, r2, r3] };
    },
    (dy, saved) => {
      const [sx, sscale, ...reserves] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      return fusedBatchNormGrad(b, dy, sx, sscale, reserves, eps, 'NHWC');
    },
  );
}

const matMulAttrs = (b: NativeBackend, transposeA: boolean, transposeB: boolean): NativeAttr[] => [
  typeAttr(b, 'T'),
  { name: 'transpose_a', type: b.binding.TF_ATTR_BOOL, value: transposeA },
  { name: 'transpose_b', type: b.binding.TF_ATTR_BOOL, value: transposeB },
];

/**
 * A 1×1 conv over the channel axis as TensorFlow ops, with its gradient written out:
 * Y = X · W + b as BatchMatMulV2 of the NHWC activations with the [K, N] kernel (TensorFlow
 * broadcasts the kernel and runs one matrix product over all B·H·W rows; measured as fast as or
 * faster than a 2-D MatMul, and no reshapes) and a BiasAdd; dX = dY · Wᵀ the same way;
 * dW = Xᵀ · dY as a 2-D MatMul over the rows; db = BiasAddGrad(dY). Two ops forward, five
 * backward, where tfjs-layers' Dense spends about twenty (reshapes to 3-D, an identity transpose
 * of the kernel, and the gradients of all of them).
 */
function nativePointwise(x: tf.Tensor, kernel: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor {
  if (tf.getBackend() !== 'tensorflow') return STOCK_MATH.pointwise(x, kernel, bias);
  const b = nativeBackend();
  const [k, n] = kernel.shape;
  const biasAttrs: NativeAttr[] = [typeAttr(b, 'T'), { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' }];
  const batchMatMul = (lhs: tf.Tensor, rhs: tf.Tensor, adjY: boolean): tf.Tensor =>
    b.executeSingleOutput('BatchMatMulV2', [typeAttr(b, 'T'), { name: 'adj_x', type: b.binding.TF_ATTR_BOOL, value: false }, { name: 'adj_y', type: b.binding.TF_ATTR_BOOL, value: adjY }], [lhs, rhs]);
  const forward = (input: tf.Tensor, w: tf.Tensor, bs: tf.Tensor | undefined, save: tf.GradSaveFunc): { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] } => {
    save([input, w]);
    const product = batchMatMul(input, w, false); // [..., K] · [K, N] → [..., N]
    return {
      value: bs === undefined ? product : b.executeSingleOutput('BiasAdd', biasAttrs, [product, bs]),
      gradFunc: (dy, saved) => {
        const [sx, sw] = saved as [tf.Tensor, tf.Tensor];
        const dx = batchMatMul(dy, sw, true); // [..., N] · Wᵀ → [..., K]
        const dw = b.executeSingleOutput('MatMul', matMulAttrs(b, true, false), [tf.reshape(sx, [-1, k]), tf.reshape(dy, [-1, n])]); // [K, rows] · [rows, N]
        return bs === undefined ? [dx, dw] : [dx, dw, b.executeSingleOutput('BiasAddGrad', biasAttrs, [dy])];
      },
    };
  };
  const op = tf.customGrad(
    (bias === undefined
      ? (input: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => forward(input, w, undefined, save)
      : (input: tf.Tensor, w: tf.Tensor, bs: tf.Tensor, save: tf.GradSaveFunc) => forward(input, w, bs, save)) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
  return bias === undefined ? op(x, kernel) : op(x, kernel, bias);
}

/**
 * A capability of the native CPU backend, tried once on a tiny input and remembered: false off
 * the tensorflow backend, on a GPU (TensorFlow places ops there), or when the try throws.
 */
function cpuCapability(tryIt: () => boolean): () => boolean {
  let works: boolean | undefined;
  return () => {
    if (tf.getBackend() !== 'tensorflow' || nativeBackend().isUsingGpuDevice) return false;
    works ??= tf.tidy(() => {
      try {
        return tryIt();
      } catch {
        return false;
      }
    });
    return works;
  };
}

/**
 * Whether the kit's own TensorFlow ops (native/kit_ops.cc, compiled into the binding by
 * `npm run setup`) are registered. They run on the CPU device only.
 */
export const kitOpsAvailable = cpuCapability(() => {
  const [y] = kitLayerNorm(nativeBackend(), tf.tensor2d([[1, 3]]), tf.ones([2]), tf.zeros([2]), 0);
  const v = Array.from(y.dataSync());
  return Math.abs((v[0] as number) + 1) < 1e-6 && Math.abs((v[1] as number) - 1) < 1e-6;
});

/** KitLayerNorm: [y, mean per row, 1/√(var + ε) per row]. */
function kitLayerNorm(b: NativeBackend, x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return b.executeMultipleOutputs('KitLayerNorm', [{ name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: eps }], [x, gamma, beta], 3) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/**
 * LayerNorm over the last axis as the kit's own op, KitLayerNorm (native/kit_ops.cc: each row
 * read once into cache, normalized, written once), and its gradient as KitLayerNormGrad from the
 * row statistics it saved. One op each way, where stock ops take 9 forward and ~25 backward.
 * Without the kit's ops (a binding not built by `npm run setup`, or a GPU), the stock math.
 */
function nativeLayerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  if (!kitOpsAvailable()) return STOCK_MATH.layerNorm(x, gamma, beta, eps);
  const b = nativeBackend();
  const op = tf.customGrad(((input: tf.Tensor, g: tf.Tensor, bt: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = kitLayerNorm(b, input, g, bt, eps);
    save([input, g, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => b.executeMultipleOutputs('KitLayerNormGrad', [], [dy, ...saved], 3),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
  return op(x, gamma, beta);
}

/**
 * Exact GELU with its derivative written out, Φ(x) + x·φ(x) (φ the normal density), reusing
 * the forward's Φ: 7 ops backward instead of autodiff's ~15 through erf.
 */
function nativeGelu(x: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'tensorflow') return STOCK_MATH.gelu(x);
  const op = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(input, Math.SQRT1_2)), 1), 0.5); // Φ(x)
    save([input, cdf]);
    return {
      value: tf.mul(input, cdf),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sCdf] = saved as [tf.Tensor, tf.Tensor];
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(sx), -0.5)), 1 / Math.sqrt(2 * Math.PI)); // φ(x)
        return [tf.mul(dy, tf.add(sCdf, tf.mul(sx, pdf)))];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (input: tf.Tensor) => tf.Tensor;
  return op(x);
}

/**
 * TensorFlow's oneDNN CPU kernels for fused ops. The standard TensorFlow wheels on x86 run
 * their CPU convs and matmuls on oneDNN: eager mode rewrites Conv2D to `_MklNativeConv2D`
 * itself, but the fused variants are only ever made by the graph optimizer, which eager never
 * runs. The kit asks for them by name, with the kernel label oneDNN's ops are registered under.
 * Each takes `fused_ops` (a list of names) and `num_args` extra inputs: BiasAdd's bias, then
 * Add's addend. The combinations oneDNN implements (measured on TF 2.21; others fail with
 * "Fusion is not implemented"):
 */
const ONEDNN_FUSIONS = {
  conv: new Set(['BiasAdd', 'BiasAdd,Relu', 'BiasAdd,Add', 'BiasAdd,Add,Relu']),
  depthwise: new Set(['BiasAdd', 'BiasAdd,Relu']),
  matmul: new Set(['BiasAdd', 'BiasAdd,Relu', 'BiasAdd,GeluExact', 'BiasAdd,Add']),
};
type OneDnnOp = keyof typeof ONEDNN_FUSIONS;
const ONEDNN_OP: Record<OneDnnOp, string> = { conv: '_MklNativeFusedConv2D', depthwise: '_MklNativeFusedDepthwiseConv2dNative', matmul: '_MklNativeFusedMatMul' };

/**
 * Runs x·W + bias and as much of the epilogue as oneDNN fuses for `op` (the residual sum, then
 * the activation: the activation only when the sum is inside too), then the rest op by op.
 */
function oneDnn(op: OneDnnOp, x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor, e: Epilogue, geometry?: ConvGeometry): tf.Tensor {
  const b = nativeBackend();
  const fused = ['BiasAdd'];
  const args: tf.Tensor[] = [bias];
  if (e.residual !== undefined && ONEDNN_FUSIONS[op].has('BiasAdd,Add')) {
    fused.push('Add');
    args.push(e.residual);
  }
  const residualInside = args.length === 2;
  const actName = e.act === 'relu' ? 'Relu' : 'GeluExact';
  const actInside = e.act !== null && (e.residual === undefined || residualInside) && ONEDNN_FUSIONS[op].has([...fused, actName].join(','));
  if (actInside) fused.push(actName);
  const attrs: NativeAttr[] = [
    typeAttr(b, 'T'),
    { name: '_kernel', type: b.binding.TF_ATTR_STRING, value: 'MklNameChangeOp' },
    { name: 'fused_ops', type: b.binding.TF_ATTR_STRING, value: fused },
    { name: 'num_args', type: b.binding.TF_ATTR_INT, value: args.length },
  ];
  if (op === 'matmul') {
    attrs.push({ name: 'transpose_a', type: b.binding.TF_ATTR_BOOL, value: false }, { name: 'transpose_b', type: b.binding.TF_ATTR_BOOL, value: false });
  } else {
    const g = geometry as ConvGeometry;
    attrs.push(
      { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, g.stride, g.stride, 1] },
      { name: 'padding', type: b.binding.TF_ATTR_STRING, value: g.padding.toUpperCase() },
      { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
      { name: 'dilations', type: b.binding.TF_ATTR_INT, value: [1, 1, 1, 1] },
    );
    // Only the full conv has these two (the depthwise op's definition lists neither).
    if (op === 'conv') attrs.push({ name: 'TArgs', type: b.binding.TF_ATTR_TYPE, value: args.map(() => b.binding.TF_FLOAT) }, { name: 'explicit_paddings', type: b.binding.TF_ATTR_INT, value: [] });
  }
  let y = b.executeSingleOutput(ONEDNN_OP[op], attrs, [x, w, ...args]);
  if (e.residual !== undefined && !residualInside) y = tf.add(y, e.residual);
  if (e.act !== null && !actInside) y = activate(y, e.act);
  return y;
}

/**
 * Whether the fused oneDNN ops run here: the tensorflow backend on the CPU (on a GPU, TensorFlow
 * places ops on the GPU, which has no oneDNN), with a binding that passes list attributes
 * (scripts/native.js patches it) and oneDNN on (TF_ENABLE_ONEDNN_OPTS=0 turns it off). Tried
 * once on a tiny conv; if anything fails, inference takes tfjs's fused ops instead.
 */
export const oneDnnAvailable = cpuCapability(() => {
  const y = oneDnn('conv', tf.ones([1, 2, 2, 1]), tf.ones([1, 1, 1, 1]), tf.ones([1]), { act: 'relu', residual: tf.ones([1, 2, 2, 1]) }, { stride: 1, padding: 'same', depthwise: false });
  return Array.from(y.dataSync()).every((v) => v === 3);
});

/**
 * [K, N] kernels seen as [1, 1, K, N] 1×1 conv filters, made once per kernel (a reshape is a
 * TensorFlow op and a shape tensor, ~50 µs): entries whose kernel was disposed are dropped on the
 * next miss.
 */
const filterViews = new Map<tf.Tensor2D, tf.Tensor4D>();
function filterView(kernel: tf.Tensor2D): tf.Tensor4D {
  const cached = filterViews.get(kernel);
  if (cached !== undefined) return cached;
  for (const [k, v] of filterViews) {
    if (k.isDisposed) {
      v.dispose();
      filterViews.delete(k);
    }
  }
  const view = tf.keep(tf.reshape(kernel, [1, 1, ...kernel.shape]) as tf.Tensor4D);
  filterViews.set(kernel, view);
  return view;
}

/**
 * The inference graph's ops on TensorFlow's oneDNN CPU kernels and the kit's LayerNorm;
 * elsewhere tfjs's fused ops.
 */
export const NATIVE_INFERENCE: InferenceMath = {
  conv: (x, filter, bias, g, e) => (oneDnnAvailable() ? (oneDnn(g.depthwise ? 'depthwise' : 'conv', x, filter, bias, e, g) as tf.Tensor4D) : STOCK_INFERENCE.conv(x, filter, bias, g, e)),
  linear: (x, kernel, bias, e) => {
    if (!oneDnnAvailable()) return STOCK_INFERENCE.linear(x, kernel, bias, e);
    if (x.rank === 4 && e.act !== 'gelu') {
      // On NHWC activations a 1×1 conv is the same product with no reshapes in or out, and it
      // fuses the residual sum and ReLU together (matmul fuses at most one extra input).
      return oneDnn('conv', x, filterView(kernel), bias, e, { stride: 1, padding: 'valid', depthwise: false });
    }
    const [k, n] = kernel.shape;
    const rows = x.size / k;
    const residual = e.residual === undefined ? undefined : tf.reshape(e.residual, [rows, n]);
    return tf.reshape(oneDnn('matmul', tf.reshape(x, [rows, k]), kernel, bias, { act: e.act, residual }), [...x.shape.slice(0, -1), n]);
  },
  layerNorm: (x, gamma, beta, eps) => {
    if (!kitOpsAvailable()) return STOCK_INFERENCE.layerNorm(x, gamma, beta, eps);
    const [y, mean, rstd] = kitLayerNorm(nativeBackend(), x, gamma, beta, eps);
    tf.dispose([mean, rstd]);
    return y;
  },
};

export const NATIVE_MATH: LayerMath = { batchNormTrain: nativeBatchNormTrain, pointwise: nativePointwise, layerNorm: nativeLayerNorm, gelu: nativeGelu };

export const NATIVE_KERNELS: readonly tf.KernelConfig[] = [transformKernel, reluGradKernel];
export const NATIVE_GRADIENTS: readonly tf.GradConfig[] = [reluGradient];
