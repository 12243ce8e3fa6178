import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadXrayData } from '../../src/lib/data/dataset';
import { checkSplitsMeasurable, classCountProblems, FEW_IMAGES_PER_CLASS } from '../../src/lib/data/measurable';
import { dataStats } from '../../src/lib/data/stats';
import { PROFILES, Profile } from '../../src/lib/experiment/profiles';
import { KitError } from '../../src/lib/util/errors';
import { makeXrayFolder, tempDir } from '../helpers/data';

const profile: Profile = { ...PROFILES.smoke, data: { imageSize: 32, fit: 'squash', valFraction: 0.15, splitSeed: 0 } };

test('one NORMAL image in train/ leaves val without NORMAL: loading warns, the check refuses with counts per class per split and the fix', async () => {
  const root = tempDir();
  await makeXrayFolder(root, { train: [1, 24], test: 5 });
  const d = await loadXrayData({ profile, source: { kind: 'folder', path: root }, cacheDir: tempDir() });
  assert.equal(d.val.labels.filter((l) => l === 0).length, 0, 'no NORMAL in val');
  assert.ok(d.notes.some((n) => /^warning: training will refuse these splits: val has 0 NORMAL images/.test(n)), d.notes.join('\n'));
  assert.deepEqual(classCountProblems(d).filter((p) => p.severity === 'error'), [{ split: 'val', className: 'NORMAL', count: 0, severity: 'error' }]);
  assert.throws(() => checkSplitsMeasurable(d, 'here'), (err: unknown) => {
    assert.ok(err instanceof KitError);
    assert.match(err.message, /val has 0 NORMAL images, but val ranks the epochs by ROC-AUC and chooses the decision threshold/);
    assert.match(err.message, /train NORMAL 1, PNEUMONIA \d+; val NORMAL 0, PNEUMONIA \d+; test NORMAL 5, PNEUMONIA 5/);
    assert.match(err.fix, /add NORMAL images to train\/NORMAL\/ \(it has 1, and train and val need one each;/);
    return true;
  });
  const s = dataStats(d);
  assert.ok(s.classCheck.problems.some((p) => p.split === 'val' && p.className === 'NORMAL' && p.severity === 'error'));
});

test('enough of each class for the hard floor but fewer than 10: a warning only', async () => {
  const root = tempDir();
  await makeXrayFolder(root, { train: 14, test: 6 });
  const d = await loadXrayData({ profile: { ...profile, data: { ...profile.data, valFraction: 0.3 } }, source: { kind: 'folder', path: root }, cacheDir: tempDir() });
  checkSplitsMeasurable(d, 'here');
  const few = classCountProblems(d);
  assert.ok(few.length > 0 && few.every((p) => p.severity === 'warning' && p.count < FEW_IMAGES_PER_CLASS && p.split !== 'train'));
  assert.ok(d.notes.some((n) => /^warning: few images of a class: .*test has 6 NORMAL/.test(n)), d.notes.join('\n'));
});

test('a test split without one class is refused with the test folder to fill', () => {
  const labels = (n0: number, n1: number): Uint8Array => Uint8Array.from([...Array<number>(n0).fill(0), ...Array<number>(n1).fill(1)]);
  const d = { train: { labels: labels(20, 20) }, val: { labels: labels(10, 10) }, test: { labels: labels(0, 12) }, split: { method: 'patient-aware' as const, valFraction: 0.15, seed: 0 } };
  assert.throws(() => checkSplitsMeasurable(d, 'here'), (err: unknown) => err instanceof KitError && /test has 0 NORMAL images/.test(err.message) && /add NORMAL images to test\/NORMAL\//.test(err.fix));
});
