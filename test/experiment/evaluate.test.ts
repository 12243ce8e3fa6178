import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluatePredictions, Predictions } from '../../src/lib/experiment/evaluate';
import { KitError } from '../../src/lib/util/errors';

/** Predictions with the given labels per split; scores rise with the label so the metrics are defined. */
function predictions(val: number[], testLabels: number[]): Predictions {
  const split = (labels: number[]): Predictions['val'] => ({ ids: labels.map((_, i) => `x/${i}`), labels, probs: labels.map((l, i) => 0.3 + 0.4 * l + 0.01 * (i % 5)) });
  return { val: split(val), test: split(testLabels) };
}

test('evaluatePredictions() scores splits with both classes: every metric finite', () => {
  const e = evaluatePredictions(predictions([0, 0, 1, 1, 1], [0, 1, 0, 1, 1, 1]), 'test', { rounds: 50 });
  for (const [k, v] of Object.entries(e.metrics)) assert.ok(Number.isFinite(v.value), k);
  assert.equal(e.threshold.chosenOn, 'val');
});

test('evaluatePredictions() refuses a val split of one class (the threshold is chosen there), naming it and its counts', () => {
  assert.throws(() => evaluatePredictions(predictions([1, 1, 1, 1], [0, 1, 0, 1]), 'test'), (e: unknown) => {
    assert.ok(e instanceof KitError);
    assert.match(e.message, /cannot choose the decision threshold on val: it has NORMAL 0, PNEUMONIA 4 images/);
    assert.match(e.fix, /data stats/);
    return true;
  });
  // A fixed threshold needs nothing from val.
  const fixed = evaluatePredictions(predictions([1, 1, 1, 1], [0, 1, 0, 1]), 'test', { rule: { rule: 'fixed', value: 0.5 }, rounds: 20 });
  assert.ok(Number.isFinite(fixed.metrics.rocAuc.value));
});

test('evaluatePredictions() refuses a test (or val) split of one class instead of a table of NaN', () => {
  assert.throws(() => evaluatePredictions(predictions([0, 1, 0, 1], [1, 1, 1]), 'test'), /cannot evaluate test: it has NORMAL 0, PNEUMONIA 3 images; ROC-AUC, sensitivity and specificity need/);
  assert.throws(() => evaluatePredictions(predictions([0, 0, 0], [0, 1]), 'val', { rule: { rule: 'fixed', value: 0.5 } }), /cannot evaluate val: it has NORMAL 3, PNEUMONIA 0 images/);
});
