import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelConfig } from '../models/config';
import { planModel, planStats, planWeights } from '../models/plan';
import { configFor } from '../models/steps';
import { KitError, messageOf } from '../util/errors';
import { readSafetensors, StoredTensor } from './safetensors';

/**
 * Pretrained ConvNeXt (V1) weights from a local folder, in either of the two layouts people
 * download: HuggingFace transformers (`ConvNextForImageClassification.save_pretrained`) and timm
 * (`timm.models.convnext`, as on the hub under `timm/`). The kit's last roadmap step is ConvNeXt's
 * exact structure, so every tensor has one place in it:
 *
 *   kit layer                 HuggingFace (`convnext.` prefix)                  timm
 *   stem_conv, stem_norm      embeddings.patch_embeddings, embeddings.layernorm stem.0, stem.1
 *   s{n}_downsample_norm/conv encoder.stages.{n-1}.downsampling_layer.0 / .1    stages.{n-1}.downsample.0 / .1
 *   s{n}_b{i}_dwconv          encoder.stages.{n-1}.layers.{i-1}.dwconv          stages.{n-1}.blocks.{i-1}.conv_dw
 *   s{n}_b{i}_norm            ….layernorm                                       ….norm
 *   s{n}_b{i}_pwconv1/2       ….pwconv1 / ….pwconv2                             ….mlp.fc1 / ….mlp.fc2
 *   s{n}_b{i}_gamma           ….layer_scale_parameter                           ….gamma
 *   head_norm, head_fc        layernorm, classifier (no prefix)                 head.norm, head.fc
 *
 * PyTorch stores NCHW-era layouts; TensorFlow.js wants channels-last ones:
 *   conv [O, I, kh, kw] → [kh, kw, I, O]; depthwise [C, 1, kh, kw] → [kh, kw, C, 1];
 *   Linear [out, in] → [in, out] (timm's `conv_mlp` variants, e.g. convnext_atto, store their MLP
 *   as 1×1 convs [out, in, 1, 1]: the same matrix).
 * The architecture (depths, widths, kernel, classes, input channels) is read from the tensors'
 * shapes and checked against config.json, so any size works: atto, femto, pico, nano, tiny, ….
 */
export type Layout = 'hf' | 'timm';

/** What a source tensor is, independent of the layout. Stages and blocks count from 0. */
interface Slot {
  part: 'stem_conv' | 'stem_norm' | 'downsample_norm' | 'downsample_conv' | 'dwconv' | 'norm' | 'pwconv1' | 'pwconv2' | 'gamma' | 'head_norm' | 'head_fc';
  param: 'weight' | 'bias';
  stage?: number;
  block?: number;
}

type Parser = (key: string) => Slot | undefined;

const BLOCK_PARTS_HF: Record<string, Slot['part']> = { dwconv: 'dwconv', layernorm: 'norm', pwconv1: 'pwconv1', pwconv2: 'pwconv2' };
const BLOCK_PARTS_TIMM: Record<string, Slot['part']> = { conv_dw: 'dwconv', norm: 'norm', 'mlp.fc1': 'pwconv1', 'mlp.fc2': 'pwconv2' };

const param = (p: string): Slot['param'] => (p === 'weight' ? 'weight' : 'bias');

const PARSERS: Record<Layout, Parser> = {
  hf: (key) => {
    let m: RegExpExecArray | null;
    if ((m = /^classifier\.(weight|bias)$/.exec(key))) return { part: 'head_fc', param: param(m[1] as string) };
    // ConvNextForImageClassification prefixes the backbone with `convnext.`; a bare ConvNextModel does not.
    const k = key.startsWith('convnext.') ? key.slice('convnext.'.length) : key;
    if ((m = /^embeddings\.patch_embeddings\.(weight|bias)$/.exec(k))) return { part: 'stem_conv', param: param(m[1] as string) };
    if ((m = /^embeddings\.layernorm\.(weight|bias)$/.exec(k))) return { part: 'stem_norm', param: param(m[1] as string) };
    if ((m = /^encoder\.stages\.(\d+)\.downsampling_layer\.([01])\.(weight|bias)$/.exec(k))) {
      return { part: m[2] === '0' ? 'downsample_norm' : 'downsample_conv', param: param(m[3] as string), stage: Number(m[1]) };
    }
    if ((m = /^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer_scale_parameter$/.exec(k))) return { part: 'gamma', param: 'weight', stage: Number(m[1]), block: Number(m[2]) };
    if ((m = /^encoder\.stages\.(\d+)\.layers\.(\d+)\.(dwconv|layernorm|pwconv1|pwconv2)\.(weight|bias)$/.exec(k))) {
      return { part: BLOCK_PARTS_HF[m[3] as string] as Slot['part'], param: param(m[4] as string), stage: Number(m[1]), block: Number(m[2]) };
    }
    if ((m = /^layernorm\.(weight|bias)$/.exec(k))) return { part: 'head_norm', param: param(m[1] as string) };
    return undefined;
  },
  timm: (key) => {
    let m: RegExpExecArray | null;
    if ((m = /^stem\.([01])\.(weight|bias)$/.exec(key))) return { part: m[1] === '0' ? 'stem_conv' : 'stem_norm', param: param(m[2] as string) };
    if ((m = /^stages\.(\d+)\.downsample\.([01])\.(weight|bias)$/.exec(key))) {
      return { part: m[2] === '0' ? 'downsample_norm' : 'downsample_conv', param: param(m[3] as string), stage: Number(m[1]) };
    }
    if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.gamma$/.exec(key))) return { part: 'gamma', param: 'weight', stage: Number(m[1]), block: Number(m[2]) };
    if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.(conv_dw|norm|mlp\.fc1|mlp\.fc2)\.(weight|bias)$/.exec(key))) {
      return { part: BLOCK_PARTS_TIMM[m[3] as string] as Slot['part'], param: param(m[4] as string), stage: Number(m[1]), block: Number(m[2]) };
    }
    if ((m = /^head\.(norm|fc)\.(weight|bias)$/.exec(key))) return { part: m[1] === 'norm' ? 'head_norm' : 'head_fc', param: param(m[2] as string) };
    return undefined;
  },
};

/** The kit weight (plan.ts names, `layer/weight`) a slot fills. */
function kitName(s: Slot): string {
  const norm = s.param === 'weight' ? 'gamma' : 'beta';
  const conv = (kernel: string): string => (s.param === 'weight' ? kernel : 'bias');
  const block = `s${(s.stage ?? 0) + 1}_b${(s.block ?? 0) + 1}`;
  switch (s.part) {
    case 'stem_conv': return `stem_conv/${conv('kernel')}`;
    case 'stem_norm': return `stem_norm/${norm}`;
    case 'downsample_norm': return `s${(s.stage ?? 0) + 1}_downsample_norm/${norm}`;
    case 'downsample_conv': return `s${(s.stage ?? 0) + 1}_downsample_conv/${conv('kernel')}`;
    case 'dwconv': return `${block}_dwconv/${conv('depthwise_kernel')}`;
    case 'norm': return `${block}_norm/${norm}`;
    case 'pwconv1': return `${block}_pwconv1/${conv('kernel')}`;
    case 'pwconv2': return `${block}_pwconv2/${conv('kernel')}`;
    case 'gamma': return `${block}_gamma/gamma`;
    case 'head_norm': return `head_norm/${norm}`;
    case 'head_fc': return `head_fc/${conv('kernel')}`;
  }
}

/** How a PyTorch tensor becomes the TensorFlow.js one: a permutation of its axes, or a reshape. */
export type Transform = 'copy' | 'conv' | 'depthwise' | 'linear';

const TRANSFORM_TEXT: Record<Transform, string> = {
  copy: 'as is',
  conv: '[O,I,kh,kw] → [kh,kw,I,O]',
  depthwise: '[C,1,kh,kw] → [kh,kw,C,1]',
  linear: '[out,in] → [in,out]',
};

function transformOf(s: Slot, rank: number): Transform {
  const isNormOrScale = s.part === 'stem_norm' || s.part === 'downsample_norm' || s.part === 'norm' || s.part === 'head_norm' || s.part === 'gamma';
  if (s.param === 'bias' || rank === 1 || isNormOrScale) return 'copy';
  if (s.part === 'dwconv') return 'depthwise';
  if (s.part === 'pwconv1' || s.part === 'pwconv2' || s.part === 'head_fc') return 'linear';
  return 'conv';
}

/** Apply a transform to a row-major tensor. `linear` also takes timm's [out, in, 1, 1] (the same values). */
export function transformTensor(t: StoredTensor, transform: Transform): { shape: number[]; values: Float32Array } {
  const { shape, values } = t;
  const target = transformedShape(shape, transform);
  if (target === undefined) throw new Error(`transformTensor: a ${JSON.stringify(shape)} tensor cannot take the ${transform} transform`);
  if (transform === 'copy') return { shape: target, values };
  if (transform === 'linear') {
    const [out, inp] = shape as [number, number, ...number[]];
    const result = new Float32Array(values.length);
    // [out, in] → [in, out]
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) result[i * out + o] = values[o * inp + i] as number;
    return { shape: target, values: result };
  }
  // conv: [O, I, kh, kw] → [kh, kw, I, O]; depthwise: [C, 1, kh, kw] → [kh, kw, C, 1]. Both move
  // the kernel window first; a conv then puts I before O, a depthwise conv C (its O) before its 1.
  const [a, b, kh, kw] = shape as [number, number, number, number];
  const result = new Float32Array(values.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const src = ((i * b + j) * kh + y) * kw + x;
          const dst = transform === 'conv' ? ((y * kw + x) * b + j) * a + i : ((y * kw + x) * a + i) * b + j;
          result[dst] = values[src] as number;
        }
      }
    }
  }
  return { shape: target, values: result };
}

/** One source tensor and where it goes. */
export interface TensorMapping {
  /** The key in model.safetensors. */
  source: string;
  shape: number[];
  /** The kit weight it fills (`layer/weight`), if any. */
  target?: string;
  /** The kit weight's shape, when there is one. */
  targetShape?: number[];
  transform?: Transform;
  /** ok; unmatched: no kit weight for this key; mis-shaped: the transformed shape is not the kit's. */
  status: 'ok' | 'unmatched' | 'mis-shaped';
}

/** Mean and standard deviation per RGB channel that the weights were pretrained with, in [0, 1] pixel units. */
export interface PretrainNormalization {
  mean: number[];
  std: number[];
  /** Where the values come from: a file of the folder, or the library's ImageNet default. */
  from: string;
}

/** A pretrained ConvNeXt read from a folder: the network it describes and how each tensor maps. */
export interface PretrainedConvNeXt {
  dir: string;
  layout: Layout;
  /** The weights' files (one, or the shards of model.safetensors.index.json). */
  files: string[];
  /** sha256 of the weights' file(s), joined with `+` for shards: which exact weights. */
  sha256: string;
  /** The network as stored: inChannels and numClasses as pretrained (e.g. 3 and 1000). */
  config: ModelConfig;
  /** Per-stage widths, e.g. [96, 192, 384, 768]. */
  dims: number[];
  /** The timm name of the variant these depths and widths make (convnext_tiny, …), or `custom`. */
  variant: string;
  /** Parameters in the file, counted tensor by tensor (equal to the kit's count of `config`). */
  params: number;
  /** Class names from config.json, when it has them. */
  classes?: string[];
  normalization: PretrainNormalization;
  /** timm's MLP as 1×1 convs (conv_mlp); HuggingFace and most timm variants use Linear layers. */
  convMlp: boolean;
  mapping: TensorMapping[];
  /** Kit weights that no source tensor fills. */
  missing: string[];
  /** The source tensors, by key. */
  tensors: Map<string, StoredTensor>;
  /** The raw config.json. */
  rawConfig: Record<string, unknown>;
}

/** ConvNeXt's variants (timm's names, Liu et al. 2022 and timm's smaller ones): depths and stage-1 width. */
export const CONVNEXT_VARIANTS: Readonly<Record<string, { depths: number[]; width: number }>> = {
  convnext_atto: { depths: [2, 2, 6, 2], width: 40 },
  convnext_femto: { depths: [2, 2, 6, 2], width: 48 },
  convnext_pico: { depths: [2, 2, 6, 2], width: 64 },
  convnext_nano: { depths: [2, 2, 8, 2], width: 80 },
  convnext_tiny: { depths: [3, 3, 9, 3], width: 96 },
  convnext_small: { depths: [3, 3, 27, 3], width: 96 },
  convnext_base: { depths: [3, 3, 27, 3], width: 128 },
  convnext_large: { depths: [3, 3, 27, 3], width: 192 },
  convnext_xlarge: { depths: [3, 3, 27, 3], width: 256 },
};

/** ImageNet's mean and std (torchvision, timm IMAGENET_DEFAULT_*, HF IMAGENET_DEFAULT_*), what every ConvNeXt was pretrained with. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

const WEIGHTS_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
const CONFIG_FILE = 'config.json';

/** The one-line conversion of a PyTorch pickle to safetensors, for the error that meets one. */
export function pickleConversion(file: string): string {
  return `python -c "import torch; from safetensors.torch import save_file; sd = torch.load('${file}', map_location='cpu', weights_only=True); sd = sd.get('model', sd); save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')"`;
}

/**
 * Read a pretrained ConvNeXt folder (config.json + model.safetensors, as `save_pretrained`,
 * timm's hub files, or `weights download` leave it) and map every tensor onto the kit's network.
 * Does not need a TensorFlow.js backend. Throws a KitError when the folder is not such a model;
 * tensors that do not map are reported in `mapping`/`missing` (checkMapping() turns them into an
 * error that lists them all).
 */
export function readPretrained(dir: string): PretrainedConvNeXt {
  const fixDownload = 'download the model with `npx convnext-xray weights download <hf-repo-id|timm-name>`, or put config.json and model.safetensors from the model\'s page into one folder';
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new KitError('no pretrained model folder here', { where: dir, fix: fixDownload });
  const files = weightFiles(dir);
  const rawConfig = readConfigJson(dir);
  const tensors = new Map<string, StoredTensor>();
  const hashes: string[] = [];
  for (const file of files) {
    const read = readSafetensors(file);
    hashes.push(read.sha256);
    for (const [k, t] of read.tensors) tensors.set(k, t);
  }
  const keys = [...tensors.keys()];
  const layout = detectLayout(keys, dir);
  const parse = PARSERS[layout];
  const slots = new Map<string, Slot>();
  for (const k of keys) {
    const s = parse(k);
    if (s !== undefined) slots.set(k, s);
  }
  const arch = architectureOf(slots, tensors, dir);
  checkAgainstConfig(layout, rawConfig, arch, dir);
  const config: ModelConfig = {
    ...configFor('convnext', { inChannels: arch.inChannels, numClasses: arch.numClasses }),
    depths: arch.depths,
    width: arch.dims[0] as number,
    kernelSize: arch.kernel,
    layerScale: arch.layerScale ? 1e-6 : null,
  };
  const headNormEps = layout === 'hf' ? numberField(rawConfig, 'layer_norm_eps') ?? 1e-12 : 1e-6;
  if (headNormEps !== 1e-6) config.headNormEps = headNormEps;
  const expected = new Map(planWeights(planModel(config, 32)).map((w) => [w.name, w] as const));
  const mapping = keys.map((source): TensorMapping => {
    const t = tensors.get(source) as StoredTensor;
    const slot = slots.get(source);
    const target = slot === undefined ? undefined : kitName(slot);
    const want = target === undefined ? undefined : expected.get(target);
    if (slot === undefined || want === undefined) return { source, shape: t.shape, status: 'unmatched' };
    const transform = transformOf(slot, t.shape.length);
    const shape = transformedShape(t.shape, transform);
    const ok = shape !== undefined && JSON.stringify(shape) === JSON.stringify(want.shape);
    return { source, shape: t.shape, target, targetShape: want.shape, transform, status: ok ? 'ok' : 'mis-shaped' };
  });
  const filled = new Set(mapping.filter((m) => m.status !== 'unmatched').map((m) => m.target));
  const missing = [...expected.keys()].filter((n) => !filled.has(n));
  const params = [...tensors.values()].reduce((s, t) => s + t.values.length, 0);
  return {
    dir, layout, files, sha256: hashes.join('+'), config, dims: arch.dims, variant: variantOf(arch.depths, arch.dims[0] as number), params,
    classes: classesOf(layout, rawConfig, arch.numClasses), normalization: normalizationOf(layout, dir, rawConfig),
    convMlp: arch.convMlp, mapping, missing, tensors, rawConfig,
  };
}

/**
 * Throw a KitError that lists every unmatched, mis-shaped and missing tensor, if there is any.
 * `replaced` names kit weights that are made new on purpose (the classifier, when the classes
 * differ): their source tensors may be absent or of another shape.
 */
export function checkMapping(p: PretrainedConvNeXt, replaced: (kitWeight: string) => boolean = () => false): void {
  const unmatched = p.mapping.filter((m) => m.status === 'unmatched');
  const misShaped = p.mapping.filter((m) => m.status === 'mis-shaped' && !replaced(m.target as string));
  const missing = p.missing.filter((n) => !replaced(n));
  if (unmatched.length === 0 && misShaped.length === 0 && missing.length === 0) return;
  const lines = [
    ...unmatched.map((m) => `  unmatched  ${m.source} ${JSON.stringify(m.shape)}: no kit weight takes it`),
    ...misShaped.map((m) => `  mis-shaped ${m.source} ${JSON.stringify(m.shape)} → ${m.target} wants ${JSON.stringify(m.targetShape)} (${TRANSFORM_TEXT[m.transform as Transform]})`),
    ...missing.map((n) => `  missing    ${n}: no tensor in the file fills it`),
  ];
  const extra = unmatched.some((m) => /grn/.test(m.source)) ? ' The GRN tensors are ConvNeXt V2\'s, which the kit does not build.' : '';
  throw new KitError(`the ${p.layout === 'hf' ? 'HuggingFace' : 'timm'} weights in ${p.dir} do not map onto the kit's ConvNeXt (${unmatched.length} unmatched, ${misShaped.length} mis-shaped, ${missing.length} missing):\n${lines.join('\n')}`, {
    fix: `the kit loads ConvNeXt V1 in the HuggingFace or timm layout, with widths that double per stage.${extra} Run \`npx convnext-xray weights inspect ${p.dir}\` for the whole mapping`,
  });
}

/** The TensorFlow.js shape a transform gives, or undefined when the tensor cannot take it. */
function transformedShape(shape: number[], t: Transform): number[] | undefined {
  if (t === 'copy') return [...shape];
  if (t === 'linear') {
    if (shape.length === 4 && shape[2] === 1 && shape[3] === 1) return [shape[1] as number, shape[0] as number];
    return shape.length === 2 ? [shape[1] as number, shape[0] as number] : undefined;
  }
  if (shape.length !== 4) return undefined;
  const [a, b, kh, kw] = shape as [number, number, number, number];
  return t === 'conv' ? [kh, kw, b, a] : [kh, kw, a, b];
}

/** The kit's tensor for a mapping: transformed to the TensorFlow.js layout. */
export function kitTensor(p: PretrainedConvNeXt, m: TensorMapping): { shape: number[]; values: Float32Array } {
  return transformTensor(p.tensors.get(m.source) as StoredTensor, m.transform ?? 'copy');
}

function weightFiles(dir: string): string[] {
  const single = path.join(dir, WEIGHTS_FILE);
  if (fs.existsSync(single)) return [single];
  const index = path.join(dir, INDEX_FILE);
  if (fs.existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    } catch (err) {
      throw new KitError(`${INDEX_FILE} is not a safetensors index (${messageOf(err)})`, { where: index, fix: 'download the model again' });
    }
    const shards = [...new Set(Object.values(map))].map((f) => path.join(dir, f));
    const absent = shards.filter((f) => !fs.existsSync(f));
    if (absent.length > 0) throw new KitError(`the shards ${absent.map((f) => path.basename(f)).join(', ')} named by ${INDEX_FILE} are not in the folder`, { where: dir, fix: 'download every shard the index names into this folder' });
    return shards;
  }
  const present = fs.readdirSync(dir);
  const pickle = present.find((f) => /\.(bin|pth|pt|ckpt)$/.test(f));
  if (pickle !== undefined) {
    throw new KitError(`${pickle} is a PyTorch pickle; the kit reads only safetensors (pickles can run code when loaded, and need PyTorch)`, {
      where: path.join(dir, pickle),
      fix: `convert it once, in this folder, with PyTorch and safetensors installed: ${pickleConversion(pickle)}`,
    });
  }
  throw new KitError(`no ${WEIGHTS_FILE} in the folder (it has: ${present.length > 0 ? present.slice(0, 8).join(', ') : 'nothing'})`, {
    where: dir,
    fix: 'download the model with `npx convnext-xray weights download <hf-repo-id|timm-name>`, or put model.safetensors and config.json from the model\'s page into this folder',
  });
}

function readConfigJson(dir: string): Record<string, unknown> {
  const file = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(file)) {
    throw new KitError(`no ${CONFIG_FILE} in the folder: it says which library wrote the weights, their classes and their eps`, { where: dir, fix: `put the model's ${CONFIG_FILE} next to ${WEIGHTS_FILE} (same page on the hub)` });
  }
  try {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new KitError(`${CONFIG_FILE} is not valid (${messageOf(err)})`, { where: file, fix: `download the model's ${CONFIG_FILE} again` });
  }
}

function detectLayout(keys: string[], dir: string): Layout {
  if (keys.some((k) => /^(convnext\.)?embeddings\.patch_embeddings\./.test(k))) return 'hf';
  if (keys.some((k) => /^stem\.0\./.test(k)) && keys.some((k) => /^stages\.\d+\.blocks\./.test(k))) return 'timm';
  const sample = keys.slice(0, 4).join(', ');
  const official = keys.some((k) => k.startsWith('downsample_layers.'));
  throw new KitError(`the weights are not a ConvNeXt in the HuggingFace or timm layout (first keys: ${sample || 'none'})`, {
    where: dir,
    fix: official
      ? "these are the official facebookresearch/ConvNeXt names: load them with timm (`timm.create_model('convnext_tiny', pretrained_cfg_overlay=dict(file=...))` converts them) and save the result with safetensors, or download the same weights from the hub (timm/convnext_tiny.fb_in1k)"
      : 'use a ConvNeXt (V1) saved by transformers (ConvNextForImageClassification) or timm (convnext_*), e.g. `npx convnext-xray weights download facebook/convnext-tiny-224`',
  });
}

interface Architecture {
  depths: number[];
  dims: number[];
  kernel: number;
  inChannels: number;
  numClasses: number;
  layerScale: boolean;
  convMlp: boolean;
}

/** Depths, widths, kernel, channels and classes, read from the tensors' shapes. */
function architectureOf(slots: Map<string, Slot>, tensors: Map<string, StoredTensor>, dir: string): Architecture {
  const fail = (what: string): never => {
    throw new KitError(`the weights do not describe a ConvNeXt the kit can build: ${what}`, { where: dir, fix: 'use a ConvNeXt V1 with 4 stages whose widths double per stage (atto … xlarge), saved by transformers or timm' });
  };
  const shapeOf = (part: Slot['part'], stage?: number, block?: number): number[] | undefined => {
    for (const [k, s] of slots) if (s.part === part && s.param === 'weight' && s.stage === stage && s.block === block) return tensors.get(k)?.shape;
    return undefined;
  };
  const blocks = new Map<number, Set<number>>();
  for (const s of slots.values()) if (s.part === 'dwconv' && s.stage !== undefined && s.block !== undefined) (blocks.get(s.stage) ?? blocks.set(s.stage, new Set()).get(s.stage))?.add(s.block);
  const stages = [...blocks.keys()].sort((a, b) => a - b);
  if (stages.length !== 4 || stages.some((s, i) => s !== i)) fail(`its depthwise convs sit in stages ${JSON.stringify(stages)}, not 0–3`);
  const depths = stages.map((s) => {
    const ids = [...(blocks.get(s) as Set<number>)].sort((a, b) => a - b);
    if (ids.some((b, i) => b !== i)) fail(`stage ${s} has blocks ${JSON.stringify(ids)}, with gaps`);
    return ids.length;
  });
  const dw = stages.map((s) => shapeOf('dwconv', s, 0) as number[]);
  const dims = dw.map((shape) => shape[0] as number);
  const kernel = dw[0]?.[2] as number;
  if (dw.some((shape) => shape.length !== 4 || shape[1] !== 1 || shape[2] !== kernel || shape[3] !== kernel)) fail(`the depthwise kernels are not all [C, 1, ${kernel}, ${kernel}]: ${JSON.stringify(dw)}`);
  if (dims.some((d, i) => d !== (dims[0] as number) * 2 ** i)) fail(`its stage widths ${JSON.stringify(dims)} do not double from stage to stage`);
  const stem = shapeOf('stem_conv');
  if (stem === undefined || stem.length !== 4) return fail('it has no 4-D stem conv weight');
  if (stem[2] !== 4 || stem[3] !== 4) fail(`its stem is ${stem[2]}×${stem[3]}, not ConvNeXt's 4×4 patchify stem`);
  const head = shapeOf('head_fc');
  const fc1 = shapeOf('pwconv1', 0, 0);
  return {
    depths, dims, kernel, inChannels: stem[1] as number,
    // A backbone without a classifier (HF ConvNextModel) gets a new head anyway; 1000 stands for "not given".
    numClasses: head?.[0] ?? 1000,
    layerScale: [...slots.values()].some((s) => s.part === 'gamma'),
    convMlp: fc1?.length === 4,
  };
}

function numberField(o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key];
  return typeof v === 'number' ? v : undefined;
}

/** config.json must describe the same network as the tensors: a mismatch means files from two models. */
function checkAgainstConfig(layout: Layout, raw: Record<string, unknown>, arch: Architecture, dir: string): void {
  const problems: string[] = [];
  const same = (field: string, fromConfig: unknown, fromTensors: unknown): void => {
    if (fromConfig !== undefined && JSON.stringify(fromConfig) !== JSON.stringify(fromTensors)) problems.push(`${field} is ${JSON.stringify(fromConfig)} in config.json but ${JSON.stringify(fromTensors)} in the weights`);
  };
  if (layout === 'hf') {
    const type = raw['model_type'];
    if (type !== undefined && type !== 'convnext') problems.push(`model_type is ${JSON.stringify(type)}, not "convnext"${type === 'convnextv2' ? ' (ConvNeXt V2 adds GRN layers, which the kit does not build)' : ''}`);
    same('hidden_sizes', raw['hidden_sizes'], arch.dims);
    same('depths', raw['depths'], arch.depths);
    same('num_channels', raw['num_channels'], arch.inChannels);
    const labels = raw['id2label'];
    if (typeof labels === 'object' && labels !== null) same('the number of labels (id2label)', Object.keys(labels).length, arch.numClasses);
  } else {
    same('num_classes', raw['num_classes'], arch.numClasses);
    const args = (raw['model_args'] ?? {}) as Record<string, unknown>;
    if (args['dims'] !== undefined) same('model_args.dims', args['dims'], arch.dims);
    if (args['depths'] !== undefined) same('model_args.depths', args['depths'], arch.depths);
    const name = String(raw['architecture'] ?? '');
    if (name !== '' && !name.startsWith('convnext_')) problems.push(`architecture is ${JSON.stringify(name)}, not a convnext_* model`);
    if (name.startsWith('convnextv2')) problems.push('ConvNeXt V2 adds GRN layers, which the kit does not build');
  }
  if (problems.length > 0) {
    throw new KitError(`config.json and model.safetensors do not describe the same ConvNeXt: ${problems.join('; ')}`, { where: dir, fix: 'download both files of the same model again into an empty folder' });
  }
}

function variantOf(depths: number[], width: number): string {
  const hit = Object.entries(CONVNEXT_VARIANTS).find(([, v]) => v.width === width && JSON.stringify(v.depths) === JSON.stringify(depths));
  return hit?.[0] ?? 'custom';
}

function classesOf(layout: Layout, raw: Record<string, unknown>, n: number): string[] | undefined {
  const map = layout === 'hf' ? raw['id2label'] : undefined;
  if (typeof map === 'object' && map !== null) {
    const labels = Array.from({ length: n }, (_, i) => (map as Record<string, unknown>)[String(i)]);
    if (labels.every((l) => typeof l === 'string')) return labels as string[];
  }
  const names = layout === 'timm' ? raw['label_names'] : undefined;
  return Array.isArray(names) && names.length === n ? names.map(String) : undefined;
}

/**
 * The pretraining's mean/std: timm keeps them in config.json (`pretrained_cfg`), HuggingFace in
 * preprocessor_config.json (`image_mean`, `image_std`); without them, ImageNet's, which every
 * ConvNeXt in both libraries was trained with.
 */
function normalizationOf(layout: Layout, dir: string, raw: Record<string, unknown>): PretrainNormalization {
  const valid = (m: unknown, s: unknown): boolean => Array.isArray(m) && Array.isArray(s) && m.length === 3 && s.length === 3 && [...m, ...s].every((v) => typeof v === 'number');
  if (layout === 'timm') {
    const cfg = (raw['pretrained_cfg'] ?? {}) as Record<string, unknown>;
    if (valid(cfg['mean'], cfg['std'])) return { mean: cfg['mean'] as number[], std: cfg['std'] as number[], from: 'config.json pretrained_cfg' };
  } else {
    const file = path.join(dir, 'preprocessor_config.json');
    if (fs.existsSync(file)) {
      try {
        const pre = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
        if (valid(pre['image_mean'], pre['image_std'])) return { mean: pre['image_mean'] as number[], std: pre['image_std'] as number[], from: 'preprocessor_config.json' };
      } catch {
        // An unreadable preprocessor config falls back to the default, as transformers would.
      }
    }
  }
  return { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD], from: 'ImageNet default' };
}

/** The parameter count of the network the kit builds from these weights (equal to `params` when everything maps). */
export function kitParams(p: PretrainedConvNeXt): number {
  return planStats(planModel(p.config, 32)).params;
}
