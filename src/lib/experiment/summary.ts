import type { Evaluation } from './evaluate';
import type { PublishedResult } from './published';

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/**
 * What an evaluation means for a clinician, in plain sentences: missed sick children, healthy
 * children flagged, how often a positive call is right, how far the probabilities can be trusted.
 */
export function clinicalSummary(e: Evaluation): string[] {
  const c = e.confusion;
  const m = e.metrics;
  const sick = c.tp + c.fn;
  const healthy = c.tn + c.fp;
  const ci = (k: keyof Evaluation['metrics']): string => (Number.isFinite(m[k].lo) ? ` (95% CI ${pct(m[k].lo)}–${pct(m[k].hi)})` : '');
  return [
    `Of ${sick} children with pneumonia the model found ${c.tp} and missed ${c.fn}: sensitivity ${pct(m.sensitivity.value)}${ci('sensitivity')}.`,
    `Of ${healthy} healthy children it cleared ${c.tn} and flagged ${c.fp} as pneumonia: specificity ${pct(m.specificity.value)}${ci('specificity')}.`,
    `When it says "pneumonia" it is right ${pct(m.precision.value)} of the time (in a test set where ${pct(sick / Math.max(sick + healthy, 1))} of the children are sick; with fewer sick children this figure drops).`,
    `Its ROC-AUC is ${m.rocAuc.value.toFixed(3)}${Number.isFinite(m.rocAuc.lo) ? ` (${m.rocAuc.lo.toFixed(3)}–${m.rocAuc.hi.toFixed(3)})` : ''}: the chance that a random sick child scores higher than a random healthy one.`,
    `Its probabilities are off by ${pct(m.ece.value)} on average (expected calibration error): ${m.ece.value < 0.05 ? 'close enough to read them as risks' : 'do not read them as risks without recalibration'}.`,
    `The threshold (${e.threshold.value.toFixed(3)}) was chosen on the validation split by ${e.threshold.rule.rule === 'youden' ? "Youden's J (best sensitivity + specificity)" : e.threshold.rule.rule === 'sensitivity' ? `a target sensitivity of ${pct(e.threshold.rule.target)}` : 'a fixed value'} and applied unchanged to test.`,
  ];
}

/** A row per published result and per evaluation of ours, for one comparison table. */
export function comparisonRows(ours: readonly { name: string; settings: string; e: Evaluation }[], published: readonly PublishedResult[]): Record<string, string>[] {
  const fmt = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3));
  return [
    ...ours.map((o) => ({
      result: o.name,
      settings: o.settings,
      accuracy: `${fmt(o.e.metrics.accuracy.value)} [${fmt(o.e.metrics.accuracy.lo)}, ${fmt(o.e.metrics.accuracy.hi)}]`,
      sensitivity: `${fmt(o.e.metrics.sensitivity.value)} [${fmt(o.e.metrics.sensitivity.lo)}, ${fmt(o.e.metrics.sensitivity.hi)}]`,
      specificity: `${fmt(o.e.metrics.specificity.value)} [${fmt(o.e.metrics.specificity.lo)}, ${fmt(o.e.metrics.specificity.hi)}]`,
      AUC: `${fmt(o.e.metrics.rocAuc.value)} [${fmt(o.e.metrics.rocAuc.lo)}, ${fmt(o.e.metrics.rocAuc.hi)}]`,
    })),
    ...published.map((p) => ({ result: p.name, settings: p.settings, accuracy: fmt(p.accuracy), sensitivity: fmt(p.sensitivity), specificity: fmt(p.specificity), AUC: fmt(p.auc) })),
  ];
}

/** Indices of the worst mistakes: false negatives first (most confidently "normal"), then false positives. */
/** One misclassified test image: its index in the set, what kind of mistake, and P(pneumonia). */
export interface Mistake {
  index: number;
  kind: 'false negative' | 'false positive';
  prob: number;
}

export function worstMistakes(labels: readonly number[], probs: readonly number[], threshold: number, n: { falseNegatives: number; falsePositives: number }): Mistake[] {
  const fn = labels.map((l, i) => ({ i, l, p: probs[i] as number })).filter((x) => x.l === 1 && x.p < threshold).sort((a, b) => a.p - b.p);
  const fp = labels.map((l, i) => ({ i, l, p: probs[i] as number })).filter((x) => x.l === 0 && x.p >= threshold).sort((a, b) => b.p - a.p);
  return [
    ...fn.slice(0, n.falseNegatives).map((x) => ({ index: x.i, kind: 'false negative' as const, prob: x.p })),
    ...fp.slice(0, n.falsePositives).map((x) => ({ index: x.i, kind: 'false positive' as const, prob: x.p })),
  ];
}
