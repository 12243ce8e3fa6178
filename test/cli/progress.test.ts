import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trainingDisplay } from '../../src/lib/notebook/training';
import type { TrainProgress } from '../../src/lib/train/trainer';
import { formatProgressLine, formatTrainProgress, trainProgressUpdate } from '../../src/lib/util/progress';

// The CLI's training bar (src/cli/common.ts) and the notebook's live view both spell training
// progress with these two functions; the tests pin that one spelling.
const first: TrainProgress = { phase: 'train', epoch: 1, epochs: 5, step: 10, steps: 40, loss: 0.41234, lr: 1e-3, imgPerSec: 180.4, etaSeconds: 192 };
const later: TrainProgress = {
  ...first,
  epoch: 2,
  last: { epoch: 1, trainLoss: 0.5, valLoss: 0.45, valAcc: 0.8712, valAuc: 0.93249, lr: 1e-3, imgPerSec: 180, seconds: 30, best: true },
};

test('formatTrainProgress() gives epoch, step, loss, lr, img/s and ETA, and the last val metrics once there are some', () => {
  assert.equal(formatTrainProgress(first), 'epoch 1/5 · step 10/40 · loss 0.412 · lr 1.0e-3 · 180 img/s · ETA 3:12');
  assert.equal(formatTrainProgress(later), 'epoch 2/5 · step 10/40 · loss 0.412 · lr 1.0e-3 · 180 img/s · val acc 0.871 · val AUC 0.932 · ETA 3:12');
  assert.match(formatTrainProgress({ ...first, etaSeconds: NaN }), /ETA \?$/, 'an unknown ETA is a question mark');
});

test('trainProgressUpdate() makes one bar per epoch, counting its steps, with the rest of the status line after it', () => {
  const u = trainProgressUpdate('resnet seed 0', later);
  assert.deepEqual(u, { label: 'resnet seed 0 epoch 2/5', done: 10, total: 40, unit: 'steps', info: 'loss 0.412 · lr 1.0e-3 · 180 img/s · val acc 0.871 · val AUC 0.932 · ETA 3:12' });
  assert.ok(formatTrainProgress(later).endsWith(u.info ?? '-'), 'the bar and the status line share their text');
  assert.equal(formatProgressLine(u, 5, 4), 'resnet seed 0 epoch 2/5 [#...]  25% 10/40 steps  0:05 elapsed, 0:15 left  loss 0.412 · lr 1.0e-3 · 180 img/s · val acc 0.871 · val AUC 0.932 · ETA 3:12');
});

test('trainingDisplay() outside a notebook writes the same status text to stderr', () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    trainingDisplay('Training').onProgress(later);
  } finally {
    process.stderr.write = write;
  }
  const text = written.join('');
  assert.ok(text.includes('Training epoch 2/5'), text);
  assert.ok(text.includes(trainProgressUpdate('Training', later).info ?? '-'), text);
});
