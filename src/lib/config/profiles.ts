import type { Fit } from '../data/decode';
import type { ScaleName } from '../models/steps';
import { KitError } from '../util/errors';
import { loadSettings } from './settings';

/**
 * A profile sizes every notebook and command for a machine: CI on two CPU cores (`smoke`), a
 * teaching session on one GPU (`default`), a longer reproduction (`paper`). Choose it with
 * KIT_PROFILE; notebooks read it and never hard-code sizes.
 */
export type ProfileName = 'smoke' | 'default' | 'paper';
export const PROFILE_NAMES: readonly ProfileName[] = ['smoke', 'default', 'paper'];

export interface DataProfile {
  /** Side of the square model input, in pixels. */
  imageSize: number;
  /** How a non-square image becomes square (see data/decode.ts). */
  fit: Fit;
  /** Share of the training images held out, by patient, for validation. */
  valFraction: number;
  /** Seed of the train/val split: fixed per profile so every run of an ablation sees the same split. */
  splitSeed: number;
  /** At most this many images per split (stratified, whole patients); undefined = all. */
  limit?: { train: number; val: number; test: number };
}

export interface ModelProfile {
  /** Widths and depths of the roadmap's networks (models/steps.ts SCALES). */
  scale: ScaleName;
}

export interface Profile {
  name: ProfileName;
  /** One line: what it is for and what it costs. */
  description: string;
  data: DataProfile;
  model: ModelProfile;
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  smoke: {
    name: 'smoke',
    description: 'CI and quick checks: a few dozen 32 px images, a tiny model; seconds to minutes on 2 CPU cores',
    data: { imageSize: 32, fit: 'squash', valFraction: 0.15, splitSeed: 0, limit: { train: 64, val: 24, test: 32 } },
    model: { scale: 'smoke' },
  },
  default: {
    name: 'default',
    description: 'a teaching session on one GPU: all images at 64 px, a small model, 3 seeds',
    data: { imageSize: 64, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'atto' },
  },
  paper: {
    name: 'paper',
    description: 'a longer reproduction: all images at 128 px, a larger model, more epochs and seeds',
    data: { imageSize: 128, fit: 'squash', valFraction: 0.15, splitSeed: 0 },
    model: { scale: 'femto' },
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
