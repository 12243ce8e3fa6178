import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { PixelStats } from '../data/batches';
import { buildModel } from '../models/build';
import { ModelConfig } from '../models/config';
import { KitError } from '../util/errors';
import { checkMapping, kitTensor, PretrainedConvNeXt, PretrainNormalization } from './convnext';

/**
 * From ImageNet weights to an X-ray model: one input channel instead of three, two classes
 * instead of 1000, and the pretraining's normalization carried along so that training, predict
 * and evaluate all feed the network what it was pretrained on.
 *
 * Grayscale input, two ways (the stem is the only layer that sees channels):
 * - `sum` (default, timm's `adapt_input_conv`): the stem's filter for the one gray channel is the
 *   sum of its R, G and B filters. A gray pixel g shown as RGB (g, g, g) gives Σ_c W_c·g, the same
 *   response, when all three channels are normalized alike; so the gray input is normalized with
 *   the mean of the three means and the mean of the three stds, as timm does for 1 channel.
 * - `repeat`: exactly what repeating the gray channel three times and normalizing each channel
 *   with its own mean/std would give, folded into the stem: with x_c = (g − m_c)/s_c and the gray
 *   input z = (g − m̄)/s̄, Σ_c W_c·x_c + b = Σ_c (s̄/s_c)·W_c·z + Σ_c ((m̄ − m_c)/s_c)·ΣW_c + b.
 *   ConvNeXt's 4×4 stride-4 stem has no padding, so the folded bias is exact at every position.
 * Both are the same network on a 1-channel input, costing nothing over a model trained from scratch.
 */
export type GrayscaleMode = 'sum' | 'repeat';
export const GRAYSCALE_MODES: readonly GrayscaleMode[] = ['sum', 'repeat'];

/** What a run or checkpoint records about its pretrained start. */
export interface PretrainedInit {
  /** The folder the weights were read from, as given. */
  source: string;
  layout: 'hf' | 'timm';
  /** timm's variant name, or `custom`. */
  variant: string;
  /** sha256 of the weights file(s), joined with `+` for shards: which exact weights. */
  sha256: string;
  /** How the RGB stem was made grayscale; null when the channels already matched. */
  grayscale: GrayscaleMode | null;
  /** The classifier was replaced by a new seeded one: classes before and after; null = kept. */
  newHead: { from: number; to: number } | null;
  /** The pretraining's per-channel normalization (RGB). */
  pretrainNormalization: PretrainNormalization;
}

export interface AdaptOptions {
  /** Input side in pixels (any multiple of 32 ≥ 32; ConvNeXt is fully convolutional). */
  size: number;
  /** Input channels of the new model: 1 for X-rays (default), or the pretrained count. */
  inChannels?: number;
  /** Classes of the new model; a different count from the pretrained one gets a new seeded head. */
  numClasses: number;
  /** A new seeded head even when the count matches (the pretrained classes are not these). Default: only when the count differs. */
  newHead?: boolean;
  /** Default `sum`. */
  grayscale?: GrayscaleMode;
  /** Seed of the new head's initialization (and of nothing else: every other weight is loaded). */
  seed?: number;
  /** Largest drop-path rate for fine-tuning (a training setting, not a weight). Default 0. */
  dropPath?: number;
}

export interface AdaptedModel {
  model: tfl.LayersModel;
  config: ModelConfig;
  /**
   * The normalization of a 1-channel model's gray input, in [0, 1] pixel units: what to record as
   * `input.normalization`. Undefined for a model that keeps RGB: it takes each channel normalized
   * with `init.pretrainNormalization`.
   */
  normalization?: PixelStats;
  init: PretrainedInit;
  /** One line per adaptation, to show the user (new head, grayscale stem). */
  notes: string[];
}

/**
 * Build the kit's ConvNeXt from pretrained weights, with every tensor loaded (the stem adapted
 * to `inChannels`, the head new when the classes differ). Throws a KitError listing every tensor
 * that does not map. Needs a backend (selectBackend / ensureBackend).
 */
export function adaptPretrained(p: PretrainedConvNeXt, options: AdaptOptions): AdaptedModel {
  const inChannels = options.inChannels ?? 1;
  const mode = options.grayscale ?? 'sum';
  if (!GRAYSCALE_MODES.includes(mode)) throw new KitError(`unknown grayscale mode ${JSON.stringify(mode)}`, { fix: `use ${GRAYSCALE_MODES.map((m) => `"${m}"`).join(' or ')}`, cliFix: 'use --grayscale sum or --grayscale repeat' });
  const from = p.config.inChannels;
  if (inChannels !== from && !(inChannels === 1 && from === 3)) {
    throw new KitError(`cannot adapt a ${from}-channel stem to ${inChannels} channels`, { where: p.dir, fix: 'the kit adapts RGB (3-channel) weights to 1 gray channel; use inChannels 1 or 3' });
  }
  const newHead = options.newHead === true || options.numClasses !== p.config.numClasses || !p.mapping.some((m) => m.target === 'head_fc/kernel');
  checkMapping(p, newHead ? (name) => name.startsWith('head_fc/') : undefined);

  const config: ModelConfig = { ...p.config, inChannels, numClasses: options.numClasses, dropPath: options.dropPath ?? 0 };
  const model = buildModel(config, options.size, { seed: options.seed ?? 0, name: 'convnext_pretrained' });
  const byTarget = new Map(p.mapping.filter((m) => m.status === 'ok' && m.target !== undefined).map((m) => [m.target as string, m] as const));
  const rgb = p.normalization;
  const grayStats: PixelStats = { mean: avg(rgb.mean), std: avg(rgb.std) };
  const stemAdapted = inChannels !== from;
  const stemKernel = byTarget.get('stem_conv/kernel');
  const stemKernelValues = stemKernel === undefined ? undefined : kitTensor(p, stemKernel);

  const values = model.weights.map((w) => {
    const name = w.originalName;
    const shape = w.shape as number[];
    if (newHead && name.startsWith('head_fc/')) return w.read().clone();
    const m = byTarget.get(name);
    if (m === undefined) throw new Error(`no pretrained tensor for ${name} after checkMapping`);
    if (stemAdapted && stemKernelValues !== undefined && name === 'stem_conv/kernel') return tf.tensor(adaptStemKernel(stemKernelValues, mode, rgb), shape);
    if (stemAdapted && stemKernelValues !== undefined && name === 'stem_conv/bias') return tf.tensor(adaptStemBias(kitTensor(p, m).values, stemKernelValues, mode, rgb), shape);
    const t = kitTensor(p, m);
    return tf.tensor(t.values, shape);
  });
  model.setWeights(values);
  tf.dispose(values);

  const notes: string[] = [];
  if (stemAdapted) notes.push(`stem: ${from} → 1 input channel by ${mode === 'sum' ? 'summing its RGB filters (timm\'s adapt_input_conv)' : 'folding the repeated gray channel and its per-channel normalization into the filters'}; gray input normalized with mean ${fmt(grayStats.mean)}, std ${fmt(grayStats.std)} (from ${rgb.from})`);
  if (newHead) notes.push(`head: a new classifier for ${options.numClasses} classes (seeded, std 0.02), replacing the pretrained ${p.config.numClasses}-class one${p.classes !== undefined ? ` (${p.classes.slice(0, 3).join(', ')}${p.classes.length > 3 ? ', …' : ''})` : ''}`);
  return {
    model, config, notes,
    ...(inChannels === 1 ? { normalization: grayStats } : {}),
    init: {
      source: p.dir, layout: p.layout, variant: p.variant, sha256: p.sha256,
      grayscale: stemAdapted ? mode : null, newHead: newHead ? { from: p.config.numClasses, to: options.numClasses } : null, pretrainNormalization: rgb,
    },
  };
}

/** [kh, kw, 3, O] → [kh, kw, 1, O] (see GrayscaleMode). */
export function adaptStemKernel(kernel: { shape: number[]; values: Float32Array }, mode: GrayscaleMode, rgb: PretrainNormalization): Float32Array {
  const [kh, kw, cin, out] = kernel.shape as [number, number, number, number];
  const sBar = avg(rgb.std);
  const result = new Float32Array(kh * kw * out);
  for (let p = 0; p < kh * kw; p++) {
    for (let c = 0; c < cin; c++) {
      const scale = mode === 'sum' ? 1 : sBar / (rgb.std[c] as number);
      for (let o = 0; o < out; o++) result[p * out + o] = (result[p * out + o] as number) + scale * (kernel.values[(p * cin + c) * out + o] as number);
    }
  }
  return result;
}

/** The stem bias for the gray input: unchanged for `sum`, shifted by the folded means for `repeat`. */
export function adaptStemBias(bias: Float32Array, kernel: { shape: number[]; values: Float32Array }, mode: GrayscaleMode, rgb: PretrainNormalization): Float32Array {
  if (mode === 'sum') return bias.slice();
  const [kh, kw, cin, out] = kernel.shape as [number, number, number, number];
  const mBar = avg(rgb.mean);
  const result = new Float64Array(bias);
  for (let p = 0; p < kh * kw; p++) {
    for (let c = 0; c < cin; c++) {
      const shift = (mBar - (rgb.mean[c] as number)) / (rgb.std[c] as number);
      for (let o = 0; o < out; o++) result[o] = (result[o] as number) + shift * (kernel.values[(p * cin + c) * out + o] as number);
    }
  }
  return Float32Array.from(result);
}

function avg(v: readonly number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

function fmt(x: number): string {
  return x.toFixed(4).replace(/0+$/, '');
}
