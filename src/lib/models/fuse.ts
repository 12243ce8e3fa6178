import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layerMath } from './layers';
import { KitError } from '../util/errors';

/**
 * Inference graph: the trained network rewritten for prediction, the way PyTorch's
 * `torch.fx` conv–BN fusion, ONNX Runtime and TensorRT do it. In inference every BatchNorm is a
 * fixed per-channel affine map, so it can be folded into the conv before it, and what follows
 * a conv (its bias, the residual sum, the activation) can run in the same kernel as the conv:
 *
 *   conv → BN → (+ shortcut) → ReLU      becomes   one conv with y = relu(x ⊛ W' + b' + shortcut)
 *   W' = W · s,  b' = (b − μ) · s + β,  s = γ / √(σ² + ε)          (per output channel)
 *
 * The same algebra removes one of ConvNeXt's extra ops: layer scale γ multiplies the output
 * channels of pwconv2 (W' = W · γ, b' = b · γ), and the residual sum runs inside pwconv2;
 * pwconv1's GELU runs inside the matmul; DropPath is the identity. LayerNorm stays: its
 * statistics depend on the input (its γ, β could move into the next linear layer, but the
 * native LayerNorm applies them in the same pass, so that would save nothing). Nothing here changes what the network
 * computes: test/models/fuse.test.ts checks the logits against model.apply(x, {training:
 * false}) on every roadmap step with random weights and running statistics.
 *
 * What runs each fused op is an InferenceMath: by default tfjs's fused ops (tf.fused.conv2d,
 * tf.fused.matMul: real fused kernels on webgpu); the kernels module swaps in TensorFlow's
 * oneDNN fused ops on the native CPU backend (kernels/tensorflow.ts).
 *
 * The graph is a snapshot: weights are read when fuseForInference() runs, so fuse again after
 * training further, and dispose() the result.
 */

export type Activation = 'relu' | 'gelu';

/** What a fused conv or linear layer computes after the product: y = act(x·W + bias + residual). */
export interface Epilogue {
  act: Activation | null;
  /** Added before the activation (the shortcut of a residual block), same shape as the output. */
  residual?: tf.Tensor;
}

export interface ConvGeometry {
  stride: number;
  padding: 'same' | 'valid';
  /** Depthwise: filter [kh, kw, C, 1], one filter per channel; else [kh, kw, Cin, Cout]. */
  depthwise: boolean;
}

/** The fused ops an inference graph runs on; the kernels module installs a backend's own. */
export interface InferenceMath {
  /** NHWC conv with bias and epilogue: x [N, H, W, Cin] → [N, H', W', Cout]. */
  conv: (x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, geometry: ConvGeometry, epilogue: Epilogue) => tf.Tensor4D;
  /** Linear map over the last axis: x [..., K] · kernel [K, N] + bias [N] → [..., N], with epilogue. */
  linear: (x: tf.Tensor, kernel: tf.Tensor2D, bias: tf.Tensor1D, epilogue: Epilogue) => tf.Tensor;
  /** LayerNorm over the last axis: (x − mean) / √(var + eps) · gamma + beta. */
  layerNorm: (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number) => tf.Tensor;
}

export function activate(x: tf.Tensor, act: Activation): tf.Tensor {
  return act === 'relu' ? tf.relu(x) : layerMath().gelu(x);
}

/** The part of an epilogue left after a kernel that fused the activation (only when there was no residual) or nothing. */
export function finishEpilogue(y: tf.Tensor, epilogue: Epilogue, actFused: boolean): tf.Tensor {
  let out = y;
  if (epilogue.residual !== undefined) out = tf.add(out, epilogue.residual);
  if (epilogue.act !== null && !actFused) out = activate(out, epilogue.act);
  return out;
}

/** tfjs's fused ops: conv/matmul + bias + ReLU in one kernel where the backend has one; the rest op by op. */
export const STOCK_INFERENCE: InferenceMath = {
  conv: (x, filter, bias, g, e) => {
    const reluInside = e.act === 'relu' && e.residual === undefined;
    const args = { x, filter, strides: g.stride, pad: g.padding, bias, activation: reluInside ? ('relu' as const) : ('linear' as const) };
    const y = g.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
    return finishEpilogue(y, e, reluInside) as tf.Tensor4D;
  },
  linear: (x, kernel, bias, e) => {
    const reluInside = e.act === 'relu' && e.residual === undefined;
    const k = kernel.shape[0];
    const y = tf.fused.matMul({ a: tf.reshape(x, [-1, k]) as tf.Tensor2D, b: kernel, bias, activation: reluInside ? 'relu' : 'linear' });
    return finishEpilogue(tf.reshape(y, [...x.shape.slice(0, -1), kernel.shape[1]]), e, reluInside);
  },
  layerNorm: (x, gamma, beta, eps) => layerMath().layerNorm(x, gamma, beta, eps),
};

let math: InferenceMath = STOCK_INFERENCE;

/** Replace the inference math (the kernels module does this per backend); returns the previous one. */
export function setInferenceMath(next: InferenceMath): InferenceMath {
  const prev = math;
  math = next;
  return prev;
}

export function inferenceMath(): InferenceMath {
  return math;
}

/** One node of the inference graph. `inputs` name other nodes; a fused residual is the second input of conv/linear. */
export type InferenceNode = { name: string; inputs: string[] } & (
  | { kind: 'input' }
  | { kind: 'conv'; filter: tf.Tensor4D; bias: tf.Tensor1D; geometry: ConvGeometry; act: Activation | null; residual: boolean; folded: string[] }
  | { kind: 'linear'; kernel: tf.Tensor2D; bias: tf.Tensor1D; act: Activation | null; residual: boolean; folded: string[] }
  | { kind: 'layerNorm'; gamma: tf.Tensor1D; beta: tf.Tensor1D; eps: number }
  /** A BatchNorm or layer scale with no conv to fold into: x · scale + shift per channel. */
  | { kind: 'scaleShift'; scale: tf.Tensor1D; shift: tf.Tensor1D }
  | { kind: 'act'; fn: Activation }
  | { kind: 'add' }
  /** DropPath: the identity at inference (removed while fusing). */
  | { kind: 'identity' }
  | { kind: 'maxPool'; pool: number; stride: number; padding: 'same' | 'valid' }
  | { kind: 'globalAvgPool' }
  /** Anything the graph does not know: run as the layer itself, in inference mode. */
  | { kind: 'layer'; layer: tfl.layers.Layer }
);

type Kind = InferenceNode['kind'];
type NodeOf<K extends Kind> = Extract<InferenceNode, { kind: K }>;

/**
 * A network rewritten for prediction (see the top of this file). predict() takes what the
 * LayersModel takes (NHWC [N, H, W, C], normalized) and returns the same logits.
 */
export class InferenceModel {
  /** The nodes in execution order (every node after its inputs). */
  readonly nodes: readonly InferenceNode[];
  readonly output: string;
  private readonly owned: tf.Tensor[];

  constructor(nodes: InferenceNode[], output: string, owned: tf.Tensor[]) {
    this.nodes = nodes;
    this.output = output;
    this.owned = owned;
  }

  /** Logits [N, classes] for x [N, H, W, C]. */
  predict(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const values = new Map<string, tf.Tensor>();
      const get = (name: string): tf.Tensor => values.get(name) as tf.Tensor;
      const m = inferenceMath();
      for (const n of this.nodes) {
        const x0 = n.kind === 'input' ? x : get(n.inputs[0] as string);
        const residual = n.inputs[1] === undefined ? undefined : get(n.inputs[1]);
        let y: tf.Tensor;
        switch (n.kind) {
          case 'input': y = x; break;
          case 'conv': y = m.conv(x0 as tf.Tensor4D, n.filter, n.bias, n.geometry, { act: n.act, residual: n.residual ? residual : undefined }); break;
          case 'linear': y = m.linear(x0, n.kernel, n.bias, { act: n.act, residual: n.residual ? residual : undefined }); break;
          case 'layerNorm': y = m.layerNorm(x0, n.gamma, n.beta, n.eps); break;
          case 'scaleShift': y = tf.add(tf.mul(x0, n.scale), n.shift); break;
          case 'act': y = activate(x0, n.fn); break;
          case 'add': y = n.inputs.slice(1).reduce((s, name) => tf.add(s, get(name)), x0); break;
          case 'identity': y = x0; break;
          case 'maxPool': y = tf.maxPool(x0 as tf.Tensor4D, n.pool, n.stride, n.padding); break;
          case 'globalAvgPool': y = tf.mean(x0, [1, 2]); break;
          case 'layer': y = n.layer.apply(n.inputs.length === 1 ? x0 : n.inputs.map(get), { training: false }) as tf.Tensor; break;
        }
        values.set(n.name, y);
      }
      return get(this.output) as tf.Tensor2D;
    });
  }

  /** How many nodes of each kind, and which layers were folded away (for the notebook and tests). */
  summary(): { kinds: Partial<Record<Kind, number>>; fusedResiduals: number; fusedActivations: number; foldedLayers: number } {
    const kinds: Partial<Record<Kind, number>> = {};
    let fusedResiduals = 0;
    let fusedActivations = 0;
    let foldedLayers = 0;
    for (const n of this.nodes) {
      kinds[n.kind] = (kinds[n.kind] ?? 0) + 1;
      if (n.kind === 'conv' || n.kind === 'linear') {
        if (n.residual) fusedResiduals++;
        if (n.act !== null) fusedActivations++;
        foldedLayers += n.folded.length;
      }
    }
    return { kinds, fusedResiduals, fusedActivations, foldedLayers };
  }

  dispose(): void {
    tf.dispose(this.owned);
    this.owned.length = 0;
  }
}

/** A weight of a layer by its short name ("kernel", "gamma", ...). */
function weightOf(layer: tfl.layers.Layer, key: string): tf.Tensor | undefined {
  const v = layer.weights.find((w) => w.originalName.split('/').pop() === key || w.name.split('/').pop()?.replace(/_\d+$/, '') === key);
  return v?.read();
}

function numberOf(config: tf.serialization.ConfigDict, key: string): number | undefined {
  const v = config[key];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'number' ? first : undefined;
}

function activationOf(config: tf.serialization.ConfigDict): Activation | null | undefined {
  const a = config['activation'];
  if (a === undefined || a === null || a === 'linear') return null;
  if (a === 'relu') return 'relu';
  return undefined;
}

/** The node for one layer, with cloned weights (the model's own variables are never touched or disposed). */
function nodeOf(layer: tfl.layers.Layer, inputs: string[], own: <T extends tf.Tensor>(t: T) => T): InferenceNode {
  const name = layer.name;
  const config = layer.getConfig();
  const cls = layer.getClassName();
  const generic: InferenceNode = { name, inputs, kind: 'layer', layer };
  const zerosOf = (n: number): tf.Tensor1D => own(tf.zeros([n]));
  switch (cls) {
    case 'InputLayer':
      return { name, inputs: [], kind: 'input' };
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      const depthwise = cls === 'DepthwiseConv2D';
      const filter = weightOf(layer, depthwise ? 'depthwise_kernel' : 'kernel') as tf.Tensor4D | undefined;
      const act = activationOf(config);
      const stride = numberOf(config, 'strides') ?? 1;
      const strides = config['strides'];
      const square = !Array.isArray(strides) || strides.every((s) => s === stride);
      const dilation = numberOf(config, 'dilationRate') ?? 1;
      const padding = config['padding'];
      if (filter === undefined || act === undefined || !square || dilation !== 1 || (padding !== 'same' && padding !== 'valid') || (config['dataFormat'] ?? 'channelsLast') !== 'channelsLast' || (depthwise && filter.shape[3] !== 1)) return generic;
      const bias = weightOf(layer, 'bias') as tf.Tensor1D | undefined;
      const channels = depthwise ? filter.shape[2] : filter.shape[3];
      return { name, inputs, kind: 'conv', filter: own(tf.clone(filter)), bias: bias === undefined ? zerosOf(channels) : own(tf.clone(bias)), geometry: { stride, padding, depthwise }, act, residual: false, folded: [] };
    }
    case 'KitPointwise':
    case 'Dense': {
      const kernel = weightOf(layer, 'kernel') as tf.Tensor2D | undefined;
      const act = cls === 'Dense' ? activationOf(config) : null;
      if (kernel === undefined || act === undefined) return generic;
      const bias = weightOf(layer, 'bias') as tf.Tensor1D | undefined;
      return { name, inputs, kind: 'linear', kernel: own(tf.clone(kernel)), bias: bias === undefined ? zerosOf(kernel.shape[1]) : own(tf.clone(bias)), act, residual: false, folded: [] };
    }
    case 'KitBatchNorm':
    case 'BatchNormalization': {
      const axis = config['axis'];
      if (axis !== undefined && axis !== -1 && axis !== 3) return generic;
      const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((k) => weightOf(layer, k));
      if (mean === undefined || variance === undefined) return generic;
      const eps = numberOf(config, 'epsilon') ?? 1e-3;
      return tf.tidy(() => {
        // Inference BatchNorm: y = (x - μ) · s + β with s = γ / √(σ² + ε).
        const scale = gamma === undefined ? tf.rsqrt(tf.add(variance, eps)) : tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
        const shift = tf.sub(beta ?? tf.zerosLike(mean), tf.mul(mean, scale));
        return { name, inputs, kind: 'scaleShift' as const, scale: own(tf.keep(scale as tf.Tensor1D)), shift: own(tf.keep(shift as tf.Tensor1D)) };
      });
    }
    case 'KitLayerScale': {
      const gamma = weightOf(layer, 'gamma') as tf.Tensor1D;
      return { name, inputs, kind: 'scaleShift', scale: own(tf.clone(gamma)), shift: zerosOf(gamma.shape[0]) };
    }
    case 'KitLayerNorm': {
      const gamma = weightOf(layer, 'gamma') as tf.Tensor1D;
      const beta = weightOf(layer, 'beta') as tf.Tensor1D;
      return { name, inputs, kind: 'layerNorm', gamma: own(tf.clone(gamma)), beta: own(tf.clone(beta)), eps: numberOf(config, 'epsilon') ?? 1e-6 };
    }
    case 'ReLU':
      return config['maxValue'] == null && (numberOf(config, 'negativeSlope') ?? 0) === 0 ? { name, inputs, kind: 'act', fn: 'relu' } : generic;
    case 'KitGelu':
      return { name, inputs, kind: 'act', fn: 'gelu' };
    case 'Add':
      return { name, inputs, kind: 'add' };
    case 'MaxPooling2D': {
      const pool = numberOf(config, 'poolSize');
      const padding = config['padding'];
      if (pool === undefined || (padding !== 'same' && padding !== 'valid')) return generic;
      return { name, inputs, kind: 'maxPool', pool, stride: numberOf(config, 'strides') ?? pool, padding };
    }
    case 'GlobalAveragePooling2D':
      return (config['dataFormat'] ?? 'channelsLast') === 'channelsLast' ? { name, inputs, kind: 'globalAvgPool' } : generic;
    case 'KitDropPath':
      return { name, inputs, kind: 'identity' };
    default:
      return generic;
  }
}

/** The layer names feeding `layer` (functional models: one inbound node per layer). */
function inboundNames(layer: tfl.layers.Layer): string[] {
  if (layer.inboundNodes.length !== 1) {
    throw new KitError(`layer "${layer.name}" is used ${layer.inboundNodes.length} times in the network; the inference graph takes networks whose layers are each applied once`, { fix: 'predict with model.apply(x, { training: false }) instead' });
  }
  return (layer.inboundNodes[0] as unknown as { inboundLayers: tfl.layers.Layer[] }).inboundLayers.map((l) => l.name);
}

/**
 * Rewrite a trained LayersModel (single input, single output, as buildModel makes) into its
 * inference graph: BatchNorm folded into the conv before it, layer scale into pwconv2, the
 * residual sum and the activation fused into the conv or linear layer that produces their
 * input, DropPath removed. Layers it does not know run as themselves. Errors: a KitError for a
 * network with several inputs or outputs, or a layer applied more than once.
 */
export function fuseForInference(model: tfl.LayersModel): InferenceModel {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new KitError(`the inference graph takes a network with one input and one output; this one has ${model.inputs.length} and ${model.outputs.length}`, { fix: 'predict with model.apply(x, { training: false }) instead' });
  }
  const owned: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const nodes = new Map<string, InferenceNode>();
  try {
    for (const layer of model.layers) {
      const node = nodeOf(layer, layer.getClassName() === 'InputLayer' ? [] : inboundNames(layer), own);
      nodes.set(node.name, node);
    }
    let output = (model.outputs[0] as tfl.SymbolicTensor).sourceLayer.name;
    const consumers = (name: string): number => [...nodes.values()].reduce((c, n) => c + n.inputs.filter((i) => i === name).length, 0) + (output === name ? 1 : 0);
    /** Remove `gone`, sending its consumers to `to`. */
    const bypass = (gone: string, to: string): void => {
      nodes.delete(gone);
      for (const n of nodes.values()) n.inputs = n.inputs.map((i) => (i === gone ? to : i));
      if (output === gone) output = to;
    };
    /** A conv or linear node that can still take more into its epilogue. */
    const openProducer = (name: string | undefined): NodeOf<'conv'> | NodeOf<'linear'> | undefined => {
      const p = name === undefined ? undefined : nodes.get(name);
      return (p?.kind === 'conv' || p?.kind === 'linear') && p.act === null && !p.residual && consumers(p.name) === 1 ? p : undefined;
    };
    const replace = <T extends tf.Tensor>(old: T, next: T): T => {
      const i = owned.indexOf(old);
      if (i >= 0) owned.splice(i, 1);
      old.dispose();
      return own(tf.keep(next));
    };

    // 1. DropPath is the identity at inference.
    for (const n of [...nodes.values()]) if (n.kind === 'identity') bypass(n.name, n.inputs[0] as string);

    // 2. Per-channel scale and shift (BatchNorm, layer scale) into the conv/linear before it: W·s, b·s + t.
    for (const n of [...nodes.values()]) {
      if (n.kind !== 'scaleShift') continue;
      const p = openProducer(n.inputs[0]);
      if (p === undefined) continue;
      tf.tidy(() => {
        if (p.kind === 'conv') {
          const s = p.geometry.depthwise ? tf.reshape(n.scale, [n.scale.shape[0], 1]) : n.scale;
          p.filter = replace(p.filter, tf.mul(p.filter, s) as tf.Tensor4D);
        } else {
          p.kernel = replace(p.kernel, tf.mul(p.kernel, n.scale) as tf.Tensor2D);
        }
        p.bias = replace(p.bias, tf.add(tf.mul(p.bias, n.scale), n.shift) as tf.Tensor1D);
      });
      p.folded.push(n.name);
      bypass(n.name, p.name);
    }

    // 3. The residual sum into the conv/linear producing one of its terms (the branch: the second input, as buildModel adds [shortcut, branch]).
    for (const n of [...nodes.values()]) {
      if (n.kind !== 'add' || n.inputs.length !== 2) continue;
      const [a, b] = n.inputs as [string, string];
      const [p, other] = openProducer(b) !== undefined ? [openProducer(b), a] : [openProducer(a), b];
      if (p === undefined) continue;
      p.inputs = [p.inputs[0] as string, other];
      p.residual = true;
      bypass(n.name, p.name);
    }

    // 4. Activations into the conv/linear before them (after its residual sum, if any).
    for (const n of [...nodes.values()]) {
      if (n.kind !== 'act') continue;
      const name = n.inputs[0] as string;
      const p = nodes.get(name);
      if ((p?.kind !== 'conv' && p?.kind !== 'linear') || p.act !== null || consumers(name) !== 1) continue;
      p.act = n.fn;
      bypass(n.name, p.name);
    }

    return new InferenceModel(executionOrder(nodes, output), output, owned);
  } catch (e) {
    tf.dispose(owned);
    throw e;
  }
}

/** Nodes ordered so each comes after its inputs (depth-first from the output; unreachable nodes dropped). */
function executionOrder(nodes: Map<string, InferenceNode>, output: string): InferenceNode[] {
  const order: InferenceNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: { name: string; next: number }[] = [{ name: output, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { name: string; next: number };
    const node = nodes.get(top.name);
    if (node === undefined) throw new KitError(`the inference graph lost node "${top.name}"`, { fix: 'report this as a bug; predict with model.apply(x, { training: false }) meanwhile' });
    state.set(top.name, 'visiting');
    const input = node.inputs[top.next];
    if (input !== undefined) {
      top.next++;
      if (state.get(input) === undefined) stack.push({ name: input, next: 0 });
      continue;
    }
    state.set(top.name, 'done');
    order.push(node);
    stack.pop();
  }
  return order;
}
