import * as tf from '@tensorflow/tfjs-core';
import { batchImages, normalize } from '../data/batches';
import { ImageSet, imageAt } from '../data/classes';
import { camStageFor, gradCam, overlay, stageOutput } from '../eval/gradcam';
import type { Classifier } from '../eval/inference';
import type { GrayImage } from '../plot/images';
import type { Mistake } from './summary';

/**
 * The model's mistakes as an image grid: per mistake the X-ray (captioned with its file name)
 * and its Grad-CAM heat map for "pneumonia" over it (captioned with the kind of mistake and the
 * model's probability), ready for `showImages` / `imageGridHtml`. Grad-CAM is taken at the end
 * of the deepest stage whose grid is still at least `minGrid` cells wide (camStageFor), then
 * upsampled to the image size. Preprocessing is the classifier's own.
 */
export async function mistakeGallery(clf: Classifier, set: ImageSet, mistakes: readonly Mistake[], options: { minGrid?: number } = {}): Promise<{ tiles: GrayImage[]; stage: number; grid: [number, number] }> {
  const stage = camStageFor(clf.model, options.minGrid ?? 4);
  const tiles: GrayImage[] = [];
  for (const m of mistakes) {
    const x = tf.tidy(() => normalize(batchImages(set, [m.index]), clf.input.normalization));
    const cam = await gradCam(clf.model, x, { stage });
    x.dispose();
    const gray = imageAt(set, m.index);
    tiles.push({ pixels: gray, width: set.size, height: set.size, caption: set.ids[m.index]?.split('/').pop() ?? '' });
    tiles.push({ pixels: overlay(gray, cam.heat), width: set.size, height: set.size, channels: 3, caption: `${m.kind}, P(pneumonia) ${m.prob.toFixed(2)}` });
  }
  const shape = stageOutput(clf.model, stage).outputShape as number[];
  return { tiles, stage, grid: [shape[1] as number, shape[2] as number] };
}
