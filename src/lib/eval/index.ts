/** Using one trained network: predictions on image files with its own preprocessing, and Grad-CAM heat maps. */
export { camStageFor, gradCam, overlay, splitModel, stageOutput } from './gradcam';
export type { GradCam, GradCamOptions } from './gradcam';
export { loadClassifier, predictFiles } from './inference';
export type { Classifier, InputSpec, Prediction } from './inference';
