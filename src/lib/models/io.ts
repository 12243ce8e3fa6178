import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { KitError, messageOf, requireBackend } from '../util/errors';
import { replaceDirAtomic } from '../util/fs';
import { ModelConfig } from './config';
import { formatOneNames } from './legacy';
import './layers';

/**
 * Models on disk in TensorFlow.js's own "layers-model" format (model.json + weights.bin, the
 * format tfjs-node's `file://` handler also reads), plus a `kit` field with what the kit needs
 * to use the model again (its config, input size, normalization) and `kit.format`, the version
 * of the kit's naming. Written atomically: a folder is built under a temporary name and swapped
 * in, so a crash never leaves half a model.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/**
 * The kit's model format, saved as `kit.format`. 1 (no `kit.format`): block layers named by
 * position (`s1_b1_pwconv2` for the expanding conv); 2: named by role (plan.ts), read back by
 * mapping format 1's names (legacy.ts) when the model records its config.
 */
export const KIT_FORMAT = 2;

/** The two files of a saved model, in memory: model.json text and weights.bin bytes. */
export async function modelFiles(model: tfl.LayersModel, kit: object): Promise<{ json: string; weights: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  if (artifacts === undefined || artifacts.weightData === undefined) throw new Error('model.save produced no artifacts');
  const weights = new Uint8Array(tf.io.concatenateArrayBuffers(artifacts.weightData as ArrayBuffer | ArrayBuffer[]));
  const json = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs }],
    kit: { ...kit, format: KIT_FORMAT },
  };
  return { json: JSON.stringify(json), weights };
}

/** Write model files into an existing folder (used inside an atomic folder swap). */
export function writeModelFiles(dir: string, files: { json: string; weights: Uint8Array }): void {
  fs.writeFileSync(path.join(dir, WEIGHTS_BIN), files.weights);
  fs.writeFileSync(path.join(dir, MODEL_JSON), files.json);
}

export async function saveModel(model: tfl.LayersModel, dir: string, kit: object): Promise<void> {
  const files = await modelFiles(model, kit);
  replaceDirAtomic(dir, (tmp) => writeModelFiles(tmp, files));
}

export interface LoadedModel {
  model: tfl.LayersModel;
  /** The `kit` metadata as it was saved (without `format`). */
  kit: Record<string, unknown>;
  /** The kit format the files were written in (1: layer names mapped on load). */
  format: number;
}

/** model.json as the kit reads it. */
export interface ModelJson {
  modelTopology?: object;
  weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[];
  kit?: Record<string, unknown>;
}

/** A model.json brought to the current format: topology and weight specs with today's layer names. */
export interface CurrentModelJson {
  modelTopology: object;
  specs: tf.io.WeightsManifestEntry[];
  kit: Record<string, unknown>;
  format: number;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  requireBackend();
  const jsonPath = path.join(dir, MODEL_JSON);
  const binPath = path.join(dir, WEIGHTS_BIN);
  const fix = 'point at a folder written by the kit (it holds model.json and weights.bin), or train again';
  if (!fs.existsSync(jsonPath) || !fs.existsSync(binPath)) {
    throw new KitError(`no saved model here: expected ${MODEL_JSON} and ${WEIGHTS_BIN}`, { where: dir, fix });
  }
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as ModelJson;
  } catch (err) {
    throw new KitError(`${MODEL_JSON} is not valid JSON (${messageOf(err)})`, { where: jsonPath, fix });
  }
  const { modelTopology, specs, kit, format } = toCurrentFormat(json, jsonPath);
  const bytes = fs.readFileSync(binPath);
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (bytes.length !== expected) {
    throw new KitError(`${WEIGHTS_BIN} has ${bytes.length} bytes, the manifest needs ${expected} (truncated or from another model)`, { where: binPath, fix });
  }
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  try {
    const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: specs, weightData }));
    return { model, kit, format };
  } catch (err) {
    throw new KitError(`the saved model does not load: ${messageOf(err)}`, { where: dir, fix });
  }
}

/**
 * Check a parsed model.json and bring it to KIT_FORMAT. A format-1 model (no `kit.format`) gets
 * today's layer names, mapped from the config it recorded (`kit.config`, which the trainer
 * writes); without one, or from a newer kit, it is an error that says what to do.
 */
export function toCurrentFormat(json: ModelJson, where: string): CurrentModelJson {
  const specs = json.weightsManifest?.flatMap((g) => g.weights);
  if (json.modelTopology === undefined || specs === undefined) {
    throw new KitError(`${MODEL_JSON} has no modelTopology or weightsManifest`, { where, fix: 'point at a folder written by the kit (it holds model.json and weights.bin), or train again' });
  }
  const { format: saved, ...kit } = json.kit ?? {};
  if (saved === KIT_FORMAT) return { modelTopology: json.modelTopology, specs, kit, format: KIT_FORMAT };
  if (saved !== undefined) {
    throw new KitError(`${MODEL_JSON} has kit format ${JSON.stringify(saved)}; this kit reads formats 1 and ${KIT_FORMAT}`, {
      where,
      fix: typeof saved === 'number' && saved > KIT_FORMAT ? 'the model was saved by a newer kit: update this one (git pull, npm run build)' : 'the file was not written by the kit, or was edited: train the model again',
    });
  }
  const oldKit = `${MODEL_JSON} is from an older kit (format 1, no kit.format: its block layers are named by position, e.g. s1_b1_pwconv2 for today's s1_b1_pwconv1)`;
  const config = kit['config'] as ModelConfig | undefined;
  if (typeof config !== 'object' || config === null) {
    throw new KitError(`${oldKit} and records no config to map its layer names`, {
      where,
      fix: `train the model again with this kit (its files get kit.format ${KIT_FORMAT}), or load it with the older kit version that wrote it`,
    });
  }
  let names: Map<string, string>;
  try {
    names = formatOneNames(config);
  } catch (err) {
    throw new KitError(`${oldKit} and its kit.config does not describe a network this kit builds (${messageOf(err)})`, { where, fix: 'train the model again with this kit' });
  }
  const layers = (json.modelTopology as { config?: { layers?: { name?: unknown; class_name?: unknown }[] } }).config?.layers ?? [];
  const layerNames = layers.filter((l) => l.class_name !== 'InputLayer').map((l) => String(l.name));
  const unknown = layerNames.filter((n) => !names.has(n));
  if (unknown.length > 0 || layerNames.length !== names.size) {
    const missing = [...names.keys()].filter((n) => !layerNames.includes(n));
    throw new KitError(`${oldKit}, and its layers are not those of the config it recorded (${[...unknown.map((n) => `unexpected ${n}`), ...missing.map((n) => `missing ${n}`)].slice(0, 4).join(', ')})`, {
      where,
      fix: 'train the model again with this kit, or load it with the older kit version that wrote it',
    });
  }
  // Layer names are distinctive (stem_, s1_b1_, down2_, head_), so a string equal to one is that layer: its name or a reference to it.
  const modelTopology = JSON.parse(JSON.stringify(json.modelTopology), (_key, v: unknown) => (typeof v === 'string' ? (names.get(v) ?? v) : v)) as object;
  const renamed = specs.map((s) => {
    const slash = s.name.indexOf('/');
    const layer = s.name.slice(0, slash);
    return { ...s, name: `${names.get(layer) ?? layer}${s.name.slice(slash)}` };
  });
  return { modelTopology, specs: renamed, kit, format: 1 };
}
