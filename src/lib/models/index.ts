/** The roadmap as data: configs and steps, the plan (parameters, FLOPs), the builder, custom layers, save/load, the inference graph. */
export { configDiff, BATCH_NORM_EPS, LAYER_NORM_EPS, TOTAL_STRIDE } from './config';
export type { ModelConfig } from './config';
export { baseConfig, checkInputSize, configFor, FLOP_DEVIATIONS, getScale, GROUPS, KERNEL_VARIANTS, resolveStep, SCALE_NAMES, SCALES, STEP_IDS, STEPS, validateConfig } from './steps';
export type { GroupId, ResolvedStep, RoadmapStep, Scale, ScaleName, StepId, StepOptions } from './steps';
export { planModel, planStats, planWeights } from './plan';
export type { PlanOp, PlanStats, PlanWeight, Shape } from './plan';
export { describeBlock } from './describe';
export type { BlockDescription, BlockItem } from './describe';
export { buildModel } from './build';
export { BatchNorm, DropPath, Pointwise, Gelu, getDropPathRng, LayerNorm, layerMath, LayerScale, setDropPathRng, setLayerMath, STOCK_MATH } from './layers';
export type { LayerMath } from './layers';
export { roadmapTable } from './summary';
export type { StageRow, TableOptions } from './summary';
export { KIT_FORMAT, loadModel, saveModel } from './io';
export type { LoadedModel } from './io';
export { fuseForInference, InferenceModel, inferenceMath, setInferenceMath, STOCK_INFERENCE } from './fuse';
export type { Activation, ConvGeometry, Epilogue, InferenceMath, InferenceNode } from './fuse';
