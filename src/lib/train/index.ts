/** Training one network: AdamW, the learning-rate schedule, the loss, the recipe, and the trainer with its checkpoints. */
export { AdamW, clipByGlobalNorm } from './adamw';
export type { AdamWOptions, AdamWState } from './adamw';
export { learningRate } from './schedule';
export { crossEntropy } from './loss';
export { augmentOptions, validateRecipe, withOverrides } from './recipe';
export type { TrainRecipe } from './recipe';
export { checkBatchFits, evaluateSet, train, TrainingInterrupted } from './trainer';
export type { EpochMetrics, SetEvaluation, TrainOptions, TrainProgress, TrainResult } from './trainer';
