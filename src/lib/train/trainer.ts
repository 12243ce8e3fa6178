import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { augmentBatch } from '../data/augment';
import { batchCount, batchImages, batchIndices, batchLabels, normalize, PixelStats } from '../data/batches';
import { CLASS_NAMES, ImageSet } from '../data/classes';
import { describeSource, XrayData } from '../data/dataset';
import { checkSplitsMeasurable } from '../data/measurable';
import { accuracy, rocAuc } from '../metrics/classification';
import { buildModel } from '../models/build';
import { fuseForInference } from '../models/fuse';
import { loadModel, saveModel } from '../models/io';
import { ModelConfig } from '../models/config';
import { getDropPathRng, setDropPathRng } from '../models/layers';
import { planModel, PlanOp } from '../models/plan';
import { configFor, resolveStep, ScaleName } from '../models/steps';
import { adaptPretrained, PretrainedInit } from '../pretrained/adapt';
import { readPretrained } from '../pretrained/convnext';
import { ensureBackend } from '../backend';
import { DataFacts, EpochMetrics, lockRun, ModelMeta, readRunMeta, RunInit, RunLock, RunMeta, runPaths, writeEpochMetrics, writeRunMeta } from '../runs';
import { explainError, KitError, messageOf } from '../util/errors';
import { stopReason, stopSignal } from '../util/kernel';
import { writeFileAtomic } from '../util/fs';
import { Rng, seedFor } from '../util/rng';
import { AdamW, clipByGlobalNorm } from './adamw';
import { WeightEma } from './ema';
import { loadCheckpoint, saveCheckpoint, TrainState } from './checkpoint';
import { crossEntropy } from './loss';
import { augmentOptions, TrainRecipe, validateRecipe } from './recipe';
import { learningRate } from './schedule';
import type { TrainStatus } from '../util/progress';

/** What a progress display gets, several times per epoch (the fields util/progress formats, and more). */
export interface TrainProgress extends TrainStatus {
  phase: 'train' | 'val';
  /** The last finished epoch's validation metrics, if any. */
  last?: EpochMetrics;
}

export interface TrainOptions {
  /** Roadmap step (or group, or kernel variant): the architecture. */
  step: string;
  scale: ScaleName;
  seed: number;
  data: XrayData;
  recipe: TrainRecipe;
  /** Where checkpoints and metrics go; undefined keeps everything in memory. */
  runDir?: string;
  /** The ablation's facts to store in run.json, for reproduction. */
  spec?: Pick<RunMeta, 'profile' | 'overrides'>;
  /**
   * Fine-tune: start from pretrained ConvNeXt weights (pretrained/) instead of a seeded init.
   * The step must be ConvNeXt (`convnext` / `separate-downsampling`); the network is the weights'
   * (their depths and widths, not `scale`'s), its stem made gray and its head new for the X-ray
   * classes (seeded by `seed`), and the input is normalized with the pretraining's mean/std
   * instead of the data's, in training, validation, and in the saved checkpoint for predict.
   */
  init?: RunInit;
  /** Where the adaptation notes go (new head, gray stem); default console.log. */
  onNote?: (line: string) => void;
  onProgress?: (p: TrainProgress) => void;
  onEpoch?: (m: EpochMetrics, history: readonly EpochMetrics[]) => void;
  /** Stop (as if killed) after this many epochs of this call; for tests of resume. */
  stopAfterEpochs?: number;
  /**
   * Stops training at the next step boundary: train() then throws TrainingInterrupted, and the
   * last checkpoint (the last finished epoch) stays as it is, so running again resumes exactly.
   */
  signal?: AbortSignal;
  /** Also stop on SIGINT while training (default: inside a tslab kernel, where Kernel › Interrupt sends it). */
  stopOnSigint?: boolean;
  /**
   * The lock of runDir, when the caller holds it already (runOne, the CLI hold it over training
   * and evaluation); else train() takes it while it runs. A run folder has one writer at a time.
   */
  lock?: RunLock;
}

/**
 * Training stopped by its signal (an interrupt) at a step boundary. Nothing after the last
 * finished epoch was saved; the checkpoint of that epoch is intact and the run resumes from it.
 */
export class TrainingInterrupted extends KitError {
  constructor(
    /** What stopped it: "SIGINT", "kernel interrupt (SIGINT)", or the abort reason. */
    readonly reason: string,
    /** Epoch (1-based) and the step in it that did not run; step > steps: before validation. */
    readonly epoch: number,
    readonly step: number,
    readonly steps: number,
    readonly epochs: number,
    /** Finished epochs in the run folder's checkpoint (undefined without a runDir: nothing saved). */
    readonly checkpointEpoch: number | undefined,
    runDir: string | undefined,
  ) {
    const at = step > steps ? `epoch ${epoch}/${epochs}, before its validation` : `epoch ${epoch}/${epochs}, step ${step}/${steps}`;
    const kept = checkpointEpoch === undefined ? 'nothing was saved (no runDir)' : checkpointEpoch === 0 ? 'no epoch had finished, so there is no checkpoint yet' : `the checkpoint of epoch ${checkpointEpoch} is kept`;
    const resume = checkpointEpoch === undefined ? '' : checkpointEpoch === 0 ? ': it starts from the beginning' : `: it resumes from epoch ${checkpointEpoch + 1} and reaches the same weights as an uninterrupted run`;
    super(`training interrupted (${reason}) at ${at}; ${kept}`, {
      where: runDir,
      fix: checkpointEpoch === undefined ? 'train again; give a runDir to be able to resume' : `run again to resume (the same train() / runOne() call or notebook cell, same runDir)${resume}`,
      cliFix: `run the same command again to resume${resume}`,
    });
  }
}

export interface TrainResult {
  /** The normalization of the model's input (the data's, or the pretraining's when fine-tuning). */
  normalization: PixelStats;
  /** The pretrained start, when fine-tuning. */
  init?: PretrainedInit;
  step: string;
  seed: number;
  config: ModelConfig;
  history: EpochMetrics[];
  best: { epoch: number; valAuc: number; valAcc: number; valLoss: number };
  /** Completed epochs; less than recipe.epochs when stopped early (stopAfterEpochs). */
  epochsDone: number;
  finished: boolean;
  wallSeconds: number;
  imgPerSec: number;
  /** The model with the best validation weights loaded (dispose it when done). */
  model: tfl.LayersModel;
  runDir?: string;
}

/**
 * Train one roadmap step on the X-rays with the recipe. Validates every epoch, keeps the best
 * weights by validation AUC, and (with a runDir) checkpoints after every epoch so a killed run
 * resumes where it stopped and reaches the same weights as an uninterrupted one. With a runDir
 * it holds the folder's lock while it runs (one writer per run: runs/lock.ts). options.signal,
 * and SIGINT inside a tslab kernel (Kernel › Interrupt), stop it at the next step boundary with
 * TrainingInterrupted; the checkpoint of the last finished epoch is kept for the resume.
 * Refuses, before any work, splits without an image of each class (data/measurable.ts): val
 * could not rank epochs by AUC, nor test report one.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  await ensureBackend();
  const stop = stopSignal(options.signal, options.stopOnSigint);
  let lock = options.lock;
  const ownLock = lock === undefined && options.runDir !== undefined;
  const markStopping = (): void => {
    if (lock !== undefined) lock.stopping = true;
  };
  try {
    if (ownLock && options.runDir !== undefined) lock = await lockRun(options.runDir, { signal: stop.signal, onWait: noteWait });
    if (lock !== undefined && options.runDir !== undefined) checkLockOf(lock, options.runDir);
    if (stop.signal?.aborted === true) markStopping();
    stop.signal?.addEventListener('abort', markStopping);
    return await trainOnBackend(options, stop.signal);
  } catch (err) {
    throw explainError(err);
  } finally {
    stop.signal?.removeEventListener('abort', markStopping);
    if (ownLock) lock?.release();
    stop.dispose();
  }
}

/** A re-run (e.g. a notebook cell run again after Kernel › Interrupt) waits for the old loop: say so. */
export function noteWait(holder: { pid: number; since: string }): void {
  console.error(`waiting for the interrupted training of this run (pid ${holder.pid}, since ${holder.since}) to stop at its next step…`);
}

function checkLockOf(lock: RunLock, runDir: string): void {
  if (path.dirname(lock.file) !== fs.realpathSync(runDir)) {
    throw new KitError(`the lock given to train() is for another folder: ${lock.dir}`, { where: runDir, fix: 'pass the lock of runDir (runs.lockRun(runDir)), or no lock: train() takes it itself' });
  }
}

async function trainOnBackend(options: TrainOptions, signal: AbortSignal | undefined): Promise<TrainResult> {
  const { data, recipe, seed } = options;
  validateRecipe(recipe);
  checkSplitsMeasurable(data, `${describeSource(data.source)}, profile ${data.profile}`);
  const { config, model, stats, init } = initialModel(options);
  const started = Date.now();

  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new AdamW(trainable, { weightDecay: recipe.weightDecay });
  const ema = recipe.ema !== null ? new WeightEma(model, recipe.ema) : undefined;
  let shuffleRng = new Rng(seedFor(seed, 'shuffle'));
  let augmentRng = new Rng(seedFor(seed, 'augment'));
  setDropPathRng(new Rng(seedFor(seed, 'drop-path')));

  const stepsPerEpoch = batchCount(data.train, recipe.batchSize, true);
  const totalSteps = stepsPerEpoch * recipe.epochs;
  const schedule = { lr: recipe.lr, minLr: recipe.minLr, warmupSteps: Math.round(recipe.warmupEpochs * stepsPerEpoch), totalSteps, shape: recipe.schedule };

  let history: EpochMetrics[] = [];
  let startEpoch = 0;
  let bestWeights: tf.Tensor[] | undefined;
  const runDir = options.runDir;
  if (runDir !== undefined) {
    const meta: RunMeta = { config, recipe, seed, step: options.step, scale: options.scale, data: dataFacts(data), ...options.spec, ...(init !== undefined ? { init } : {}) };
    checkSameInit(runDir, init);
    const state = loadCheckpoint(runPaths(runDir).last, { config, recipe, seed, weights: model.weights.map((w) => w.originalName) });
    if (state !== undefined) {
      model.setWeights(state.weights);
      tf.dispose(state.weights);
      optimizer.setState(state.optimizer);
      ema?.setWeights(state.ema);
      shuffleRng = Rng.fromState(state.rng.shuffle);
      augmentRng = Rng.fromState(state.rng.augment);
      setDropPathRng(Rng.fromState(state.rng.dropPath));
      history = state.history;
      startEpoch = state.epoch;
    } else {
      writeRunMeta(runDir, meta);
    }
  }

  const aug = augmentOptions(recipe);
  // Checked between steps: a step is never cut in half, and nothing after the last checkpoint is
  // saved. First a turn of the event loop: on the tensorflow and cpu backends every await of a
  // step resolves at once, so without it a whole run is one task and a signal (Ctrl-C, Kernel ›
  // Interrupt) would only be seen after the last epoch.
  const stopIfAsked = async (epoch: number, step: number): Promise<void> => {
    if (signal === undefined) return;
    await new Promise((resolve) => setImmediate(resolve));
    if (!signal.aborted) return;
    throw new TrainingInterrupted(stopReason(signal), epoch + 1, step, stepsPerEpoch, recipe.epochs, runDir === undefined ? undefined : history.length, runDir);
  };
  let epochsThisCall = 0;
  let trainImages = 0;
  let trainSeconds = 0;
  try {
    for (let epoch = startEpoch; epoch < recipe.epochs; epoch++) {
      const t0 = Date.now();
      const order = epochOrder(data.train, recipe, shuffleRng);
      let lossSum = 0;
      let lr = 0;
      for (let b = 0; b < order.length; b++) {
        await stopIfAsked(epoch, b + 1);
        const idx = order[b] as number[];
        const globalStep = epoch * stepsPerEpoch + b;
        lr = learningRate(globalStep, schedule);
        const loss = await trainStep(model, trainable, optimizer, data, stats, idx, recipe, aug, augmentRng, lr);
        if (!Number.isFinite(loss)) {
          throw new KitError(`the training loss became ${loss} at epoch ${epoch + 1}, step ${b + 1} (learning rate ${lr.toExponential(2)})`, {
            where: runDir === undefined ? options.step : runPaths(runDir).last,
            fix: `the last good checkpoint is ${runDir !== undefined && history.length > 0 ? `${runPaths(runDir).last} (epoch ${history.length})` : 'none (it diverged in the first epoch)'}; lower lr (now ${recipe.lr}), or set clipGradNorm (e.g. 1.0)`,
          });
        }
        ema?.update();
        lossSum += loss;
        const elapsed = (Date.now() - t0) / 1000;
        const done = epoch * order.length + b + 1 - startEpoch * order.length;
        const left = recipe.epochs * order.length - (epoch * order.length + b + 1);
        options.onProgress?.({
          phase: 'train', epoch: epoch + 1, epochs: recipe.epochs, step: b + 1, steps: order.length,
          loss: lossSum / (b + 1), lr, imgPerSec: ((b + 1) * recipe.batchSize) / Math.max(elapsed, 1e-9),
          etaSeconds: ((Date.now() - started) / 1000 / Math.max(done, 1)) * left, last: history[history.length - 1],
        });
      }
      await stopIfAsked(epoch, order.length + 1);
      const trainTime = (Date.now() - t0) / 1000;
      trainImages += order.length * recipe.batchSize;
      trainSeconds += trainTime;
      options.onProgress?.({ phase: 'val', epoch: epoch + 1, epochs: recipe.epochs, step: order.length, steps: order.length, loss: lossSum / Math.max(order.length, 1), lr, imgPerSec: (order.length * recipe.batchSize) / trainTime, etaSeconds: 0, last: history[history.length - 1] });
      const val = ema !== undefined ? await ema.withAverage(() => evaluateSet(model, data.val, stats, recipe.batchSize)) : await evaluateSet(model, data.val, stats, recipe.batchSize);
      // Best = highest validation AUC; on a tie (AUC saturates on easy data) the lower loss.
      const best = [...history].reverse().find((h) => h.best);
      const isBest = best === undefined || val.auc > best.valAuc || (val.auc === best.valAuc && val.loss < best.valLoss);
      const metrics: EpochMetrics = {
        epoch: epoch + 1, trainLoss: lossSum / Math.max(order.length, 1), valLoss: val.loss, valAcc: val.acc, valAuc: val.auc,
        lr, imgPerSec: (order.length * recipe.batchSize) / trainTime, seconds: (Date.now() - t0) / 1000, best: isBest,
      };
      history.push(metrics);
      if (isBest) {
        tf.dispose(bestWeights);
        bestWeights = ema !== undefined ? ema.snapshot() : model.getWeights().map((w) => w.clone());
      }
      if (runDir !== undefined) {
        const kit = modelMeta(options, config, data, stats, metrics, init);
        if (isBest) await saveBest(model, ema, runPaths(runDir).best, kit);
        const state: TrainState = {
          epoch: epoch + 1,
          config, recipe, seed,
          rng: { shuffle: shuffleRng.getState(), augment: augmentRng.getState(), dropPath: getDropPathRng().getState() },
          history,
        };
        await saveCheckpoint(runPaths(runDir).last, model, optimizer, ema, state, kit);
        writeEpochMetrics(runDir, history);
      }
      options.onEpoch?.(metrics, history);
      epochsThisCall++;
      if (options.stopAfterEpochs !== undefined && epochsThisCall >= options.stopAfterEpochs && epoch + 1 < recipe.epochs) break;
    }
  } catch (err) {
    optimizer.dispose();
    ema?.dispose();
    tf.dispose(bestWeights);
    model.dispose();
    throw wrapDeviceError(err, recipe.batchSize);
  }
  optimizer.dispose();
  ema?.dispose();

  // Hand back the best weights: from memory, or (after a resume) from best/ on disk.
  if (bestWeights !== undefined) {
    model.setWeights(bestWeights);
    tf.dispose(bestWeights);
  } else if (runDir !== undefined && fs.existsSync(runPaths(runDir).best)) {
    const best = await loadModel(runPaths(runDir).best);
    model.setWeights(best.model.getWeights());
    best.model.dispose();
  }
  const bestEpoch = history.reduce((b, h) => (h.best ? h : b), history[0] as EpochMetrics);
  return {
    step: options.step,
    seed,
    config,
    normalization: stats,
    ...(init !== undefined ? { init } : {}),
    history,
    best: { epoch: bestEpoch?.epoch ?? 0, valAuc: bestEpoch?.valAuc ?? NaN, valAcc: bestEpoch?.valAcc ?? NaN, valLoss: bestEpoch?.valLoss ?? NaN },
    epochsDone: history.length,
    finished: history.length === recipe.epochs,
    wallSeconds: (Date.now() - started) / 1000,
    imgPerSec: trainSeconds > 0 ? trainImages / trainSeconds : NaN,
    model,
    runDir,
  };
}

/** One optimizer step; returns the loss value (read back, so NaN can be caught at once). */
async function trainStep(model: tfl.LayersModel, vars: tf.Variable[], optimizer: AdamW, data: XrayData, stats: PixelStats, idx: number[], recipe: TrainRecipe, aug: ReturnType<typeof augmentOptions>, augmentRng: Rng, lr: number): Promise<number> {
  const x = tf.tidy(() => normalize(augmentBatch(batchImages(data.train, idx), aug, augmentRng), stats));
  const y = batchLabels(data.train, idx);
  const classWeights = recipe.balance === 'loss' ? data.classWeights : undefined;
  const { value, grads } = tf.variableGrads(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y, { smoothing: recipe.labelSmoothing, classWeights }), vars);
  const clipped = recipe.clipGradNorm !== null ? clipByGlobalNorm(grads, recipe.clipGradNorm) : { grads, norm: undefined };
  optimizer.apply(clipped.grads, lr);
  tf.dispose([x, y, clipped.norm as tf.Tensor, ...Object.values(clipped.grads)]);
  const loss = (await value.data())[0] as number;
  value.dispose();
  return loss;
}

/** The epoch's batches: a seeded shuffle, or class-balanced draws (with replacement) for `sampler`. */
function epochOrder(set: ImageSet, recipe: TrainRecipe, rng: Rng): number[][] {
  const n = set.labels.length;
  if (recipe.balance !== 'sampler') return batchIndices(n, recipe.batchSize, { shuffle: true, rng, dropLast: true });
  const byClass = CLASS_NAMES.map((_, c) => [...set.labels.keys()].filter((i) => set.labels[i] === c));
  const draws = Array.from({ length: n }, () => {
    const members = byClass[rng.int(byClass.length)] as number[];
    return members[rng.int(members.length)] as number;
  });
  const out: number[][] = [];
  for (let s = 0; s + recipe.batchSize <= n; s += recipe.batchSize) out.push(draws.slice(s, s + recipe.batchSize));
  return out;
}

export interface SetEvaluation {
  /** P(PNEUMONIA) per image, in set order. */
  probs: Float32Array;
  loss: number;
  acc: number;
  auc: number;
}

/**
 * Predict a whole set in batches and score it, through the model's inference graph
 * (models/fuse.ts: BatchNorm folded into the convs, epilogues fused; the same logits as
 * model.apply(x, { training: false }), faster).
 */
export async function evaluateSet(model: tfl.LayersModel, set: ImageSet, stats: PixelStats, batchSize: number): Promise<SetEvaluation> {
  await ensureBackend();
  const n = set.labels.length;
  const probs = new Float32Array(n);
  let lossSum = 0;
  const graph = fuseForInference(model);
  try {
    for (const idx of batchIndices(n, batchSize, { shuffle: false })) {
      const [p, l] = tf.tidy(() => {
        const logits = graph.predict(normalize(batchImages(set, idx), stats));
        const y = batchLabels(set, idx);
        return [tf.slice(tf.softmax(logits), [0, 1], [-1, 1]), tf.mul(crossEntropy(logits, y), idx.length)];
      });
      const pv = await p.data();
      lossSum += (await l.data())[0] as number;
      tf.dispose([p, l]);
      idx.forEach((i, k) => (probs[i] = pv[k] as number));
    }
  } finally {
    graph.dispose();
  }
  return { probs, loss: lossSum / Math.max(n, 1), acc: accuracy(set.labels, probs), auc: rocAuc(set.labels, probs) };
}


async function saveBest(model: tfl.LayersModel, ema: WeightEma | undefined, dir: string, kit: ModelMeta): Promise<void> {
  if (ema === undefined) return saveModel(model, dir, kit);
  await ema.withAverage(() => saveModel(model, dir, kit));
}

/** What predict/evaluate need to use a saved model with exactly the training preprocessing. */
function modelMeta(options: TrainOptions, config: ModelConfig, data: XrayData, stats: PixelStats, m: EpochMetrics, init: PretrainedInit | undefined): ModelMeta {
  return {
    step: options.step, scale: options.scale, seed: options.seed, config,
    input: { size: data.size, fit: data.fit, channels: 1, normalization: stats },
    classes: [...CLASS_NAMES], epoch: m.epoch, valAuc: m.valAuc, valAcc: m.valAcc,
    ...(init !== undefined ? { init } : {}),
  };
}

/**
 * The network a run starts from: the step's config with seeded weights (from scratch), or the
 * pretrained ConvNeXt adapted to gray X-rays (fine-tuning), with the input normalization to use.
 */
function initialModel(options: TrainOptions): { config: ModelConfig; model: tfl.LayersModel; stats: PixelStats; init?: PretrainedInit } {
  const { data, recipe, seed } = options;
  if (options.init === undefined) {
    const config = configFor(options.step, { scale: options.scale, inChannels: 1, numClasses: CLASS_NAMES.length, dropPath: recipe.dropPath });
    checkBatchFits(planModel(config, data.size), recipe.batchSize);
    const model = buildModel(config, data.size, { seed: seedFor(seed, 'init'), name: options.step.replace(/[^a-z0-9]/gi, '_') });
    return { config, model, stats: data.stats };
  }
  if (resolveStep(options.step).step.id !== 'separate-downsampling') {
    throw new KitError(`pretrained weights are a ConvNeXt, the roadmap's last step, not "${options.step}"`, { where: 'init', fix: 'train step convnext (or separate-downsampling) with them', cliFix: 'use --step convnext with --init' });
  }
  const pretrained = readPretrained(options.init.weights);
  checkBatchFits(planModel({ ...pretrained.config, inChannels: 1 }, data.size), recipe.batchSize);
  const adapted = adaptPretrained(pretrained, {
    // Always a new head: whatever the pretrained classes were, they are not NORMAL and PNEUMONIA.
    size: data.size, numClasses: CLASS_NAMES.length, newHead: true, grayscale: options.init.grayscale, seed: seedFor(seed, 'init'), dropPath: recipe.dropPath,
  });
  const note = options.onNote ?? ((line: string) => console.log(line));
  note(`fine-tuning ${adapted.init.variant === 'custom' ? 'a' : adapted.init.variant} ConvNeXt (${adapted.init.layout === 'hf' ? 'HuggingFace' : 'timm'} weights, ${options.init.weights})`);
  for (const line of adapted.notes) note(line);
  return { config: adapted.config, model: adapted.model, stats: adapted.normalization as PixelStats, init: adapted.init };
}

/** A run folder started from other weights (or from scratch) cannot be resumed from these. */
function checkSameInit(runDir: string, init: PretrainedInit | undefined): void {
  if (!fs.existsSync(runPaths(runDir).meta)) return;
  const before = readRunMeta(runDir);
  const was = before.init === undefined ? 'from scratch' : `from ${before.init.source} (sha256 ${before.init.sha256.slice(0, 12)}…, ${before.init.grayscale ?? 'rgb'})`;
  const now = init === undefined ? 'from scratch' : `from ${init.source} (sha256 ${init.sha256.slice(0, 12)}…, ${init.grayscale ?? 'rgb'})`;
  const same = (before.init === undefined && init === undefined) || (before.init !== undefined && init !== undefined && before.init.sha256 === init.sha256 && before.init.grayscale === init.grayscale);
  if (!same) {
    throw new KitError(`this run folder was started ${was}, and would now continue ${now}`, {
      where: runDir,
      fix: 'give the same initial weights to resume, or train into another run folder',
    });
  }
}

function dataFacts(d: XrayData): DataFacts {
  return {
    source: d.source, profile: d.profile, size: d.size, fit: d.fit, split: { method: d.split.method, valFraction: d.split.valFraction, seed: d.split.seed },
    counts: { train: d.train.labels.length, val: d.val.labels.length, test: d.test.labels.length },
  };
}

/**
 * Refuse, before any work, a batch whose largest activation tensor exceeds what the device can
 * hold in one buffer, and say which batch fits.
 */
export function checkBatchFits(plan: readonly PlanOp[], batchSize: number, maxBytes = deviceBufferLimit()): void {
  let largest = 0;
  const visit = (op: PlanOp): void => {
    if (op.op === 'residual') [...op.body, ...op.shortcut, ...op.after].forEach(visit);
    const out = op.out as number[];
    largest = Math.max(largest, out.reduce((a, b) => a * b, 1) * 4);
  };
  plan.forEach(visit);
  if (largest * batchSize > maxBytes) {
    const fits = Math.max(1, Math.floor(maxBytes / largest));
    throw new KitError(`batch size ${batchSize} is too large for this device: its largest activation would be ${(largest * batchSize / 2 ** 20).toFixed(0)} MiB, the device's buffer limit is ${(maxBytes / 2 ** 20).toFixed(0)} MiB`, {
      where: 'recipe.batchSize',
      fix: `use a batch of at most ${fits} (e.g. --override batchSize=${2 ** Math.floor(Math.log2(fits))})`,
    });
  }
}

function deviceBufferLimit(): number {
  const backend = tf.getBackend();
  if (backend === 'webgpu') {
    const device = (tf.backend() as unknown as { device?: { limits?: { maxStorageBufferBindingSize?: number } } }).device;
    return device?.limits?.maxStorageBufferBindingSize ?? 2 ** 27;
  }
  // Typed arrays (cpu backend) top out at 2^31 bytes in Node.
  return 2 ** 31 - 1;
}

/** Out-of-memory errors from the device, rewritten to say which batch to try. */
function wrapDeviceError(err: unknown, batchSize: number): unknown {
  if (err instanceof KitError) return err;
  const msg = messageOf(err);
  if (/out of memory|OOM|allocat|createBuffer|Device lost|exceeds/i.test(msg)) {
    return new KitError(`the device ran out of memory at batch size ${batchSize}: ${msg.split('\n')[0] ?? ''}`, {
      where: 'recipe.batchSize',
      fix: `use a smaller batch, e.g. --override batchSize=${Math.max(2, Math.floor(batchSize / 2))}`,
      cause: err,
    });
  }
  return err;
}

export type { EpochMetrics } from '../runs';
