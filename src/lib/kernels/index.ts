/** The kit's own kernels per backend (WGSL on webgpu, TensorFlow ops on tensorflow), installed and removed as a set. */
import * as tf from '@tensorflow/tfjs-core';
import { setInferenceMath, STOCK_INFERENCE } from '../models/fuse';
import { setLayerMath, STOCK_MATH } from '../models/layers';
import { conv2dBackpropFilter, depthwiseBackpropFilter, depthwiseBackpropInput, directConv2d, geometryOf, setReductionParallelism } from './conv-grad';
import { FUSED_KERNELS, FUSED_MATH } from './fused';
import type { WebGPUBackendLike } from './program';
import { NATIVE_GRADIENTS, NATIVE_INFERENCE, NATIVE_KERNELS, NATIVE_MATH } from './tensorflow';

export { setPoisonOutputs } from './program';

/**
 * The kit's WebGPU kernels. Each replaces a stock tfjs-backend-webgpu kernel for the cases it
 * handles (channels-last, no dilation, ...) and hands every other case to the stock kernel, so
 * installing them never changes what works, only how fast. useStockKernels() puts the stock
 * ones back (the benchmark compares both in one process).
 */
type KernelFunc = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[];
type Replacement = (args: { inputs: tf.NamedTensorInfoMap; backend: WebGPUBackendLike; attrs: tf.NamedAttrMap }) => tf.TensorInfo | undefined;

/**
 * Up to this many input channels a conv takes the direct kernel (the X-ray stems have 1). On
 * lavapipe the direct kernel beat the stock one up to 16 channels (3×3 conv, batch 32 at 8×8:
 * 4.3 vs 11.9 ms at 8 channels, 17.1 vs 19.9 at 16, 38.7 vs 31.3 at 32); on a GPU the stock
 * implicit GEMM should win sooner, so hardware adapters use it from 5 channels on.
 */
let directConvMaxInChannels = 4;

const isNHWC = (attrs: tf.NamedAttrMap): boolean => attrs['dataFormat'] === undefined || attrs['dataFormat'] === 'NHWC' || attrs['dataFormat'] === 'channelsLast';
const noDilation = (attrs: tf.NamedAttrMap): boolean => {
  const d = attrs['dilations'];
  return d === undefined || d === 1 || (Array.isArray(d) && d.every((v) => v === 1));
};

const REPLACEMENTS: Record<string, Replacement> = {
  Conv2DBackpropFilter: ({ inputs, backend, attrs }) => {
    if (!isNHWC(attrs)) return undefined;
    const x = inputs['x'] as tf.TensorInfo;
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs['filterShape'] as [number, number, number, number], attrs['strides'] as number, 1, attrs['pad'] as 'same', attrs['dimRoundingMode'] as 'floor' | undefined);
    return conv2dBackpropFilter(backend, x, inputs['dy'] as tf.TensorInfo, geometryOf(info));
  },
  DepthwiseConv2dNativeBackpropFilter: ({ inputs, backend, attrs }) => {
    const x = inputs['x'] as tf.TensorInfo;
    const filterShape = attrs['filterShape'] as [number, number, number, number];
    if (!noDilation(attrs) || filterShape[3] !== 1) return undefined;
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, attrs['strides'] as number, 1, attrs['pad'] as 'same', attrs['dimRoundingMode'] as 'floor' | undefined, true);
    return depthwiseBackpropFilter(backend, x, inputs['dy'] as tf.TensorInfo, geometryOf(info));
  },
  DepthwiseConv2dNativeBackpropInput: ({ inputs, backend, attrs }) => {
    const filter = inputs['filter'] as tf.TensorInfo;
    if (!noDilation(attrs) || filter.shape[3] !== 1) return undefined;
    const info = tf.backend_util.computeConv2DInfo(attrs['inputShape'] as [number, number, number, number], filter.shape as [number, number, number, number], attrs['strides'] as number, 1, attrs['pad'] as 'same', attrs['dimRoundingMode'] as 'floor' | undefined, true);
    return depthwiseBackpropInput(backend, inputs['dy'] as tf.TensorInfo, filter, geometryOf(info));
  },
  Conv2D: ({ inputs, backend, attrs }) => directConvOrUndefined(inputs, backend, attrs, 'linear'),
  FusedConv2D: ({ inputs, backend, attrs }) => {
    const activation = (attrs['activation'] as string | undefined) ?? 'linear';
    if (inputs['preluActivationWeights'] !== undefined || (activation !== 'linear' && activation !== 'relu')) return undefined;
    return directConvOrUndefined(inputs, backend, attrs, activation);
  },
};

function directConvOrUndefined(inputs: tf.NamedTensorInfoMap, backend: WebGPUBackendLike, attrs: tf.NamedAttrMap, activation: 'linear' | 'relu'): tf.TensorInfo | undefined {
  const x = inputs['x'] as tf.TensorInfo;
  const filter = inputs['filter'] as tf.TensorInfo;
  if (!isNHWC(attrs) || !noDilation(attrs) || (x.shape[3] ?? 0) > directConvMaxInChannels) return undefined;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs['strides'] as number, 1, attrs['pad'] as 'same', attrs['dimRoundingMode'] as 'floor' | undefined);
  const bias = inputs['bias'] as tf.TensorInfo | undefined;
  if (bias !== undefined && bias.shape.reduce((a, b) => a * b, 1) !== info.outChannels) return undefined;
  return directConv2d(backend, x, filter, geometryOf(info), bias, activation === 'relu');
}

/** Stock kernels that were replaced, to put back. */
const stock = new Map<string, tf.KernelConfig>();
let fusedRegistered = false;

/**
 * Backend flags. WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE picks tfjs's naive Conv2DBackpropInput over
 * its implicit-GEMM one. Measured on lavapipe (2 cores): the implicit-GEMM program made a smoke
 * ResNet training step 1.4× slower (Conv2DBackpropInput 1.77 s vs ~0.3 s), so software adapters
 * keep the naive one; on real GPUs the H100 profile found the naive one the bottleneck,
 * so hardware adapters use the GEMM program (not measured here: no GPU in this session).
 */
function flagsFor(softwareAdapter: boolean): Record<string, boolean> {
  return { WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE: softwareAdapter };
}
const stockFlags = new Map<string, boolean>();

/** Whether the webgpu backend runs on a software rasterizer (lavapipe, SwiftShader). */
function softwareAdapter(): boolean {
  const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
  return /mesa|llvmpipe|lavapipe|swiftshader|software|cpu/i.test(`${info?.vendor ?? ''} ${info?.architecture ?? ''}`);
}

/** Gradients replaced on the tensorflow backend, with the stock config to put back. */
const stockGradients = new Map<string, tf.GradConfig | undefined>();
let nativeRegistered = false;

/**
 * Kernels a backend lacks and the kit needs (tfjs-node has no Transform, so augmentation could
 * not run). Registered whatever KIT_STOCK_KERNELS says: without them the kit does not work.
 */
export function installMissingKernels(backendName: string): void {
  if (backendName !== 'tensorflow' || nativeRegistered) return;
  for (const k of NATIVE_KERNELS) if (tf.getKernel(k.kernelName, k.backendName) === undefined) tf.registerKernel(k);
  nativeRegistered = true;
}

/** Install the kit's kernels on the tensorflow backend (kernels/tensorflow.ts). */
function installNativeKernels(): boolean {
  installMissingKernels('tensorflow');
  for (const g of NATIVE_GRADIENTS) {
    if (!stockGradients.has(g.kernelName)) stockGradients.set(g.kernelName, tf.getGradient(g.kernelName));
    tf.registerGradient(g);
  }
  setLayerMath(NATIVE_MATH);
  setInferenceMath(NATIVE_INFERENCE);
  return true;
}

/** Install the kit's kernels on the webgpu or tensorflow backend; returns true when installed. */
export async function installKitKernels(backendName: string): Promise<boolean> {
  if (backendName === 'tensorflow') return installNativeKernels();
  if (backendName !== 'webgpu') return false;
  if (!fusedRegistered) {
    for (const k of FUSED_KERNELS) tf.registerKernel(k);
    fusedRegistered = true;
  }
  for (const [name, replacement] of Object.entries(REPLACEMENTS)) {
    if (stock.has(name)) continue;
    const original = tf.getKernel(name, 'webgpu');
    if (original === undefined) continue;
    stock.set(name, original);
    tf.unregisterKernel(name, 'webgpu');
    const fallback = original.kernelFunc as unknown as KernelFunc;
    tf.registerKernel({
      kernelName: name,
      backendName: 'webgpu',
      kernelFunc: ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) =>
        replacement({ inputs: args.inputs, backend: args.backend as WebGPUBackendLike, attrs: args.attrs ?? {} }) ?? fallback(args)) as unknown as tf.KernelFunc,
    });
  }
  const software = softwareAdapter();
  directConvMaxInChannels = software ? 16 : 4;
  setReductionParallelism(software ? 2048 : 65536);
  for (const [flag, value] of Object.entries(flagsFor(software))) {
    if (!stockFlags.has(flag)) stockFlags.set(flag, tf.env().getBool(flag));
    tf.env().set(flag, value);
  }
  setLayerMath(FUSED_MATH);
  return true;
}

/** Put the stock kernels, gradients, flags and layer math back (for comparisons); installKitKernels() undoes it. */
export function useStockKernels(): void {
  for (const [name, config] of stock) {
    tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel(config);
  }
  stock.clear();
  for (const [flag, value] of stockFlags) tf.env().set(flag, value);
  // The fused kernels go too, so code that checks for them (AdamW) takes the op-by-op path.
  if (fusedRegistered) for (const k of FUSED_KERNELS) tf.unregisterKernel(k.kernelName, k.backendName);
  fusedRegistered = false;
  // The tensorflow backend keeps its Transform kernel (tfjs-node has none); its gradients go back.
  for (const [name, config] of stockGradients) if (config !== undefined) tf.registerGradient(config);
  stockGradients.clear();
  setLayerMath(STOCK_MATH);
  setInferenceMath(STOCK_INFERENCE);
}

