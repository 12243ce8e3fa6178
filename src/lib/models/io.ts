import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { KitError, messageOf } from '../util/errors';
import { replaceDirAtomic } from '../util/fs';
import './layers';

/**
 * Models on disk in TensorFlow.js's own "layers-model" format (model.json + weights.bin, the
 * format tfjs-node's `file://` handler also reads), plus a `kit` field with what the kit needs
 * to use the model again (its config, input size, normalization). Written atomically: a folder
 * is built under a temporary name and swapped in, so a crash never leaves half a model.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

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
    kit,
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
  kit: Record<string, unknown>;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const jsonPath = path.join(dir, MODEL_JSON);
  const binPath = path.join(dir, WEIGHTS_BIN);
  const fix = 'point at a folder written by the kit (it holds model.json and weights.bin), or train again';
  if (!fs.existsSync(jsonPath) || !fs.existsSync(binPath)) {
    throw new KitError(`no saved model here: expected ${MODEL_JSON} and ${WEIGHTS_BIN}`, { where: dir, fix });
  }
  let json: { modelTopology?: object; weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[]; kit?: Record<string, unknown> };
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as typeof json;
  } catch (err) {
    throw new KitError(`${MODEL_JSON} is not valid JSON (${messageOf(err)})`, { where: jsonPath, fix });
  }
  const specs = json.weightsManifest?.flatMap((g) => g.weights);
  if (json.modelTopology === undefined || specs === undefined) {
    throw new KitError(`${MODEL_JSON} has no modelTopology or weightsManifest`, { where: jsonPath, fix });
  }
  const bytes = fs.readFileSync(binPath);
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (bytes.length !== expected) {
    throw new KitError(`${WEIGHTS_BIN} has ${bytes.length} bytes, the manifest needs ${expected} (truncated or from another model)`, { where: binPath, fix });
  }
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  try {
    const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
    return { model, kit: json.kit ?? {} };
  } catch (err) {
    throw new KitError(`the saved model does not load: ${messageOf(err)}`, { where: dir, fix });
  }
}
