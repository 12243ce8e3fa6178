import { classCounts } from '../data/classes';
import { loadXrayData, XrayData } from '../data/dataset';
import { countsText, MIN_IMAGES_PER_CLASS } from '../data/measurable';
import { loadClassifier } from '../eval/inference';
import { bootstrap, chooseThreshold, confusion, Confusion, Interval, MetricName, pairedAucDifference, reliability, ReliabilityBin, rocCurve, ThresholdRule } from '../metrics/classification';
import { mean, std } from '../metrics/stats';
import { resolveStep } from '../models/steps';
import { finishedRuns, ModelMeta, Predictions, readAblationMeta, readPredictions, readRunMeta, RunResult, RunSpec, writePredictions } from '../runs';
import { formatInterval, formatSigned, rowName } from './report';
import { evaluateSet } from '../train/trainer';
import { KitError } from '../util/errors';
import { predictionsOf } from './ablation';
import { getProfile } from './profiles';

export { readPredictions } from '../runs';
export type { Predictions, SplitPredictions } from '../runs';

/** Predictions of one model on the validation and test splits (what predictions.json holds). */
export interface EvaluationOptions {
  /** How to choose the decision threshold on the validation split (default Youden's J). */
  rule?: ThresholdRule;
  /**
   * Bootstrap rounds and seed for the 95% intervals (default seed 0; rounds: the profile's
   * evaluation.bootstrapRounds for a run or an ablation, 1000 for bare predictions).
   */
  rounds?: number;
  seed?: number;
}

/** Every metric of one model on one split, with intervals, at a threshold chosen on validation. */
export interface Evaluation {
  split: 'val' | 'test';
  n: number;
  threshold: { rule: ThresholdRule; value: number; chosenOn: 'val' };
  confusion: Confusion;
  metrics: Record<MetricName, Interval>;
  roc: { fpr: number[]; tpr: number[] };
  reliability: ReliabilityBin[];
}

/**
 * Evaluate predictions like a clinical paper: the threshold is chosen on validation (never on
 * test) and then applied unchanged; every metric gets a seeded bootstrap 95% interval. Refuses
 * (KitError) a split without an image of each class, where ROC-AUC and sensitivity or
 * specificity are undefined, and a val split that cannot choose the threshold for that reason.
 */
export function evaluatePredictions(p: Predictions, split: 'val' | 'test' = 'test', options: EvaluationOptions = {}): Evaluation {
  const rule = options.rule ?? { rule: 'youden' };
  checkEvaluable(p, split, rule);
  const threshold = chooseThreshold(p.val.labels, p.val.probs, rule);
  const s = p[split];
  const roc = rocCurve(s.labels, s.probs);
  return {
    split,
    n: s.labels.length,
    threshold: { rule, value: threshold, chosenOn: 'val' },
    confusion: confusion(s.labels, s.probs, threshold),
    metrics: bootstrap(s.labels, s.probs, threshold, { rounds: options.rounds ?? 1000, seed: options.seed ?? 0 }),
    roc: { fpr: roc.fpr, tpr: roc.tpr },
    reliability: reliability(s.labels, s.probs).bins,
  };
}

/**
 * Recompute a run's predictions from its best checkpoint on its own data (same profile, same
 * split), then evaluate. This is the pipeline `npx convnext-xray evaluate` runs.
 */
export async function evaluateRun(runDir: string, split: 'val' | 'test' = 'test', options: EvaluationOptions & { data?: XrayData } = {}): Promise<{ evaluation: Evaluation; predictions: Predictions; meta: ModelMeta }> {
  const run = readRunMeta(runDir);
  const rounds = options.rounds ?? getProfile(run.profile).evaluation.bootstrapRounds;
  const data = options.data ?? (await loadXrayData({ profile: getProfile(run.profile) }));
  // Before loading the model: a split that cannot be scored is refused with its counts.
  checkEvaluable({ val: { labels: [...data.val.labels] }, test: { labels: [...data.test.labels] } }, split, options.rule ?? { rule: 'youden' }, runDir);
  const counts = run.data?.counts;
  if (counts !== undefined && (counts['train'] !== data.train.labels.length || counts['val'] !== data.val.labels.length || counts['test'] !== data.test.labels.length)) {
    throw new KitError(`the data differ from the run's: it trained on ${JSON.stringify(counts)}, now train ${data.train.labels.length}, val ${data.val.labels.length}, test ${data.test.labels.length}`, {
      where: runDir,
      fix: 'set XRAY_DATA (and KIT_PROFILE) as when the run was trained',
    });
  }
  const clf = await loadClassifier(runDir);
  try {
    const batch = 32;
    const val = await evaluateSet(clf.model, data.val, clf.input.normalization, batch);
    const test = await evaluateSet(clf.model, data.test, clf.input.normalization, batch);
    const predictions = predictionsOf(data, val, test);
    return { evaluation: evaluatePredictions(predictions, split, { ...options, rounds }), predictions, meta: clf.meta };
  } finally {
    clf.model.dispose();
  }
}

/**
 * Both classes in the evaluated split (ROC-AUC, sensitivity, specificity), and in val when the
 * threshold is chosen there (Youden's J, a sensitivity target): otherwise a KitError naming the
 * split and its counts, instead of a table of NaN.
 */
function checkEvaluable(p: Record<'val' | 'test', { labels: ArrayLike<number> }>, split: 'val' | 'test', rule: ThresholdRule, where?: string): void {
  const lacking = (labels: ArrayLike<number>): boolean => classCounts(Uint8Array.from(labels)).some((c) => c < MIN_IMAGES_PER_CLASS);
  const fix = 'look at the splits with `npx convnext-xray data stats`, add images of the missing class, and train again (training itself refuses such splits)';
  if (rule.rule !== 'fixed' && lacking(p.val.labels)) {
    throw new KitError(`cannot choose the decision threshold on val: it has ${countsText(p.val.labels)} images, and ${rule.rule === 'youden' ? "Youden's J (sensitivity + specificity − 1)" : 'a sensitivity target'} needs at least ${MIN_IMAGES_PER_CLASS} of each class`, { where, fix });
  }
  if (lacking(p[split].labels)) {
    throw new KitError(`cannot evaluate ${split}: it has ${countsText(p[split].labels)} images; ROC-AUC, sensitivity and specificity need at least ${MIN_IMAGES_PER_CLASS} of each class, and would be NaN`, { where, fix });
  }
}

/** Per step of an ablation: every run's evaluation, and mean ± std over seeds of each metric. */
export interface StepEvaluation {
  /** The step, or `<step> (pretrained)` for fine-tuned runs (report.ts rowName). */
  step: string;
  index: number;
  /** Fine-tuned from pretrained weights: listed after the roadmap's steps. */
  pretrained?: boolean;
  runs: { seed: number; dir: string; evaluation: Evaluation; result: RunResult }[];
  /** Mean ± std over seeds of each metric's point value; interval = the seed-0 bootstrap interval. */
  summary: Record<MetricName, { mean: number; std: number; n: number }>;
}

/** Evaluate every finished run of an ablation from its saved predictions. */
export function evaluateAblation(dir: string, options: EvaluationOptions = {}): StepEvaluation[] {
  const byStep = new Map<string, StepEvaluation['runs']>();
  const finished = finishedRuns(dir);
  const rounds = options.rounds ?? getProfile(readAblationMeta(dir)?.profile ?? finished[0]?.result.spec.profile).evaluation.bootstrapRounds;
  const specs = new Map<string, RunSpec>();
  for (const r of finished) {
    const row = rowName(r.result.spec);
    specs.set(row, r.result.spec);
    byStep.set(row, [...(byStep.get(row) ?? []), { seed: r.seed, dir: r.dir, evaluation: evaluatePredictions(readPredictions(r.dir), 'test', { ...options, rounds }), result: r.result }]);
  }
  const steps: StepEvaluation[] = [];
  for (const [step, runs] of byStep) {
    const names = Object.keys(runs[0]?.evaluation.metrics ?? {}) as MetricName[];
    const summary = Object.fromEntries(names.map((k) => {
      const v = runs.map((r) => r.evaluation.metrics[k].value);
      return [k, { mean: mean(v), std: std(v), n: v.length }];
    })) as StepEvaluation['summary'];
    const spec = specs.get(step) as RunSpec;
    steps.push({ step, index: resolveStep(spec.step).step.index, ...(spec.init !== undefined ? { pretrained: true } : {}), runs, summary });
  }
  // Roadmap order, fine-tuned rows last.
  return steps.sort((a, b) => Number(a.pretrained ?? false) - Number(b.pretrained ?? false) || a.index - b.index);
}

/** Write a run's recomputed predictions next to it (used by `evaluate --save`). */
export function savePredictions(runDir: string, p: Predictions): void {
  writePredictions(runDir, p);
}

/**
 * ConvNeXt fine-tuned from pretrained weights against the same network from scratch, seed by
 * seed (both runs saw the same images in the same order): each one's test ROC-AUC and the
 * difference with its paired bootstrap 95% interval. Empty when the ablation has no fine-tuned run.
 */
export function pretrainedComparison(steps: readonly StepEvaluation[], options: { rounds?: number } = {}): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  for (const ft of steps.filter((s) => s.pretrained === true)) {
    const scratch = steps.find((s) => s.pretrained !== true && s.index === ft.index);
    if (scratch === undefined) continue;
    for (const run of ft.runs) {
      const base = scratch.runs.find((r) => r.seed === run.seed);
      if (base === undefined) continue;
      const a = readPredictions(base.dir).test;
      const b = readPredictions(run.dir).test;
      if (a.ids.join('\n') !== b.ids.join('\n')) {
        throw new KitError(`the fine-tuned and from-scratch runs of seed ${run.seed} were tested on different images`, { where: run.dir, fix: 'train both on the same data (same profile and XRAY_DATA)' });
      }
      const d = pairedAucDifference(a.labels, a.probs, b.probs, { rounds: options.rounds ?? 1000, seed: run.seed });
      out.push({
        seed: run.seed,
        [`${scratch.step} test AUC`]: Number(base.evaluation.metrics.rocAuc.value.toFixed(3)),
        [`${ft.step} test AUC`]: Number(run.evaluation.metrics.rocAuc.value.toFixed(3)),
        'Δ AUC (pretrained − scratch)': formatSigned(d.value),
        'paired bootstrap 95% CI': formatInterval(d.lo, d.hi),
      });
    }
  }
  return out;
}
