import { planModel, planStats } from './plan';
import { configFor, FLOP_DEVIATIONS, KERNEL_VARIANTS, ScaleName, STEPS, StepId } from './steps';

/** One row of the roadmap table: a step's cost next to the paper's numbers. */
export interface StageRow {
  /** Step id, or `kernel-5` etc. for the kernel-size variants of step 7. */
  step: string;
  index: number;
  title: string;
  group: string;
  /** A kernel-size variant of step 7 (not on the main road). */
  variant: boolean;
  kernelSize: number;
  params: number;
  /** Multiply-adds per image (fvcore's FLOP convention). */
  flops: number;
  gflops: number;
  /** Forward activations kept for training, per image, MiB (float32). */
  activationMiB: number;
  /** Table 10 at ImageNet scale (ResNet-50 → ConvNeXt-T, 224 px): GFLOPs and top-1 (%). */
  paperGflops: number;
  paperTop1?: number;
  /** Why our count differs from the paper's by more than 5%, where it does (paper scale only). */
  deviation?: string;
}

export interface TableOptions {
  size?: number;
  scale?: ScaleName;
  inChannels?: number;
  numClasses?: number;
  /** Also list the kernel-size variants 5, 9, 11 of the large-kernel step. */
  variants?: boolean;
}

/**
 * Parameters, FLOPs and activation memory of every roadmap step at a size and scale. The
 * defaults are the paper's setting (ImageNet: 224 px, 3 channels, 1000 classes, paper scale).
 */
export function roadmapTable(options: TableOptions = {}): StageRow[] {
  const size = options.size ?? 224;
  const scale = options.scale ?? 'paper';
  const stepOptions = { scale, inChannels: options.inChannels ?? 3, numClasses: options.numClasses ?? 1000 };
  const names: string[] = STEPS.flatMap((s) => (s.id === 'kernel-7' && options.variants === true ? ['kernel-5', 'kernel-7', 'kernel-9', 'kernel-11'] : [s.id]));
  return names.map((name) => {
    const config = configFor(name, stepOptions);
    const stats = planStats(planModel(config, size));
    const base = STEPS.find((s) => s.id === name) ?? (STEPS.find((s) => s.id === 'kernel-7') as (typeof STEPS)[number]);
    const variant = base.id !== name;
    const paperGflops = variant ? (KERNEL_VARIANTS[config.kernelSize]?.gflops ?? NaN) : base.paper.gflops;
    const atPaperSetting = scale === 'paper' && size === 224 && stepOptions.inChannels === 3 && stepOptions.numClasses === 1000;
    return {
      step: name,
      index: base.index,
      title: variant ? `${base.title.replace('7×7', `${config.kernelSize}×${config.kernelSize}`)} (variant)` : base.title,
      group: base.group,
      variant,
      kernelSize: config.kernelSize,
      params: stats.params,
      flops: stats.flops,
      gflops: stats.flops / 1e9,
      activationMiB: stats.activationBytes / 2 ** 20,
      paperGflops,
      paperTop1: variant ? undefined : base.paper.top1,
      deviation: atPaperSetting && !variant ? FLOP_DEVIATIONS[base.id as StepId] : undefined,
    };
  });
}
