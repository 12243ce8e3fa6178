import type { DataProfile } from '../data/dataset';
import type { ScaleName, StepId } from '../models/steps';
import type { TrainRecipe } from '../train/recipe';
import { KitError } from '../util/errors';
import { loadSettings } from '../config/settings';

export type { DataProfile } from '../data/dataset';

/**
 * A profile sizes every notebook and command for a machine: CI on two CPU cores (`smoke`), a
 * teaching session on one GPU (`default`), a longer reproduction (`paper`), and a full ablation
 * on a machine without a GPU (`cpu`). Choose it with
 * KIT_PROFILE; notebooks read it and never hard-code sizes.
 */
export type ProfileName = 'smoke' | 'cpu' | 'default' | 'paper' | 'finetune';
export const PROFILE_NAMES: readonly ProfileName[] = ['smoke', 'cpu', 'default', 'paper', 'finetune'];

export interface ModelProfile {
  /** Widths and depths of the roadmap's networks (models/steps.ts SCALES). */
  scale: ScaleName;
}

export interface AblationProfile {
  /** Seeds per step: 0, 1, ... (each seed changes initialization, batch order and augmentation). */
  seeds: number;
  /** Steps to train; undefined = every step of the roadmap. */
  steps?: StepId[];
}

export interface EvaluationProfile {
  /** Bootstrap rounds behind every 95% interval of the evaluation (fewer under smoke: CI time). */
  bootstrapRounds: number;
}

export interface Profile {
  name: ProfileName;
  /** One line: what it is for and what it costs. */
  description: string;
  data: DataProfile;
  model: ModelProfile;
  /** Training from scratch (every roadmap step). */
  train: TrainRecipe;
  /**
   * Fine-tuning from pretrained weights (`train --init`, the ablation's `convnext (pretrained)`
   * row): the HuggingFace workflow's optimizer settings (HF_FINETUNE) with this profile's epochs
   * and batch, so both rows get the same budget.
   */
  finetune: TrainRecipe;
  ablation: AblationProfile;
  evaluation: EvaluationProfile;
}

/** ConvNeXt's recipe (§2.1) at X-ray scale; profiles change epochs, batch and rates. */
const RECIPE: TrainRecipe = {
  epochs: 30,
  batchSize: 64,
  lr: 2e-3,
  minLr: 1e-5,
  warmupEpochs: 3,
  weightDecay: 0.05,
  labelSmoothing: 0.1,
  dropPath: 0.1,
  clipGradNorm: null,
  ema: null,
  balance: 'loss',
  augment: 'xray',
};

/**
 * The workflow most users meet ConvNeXt in: fine-tune `facebook/convnext-tiny-224` with the
 * HuggingFace Trainer (AdamW lr 2e-4, batch 32, 4 epochs, 224 px) and its defaults: no weight
 * decay, no warmup, linear decay to 0, gradient norm clipped at 1.0, plain cross-entropy, no
 * label smoothing, no stochastic depth (ConvNextConfig.drop_path_rate 0), no augmentation.
 */
export const HF_FINETUNE: TrainRecipe = {
  epochs: 4,
  batchSize: 32,
  lr: 2e-4,
  minLr: 0,
  warmupEpochs: 0,
  weightDecay: 0,
  labelSmoothing: 0,
  dropPath: 0,
  clipGradNorm: 1.0,
  ema: null,
  balance: 'none',
  augment: 'none',
  schedule: 'linear',
};

/** HF_FINETUNE with a from-scratch recipe's budget (epochs, batch). */
function finetuneLike(train: TrainRecipe): TrainRecipe {
  return { ...HF_FINETUNE, epochs: train.epochs, batchSize: train.batchSize };
}

const SMOKE_TRAIN: TrainRecipe = { ...RECIPE, epochs: 2, batchSize: 16, warmupEpochs: 0.5, dropPath: 0.05 };
const CPU_TRAIN: TrainRecipe = { ...RECIPE, epochs: 5, batchSize: 32, warmupEpochs: 1, dropPath: 0.05 };
const PAPER_TRAIN: TrainRecipe = { ...RECIPE, epochs: 60, warmupEpochs: 5, ema: 0.999 };

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  smoke: {
    name: 'smoke',
    description: 'CI and quick checks: a few dozen 32 px images, a tiny model; seconds to minutes on 2 CPU cores',
    data: { imageSize: 32, fit: 'squash', valFraction: 0.15, splitSeed: 0, limit: { train: 64, val: 24, test: 32 } },
    model: { scale: 'smoke' },
    train: SMOKE_TRAIN,
    finetune: finetuneLike(SMOKE_TRAIN),
    ablation: { seeds: 1 },
    evaluation: { bootstrapRounds: 200 },
  },
  cpu: {
    name: 'cpu',
    description: 'a full ablation without a GPU (2 CPU cores through lavapipe) in about an hour: 32 px, 320 training images, the whole test set, smoke-scale models, 3 seeds',
    data: { imageSize: 32, fit: 'squash', valFraction: 0.15, splitSeed: 0, limit: { train: 320, val: 240, test: 624 } },
    model: { scale: 'smoke' },
    train: CPU_TRAIN,
    finetune: finetuneLike(CPU_TRAIN),
    ablation: { seeds: 3 },
    evaluation: { bootstrapRounds: 1000 },
  },
  default: {
    name: 'default',
    description: 'a teaching session on one GPU: all images at 64 px, a small model, 3 seeds',
    data: { imageSize: 64, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'atto' },
    train: { ...RECIPE },
    finetune: finetuneLike(RECIPE),
    ablation: { seeds: 3 },
    evaluation: { bootstrapRounds: 1000 },
  },
  paper: {
    name: 'paper',
    description: 'a longer reproduction: all images at 128 px, a larger model, more epochs and seeds',
    data: { imageSize: 128, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'femto' },
    train: PAPER_TRAIN,
    finetune: finetuneLike(PAPER_TRAIN),
    ablation: { seeds: 5 },
    evaluation: { bootstrapRounds: 1000 },
  },
  finetune: {
    name: 'finetune',
    description: 'the HuggingFace fine-tuning workflow on one GPU: all images at 224 px, ConvNeXt-T (pretrained: facebook/convnext-tiny-224), AdamW lr 2e-4, batch 32, 4 epochs; from scratch with the same budget',
    data: { imageSize: 224, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'paper' },
    train: { ...RECIPE, epochs: 4, batchSize: 32, warmupEpochs: 0.5 },
    finetune: { ...HF_FINETUNE },
    ablation: { seeds: 1, steps: ['separate-downsampling'] },
    evaluation: { bootstrapRounds: 1000 },
  },
};

/** The named profile, or the one from KIT_PROFILE / kit.config.json (default: `default`). */
export function getProfile(name: string = loadSettings().profile): Profile {
  const p = (PROFILES as Record<string, Profile | undefined>)[name];
  if (p === undefined) {
    throw new KitError(`unknown profile "${name}"`, { where: 'KIT_PROFILE', fix: `use one of: ${PROFILE_NAMES.join(', ')}` });
  }
  return p;
}
