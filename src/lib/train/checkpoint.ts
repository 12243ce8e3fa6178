import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelConfig } from '../models/config';
import type { EpochMetrics } from '../runs';
import { MODEL_JSON, ModelJson, modelFiles, toCurrentFormat, WEIGHTS_BIN, writeModelFiles } from '../models/io';
import { KitError, messageOf } from '../util/errors';
import { replaceDirAtomic } from '../util/fs';
import { AdamW, AdamWState } from './adamw';
import type { TrainRecipe } from './recipe';
import type { WeightEma } from './ema';

/**
 * A training checkpoint is one folder, written atomically (built under a temporary name, then
 * swapped in), holding everything a resumed run needs to continue exactly:
 *   model.json + weights.bin   the model (all weights, BatchNorm statistics included)
 *   optimizer.bin              AdamW's first and second moments, float32, variable by variable
 *   ema.bin                    the weight average, when the recipe keeps one
 *   state.json                 epoch, step count, config, recipe, seed, generator states, history
 */
export const STATE_JSON = 'state.json';
export const OPTIMIZER_BIN = 'optimizer.bin';
export const EMA_BIN = 'ema.bin';
const FORMAT = 1;

export interface TrainState {
  /** Completed epochs. */
  epoch: number;
  config: ModelConfig;
  recipe: TrainRecipe;
  seed: number;
  /** States of the seeded generators: batch order, augmentation draws, stochastic depth. */
  rng: { shuffle: number; augment: number; dropPath: number };
  history: EpochMetrics[];
}

interface StateFile extends TrainState {
  format: number;
  optimizer: { step: number; names: string[]; sizes: number[] };
  ema: boolean;
}

export async function saveCheckpoint(dir: string, model: tfl.LayersModel, optimizer: AdamW, ema: WeightEma | undefined, state: TrainState, kit: object): Promise<void> {
  const files = await modelFiles(model, kit);
  const opt = await optimizer.getState();
  const emaValues = ema !== undefined ? await ema.values() : undefined;
  const stateFile: StateFile = { ...state, format: FORMAT, optimizer: { step: opt.step, names: opt.names, sizes: opt.m.map((a) => a.length) }, ema: emaValues !== undefined };
  replaceDirAtomic(dir, (tmp) => {
    writeModelFiles(tmp, files);
    fs.writeFileSync(path.join(tmp, OPTIMIZER_BIN), concat([...opt.m, ...opt.v]));
    if (emaValues !== undefined) fs.writeFileSync(path.join(tmp, EMA_BIN), concat(emaValues));
    // state.json last: a folder without it is not a checkpoint.
    fs.writeFileSync(path.join(tmp, STATE_JSON), JSON.stringify(stateFile));
  });
}

export interface LoadedCheckpoint extends TrainState {
  /** Model weights in model.weights order. */
  weights: tf.Tensor[];
  optimizer: AdamWState;
  ema?: tf.Tensor[];
}

/**
 * Read the checkpoint in `dir` for a run that expects this config, recipe and seed, and a model
 * whose weights are `weights` (their names, in model.weights order). Undefined when there is
 * none. A checkpoint of another run or a damaged one is an error that touches nothing, so the
 * user decides. A checkpoint from before the layers were named by role (kit format 1) is read
 * with its names mapped (models/io.ts).
 */
export function loadCheckpoint(dir: string, expect: { config: ModelConfig; recipe: TrainRecipe; seed: number; weights: string[] }): LoadedCheckpoint | undefined {
  const stateFile = path.join(dir, STATE_JSON);
  if (!fs.existsSync(dir)) return undefined;
  const damaged = (what: string): KitError =>
    new KitError(`the checkpoint is damaged: ${what}`, { where: dir, fix: `delete ${dir} to restart this run from scratch (its finished epochs are lost), or restore the folder from a backup` });
  if (!fs.existsSync(stateFile)) throw damaged(`${STATE_JSON} is missing`);
  let state: StateFile;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as StateFile;
  } catch (err) {
    throw damaged(`${STATE_JSON} is not valid JSON (${messageOf(err)})`);
  }
  if (state.format !== FORMAT) throw damaged(`${STATE_JSON} has format ${String(state.format)}, this kit reads ${FORMAT}`);
  const differs = (['config', 'recipe', 'seed'] as const).filter((k) => JSON.stringify(state[k]) !== JSON.stringify(expect[k]));
  if (differs.length > 0) {
    const detail = differs.map((k) => describeDiff(k, state[k], expect[k])).join('; ');
    throw new KitError(`the checkpoint belongs to another run: ${detail}`, {
      where: dir,
      fix: 'resume with the same step, seed, profile and overrides as the run that wrote it, or train into a new run folder (nothing was overwritten)',
    });
  }

  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8')) as ModelJson;
  } catch (err) {
    throw damaged(`${MODEL_JSON} is missing or not valid JSON (${messageOf(err)})`);
  }
  if (json.modelTopology === undefined || json.weightsManifest === undefined) throw damaged(`${MODEL_JSON} has no modelTopology or weightsManifest`);
  const { specs } = toCurrentFormat(json, path.join(dir, MODEL_JSON));
  const mismatch = specs.findIndex((s, i) => s.name !== expect.weights[i]);
  if (mismatch >= 0 || specs.length !== expect.weights.length) {
    const at = mismatch >= 0 ? mismatch : Math.min(specs.length, expect.weights.length);
    throw new KitError(`the checkpoint's weights are not this network's: weight ${at + 1} is ${specs[at]?.name ?? 'missing'}, the model has ${expect.weights[at] ?? 'no more weights'}`, {
      where: dir,
      fix: `resume with the kit version that wrote it, or delete ${dir} to restart this run from scratch (its finished epochs are lost)`,
    });
  }
  const weightBytes = readExact(path.join(dir, WEIGHTS_BIN), specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0), damaged);
  const named = tf.io.decodeWeights(toArrayBuffer(weightBytes), specs);
  const weights = specs.map((s) => named[s.name] as tf.Tensor);

  const sizes = state.optimizer.sizes;
  const total = sizes.reduce((a, b) => a + b, 0);
  const opt = new Float32Array(toArrayBuffer(readExact(path.join(dir, OPTIMIZER_BIN), total * 2 * 4, damaged)));
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  let offset = 0;
  for (const n of sizes) {
    m.push(opt.slice(offset, offset + n));
    offset += n;
  }
  for (const n of sizes) {
    v.push(opt.slice(offset, offset + n));
    offset += n;
  }
  let ema: tf.Tensor[] | undefined;
  if (state.ema) {
    const values = new Float32Array(toArrayBuffer(readExact(path.join(dir, EMA_BIN), weightBytes.length, damaged)));
    let o = 0;
    ema = weights.map((w) => {
      const t = tf.tensor(values.slice(o, o + w.size), w.shape);
      o += w.size;
      return t;
    });
  }
  return { ...state, weights, optimizer: { step: state.optimizer.step, names: state.optimizer.names, m, v }, ema };
}

function readExact(file: string, bytes: number, damaged: (what: string) => KitError): Buffer {
  if (!fs.existsSync(file)) throw damaged(`${path.basename(file)} is missing`);
  const buf = fs.readFileSync(file);
  if (buf.length !== bytes) throw damaged(`${path.basename(file)} has ${buf.length} bytes, expected ${bytes} (truncated?)`);
  return buf;
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function concat(arrays: Float32Array[]): Buffer {
  return Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
}

function describeDiff(key: string, saved: unknown, now: unknown): string {
  if (typeof saved === 'object' && saved !== null && typeof now === 'object' && now !== null) {
    const s = saved as Record<string, unknown>;
    const n = now as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(s), ...Object.keys(n)])].filter((f) => JSON.stringify(s[f]) !== JSON.stringify(n[f]));
    return `${key} differs in ${fields.map((f) => `${f} (saved ${JSON.stringify(s[f])}, now ${JSON.stringify(n[f])})`).join(', ')}`;
  }
  return `${key} (saved ${JSON.stringify(saved)}, now ${JSON.stringify(now)})`;
}
