import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend';
import * as tfl from '@tensorflow/tfjs-layers';
import { normalize, PixelStats } from '../data/batches';
import { CLASS_NAMES } from '../data/classes';
import { decodeXray, Fit, FITS, pathProblem, SKIP_BAD_IMAGES } from '../data/decode';
import { fuseForInference } from '../models/fuse';
import { loadModel, MODEL_JSON } from '../models/io';
import { ModelMeta, runPaths } from '../runs';
import { KitError } from '../util/errors';

/**
 * Using a trained model on new X-rays with exactly the preprocessing it was trained with: the
 * checkpoint's metadata (written by the trainer) records the input size, the fit, the channels
 * and the normalization, and every image goes through the same decoder as the training data.
 */
export interface InputSpec {
  size: number;
  fit: Fit;
  channels: number;
  normalization: PixelStats;
}

export interface Classifier {
  model: tfl.LayersModel;
  input: InputSpec;
  classes: string[];
  /** The folder the model was loaded from, and what the trainer recorded (step, seed, epoch, ...). */
  dir: string;
  meta: ModelMeta;
}

/**
 * Load a classifier from a run folder (its best/ checkpoint), or from a checkpoint folder itself
 * (best/ or last/). Checks that the metadata and the network agree.
 */
export async function loadClassifier(dir: string): Promise<Classifier> {
  await ensureBackend();
  const candidates = [runPaths(dir).best, dir];
  const found = candidates.find((d) => fs.existsSync(path.join(d, MODEL_JSON)));
  if (found === undefined) {
    throw new KitError('no model checkpoint here', { where: dir, fix: 'give a run folder (runs/<id>/<step>/<seed>) or its best/ folder' });
  }
  const { model, kit } = await loadModel(found);
  const input = kit['input'] as Partial<InputSpec> | undefined;
  const wrong = (what: string): KitError => {
    model.dispose();
    return new KitError(`this checkpoint cannot be used for prediction: ${what}`, { where: found, fix: 'use a checkpoint written by the kit\'s trainer (npx convnext-xray train / ablate)' });
  };
  if (input === undefined || typeof input.size !== 'number' || input.normalization === undefined || typeof input.channels !== 'number') {
    throw wrong('its model.json has no kit.input (size, fit, channels, normalization)');
  }
  if (input.fit === undefined || !FITS.includes(input.fit)) throw wrong(`unknown fit ${JSON.stringify(input.fit)}`);
  const shape = (model.inputs[0] as tfl.SymbolicTensor).shape;
  if (shape[1] !== input.size || shape[2] !== input.size) throw wrong(`the network takes ${shape[1]}×${shape[2]} inputs but the metadata says ${input.size} px`);
  if (shape[3] !== input.channels) throw wrong(`the network takes ${shape[3]} channel(s) but the metadata says ${input.channels}`);
  if (input.channels !== 1) throw wrong(`it expects ${input.channels}-channel inputs; X-rays are decoded to 1 channel`);
  const classes = (kit['classes'] as string[] | undefined) ?? [...CLASS_NAMES];
  const out = (model.outputs[0] as tfl.SymbolicTensor).shape;
  if (out[1] !== classes.length) throw wrong(`the network has ${out[1]} outputs for ${classes.length} classes`);
  // Checked above where prediction depends on it; the rest is what the trainer wrote (runs/ModelMeta).
  return { model, input: input as InputSpec, classes, dir: found, meta: { ...(kit as unknown as ModelMeta), classes } };
}

export interface Prediction {
  file: string;
  /** Probability per class name. */
  probabilities: Record<string, number>;
  predicted: string;
}

/** Class probabilities for image files, preprocessed exactly as in training. */
export async function predictFiles(clf: Classifier, files: readonly string[], batchSize = 32): Promise<Prediction[]> {
  await ensureBackend();
  // Every path first, so a typo in the 40th file does not come after 39 predictions.
  for (const file of files) {
    const problem = pathProblem(file);
    if (problem === undefined) continue;
    const folder = fs.existsSync(file) && fs.statSync(file).isDirectory();
    throw new KitError(`cannot predict: ${problem.problem}`, {
      where: file,
      fix: folder ? 'give the image files in it, e.g. fs.readdirSync(folder).map((f) => path.join(folder, f))' : `${problem.fix}, or leave the file out`,
      cliFix: folder ? `give the image files in it, e.g. \`npx convnext-xray predict ${path.join(file, '*.jpeg')} --checkpoint …\`` : `${problem.fix}, or leave the file off the command line`,
    });
  }
  const out: Prediction[] = [];
  const { size, fit } = clf.input;
  const graph = fuseForInference(clf.model);
  try {
    for (let s = 0; s < files.length; s += batchSize) {
      const chunk = files.slice(s, s + batchSize);
      const pixels = await Promise.all(chunk.map(async (f) => (await decodeForPrediction(f, size, fit)).pixels));
      const data = new Float32Array(chunk.length * size * size);
      pixels.forEach((p, i) => {
        for (let k = 0; k < p.length; k++) data[i * size * size + k] = (p[k] as number) / 255;
      });
      const probs = tf.tidy(() => tf.softmax(graph.predict(normalize(tf.tensor4d(data, [chunk.length, size, size, 1]), clf.input.normalization))));
      const values = await probs.data();
      probs.dispose();
      chunk.forEach((file, i) => {
        const row = Array.from(values.subarray(i * clf.classes.length, (i + 1) * clf.classes.length));
        const best = row.indexOf(Math.max(...row));
        out.push({ file, probabilities: Object.fromEntries(clf.classes.map((c, k) => [c, row[k] as number])), predicted: clf.classes[best] as string });
      });
    }
  } finally {
    graph.dispose();
  }
  return out;
}

/**
 * decodeXray, with its fix for prediction: decodeXray ends its fixes with how to skip bad files
 * when loading a data folder, an option predictFiles does not have (the caller picks the files).
 */
async function decodeForPrediction(file: string, size: number, fit: Fit): Promise<{ pixels: Uint8Array }> {
  try {
    return await decodeXray(file, size, fit, file);
  } catch (err) {
    if (!(err instanceof KitError)) throw err;
    const skip = [', ', '; '].map((sep) => `${sep}${SKIP_BAD_IMAGES}`).find((tail) => err.fix.endsWith(tail));
    const fix = skip === undefined ? err.fix : err.fix.slice(0, -skip.length);
    throw new KitError(err.problem, { where: err.where, fix: `${fix}, or leave the file out`, cliFix: `${fix}, or leave the file off the command line`, cause: err });
  }
}
