import type { AugmentOptions } from '../data/augment';
import { NO_AUGMENT, XRAY_AUGMENT } from '../data/augment';
import { KitError } from '../util/errors';

/**
 * How a model is trained: ConvNeXt's recipe (§2.1: AdamW, cosine schedule with warmup, label
 * smoothing, stochastic depth, weight decay 0.05) scaled to small X-ray runs. Every field can be
 * overridden per run (`overrides`), and a run is reproducible from {step, seed, profile, overrides}.
 */
export interface TrainRecipe {
  epochs: number;
  batchSize: number;
  /** Peak learning rate, reached after the warmup. */
  lr: number;
  /** Learning rate at the end of the cosine decay. */
  minLr: number;
  warmupEpochs: number;
  /** Decoupled weight decay (AdamW), on conv and linear kernels only. */
  weightDecay: number;
  labelSmoothing: number;
  /** Largest stochastic-depth rate (the last block's), rising linearly from 0. */
  dropPath: number;
  /** Clip the global gradient norm to this; null = no clipping. */
  clipGradNorm: number | null;
  /** Keep an exponential moving average of the weights with this decay and validate with it; null = off. */
  ema: number | null;
  /**
   * Against the 1:2.9 class imbalance: `loss` weights each class's loss by n / (K · n_c);
   * `sampler` draws batches with both classes equally likely; `none` trains on the raw mix.
   */
  balance: 'loss' | 'sampler' | 'none';
  augment: 'xray' | 'none';
  /** Decay after the warmup: `cosine` (ConvNeXt, the default when absent) or `linear` (the HuggingFace Trainer's). */
  schedule?: 'cosine' | 'linear';
}

export function augmentOptions(recipe: TrainRecipe): AugmentOptions {
  return recipe.augment === 'xray' ? XRAY_AUGMENT : NO_AUGMENT;
}

const NUMBER_FIELDS = ['epochs', 'batchSize', 'lr', 'minLr', 'warmupEpochs', 'weightDecay', 'labelSmoothing', 'dropPath'] as const;

/** Apply overrides to a recipe, rejecting unknown fields and bad values with what is valid. */
export function withOverrides(recipe: TrainRecipe, overrides: Record<string, unknown>): TrainRecipe {
  const out: TrainRecipe = { ...recipe };
  // `schedule` is optional (absent = cosine), so a recipe without it still accepts it.
  const valid = [...new Set([...Object.keys(recipe), 'schedule'])];
  for (const [key, value] of Object.entries(overrides)) {
    if (!valid.includes(key)) throw new KitError(`unknown training option "${key}"`, { where: 'overrides', fix: `use one of: ${valid.join(', ')}` });
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  validateRecipe(out);
  return out;
}

export function validateRecipe(r: TrainRecipe): void {
  const bad = (field: string, value: unknown, want: string): never => {
    throw new KitError(`invalid training option ${field} = ${JSON.stringify(value)}`, { where: 'recipe', fix: want });
  };
  for (const f of NUMBER_FIELDS) if (typeof r[f] !== 'number' || !Number.isFinite(r[f])) bad(f, r[f], 'give a finite number');
  if (!Number.isInteger(r.epochs) || r.epochs < 1) bad('epochs', r.epochs, 'use a positive integer');
  if (!Number.isInteger(r.batchSize) || r.batchSize < 2) bad('batchSize', r.batchSize, 'use an integer ≥ 2 (BatchNorm needs two samples)');
  if (!(r.lr > 0)) bad('lr', r.lr, 'use a positive learning rate, e.g. 2e-3');
  if (!(r.minLr >= 0 && r.minLr <= r.lr)) bad('minLr', r.minLr, 'use 0 ≤ minLr ≤ lr');
  if (!(r.warmupEpochs >= 0 && r.warmupEpochs < r.epochs)) bad('warmupEpochs', r.warmupEpochs, 'use 0 ≤ warmupEpochs < epochs');
  if (!(r.labelSmoothing >= 0 && r.labelSmoothing < 1)) bad('labelSmoothing', r.labelSmoothing, 'use a value in [0, 1), e.g. 0.1');
  if (!(r.dropPath >= 0 && r.dropPath < 1)) bad('dropPath', r.dropPath, 'use a rate in [0, 1), e.g. 0.1');
  if (r.clipGradNorm !== null && !(typeof r.clipGradNorm === 'number' && r.clipGradNorm > 0)) bad('clipGradNorm', r.clipGradNorm, 'use a positive number or null');
  if (r.ema !== null && !(typeof r.ema === 'number' && r.ema > 0 && r.ema < 1)) bad('ema', r.ema, 'use a decay in (0, 1), e.g. 0.999, or null');
  if (!['loss', 'sampler', 'none'].includes(r.balance)) bad('balance', r.balance, 'use "loss", "sampler" or "none"');
  if (!['xray', 'none'].includes(r.augment)) bad('augment', r.augment, 'use "xray" or "none"');
  if (r.schedule !== undefined && !['cosine', 'linear'].includes(r.schedule)) bad('schedule', r.schedule, 'use "cosine" or "linear"');
}
