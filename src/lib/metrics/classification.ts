import { Rng } from '../util/rng';

/**
 * Binary classification metrics as a radiology paper reports them. Labels are 0 (NORMAL) and
 * 1 (PNEUMONIA, the positive class); scores are P(PNEUMONIA). A prediction is positive when
 * score ≥ threshold.
 */

export interface Confusion {
  /** True positives: pneumonia called pneumonia. */
  tp: number;
  /** False positives: healthy children flagged. */
  fp: number;
  /** True negatives. */
  tn: number;
  /** False negatives: sick children missed. */
  fn: number;
}

export function confusion(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold = 0.5): Confusion {
  checkLengths(labels, scores);
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const pos = (scores[i] as number) >= threshold;
    if (labels[i] === 1) pos ? c.tp++ : c.fn++;
    else pos ? c.fp++ : c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number): number => (b === 0 ? NaN : a / b);

/** Metrics at one threshold. */
export interface ThresholdMetrics {
  accuracy: number;
  /** Mean of sensitivity and specificity: accuracy as if the classes were balanced. */
  balancedAccuracy: number;
  /** Recall of PNEUMONIA, tp / (tp + fn): the share of sick children found. */
  sensitivity: number;
  /** tn / (tn + fp): the share of healthy children cleared. */
  specificity: number;
  /** Positive predictive value, tp / (tp + fp): how often a "pneumonia" call is right. */
  precision: number;
  f1: number;
}

export function thresholdMetrics(c: Confusion): ThresholdMetrics {
  const sensitivity = ratio(c.tp, c.tp + c.fn);
  const specificity = ratio(c.tn, c.tn + c.fp);
  const precision = ratio(c.tp, c.tp + c.fp);
  return {
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
    balancedAccuracy: (sensitivity + specificity) / 2,
    sensitivity,
    specificity,
    precision,
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
  };
}

/** Share of predictions equal to the label. */
export function accuracy(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold = 0.5): number {
  return thresholdMetrics(confusion(labels, scores, threshold)).accuracy;
}

/**
 * ROC-AUC: the probability that a random positive scores higher than a random negative, ties
 * counting one half (the Mann-Whitney U statistic with average ranks). NaN when one class is absent.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkLengths(labels, scores);
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = avg;
    i = j + 1;
  }
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 1) {
      pos++;
      rankSum += ranks[i] as number;
    }
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Points of the ROC curve (false positive rate, true positive rate), one per distinct score, from (0,0) to (1,1). */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): { fpr: number[]; tpr: number[]; thresholds: number[] } {
  const pts = sweep(labels, scores);
  return { fpr: pts.map((p) => p.fp / Math.max(p.negatives, 1)), tpr: pts.map((p) => p.tp / Math.max(p.positives, 1)), thresholds: pts.map((p) => p.threshold) };
}

/**
 * PR-AUC as average precision (scikit-learn's average_precision_score): Σ (R_k − R_{k−1}) · P_k
 * over the distinct thresholds from high to low. No interpolation, so it is not optimistic.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const pts = sweep(labels, scores);
  const positives = pts[0]?.positives ?? 0;
  if (positives === 0) return NaN;
  let ap = 0;
  let prevRecall = 0;
  for (const p of pts.slice(1)) {
    const recall = p.tp / positives;
    const precision = p.tp / (p.tp + p.fp);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
  }
  return ap;
}

export function prCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): { recall: number[]; precision: number[]; thresholds: number[] } {
  const pts = sweep(labels, scores).slice(1);
  const positives = pts[0]?.positives ?? 0;
  return { recall: pts.map((p) => p.tp / Math.max(positives, 1)), precision: pts.map((p) => p.tp / (p.tp + p.fp)), thresholds: pts.map((p) => p.threshold) };
}

interface SweepPoint {
  /** Predictions with score ≥ threshold are positive. */
  threshold: number;
  tp: number;
  fp: number;
  positives: number;
  negatives: number;
}

/** Cumulative counts, thresholds from +∞ (nothing positive) down through every distinct score. */
function sweep(labels: ArrayLike<number>, scores: ArrayLike<number>): SweepPoint[] {
  checkLengths(labels, scores);
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number));
  let positives = 0;
  for (let i = 0; i < n; i++) if (labels[i] === 1) positives++;
  const negatives = n - positives;
  const out: SweepPoint[] = [{ threshold: Infinity, tp: 0, fp: 0, positives, negatives }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; ) {
    const s = scores[order[k] as number] as number;
    while (k < n && scores[order[k] as number] === s) {
      if (labels[order[k] as number] === 1) tp++;
      else fp++;
      k++;
    }
    out.push({ threshold: s, tp, fp, positives, negatives });
  }
  return out;
}

export interface ReliabilityBin {
  /** Bin range of predicted P(PNEUMONIA). */
  lo: number;
  hi: number;
  count: number;
  /** Mean predicted probability in the bin. */
  confidence: number;
  /** Observed share of PNEUMONIA in the bin. */
  frequency: number;
}

/**
 * Calibration: split P(PNEUMONIA) into equal-width bins and compare the mean prediction with the
 * observed frequency in each (the reliability diagram). The expected calibration error is the
 * count-weighted mean gap |frequency − confidence| (for the positive-class probability, as in
 * most medical-imaging papers; the top-label variant of Guo et al. differs for binary tasks).
 */
export function reliability(labels: ArrayLike<number>, scores: ArrayLike<number>, bins = 10): { bins: ReliabilityBin[]; ece: number } {
  checkLengths(labels, scores);
  const out: ReliabilityBin[] = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, count: 0, confidence: 0, frequency: 0 }));
  for (let i = 0; i < labels.length; i++) {
    const s = scores[i] as number;
    const b = out[Math.min(bins - 1, Math.floor(s * bins))] as ReliabilityBin;
    b.count++;
    b.confidence += s;
    b.frequency += labels[i] === 1 ? 1 : 0;
  }
  let ece = 0;
  for (const b of out) {
    if (b.count === 0) continue;
    b.confidence /= b.count;
    b.frequency /= b.count;
    ece += (b.count / labels.length) * Math.abs(b.frequency - b.confidence);
  }
  return { bins: out, ece };
}

/**
 * A decision threshold chosen on the validation split, then applied unchanged to test:
 * `youden` maximizes sensitivity + specificity − 1; `sensitivity` takes the highest threshold
 * whose sensitivity reaches the target (a screening tool must not miss sick children).
 */
export type ThresholdRule = { rule: 'youden' } | { rule: 'sensitivity'; target: number } | { rule: 'fixed'; value: number };

export function chooseThreshold(labels: ArrayLike<number>, scores: ArrayLike<number>, rule: ThresholdRule): number {
  if (rule.rule === 'fixed') return rule.value;
  const pts = sweep(labels, scores).slice(1);
  if (rule.rule === 'youden') {
    let best = pts[0];
    let bestJ = -Infinity;
    for (const p of pts) {
      const j = p.tp / Math.max(p.positives, 1) - p.fp / Math.max(p.negatives, 1);
      if (j > bestJ) {
        bestJ = j;
        best = p;
      }
    }
    return best?.threshold ?? 0.5;
  }
  for (const p of pts) if (p.tp / Math.max(p.positives, 1) >= rule.target) return p.threshold;
  return pts[pts.length - 1]?.threshold ?? 0;
}

/** Every metric of one prediction set at one threshold. */
export interface Report {
  n: number;
  threshold: number;
  confusion: Confusion;
  metrics: ThresholdMetrics & { rocAuc: number; prAuc: number; ece: number };
}

export function evaluateScores(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): Report {
  const c = confusion(labels, scores, threshold);
  return {
    n: labels.length,
    threshold,
    confusion: c,
    metrics: { ...thresholdMetrics(c), rocAuc: rocAuc(labels, scores), prAuc: averagePrecision(labels, scores), ece: reliability(labels, scores).ece },
  };
}

export type MetricName = keyof Report['metrics'];

export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

/**
 * Percentile bootstrap 95% intervals: resample the images with replacement `rounds` times
 * (seeded, so the same seed gives the same intervals), recompute each metric at the fixed
 * threshold, take the 2.5th and 97.5th percentiles.
 */
export function bootstrap(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number, options: { rounds?: number; seed?: number; level?: number } = {}): Record<MetricName, Interval> {
  const rounds = options.rounds ?? 1000;
  const level = options.level ?? 0.95;
  const rng = new Rng(options.seed ?? 0);
  const n = labels.length;
  const point = evaluateScores(labels, scores, threshold).metrics;
  const names = Object.keys(point) as MetricName[];
  const samples: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const l = new Uint8Array(n);
  const s = new Float64Array(n);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      l[i] = labels[j] as number;
      s[i] = scores[j] as number;
    }
    const m = evaluateScores(l, s, threshold).metrics;
    for (const k of names) if (Number.isFinite(m[k])) (samples[k] as number[]).push(m[k]);
  }
  const alpha = (1 - level) / 2;
  return Object.fromEntries(
    names.map((k) => {
      const v = (samples[k] as number[]).sort((a, b) => a - b);
      return [k, { value: point[k], lo: quantile(v, alpha), hi: quantile(v, 1 - alpha) }];
    }),
  ) as Record<MetricName, Interval>;
}

/**
 * Two models scored on the same images: the difference of their ROC-AUCs (b − a) with a paired
 * percentile bootstrap 95% interval (each round resamples images and scores both models on the
 * same draw, so the images' own difficulty cancels; the interval is narrower than two separate
 * ones would suggest). The interval excludes 0: the models differ beyond test-set noise.
 */
export function pairedAucDifference(labels: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>, options: { rounds?: number; seed?: number; level?: number } = {}): Interval {
  if (a.length !== labels.length || b.length !== labels.length) throw new Error(`pairedAucDifference: ${labels.length} labels, ${a.length} and ${b.length} scores`);
  const rounds = options.rounds ?? 1000;
  const level = options.level ?? 0.95;
  const rng = new Rng(options.seed ?? 0);
  const n = labels.length;
  const l = new Uint8Array(n);
  const sa = new Float64Array(n);
  const sb = new Float64Array(n);
  const diffs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      l[i] = labels[j] as number;
      sa[i] = a[j] as number;
      sb[i] = b[j] as number;
    }
    const d = rocAuc(l, sb) - rocAuc(l, sa);
    if (Number.isFinite(d)) diffs.push(d);
  }
  diffs.sort((x, y) => x - y);
  const alpha = (1 - level) / 2;
  return { value: rocAuc(labels, b) - rocAuc(labels, a), lo: quantile(diffs, alpha), hi: quantile(diffs, 1 - alpha) };
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

function checkLengths(labels: ArrayLike<number>, scores: ArrayLike<number>): void {
  if (labels.length !== scores.length) throw new RangeError(`labels (${labels.length}) and scores (${scores.length}) differ in length`);
}
