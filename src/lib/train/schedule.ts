/**
 * Learning rate per optimizer step: linear warmup from ~0 to `lr`, then a decay to `minLr` at
 * the last step: cosine (timm's per-iteration schedule, used by ConvNeXt) or linear (the
 * HuggingFace Trainer's default, `lr_scheduler_type="linear"`).
 */
export interface ScheduleOptions {
  lr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Default cosine. */
  shape?: 'cosine' | 'linear';
}

export function learningRate(step: number, o: ScheduleOptions): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / span);
  if (o.shape === 'linear') return o.lr - (o.lr - o.minLr) * progress;
  return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * progress));
}
