import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_NORM_EPS, LAYER_NORM_EPS, ModelConfig } from './config';
import { DropPath, Gelu, LayerNorm, LayerScale } from './layers';
import { PlanOp, planModel } from './plan';

type Sym = tfl.SymbolicTensor;

/**
 * Build a TensorFlow.js model from a config, for size×size inputs (NHWC: [batch, size, size,
 * inChannels]). The output is the logits [batch, numClasses] (no softmax: the loss takes logits).
 */
export function buildModel(config: ModelConfig, size: number, name = 'roadmap'): tfl.LayersModel {
  const plan = planModel(config, size);
  const input = tfl.input({ shape: [size, size, config.inChannels], name: 'image' });
  const output = applyOps(plan, input);
  return tfl.model({ inputs: input, outputs: output, name });
}

function applyOps(ops: readonly PlanOp[], x: Sym): Sym {
  for (const op of ops) x = applyOp(op, x);
  return x;
}

function applyOp(op: PlanOp, x: Sym): Sym {
  switch (op.op) {
    case 'conv': {
      if (op.depthwise) {
        return tfl.layers.depthwiseConv2d({ name: op.name, kernelSize: op.kernel, strides: op.stride, padding: op.padding, depthMultiplier: 1, useBias: op.bias, depthwiseInitializer: 'heNormal' }).apply(x) as Sym;
      }
      if (op.kernel === 1 && op.stride === 1) {
        // A pointwise (1×1) conv is a Linear layer over the channel axis of NHWC, as in ConvNeXt.
        return tfl.layers.dense({ name: op.name, units: op.filters, useBias: op.bias, kernelInitializer: 'heNormal' }).apply(x) as Sym;
      }
      return tfl.layers.conv2d({ name: op.name, filters: op.filters, kernelSize: op.kernel, strides: op.stride, padding: op.padding, useBias: op.bias, kernelInitializer: 'heNormal' }).apply(x) as Sym;
    }
    case 'norm':
      // PyTorch's BatchNorm momentum 0.1 is Keras's 0.9 (the weight of the old running value).
      return (op.kind === 'batch' ? tfl.layers.batchNormalization({ name: op.name, axis: -1, momentum: 0.9, epsilon: BATCH_NORM_EPS }) : new LayerNorm({ name: op.name, epsilon: LAYER_NORM_EPS })).apply(x) as Sym;
    case 'act':
      return (op.fn === 'relu' ? tfl.layers.reLU({ name: op.name }) : new Gelu({ name: op.name })).apply(x) as Sym;
    case 'maxpool':
      return tfl.layers.maxPooling2d({ name: op.name, poolSize: op.kernel, strides: op.stride, padding: 'same' }).apply(x) as Sym;
    case 'residual': {
      let branch = applyOps(op.body, x);
      if (op.layerScale !== null) branch = new LayerScale({ name: `${op.name}_gamma`, initValue: op.layerScale }).apply(branch) as Sym;
      if (op.dropPath > 0) branch = new DropPath({ name: `${op.name}_droppath`, rate: op.dropPath }).apply(branch) as Sym;
      const shortcut = op.shortcut.length > 0 ? applyOps(op.shortcut, x) : x;
      const sum = tfl.layers.add({ name: `${op.name}_add` }).apply([shortcut, branch]) as Sym;
      return applyOps(op.after, sum);
    }
    case 'pool':
      return tfl.layers.globalAveragePooling2d({ name: op.name }).apply(x) as Sym;
    case 'poolnorm':
      return new LayerNorm({ name: op.name, epsilon: LAYER_NORM_EPS }).apply(x) as Sym;
    case 'head':
      return tfl.layers.dense({ name: op.name, units: op.units, kernelInitializer: tfl.initializers.truncatedNormal({ stddev: 0.02 }) }).apply(x) as Sym;
  }
}
