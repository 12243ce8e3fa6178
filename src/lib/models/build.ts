import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_NORM_EPS, LAYER_NORM_EPS, ModelConfig } from './config';
import { BatchNorm, DropPath, Gelu, LayerNorm, LayerScale, Pointwise } from './layers';
import { PlanOp, planModel } from './plan';
import { requireBackend } from '../util/errors';
import { seedFor } from '../util/rng';

type Sym = tfl.SymbolicTensor;

export interface BuildOptions {
  /** Model name (shown by model.summary()). */
  name?: string;
  /** Seed of the weight initialization: the same seed gives the same initial weights. */
  seed?: number;
}

/**
 * Build a TensorFlow.js model from a config, for size×size inputs (NHWC: [batch, size, size,
 * inChannels]). The output is the logits [batch, numClasses] (no softmax: the loss takes logits).
 * Convs and hidden linear layers start He-normal, the classifier truncated-normal (std 0.02, as
 * ConvNeXt), norms at γ = 1, β = 0; each layer's draw is seeded from (seed, layer name).
 */
export function buildModel(config: ModelConfig, size: number, options: BuildOptions = {}): tfl.LayersModel {
  const plan = planModel(config, size);
  requireBackend();
  const input = tfl.input({ shape: [size, size, config.inChannels], name: 'image' });
  const seed = options.seed ?? 0;
  const output = applyOps(plan, input, (layer) => seedFor(seed, layer));
  return tfl.model({ inputs: input, outputs: output, name: options.name ?? 'roadmap' });
}

type SeedOf = (layer: string) => number;

function applyOps(ops: readonly PlanOp[], x: Sym, seedOf: SeedOf): Sym {
  for (const op of ops) x = applyOp(op, x, seedOf);
  return x;
}

function applyOp(op: PlanOp, x: Sym, seedOf: SeedOf): Sym {
  const he = (): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed: seedOf(op.name) });
  switch (op.op) {
    case 'conv': {
      if (op.depthwise) {
        return tfl.layers.depthwiseConv2d({ name: op.name, kernelSize: op.kernel, strides: op.stride, padding: op.padding, depthMultiplier: 1, useBias: op.bias, depthwiseInitializer: he() }).apply(x) as Sym;
      }
      if (op.kernel === 1 && op.stride === 1) {
        // A pointwise (1×1) conv is a Linear layer over the channel axis of NHWC, as in ConvNeXt.
        return new Pointwise({ name: op.name, units: op.filters, useBias: op.bias, kernelInitializer: he() }).apply(x) as Sym;
      }
      return tfl.layers.conv2d({ name: op.name, filters: op.filters, kernelSize: op.kernel, strides: op.stride, padding: op.padding, useBias: op.bias, kernelInitializer: he() }).apply(x) as Sym;
    }
    case 'norm':
      // PyTorch's BatchNorm momentum 0.1 is Keras's 0.9 (the weight of the old running value).
      return (op.kind === 'batch' ? new BatchNorm({ name: op.name, momentum: 0.9, epsilon: BATCH_NORM_EPS }) : new LayerNorm({ name: op.name, epsilon: LAYER_NORM_EPS })).apply(x) as Sym;
    case 'act':
      return (op.fn === 'relu' ? tfl.layers.reLU({ name: op.name }) : new Gelu({ name: op.name })).apply(x) as Sym;
    case 'maxpool':
      return tfl.layers.maxPooling2d({ name: op.name, poolSize: op.kernel, strides: op.stride, padding: 'same' }).apply(x) as Sym;
    case 'residual': {
      let branch = applyOps(op.body, x, seedOf);
      if (op.layerScale !== null) branch = new LayerScale({ name: `${op.name}_gamma`, initValue: op.layerScale }).apply(branch) as Sym;
      if (op.dropPath > 0) branch = new DropPath({ name: `${op.name}_drop_path`, rate: op.dropPath }).apply(branch) as Sym;
      const shortcut = op.shortcut.length > 0 ? applyOps(op.shortcut, x, seedOf) : x;
      const sum = tfl.layers.add({ name: `${op.name}_add` }).apply([shortcut, branch]) as Sym;
      return applyOps(op.after, sum, seedOf);
    }
    case 'pool':
      return tfl.layers.globalAveragePooling2d({ name: op.name }).apply(x) as Sym;
    case 'poolnorm':
      return new LayerNorm({ name: op.name, epsilon: op.eps }).apply(x) as Sym;
    case 'head':
      return tfl.layers.dense({ name: op.name, units: op.units, kernelInitializer: tfl.initializers.truncatedNormal({ stddev: 0.02, seed: seedOf(op.name) }) }).apply(x) as Sym;
  }
}
