/** The run folder on disk: its file names, typed records, readers and writers, and the one walker over an ablation. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PixelStats } from '../data/batches';
import type { DataSource } from '../data/dataset';
import type { Fit } from '../data/decode';
import type { ModelConfig } from '../models/config';
import type { GrayscaleMode, PretrainedInit } from '../pretrained/adapt';
import { KitError } from '../util/errors';
import { writeFileAtomic } from '../util/fs';
import { lockFolder, lockHolder, LockHolder, LockOptions, RunLock } from './lock';

export type { LockHolder, RunLock } from './lock';

/**
 * The run folder on disk, and the one place that knows its names. An ablation lives in
 * `<runs>/<ablation id>/`, each of its runs in `<step>/<seed>/`:
 *
 *   <runs>/<ablation id>/ablation.json           AblationMeta: profile, overrides, recipe, steps, seeds
 *   <runs>/<ablation id>/report.html             the standalone HTML report (experiment/html-report.ts)
 *   <runs>/<ablation id>/<step>/<seed>/run.json  RunMeta: what the run is (written when it starts)
 *                                      metrics.jsonl   one EpochMetrics per line
 *                                      best/, last/    checkpoints (models/io, train/checkpoint)
 *                                      predictions.json  Predictions of the best weights, val and test
 *                                      result.json       RunResult: written last, marks the run finished
 *                                      train.lock        LockHolder: present while a process trains here (lock.ts)
 *
 * `train` alone writes the same run folder anywhere. Readers take a folder and fail with a
 * KitError that says what the folder should be.
 */
export const RUN_FILES = {
  meta: 'run.json',
  metrics: 'metrics.jsonl',
  predictions: 'predictions.json',
  result: 'result.json',
  best: 'best',
  last: 'last',
  lock: 'train.lock',
} as const;

export const ABLATION_FILE = 'ablation.json';
/** The standalone HTML page of an ablation (notebook 04 writes it beside its runs). */
export const ABLATION_REPORT = 'report.html';

/** Every path of one run folder. */
export type RunPaths = { dir: string } & { [K in keyof typeof RUN_FILES]: string };

export function runPaths(dir: string): RunPaths {
  return { dir, ...(Object.fromEntries(Object.entries(RUN_FILES).map(([k, name]) => [k, path.join(dir, name)])) as { [K in keyof typeof RUN_FILES]: string }) };
}

/** `<runsDir>/<id>`: the folder of one ablation. */
export function ablationDir(runsDir: string, id: string): string {
  return path.join(runsDir, id);
}

/** `<ablationDir>/report.html`. */
export function reportFile(ablation: string): string {
  return path.join(ablation, ABLATION_REPORT);
}

/** `<ablationDir>/<step>/<seed>`: the folder of one run of an ablation. */
export function runDirOf(ablation: string, spec: { step: string; seed: number; init?: RunInit }): string {
  return path.join(ablation, stepDirName(spec), String(spec.seed));
}

/**
 * Take the run folder's lock (`train.lock`) for this process: one writer per run. Fails with a
 * KitError naming the holder (pid, host, since when) and what to do; takes over a stale lock
 * (its process is gone); waits, in this process, for a holder that was asked to stop. See lock.ts.
 */
export function lockRun(dir: string, options: Omit<LockOptions, 'name'> = {}): Promise<RunLock> {
  return lockFolder(dir, { ...options, name: RUN_FILES.lock });
}

/** Who holds the run folder's lock now, or undefined when nobody does. */
export function runLockHolder(dir: string): LockHolder | undefined {
  return lockHolder(runPaths(dir).lock);
}

/** Metrics of one epoch, one line of metrics.jsonl. */
export interface EpochMetrics {
  epoch: number;
  /** Mean training loss over the epoch's steps (with smoothing and class weights). */
  trainLoss: number;
  /** Validation: plain cross-entropy, accuracy at 0.5, ROC-AUC. */
  valLoss: number;
  valAcc: number;
  valAuc: number;
  /** Learning rate at the epoch's last step. */
  lr: number;
  /** Training images per second (augmentation, forward, backward, update; validation excluded). */
  imgPerSec: number;
  /** Wall time of the epoch, validation included. */
  seconds: number;
  /** This epoch set a new best validation AUC (its weights are in best/). */
  best: boolean;
}

/** An ablation run: {step, seed, profile, overrides} describe it fully. */
export interface RunSpec {
  step: string;
  seed: number;
  profile: string;
  overrides: Record<string, unknown>;
  /**
   * Fine-tune from pretrained weights instead of a seeded start: the folder (config.json +
   * model.safetensors) and how its RGB stem becomes gray. Absent: trained from scratch. The run's
   * folder is `<step>+pretrained/<seed>`, a row of its own beside the roadmap (never a step of it).
   */
  init?: RunInit;
}

/** Where a fine-tuned run starts (RunSpec.init). */
export interface RunInit {
  /** A local folder with config.json + model.safetensors (HuggingFace or timm layout). */
  weights: string;
  /** `sum` (default) or `repeat`: pretrained/adapt.ts. */
  grayscale?: GrayscaleMode;
}

/** The folder name of a spec's step: the step, or `<step>+pretrained` for a fine-tuned run. */
export function stepDirName(spec: { step: string; init?: RunInit }): string {
  return spec.init === undefined ? spec.step : `${spec.step}${PRETRAINED_SUFFIX}`;
}

/** The suffix that marks fine-tuned runs' folders (RunSpec.init). */
export const PRETRAINED_SUFFIX = '+pretrained';

/** The data a run trained on, as run.json records it (to refuse evaluating it on other data). */
export interface DataFacts {
  source: DataSource;
  profile: string;
  size: number;
  fit: Fit;
  /** valFraction and seed are absent for the official split (MedMNIST's own val). */
  split: { method: string; valFraction?: number; seed?: number };
  counts: { train: number; val: number; test: number };
}

/** run.json: what the run is, written when it starts. */
export interface RunMeta {
  step: string;
  seed: number;
  scale: string;
  config: ModelConfig;
  /** The training recipe (train/recipe.ts's TrainRecipe). */
  recipe: object;
  data: DataFacts;
  /** Set by the ablation runner. */
  profile?: string;
  overrides?: Record<string, unknown>;
  /** Pretrained weights the run started from (what, which file hash, how adapted); absent: from scratch. */
  init?: PretrainedInit;
}

/** The kit's metadata in a checkpoint's model.json: enough to use the model again. */
export interface ModelMeta {
  step: string;
  scale: string;
  seed: number;
  config: ModelConfig;
  input: { size: number; fit: Fit; channels: number; normalization: PixelStats };
  classes: string[];
  epoch: number;
  valAuc: number;
  valAcc: number;
  /** Pretrained weights the model was fine-tuned from; absent: trained from scratch. */
  init?: PretrainedInit;
}

/** result.json: what a finished run leaves. */
export interface RunResult {
  spec: RunSpec;
  backend: string;
  best: { epoch: number; valAuc: number; valAcc: number; valLoss: number };
  /** The best-validation weights evaluated once on the test split. */
  test: { acc: number; auc: number; loss: number };
  epochs: number;
  wallSeconds: number;
  imgPerSec: number;
  history: EpochMetrics[];
  finishedAt: string;
}

export interface SplitPredictions {
  ids: string[];
  labels: number[];
  /** P(PNEUMONIA) per image. */
  probs: number[];
}

/** predictions.json: the best weights' probabilities on validation and test. */
export interface Predictions {
  val: SplitPredictions;
  test: SplitPredictions;
}

/** ablation.json: how the ablation was asked for. */
export interface AblationMeta {
  id: string;
  profile: string;
  overrides: Record<string, unknown>;
  recipe: object;
  steps: string[];
  seeds: number;
  /** The `convnext (pretrained)` row: its weights and its recipe (the profile's finetune one). */
  pretrained?: { init: RunInit; recipe: object };
}

function readJson<T>(file: string, what: string, fix: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    throw new KitError(`${what} is not valid JSON`, { where: file, fix });
  }
}

const writeJson = (file: string, value: unknown, indent = true): void => writeFileAtomic(file, indent ? JSON.stringify(value, null, 2) : JSON.stringify(value));

export function writeRunMeta(dir: string, meta: RunMeta): void {
  fs.mkdirSync(dir, { recursive: true });
  writeJson(runPaths(dir).meta, meta);
}

export function readRunMeta(dir: string): RunMeta {
  const file = runPaths(dir).meta;
  if (!fs.existsSync(file)) throw new KitError(`not a run folder: no ${RUN_FILES.meta}`, { where: dir, fix: 'give a folder runs/<ablation>/<step>/<seed> written by `train` or `ablate`' });
  return readJson<RunMeta>(file, RUN_FILES.meta, 'the run folder is damaged: train it again');
}

/** metrics.jsonl, rewritten whole after every epoch (atomically, like the checkpoint beside it). */
export function writeEpochMetrics(dir: string, history: readonly EpochMetrics[]): void {
  writeFileAtomic(runPaths(dir).metrics, history.map((h) => JSON.stringify(h)).join('\n') + '\n');
}

export function writeRunResult(dir: string, result: RunResult): void {
  writeJson(runPaths(dir).result, result);
}

/** The result of a finished run, or undefined (not finished, or no such run). */
export function readRunResult(dir: string): RunResult | undefined {
  const file = runPaths(dir).result;
  if (!fs.existsSync(file)) return undefined;
  return readJson<RunResult>(file, RUN_FILES.result, `delete it; the run will be evaluated again from its checkpoint (${RUN_FILES.meta} and ${RUN_FILES.last}/ are kept)`);
}

export function writePredictions(dir: string, p: Predictions): void {
  writeJson(runPaths(dir).predictions, p, false);
}

export function readPredictions(dir: string): Predictions {
  const file = runPaths(dir).predictions;
  if (!fs.existsSync(file)) throw new KitError('this run has no predictions yet', { where: dir, fix: 'let the run finish (npx convnext-xray ablate / train), or use `evaluate` to recompute them from its checkpoint' });
  return readJson<Predictions>(file, RUN_FILES.predictions, 'recompute them: `npx convnext-xray evaluate <run> --save`');
}

export function writeAblationMeta(dir: string, meta: AblationMeta): void {
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, ABLATION_FILE), meta);
}

/** ablation.json of an ablation folder, or undefined for folders from before it was written. */
export function readAblationMeta(dir: string): AblationMeta | undefined {
  const file = path.join(dir, ABLATION_FILE);
  return fs.existsSync(file) ? readJson<AblationMeta>(file, ABLATION_FILE, 'delete it; `ablate` writes it again') : undefined;
}

/** A finished run found in an ablation folder. */
export interface FinishedRun {
  step: string;
  seed: number;
  dir: string;
  result: RunResult;
}

/**
 * Every finished run (one with a result.json) of an ablation folder, by step folder name, then
 * seed. Errors: a KitError when the folder does not exist, or has no finished run yet.
 */
export function finishedRuns(ablation: string): FinishedRun[] {
  if (!fs.existsSync(ablation) || !fs.statSync(ablation).isDirectory()) {
    throw new KitError('no ablation folder here', { where: ablation, fix: 'give a folder made by `npx convnext-xray ablate`, e.g. runs/smoke' });
  }
  const out: FinishedRun[] = [];
  for (const step of fs.readdirSync(ablation).sort()) {
    const stepDir = path.join(ablation, step);
    if (!fs.statSync(stepDir).isDirectory()) continue;
    const seeds = fs.readdirSync(stepDir).filter((s) => /^\d+$/.test(s)).sort((a, b) => Number(a) - Number(b));
    for (const seed of seeds) {
      const dir = path.join(stepDir, seed);
      const result = readRunResult(dir);
      if (result !== undefined) out.push({ step, seed: Number(seed), dir, result });
    }
  }
  if (out.length === 0) throw new KitError('no finished run in this ablation yet', { where: ablation, fix: 'wait for `npx convnext-xray ablate` to finish at least one run' });
  return out;
}
