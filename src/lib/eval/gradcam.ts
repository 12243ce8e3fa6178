import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend';
import * as tfl from '@tensorflow/tfjs-layers';
import { KitError } from '../util/errors';

/**
 * Grad-CAM (Selvaraju et al., ICCV 2017): where in the image did the evidence for a class come
 * from? Take a stage's feature map A (h × w × C), the gradient of the class logit with respect
 * to it, average that gradient over space to get one weight per channel, and sum the channels
 * with those weights; negative evidence is cut (ReLU). The h × w map is upsampled to the input.
 *
 * The default layer is the output of the last stage (the paper's choice). At X-ray sizes that map
 * is tiny (2×2 at 64 px, 1×1 at 32 px: total stride 32), so `stage` can pick an earlier stage;
 * camStageFor() picks the deepest stage with a usable grid.
 */
export interface GradCamOptions {
  /** Class whose evidence to show; default 1 (PNEUMONIA). */
  classIndex?: number;
  /** Stage 1–4 whose output to explain (default 4, the last). */
  stage?: number;
}

export interface GradCam {
  /** size × size heat in [0, 1] (0 everywhere when no positive evidence). */
  heat: Float32Array;
  /** The raw map at the stage's resolution (before upsampling), and its side. */
  grid: Float32Array;
  gridSize: number;
  /** The model's P(class) for the image. */
  probability: number;
  /** The layer whose output was explained. */
  layer: string;
}

/** The deepest stage whose feature map is at least minGrid × minGrid. */
export function camStageFor(model: tfl.LayersModel, minGrid = 4): number {
  for (let stage = 4; stage >= 1; stage--) {
    const layer = stageOutput(model, stage);
    const shape = layer.outputShape as number[];
    if ((shape[1] ?? 0) >= minGrid) return stage;
  }
  return 1;
}

/** The layer that ends a stage: its last block's residual add (or the activation after it). */
export function stageOutput(model: tfl.LayersModel, stage: number): tfl.layers.Layer {
  const re = new RegExp(`^s${stage}_b\\d+_(add|act_out)$`);
  const layers = model.layers.filter((l) => re.test(l.name));
  const last = layers[layers.length - 1];
  if (last === undefined) {
    throw new KitError(`this model has no stage ${stage}`, { fix: 'use a roadmap model (models.buildModel) and a stage from 1 to 4' });
  }
  return last;
}

/**
 * The model split at a layer: `features` maps the input to that layer's output, `tail` maps
 * such a feature map to the logits, reusing the same layers (and weights). Works at block
 * boundaries, where nothing after the cut needs anything from before it.
 */
export function splitModel(model: tfl.LayersModel, cut: tfl.layers.Layer): { features: tfl.LayersModel; tail: tfl.LayersModel } {
  // Node 0 of every layer is the original model's; re-applying layers below adds more nodes.
  const cutOut = cut.getOutputAt(0) as tfl.SymbolicTensor;
  const features = tfl.model({ inputs: model.inputs, outputs: cutOut });
  const start = tfl.input({ shape: (cutOut.shape as number[]).slice(1) });
  const mapped = new Map<number, tfl.SymbolicTensor>([[cutOut.id, start]]);
  const index = model.layers.indexOf(cut);
  for (const layer of model.layers.slice(index + 1)) {
    const node = layer.inboundNodes[0];
    if (node === undefined) continue;
    const inputs = node.inputTensors.map((t) => mapped.get(t.id));
    if (inputs.some((t) => t === undefined)) {
      throw new KitError(`cannot cut the model at ${cut.name}: layer ${layer.name} also reads from before the cut`, { fix: 'cut at the end of a stage (stageOutput)' });
    }
    const out = layer.apply(inputs.length === 1 ? (inputs[0] as tfl.SymbolicTensor) : (inputs as tfl.SymbolicTensor[])) as tfl.SymbolicTensor;
    mapped.set((node.outputTensors[0] as tfl.SymbolicTensor).id, out);
  }
  const end = mapped.get((model.outputs[0] as tfl.SymbolicTensor).id);
  if (end === undefined) throw new Error('splitModel: the output was not reached');
  return { features, tail: tfl.model({ inputs: start, outputs: end }) };
}

const splits = new WeakMap<tfl.LayersModel, Map<string, ReturnType<typeof splitModel>>>();

function cachedSplit(model: tfl.LayersModel, cut: tfl.layers.Layer): ReturnType<typeof splitModel> {
  const perModel = splits.get(model) ?? new Map<string, ReturnType<typeof splitModel>>();
  splits.set(model, perModel);
  const hit = perModel.get(cut.name);
  if (hit !== undefined) return hit;
  const split = splitModel(model, cut);
  perModel.set(cut.name, split);
  return split;
}

/** Grad-CAM of one image x [1, H, W, C] (normalized as for the model). */
export async function gradCam(model: tfl.LayersModel, x: tf.Tensor4D, options: GradCamOptions = {}): Promise<GradCam> {
  await ensureBackend();
  const classIndex = options.classIndex ?? 1;
  const stage = options.stage ?? 4;
  const cut = stageOutput(model, stage);
  const { features, tail } = cachedSplit(model, cut);
  const size = x.shape[1];
  const [heatT, gridT, probT] = tf.tidy(() => {
    const a = features.apply(x, { training: false }) as tf.Tensor4D; // [1, h, w, C]
    const classScore = (t: tf.Tensor): tf.Scalar => tf.sum(tf.slice(tail.apply(t, { training: false }) as tf.Tensor2D, [0, classIndex], [1, 1])) as tf.Scalar;
    const grads = tf.grad(classScore)(a) as tf.Tensor4D;
    const weights = tf.mean(grads, [1, 2], true); // [1, 1, 1, C]: one weight per channel
    const cam = tf.relu(tf.sum(tf.mul(a, weights), -1, true)) as tf.Tensor4D; // [1, h, w, 1]
    const up = tf.image.resizeBilinear(cam, [size, size], true);
    const max = tf.max(up);
    const heat = tf.div(up, tf.maximum(max, 1e-12));
    const prob = tf.slice(tf.softmax(tail.apply(a, { training: false }) as tf.Tensor2D), [0, classIndex], [1, 1]);
    return [heat, cam, prob];
  });
  const [heat, grid, prob] = await Promise.all([heatT.data(), gridT.data(), probT.data()]);
  tf.dispose([heatT, gridT, probT]);
  return { heat: Float32Array.from(heat), grid: Float32Array.from(grid), gridSize: gridT.shape[1], probability: prob[0] as number, layer: cut.name };
}

/**
 * An RGB overlay of the heat on the grayscale X-ray (both size × size): the "turbo"-like colour
 * map, blended with opacity proportional to the heat, so cold areas show the plain film.
 */
export function overlay(gray: Uint8Array, heat: Float32Array, alpha = 0.55): Uint8Array {
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    const h = Math.min(1, Math.max(0, heat[i] ?? 0));
    const [r, g, b] = heatColor(h);
    const a = alpha * h;
    const v = gray[i] ?? 0;
    out[3 * i] = Math.round(v * (1 - a) + r * a);
    out[3 * i + 1] = Math.round(v * (1 - a) + g * a);
    out[3 * i + 2] = Math.round(v * (1 - a) + b * a);
  }
  return out;
}

/** Blue → cyan → yellow → red for heat in [0, 1]. */
function heatColor(h: number): [number, number, number] {
  const stops: [number, number, number, number][] = [[0, 48, 18, 160], [0.35, 30, 190, 230], [0.65, 250, 220, 40], [1, 220, 20, 20]];
  for (let k = 1; k < stops.length; k++) {
    const [t1, r1, g1, b1] = stops[k] as [number, number, number, number];
    const [t0, r0, g0, b0] = stops[k - 1] as [number, number, number, number];
    if (h <= t1) {
      const f = (h - t0) / (t1 - t0);
      return [r0 + (r1 - r0) * f, g0 + (g1 - g0) * f, b0 + (b1 - b0) * f];
    }
  }
  return [220, 20, 20];
}
