import assert from 'node:assert/strict';
import { test } from 'node:test';
import { averagePrecision, bootstrap, chooseThreshold, confusion, evaluateScores, pairedAucDifference, reliability, rocAuc, rocCurve, thresholdMetrics } from '../../src/lib/metrics/classification';
import { worstMistakes } from '../../src/lib/experiment/summary';
import { Rng } from '../../src/lib/util/rng';

/** Brute-force AUC: compare every positive with every negative, ties count ½. */
function aucBrute(labels: number[], scores: number[]): number {
  let sum = 0;
  let pairs = 0;
  labels.forEach((li, i) => labels.forEach((lj, j) => {
    if (li === 1 && lj === 0) {
      pairs++;
      sum += (scores[i] as number) > (scores[j] as number) ? 1 : (scores[i] as number) === (scores[j] as number) ? 0.5 : 0;
    }
  }));
  return sum / pairs;
}

/** Brute-force average precision: precision at each positive's rank, tied scores taken together. */
function apBrute(labels: number[], scores: number[]): number {
  const positives = labels.filter((l) => l === 1).length;
  const thresholds = [...new Set(scores)].sort((a, b) => b - a);
  let ap = 0;
  let prevRecall = 0;
  for (const t of thresholds) {
    const sel = scores.map((s, i) => (s >= t ? i : -1)).filter((i) => i >= 0);
    const tp = sel.filter((i) => labels[i] === 1).length;
    const recall = tp / positives;
    ap += (recall - prevRecall) * (tp / sel.length);
    prevRecall = recall;
  }
  return ap;
}

function randomCase(n: number, seed: number, ties: boolean): { labels: number[]; scores: number[] } {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, () => (rng.next() < 0.6 ? 1 : 0));
  const scores = labels.map((l) => {
    const s = Math.min(1, Math.max(0, 0.5 + (l - 0.5) * 0.4 + rng.normal() * 0.25));
    return ties ? Math.round(s * 10) / 10 : s;
  });
  return { labels, scores };
}

test('confusion and threshold metrics on a hand-computed case', () => {
  // 4 sick (scores .9 .8 .4 .3), 3 healthy (.7 .2 .1); threshold .5 → TP 2, FN 2, FP 1, TN 2.
  const labels = [1, 1, 1, 1, 0, 0, 0];
  const scores = [0.9, 0.8, 0.4, 0.3, 0.7, 0.2, 0.1];
  const c = confusion(labels, scores, 0.5);
  assert.deepEqual(c, { tp: 2, fp: 1, tn: 2, fn: 2 });
  const m = thresholdMetrics(c);
  assert.equal(m.accuracy, 4 / 7);
  assert.equal(m.sensitivity, 0.5);
  assert.equal(m.specificity, 2 / 3);
  assert.equal(m.precision, 2 / 3);
  assert.equal(m.f1, 4 / 7);
  assert.equal(m.balancedAccuracy, (0.5 + 2 / 3) / 2);
  // AUC by hand: of the 12 (sick, healthy) pairs, the healthy .7 beats sick .4 and .3: 10/12.
  assert.equal(rocAuc(labels, scores), 10 / 12);
});

test('ROC-AUC and average precision equal brute-force references, with and without ties', () => {
  for (const ties of [false, true]) {
    for (let seed = 0; seed < 20; seed++) {
      const { labels, scores } = randomCase(60, seed, ties);
      assert.ok(Math.abs(rocAuc(labels, scores) - aucBrute(labels, scores)) < 1e-12);
      assert.ok(Math.abs(averagePrecision(labels, scores) - apBrute(labels, scores)) < 1e-12);
    }
  }
  assert.equal(rocAuc([1, 0], [0.5, 0.5]), 0.5, 'a tie counts one half');
  assert.ok(Number.isNaN(rocAuc([1, 1], [0.2, 0.3])), 'one class only: undefined');
});

test('the ROC curve runs from (0,0) to (1,1) and its trapezoid area is the AUC', () => {
  const { labels, scores } = randomCase(80, 7, true);
  const { fpr, tpr } = rocCurve(labels, scores);
  assert.deepEqual([fpr[0], tpr[0], fpr[fpr.length - 1], tpr[tpr.length - 1]], [0, 0, 1, 1]);
  let area = 0;
  for (let i = 1; i < fpr.length; i++) area += ((fpr[i] as number) - (fpr[i - 1] as number)) * (((tpr[i] as number) + (tpr[i - 1] as number)) / 2);
  assert.ok(Math.abs(area - rocAuc(labels, scores)) < 1e-12);
});

test('reliability bins and ECE on a hand-computed case', () => {
  // Bin [0.2, 0.3): scores .2 .2, labels 0 1 → gap |.5 − .2| = .3; bin [0.8, 0.9): .8 .8, labels 1 1 → gap .2.
  const r = reliability([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8], 10);
  assert.equal(r.bins[2]?.count, 2);
  assert.ok(Math.abs((r.bins[2]?.frequency ?? 0) - 0.5) < 1e-12);
  assert.ok(Math.abs(r.ece - (0.5 * 0.3 + 0.5 * 0.2)) < 1e-12);
  assert.equal(reliability([1], [1]).bins[9]?.count, 1, 'a score of exactly 1 lands in the last bin');
});

test('thresholds: Youden J and a target sensitivity, chosen on one set', () => {
  const labels = [1, 1, 1, 1, 0, 0, 0, 0];
  const scores = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1];
  // J at t=.6: sens 3/4, spec 3/4 → .5; at t=.8: .5 − 0 = .5; at .3: 1 − .5 = .5 ... the first maximum wins.
  const t = chooseThreshold(labels, scores, { rule: 'youden' });
  const m = thresholdMetrics(confusion(labels, scores, t));
  const best = Math.max(...[0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1].map((x) => { const mm = thresholdMetrics(confusion(labels, scores, x)); return mm.sensitivity + mm.specificity - 1; }));
  assert.ok(Math.abs(m.sensitivity + m.specificity - 1 - best) < 1e-12);
  assert.equal(chooseThreshold(labels, scores, { rule: 'sensitivity', target: 1 }), 0.3);
  assert.equal(chooseThreshold(labels, scores, { rule: 'sensitivity', target: 0.5 }), 0.8);
  assert.equal(evaluateScores(labels, scores, 0.3).metrics.sensitivity, 1);
});

test('bootstrap intervals are reproducible with a seed, contain the point estimate, and narrow with more data', () => {
  const small = randomCase(100, 3, false);
  const a = bootstrap(small.labels, small.scores, 0.5, { rounds: 300, seed: 5 });
  const b = bootstrap(small.labels, small.scores, 0.5, { rounds: 300, seed: 5 });
  const c = bootstrap(small.labels, small.scores, 0.5, { rounds: 300, seed: 6 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.rocAuc, c.rocAuc);
  for (const [name, iv] of Object.entries(a)) assert.ok(iv.lo <= iv.value + 1e-12 && iv.value <= iv.hi + 1e-12, `${name}: ${JSON.stringify(iv)}`);
  const big = randomCase(1000, 3, false);
  const d = bootstrap(big.labels, big.scores, 0.5, { rounds: 300, seed: 5 });
  assert.ok(d.rocAuc.hi - d.rocAuc.lo < a.rocAuc.hi - a.rocAuc.lo);
});

test('worstMistakes(): false negatives first, most confident first, then false positives', () => {
  const labels = [1, 1, 1, 0, 0, 0];
  const probs = [0.9, 0.1, 0.3, 0.95, 0.6, 0.2];
  assert.deepEqual(worstMistakes(labels, probs, 0.5, { falseNegatives: 5, falsePositives: 5 }).map((m) => [m.index, m.kind]), [[1, 'false negative'], [2, 'false negative'], [3, 'false positive'], [4, 'false positive']]);
  assert.deepEqual(worstMistakes(labels, probs, 0.5, { falseNegatives: 1, falsePositives: 1 }).map((m) => m.index), [1, 3]);
});

test('pairedAucDifference: the point value is the AUC difference; identical models give [0, 0]; a clearly better or worse model excludes 0', () => {
  const rng = new Rng(4);
  const n = 200;
  const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const noisy = labels.map((y) => y * 0.3 + rng.next());
  const sharp = labels.map((y) => y * 2 + rng.next());
  const same = pairedAucDifference(labels, noisy, noisy, { rounds: 200 });
  assert.deepEqual([same.value, same.lo, same.hi], [0, 0, 0]);
  const better = pairedAucDifference(labels, noisy, sharp, { rounds: 500 });
  assert.ok(Math.abs(better.value - (rocAuc(labels, sharp) - rocAuc(labels, noisy))) < 1e-12);
  assert.ok(better.lo > 0 && better.lo <= better.value && better.value <= better.hi, JSON.stringify(better));
  // The same scores given to other images (chance level) are worse than the noisy model's.
  const shuffled = pairedAucDifference(labels, noisy, [...noisy].reverse(), { rounds: 500 });
  assert.ok(shuffled.hi < 0, JSON.stringify(shuffled));
  assert.throws(() => pairedAucDifference(labels, noisy, sharp.slice(1)), /200 labels, 200 and 199 scores/);
});
