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
export type ProfileName = 'smoke' | 'cpu' | 'default' | 'paper';
export const PROFILE_NAMES: readonly ProfileName[] = ['smoke', 'cpu', 'default', 'paper'];

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
  train: TrainRecipe;
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

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  smoke: {
    name: 'smoke',
    description: 'CI and quick checks: a few dozen 32 px images, a tiny model; seconds to minutes on 2 CPU cores',
    data: { imageSize: 32, fit: 'squash', valFraction: 0.15, splitSeed: 0, limit: { train: 64, val: 24, test: 32 } },
    model: { scale: 'smoke' },
    train: { ...RECIPE, epochs: 2, batchSize: 16, warmupEpochs: 0.5, dropPath: 0.05 },
    ablation: { seeds: 1 },
    evaluation: { bootstrapRounds: 200 },
  },
  cpu: {
    name: 'cpu',
    description: 'a full ablation without a GPU (2 CPU cores through lavapipe) in about an hour: 32 px, 320 training images, the whole test set, smoke-scale models, 3 seeds',
    data: { imageSize: 32, fit: 'squash', valFraction: 0.15, splitSeed: 0, limit: { train: 320, val: 240, test: 624 } },
    model: { scale: 'smoke' },
    train: { ...RECIPE, epochs: 5, batchSize: 32, warmupEpochs: 1, dropPath: 0.05 },
    ablation: { seeds: 3 },
    evaluation: { bootstrapRounds: 1000 },
  },
  default: {
    name: 'default',
    description: 'a teaching session on one GPU: all images at 64 px, a small model, 3 seeds',
    data: { imageSize: 64, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'atto' },
    train: { ...RECIPE },
    ablation: { seeds: 3 },
    evaluation: { bootstrapRounds: 1000 },
  },
  paper: {
    name: 'paper',
    description: 'a longer reproduction: all images at 128 px, a larger model, more epochs and seeds',
    data: { imageSize: 128, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'femto' },
    train: { ...RECIPE, epochs: 60, warmupEpochs: 5, ema: 0.999 },
    ablation: { seeds: 5 },
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
