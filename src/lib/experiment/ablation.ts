import * as crypto from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend';
import { loadSettings } from '../config/settings';
import { loadXrayData, XrayData } from '../data/dataset';
import type { LeakagePolicy } from '../data/leakage';
import { resolveStep, STEP_IDS } from '../models/steps';
import { ablationDir, EpochMetrics, lockRun, Predictions, readRunResult, runDirOf, RunInit, RunLock, RunResult, RunSpec, writeAblationMeta, writePredictions, writeRunResult } from '../runs';
import { TrainRecipe, withOverrides } from '../train/recipe';
import { evaluateSet, noteWait, SetEvaluation, train, TrainProgress, TrainResult } from '../train/trainer';
import { KitError } from '../util/errors';
import { stopSignal } from '../util/kernel';
import { getProfile, Profile, ProfileName } from './profiles';

/**
 * An ablation trains a list of roadmap steps × seeds under one profile. Every run is fully
 * described by its RunSpec {step, seed, profile, overrides}; its folder (src/lib/runs) is
 * <runs>/<ablation id>/<step>/<seed>/. A run with a result.json is skipped, so a restarted
 * ablation resumes. A run being trained holds its folder's lock (runs/lock.ts), so two processes
 * (two shards given the same --shard, or a shard and a lone `train`) never train one run at once:
 * the second stops with an error naming the first.
 */

/** Ablation id: the profile name, plus a short hash of the overrides when there are any. */
export function ablationId(profile: string, overrides: Record<string, unknown>): string {
  const keys = Object.keys(overrides).sort();
  if (keys.length === 0) return profile;
  const canonical = JSON.stringify(keys.map((k) => [k, overrides[k]]));
  return `${profile}-${crypto.createHash('sha256').update(canonical).digest('hex').slice(0, 8)}`;
}

/**
 * The runs of an ablation, seed-major (every step with seed 0 first), so a partial ablation
 * already compares all steps.
 */
export function planRuns(profile: ProfileName, steps: readonly string[], seeds: number, overrides: Record<string, unknown> = {}, pretrained?: RunInit): RunSpec[] {
  for (const s of steps) resolveStep(s);
  if (!Number.isInteger(seeds) || seeds < 1) throw new KitError(`seeds must be a positive integer, got ${seeds}`, { fix: 'use e.g. --seeds 3' });
  const out: RunSpec[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    for (const step of steps) out.push({ step, seed, profile, overrides });
    // The fine-tuned row, after the roadmap's runs of this seed.
    if (pretrained !== undefined) out.push({ step: 'convnext', seed, profile, overrides, init: pretrained });
  }
  return out;
}

/** The recipe of a run: the profile's from-scratch one, or its finetune one for a run with init; plus the overrides. */
export function recipeOf(spec: Pick<RunSpec, 'overrides' | 'init'>, profile: Profile): TrainRecipe {
  return withOverrides(spec.init === undefined ? profile.train : profile.finetune, spec.overrides);
}

/** Parse "i/n" (0 ≤ i < n): this process takes runs i, i+n, i+2n, ... */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (m === null || count < 1 || index >= count) {
    throw new KitError(`invalid shard "${text}"`, { fix: 'use i/n with 0 ≤ i < n, e.g. --shard 0/4 … --shard 3/4 (SLURM: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)' });
  }
  return { index, count };
}

/** The runs of one shard: disjoint across shards, and together all runs. */
export function shardRuns<T>(runs: readonly T[], shard: { index: number; count: number }): T[] {
  return runs.filter((_, k) => k % shard.count === shard.index);
}

export interface AblationOptions {
  profile?: ProfileName | string;
  /** Steps to train (default: the profile's list, or every step). */
  steps?: string[];
  /** Seeds per step (default: the profile's). */
  seeds?: number;
  overrides?: Record<string, unknown>;
  /**
   * Also fine-tune ConvNeXt from these pretrained weights, once per seed, with the profile's
   * finetune recipe: the extra row `convnext (pretrained)`, beside the roadmap, not in its deltas.
   */
  pretrained?: RunInit;
  shard?: { index: number; count: number };
  /** Default: KIT_RUNS_DIR / runs. */
  runsDir?: string;
  /** Use these data instead of loading the profile's (tests). */
  data?: XrayData;
  /** When the profile's data are loaded: `warn` (default) or `error` on patients or images shared across splits (LoadOptions.leakage). */
  leakage?: LeakagePolicy;
  /** Called once with the data this ablation loaded, before the first run trains (e.g. to show data.notes). */
  onData?: (data: XrayData) => void;
  onRunStart?: (spec: RunSpec, index: number, total: number, skipped: boolean) => void;
  onProgress?: (spec: RunSpec, p: TrainProgress) => void;
  onEpoch?: (spec: RunSpec, m: EpochMetrics, history: readonly EpochMetrics[]) => void;
  onRunEnd?: (spec: RunSpec, result: RunResult) => void;
  /** Stops the ablation at the running run's next step boundary (TrainingInterrupted); finished runs stay finished. */
  signal?: AbortSignal;
  /** Also stop on SIGINT (default: inside a tslab kernel). */
  stopOnSigint?: boolean;
}

/** What runOne and trainOrLoad take besides the run: progress hooks, the stop signal, a lock already held. */
export interface RunHooks extends Pick<AblationOptions, 'onProgress' | 'onEpoch' | 'signal' | 'stopOnSigint'> {
  /** The run folder's lock, when the caller took it already (the CLI takes it before loading data). */
  lock?: RunLock;
}

export interface AblationOutcome {
  id: string;
  dir: string;
  /** This shard's runs, in order, with their results. */
  runs: { spec: RunSpec; result: RunResult; skipped: boolean }[];
}

/** Run (or resume) an ablation; returns when this shard's runs are all finished. */
export async function runAblation(options: AblationOptions = {}): Promise<AblationOutcome> {
  await ensureBackend();
  const profile = getProfile(options.profile);
  const overrides = options.overrides ?? {};
  const recipe = withOverrides(profile.train, overrides);
  const steps = options.steps ?? profile.ablation.steps ?? [...STEP_IDS];
  const all = planRuns(profile.name, steps, options.seeds ?? profile.ablation.seeds, overrides, options.pretrained);
  const mine = options.shard === undefined ? all : shardRuns(all, options.shard);
  const id = ablationId(profile.name, overrides);
  const dir = ablationDir(options.runsDir ?? loadSettings().runsDir, id);
  const pretrained = options.pretrained === undefined ? {} : { pretrained: { init: options.pretrained, recipe: recipeOf({ overrides, init: options.pretrained }, profile) } };
  writeAblationMeta(dir, { id, profile: profile.name, overrides, recipe, steps, seeds: options.seeds ?? profile.ablation.seeds, ...pretrained });

  // One SIGINT listener (in a kernel) for the whole ablation: an interrupt between runs stops it too.
  const stop = stopSignal(options.signal, options.stopOnSigint);
  const hooks: RunHooks = { onProgress: options.onProgress, onEpoch: options.onEpoch, signal: stop.signal, stopOnSigint: false };
  let data = options.data;
  const out: AblationOutcome['runs'] = [];
  try {
    for (const [k, spec] of mine.entries()) {
      const runDir = runDirOf(dir, spec);
      const done = readRunResult(runDir);
      options.onRunStart?.(spec, k, mine.length, done !== undefined);
      if (done !== undefined) {
        out.push({ spec, result: done, skipped: true });
        continue;
      }
      if (data === undefined) {
        data = await loadXrayData({ profile, leakage: options.leakage });
        options.onData?.(data);
      }
      const result = await runOne(spec, profile, recipeOf(spec, profile), data, runDir, hooks);
      options.onRunEnd?.(spec, result);
      out.push({ spec, result, skipped: false });
    }
  } finally {
    stop.dispose();
  }
  return { id, dir, runs: out };
}

/**
 * Train one run to the end (resuming a checkpoint if there is one) and evaluate it on test,
 * holding the run folder's lock throughout. A run that finished meanwhile (another process) is
 * read, not trained again. Stopped by hooks.signal (or SIGINT in a kernel): TrainingInterrupted.
 */
export async function runOne(spec: RunSpec, profile: Profile, recipe: TrainRecipe, data: XrayData, runDir: string, hooks: RunHooks = {}): Promise<RunResult> {
  const stop = stopSignal(hooks.signal, hooks.stopOnSigint);
  const lock = hooks.lock ?? (await lockRun(runDir, { signal: stop.signal, onWait: noteWait }));
  try {
    const finished = readRunResult(runDir);
    if (finished !== undefined) return finished;
    const r: TrainResult = await train({
      step: spec.step, scale: profile.model.scale, seed: spec.seed, data, recipe, runDir,
      spec: { profile: spec.profile, overrides: spec.overrides },
      ...(spec.init !== undefined ? { init: spec.init } : {}),
      onProgress: (p) => hooks.onProgress?.(spec, p),
      onEpoch: (m, h) => hooks.onEpoch?.(spec, m, h),
      signal: stop.signal, stopOnSigint: false, lock,
    });
    try {
      const test = await evaluateSet(r.model, data.test, r.normalization, recipe.batchSize);
      const val = await evaluateSet(r.model, data.val, r.normalization, recipe.batchSize);
      const result: RunResult = {
        spec, backend: tf.getBackend(), best: r.best, test: { acc: test.acc, auc: test.auc, loss: test.loss },
        epochs: r.epochsDone, wallSeconds: r.wallSeconds, imgPerSec: r.imgPerSec, history: r.history, finishedAt: new Date().toISOString(),
      };
      // Predictions of the best weights, for the evaluation notebook (thresholds, ROC, errors).
      writePredictions(runDir, predictionsOf(data, val, test));
      writeRunResult(runDir, result);
      return result;
    } finally {
      r.model.dispose();
    }
  } finally {
    if (hooks.lock === undefined) lock.release();
    stop.dispose();
  }
}

/**
 * One run's result: read from its folder when it finished before, else trained now (runOne,
 * with the profile's recipe and the spec's overrides). `loaded` says which.
 */
export async function trainOrLoad(spec: RunSpec, profile: Profile, data: XrayData, ablation: string, hooks: RunHooks = {}): Promise<{ result: RunResult; loaded: boolean }> {
  const dir = runDirOf(ablation, spec);
  const done = readRunResult(dir);
  if (done !== undefined) return { result: done, loaded: true };
  return { result: await runOne(spec, profile, recipeOf(spec, profile), data, dir, hooks), loaded: false };
}

/** The predictions file's content from the evaluations of val and test (in set order). */
export function predictionsOf(data: Pick<XrayData, 'val' | 'test'>, val: SetEvaluation, test: SetEvaluation): Predictions {
  return {
    val: { ids: data.val.ids, labels: [...data.val.labels], probs: [...val.probs] },
    test: { ids: data.test.ids, labels: [...data.test.labels], probs: [...test.probs] },
  };
}
