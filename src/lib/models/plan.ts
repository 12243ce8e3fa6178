import { LAYER_NORM_EPS, ModelConfig } from './config';
import { checkInputSize, validateConfig } from './steps';

/**
 * A model as data: every layer with its input and output shape (per image, channels-last
 * [H, W, C]). The builder turns a plan into TensorFlow.js layers and the counters sum over it,
 * so the reported parameters and FLOPs always describe the network that is actually built.
 *
 * Layer names say what a layer does, as the official code names it, so a saved model, a
 * Grad-CAM target, a diagram and a PyTorch state dict read the same. A block's layers are
 * `s{stage}_b{block}_{role}` (stage and block from 1). Roles follow the block type, not the
 * position, so a conv keeps its name when a step moves it (`move-up-dwconv`):
 *
 *   bottleneck block (ResNet, steps 0–4): torchvision's names
 *     conv1, norm1, act1     1×1 reduce (4w → w), its norm (torchvision's bn1) and ReLU
 *     conv2, norm2, act2     k×k spatial conv (depthwise from step 3, ResNeXt's grouped conv2)
 *     conv3, norm3           1×1 expand (w → 4w)
 *   inverted block (steps 5–12): ConvNeXt's names
 *     dwconv, norm           k×k depthwise conv (`conv` if dense) and the norm after it
 *     pwconv1, act           1×1 expand ×4 and the activation after it
 *     pwconv2                1×1 project back
 *     dwconv_act, pwconv1_norm, pwconv2_norm
 *                            what the micro-design steps remove (fewer activations, fewer
 *                            norms), named after the conv they follow
 *   either block
 *     downsample_conv, downsample_norm   1×1 conv + norm on the shortcut when the block changes
 *                            shape (torchvision's `downsample`)
 *     gamma, drop_path       layer scale and stochastic depth on the branch (ConvNeXt's names)
 *     add, act_out           the residual sum and the activation after it
 *
 * Outside the blocks: stem_conv, stem_norm, stem_act, stem_pool; s{stage}_downsample_norm and
 * s{stage}_downsample_conv before stages 2–4 with separate downsampling (timm's
 * `stages[i].downsample`); head_pool, head_norm, head_fc. Models saved with the positional names
 * of kit format 1 (`s1_b1_pwconv2` for the expanding conv, `down2_conv`) are renamed on load
 * (legacy.ts).
 */
export type Shape = [number, number, number];

export type PlanOp =
  | { op: 'conv'; name: string; kernel: number; stride: number; padding: 'same' | 'valid'; filters: number; depthwise: boolean; bias: boolean; in: Shape; out: Shape }
  | { op: 'norm'; name: string; kind: 'batch' | 'layer'; in: Shape; out: Shape }
  | { op: 'act'; name: string; fn: 'relu' | 'gelu'; in: Shape; out: Shape }
  | { op: 'maxpool'; name: string; kernel: number; stride: number; in: Shape; out: Shape }
  | { op: 'residual'; name: string; body: PlanOp[]; shortcut: PlanOp[]; layerScale: number | null; dropPath: number; after: PlanOp[]; in: Shape; out: Shape }
  | { op: 'pool'; name: string; in: Shape; out: [number] }
  | { op: 'poolnorm'; name: string; eps: number; in: [number]; out: [number] }
  | { op: 'head'; name: string; units: number; in: [number]; out: [number] };

/** Build the plan of `config` for a size×size input. */
export function planModel(config: ModelConfig, size: number): PlanOp[] {
  validateConfig(config);
  checkInputSize(size);
  const ops: PlanOp[] = [];
  let shape: Shape = [size, size, config.inChannels];
  const push = (list: PlanOp[], op: PlanOp): Shape => {
    list.push(op);
    return op.out as Shape;
  };
  const conv = (name: string, s: Shape, kernel: number, stride: number, filters: number, o: { depthwise?: boolean; padding?: 'same' | 'valid'; bias: boolean }): PlanOp => {
    const padding = o.padding ?? 'same';
    const outHW = (n: number): number => (padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - kernel) / stride) + 1);
    return { op: 'conv', name, kernel, stride, padding, filters, depthwise: o.depthwise ?? false, bias: o.bias, in: s, out: [outHW(s[0]), outHW(s[1]), filters] };
  };
  const norm = (name: string, s: Shape): PlanOp => ({ op: 'norm', name, kind: config.norm === 'batch' ? 'batch' : 'layer', in: s, out: s });
  const act = (name: string, s: Shape): PlanOp => ({ op: 'act', name, fn: config.activation, in: s, out: s });
  // ResNet convention: no bias before BatchNorm (it has its own shift). ConvNeXt keeps biases before LayerNorm.
  const biasBefore = (followedByNorm: boolean): boolean => !(followedByNorm && config.norm === 'batch');

  // Stem: 4× downsampling.
  if (config.stem === 'resnet') {
    shape = push(ops, conv('stem_conv', shape, 7, 2, config.width, { bias: biasBefore(true) }));
    shape = push(ops, norm('stem_norm', shape));
    shape = push(ops, act('stem_act', shape));
    const out: Shape = [Math.ceil(shape[0] / 2), Math.ceil(shape[1] / 2), shape[2]];
    shape = push(ops, { op: 'maxpool', name: 'stem_pool', kernel: 3, stride: 2, in: shape, out });
  } else {
    shape = push(ops, conv('stem_conv', shape, 4, 4, config.width, { padding: 'valid', bias: biasBefore(true) }));
    shape = push(ops, norm('stem_norm', shape));
  }

  const totalBlocks = config.depths.reduce((a, b) => a + b, 0);
  let blockIndex = 0;
  config.depths.forEach((depth, stage) => {
    const w = config.width * 2 ** stage;
    // Block input/output width: 4w for a ResNet bottleneck, w for an inverted bottleneck.
    const cout = config.block === 'bottleneck' ? 4 * w : w;
    if (stage > 0 && config.downsampling === 'separate') {
      shape = push(ops, norm(`s${stage + 1}_downsample_norm`, shape));
      shape = push(ops, conv(`s${stage + 1}_downsample_conv`, shape, 2, 2, cout, { padding: 'valid', bias: true }));
    }
    for (let b = 0; b < depth; b++) {
      const stride = stage > 0 && b === 0 && config.downsampling === 'in-block' ? 2 : 1;
      const rate = totalBlocks > 1 ? (config.dropPath * blockIndex) / (totalBlocks - 1) : 0;
      shape = push(ops, residualBlock(config, `s${stage + 1}_b${b + 1}`, shape, w, cout, stride, rate, { conv, norm, act, biasBefore }));
      blockIndex++;
    }
  });

  const c = shape[2];
  ops.push({ op: 'pool', name: 'head_pool', in: shape, out: [c] });
  if (config.downsampling === 'separate') ops.push({ op: 'poolnorm', name: 'head_norm', eps: config.headNormEps ?? LAYER_NORM_EPS, in: [c], out: [c] });
  ops.push({ op: 'head', name: 'head_fc', units: config.numClasses, in: [c], out: [config.numClasses] });
  return ops;
}

interface Makers {
  conv: (name: string, s: Shape, kernel: number, stride: number, filters: number, o: { depthwise?: boolean; padding?: 'same' | 'valid'; bias: boolean }) => PlanOp;
  norm: (name: string, s: Shape) => PlanOp;
  act: (name: string, s: Shape) => PlanOp;
  biasBefore: (followedByNorm: boolean) => boolean;
}

/** The names of a block conv and of the norm and activation that may follow it (see the top of this file). */
interface ConvRole {
  conv: string;
  norm: string;
  act: string;
}

/** Role names of a block's three convs: the spatial one, the first 1×1 (to the hidden width) and the last 1×1 (to the output). */
export function blockRoles(config: ModelConfig): { spatial: ConvRole; first: ConvRole; last: ConvRole } {
  if (config.block === 'bottleneck') {
    return {
      first: { conv: 'conv1', norm: 'norm1', act: 'act1' },
      spatial: { conv: 'conv2', norm: 'norm2', act: 'act2' },
      last: { conv: 'conv3', norm: 'norm3', act: 'act3' },
    };
  }
  const spatial = config.spatialConv === 'depthwise' ? 'dwconv' : 'conv';
  return {
    spatial: { conv: spatial, norm: 'norm', act: `${spatial}_act` },
    first: { conv: 'pwconv1', norm: 'pwconv1_norm', act: 'act' },
    last: { conv: 'pwconv2', norm: 'pwconv2_norm', act: 'pwconv2_act' },
  };
}

/**
 * One residual block. The three convs in order, e.g. ResNet: 1×1 → k×k → 1×1;
 * inverted: 1×1 (×4) → dw k×k → 1×1; moved up (ConvNeXt): dw k×k → 1×1 (×4) → 1×1.
 * Norm and activation placement follow `norms` and `activations`.
 */
function residualBlock(config: ModelConfig, name: string, input: Shape, w: number, cout: number, stride: number, dropPath: number, m: Makers): PlanOp {
  const cin = input[2];
  const hidden = config.block === 'bottleneck' ? w : 4 * cout;
  const depthwise = config.spatialConv === 'depthwise';
  const k = config.kernelSize;
  const roles = blockRoles(config);
  // The three convs in order: the spatial (k×k, keeps the width, may be strided) and two pointwise.
  type ConvSpec = { kind: 'spatial'; role: ConvRole } | { kind: 'pw'; filters: number; role: ConvRole };
  const first: ConvSpec = { kind: 'pw', filters: hidden, role: roles.first };
  const spatial: ConvSpec = { kind: 'spatial', role: roles.spatial };
  const last: ConvSpec = { kind: 'pw', filters: cout, role: roles.last };
  const specs: ConvSpec[] = config.spatialFirst ? [spatial, first, last] : [first, spatial, last];
  // Norm after conv i: all three ('all'), or one after the first conv ('one': before the 1×1 convs when dw comes first).
  const normAfter = (i: number): boolean => config.norms === 'all' || i === 0;
  // Activation after conv i: after the first two ('all'), or only after the second ('one': between the 1×1 convs).
  const actAfter = (i: number): boolean => (config.activations === 'all' ? i < 2 : i === 1);

  const body: PlanOp[] = [];
  let s = input;
  specs.forEach((spec, i) => {
    const convName = `${name}_${spec.role.conv}`;
    const bias = m.biasBefore(normAfter(i));
    const op = spec.kind === 'spatial' ? m.conv(convName, s, k, stride, s[2], { depthwise, bias }) : m.conv(convName, s, 1, 1, spec.filters, { bias });
    body.push(op);
    s = op.out as Shape;
    if (normAfter(i)) body.push(m.norm(`${name}_${spec.role.norm}`, s));
    if (actAfter(i)) body.push(m.act(`${name}_${spec.role.act}`, s));
  });

  const shortcut: PlanOp[] = [];
  if (config.downsampling === 'in-block' && (stride > 1 || cin !== cout)) {
    const sc = m.conv(`${name}_downsample_conv`, input, 1, stride, cout, { bias: m.biasBefore(true) });
    shortcut.push(sc, m.norm(`${name}_downsample_norm`, sc.out as Shape));
  }
  const after: PlanOp[] = config.activations === 'all' ? [m.act(`${name}_act_out`, s)] : [];
  return { op: 'residual', name, body, shortcut, layerScale: config.layerScale, dropPath, after, in: input, out: s };
}

export interface PlanStats {
  /** Trainable parameters (what PyTorch's `numel` over `parameters()` counts: BN γ/β, not running stats). */
  params: number;
  /** Multiply-adds of the convolutions and the classifier per image (fvcore's FLOP convention). */
  flops: number;
  /** Values produced by all layers for one image in a forward pass: kept for the backward pass. */
  activations: number;
  /** Estimated activation memory per image for training, in bytes (float32). */
  activationBytes: number;
  /** Output stride of the last stage and its spatial size. */
  finalGrid: number;
}

/** Parameters, FLOPs and activation memory of a plan, counted analytically. */
export function planStats(plan: readonly PlanOp[]): PlanStats {
  let params = 0;
  let flops = 0;
  let activations = 0;
  let finalGrid = 0;
  const visit = (op: PlanOp): void => {
    switch (op.op) {
      case 'conv': {
        const cin = op.in[2];
        const perOut = op.kernel * op.kernel * (op.depthwise ? 1 : cin);
        params += perOut * op.filters + (op.bias ? op.filters : 0);
        flops += op.out[0] * op.out[1] * op.filters * perOut;
        activations += op.out[0] * op.out[1] * op.out[2];
        finalGrid = op.out[0];
        break;
      }
      case 'norm':
        params += 2 * op.in[2];
        activations += op.out[0] * op.out[1] * op.out[2];
        break;
      case 'act':
      case 'maxpool':
        activations += op.out[0] * op.out[1] * op.out[2];
        break;
      case 'residual':
        op.body.forEach(visit);
        op.shortcut.forEach(visit);
        op.after.forEach(visit);
        if (op.layerScale !== null) params += op.out[2];
        activations += op.out[0] * op.out[1] * op.out[2];
        break;
      case 'pool':
        activations += op.out[0];
        break;
      case 'poolnorm':
        params += 2 * op.in[0];
        activations += op.out[0];
        break;
      case 'head':
        params += op.in[0] * op.units + op.units;
        flops += op.in[0] * op.units;
        activations += op.units;
        break;
    }
  };
  plan.forEach(visit);
  return { params, flops, activations, activationBytes: activations * 4, finalGrid };
}

/** One weight of a built model: `layer/weight` (TensorFlow.js's originalName) and its shape (NHWC layouts). */
export interface PlanWeight {
  name: string;
  shape: number[];
  /** False for BatchNorm's running statistics (updated by the forward pass, not the optimizer). */
  trainable: boolean;
}

/**
 * The weights buildModel creates for a plan, in plan order, without building it: what a weight
 * importer (pretrained/convnext.ts) maps onto. (A LayersModel orders its weights differently:
 * trainable first, layers by graph depth; match by name.) Layouts are TensorFlow.js's: conv kernels
 * [kh, kw, in, out], depthwise [kh, kw, C, 1], pointwise and classifier [in, out].
 * test/models/plan.test.ts checks it against a built model for every roadmap step.
 */
export function planWeights(plan: readonly PlanOp[]): PlanWeight[] {
  const out: PlanWeight[] = [];
  const add = (name: string, shape: number[], trainable = true): void => {
    out.push({ name, shape, trainable });
  };
  const visit = (op: PlanOp): void => {
    switch (op.op) {
      case 'conv': {
        const cin = op.in[2];
        if (op.depthwise) add(`${op.name}/depthwise_kernel`, [op.kernel, op.kernel, cin, 1]);
        else if (op.kernel === 1 && op.stride === 1) add(`${op.name}/kernel`, [cin, op.filters]);
        else add(`${op.name}/kernel`, [op.kernel, op.kernel, cin, op.filters]);
        if (op.bias) add(`${op.name}/bias`, [op.filters]);
        break;
      }
      case 'norm':
        add(`${op.name}/gamma`, [op.in[2]]);
        add(`${op.name}/beta`, [op.in[2]]);
        if (op.kind === 'batch') {
          add(`${op.name}/moving_mean`, [op.in[2]], false);
          add(`${op.name}/moving_variance`, [op.in[2]], false);
        }
        break;
      case 'residual':
        op.body.forEach(visit);
        if (op.layerScale !== null) add(`${op.name}_gamma/gamma`, [op.out[2]]);
        op.shortcut.forEach(visit);
        op.after.forEach(visit);
        break;
      case 'poolnorm':
        add(`${op.name}/gamma`, [op.in[0]]);
        add(`${op.name}/beta`, [op.in[0]]);
        break;
      case 'head':
        add(`${op.name}/kernel`, [op.in[0], op.units]);
        add(`${op.name}/bias`, [op.units]);
        break;
      default:
        break;
    }
  };
  plan.forEach(visit);
  return out;
}
