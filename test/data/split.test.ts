import assert from 'node:assert/strict';
import { test } from 'node:test';
import { patientOverlap, patientSplit, stratifiedSubset } from '../../src/lib/data/split';
import { scanImageFolder } from '../../src/lib/data/imagefolder';
import { sharedXrays } from '../helpers/data';

test('patientSplit() on the real training set: no patient on both sides, class shares kept, seeded', () => {
  const train = scanImageFolder(sharedXrays()).files.filter((f) => f.split === 'train');
  const labels = train.map((f) => f.label);
  const patients = train.map((f) => f.patient);
  const s = patientSplit(labels, patients, { valFraction: 0.15, seed: 0 });
  assert.deepEqual(s.overlap, []);
  // Independent leakage check on the returned indices.
  const trainPatients = new Set(s.train.map((i) => patients[i]));
  assert.ok(s.val.every((i) => !trainPatients.has(patients[i])));
  assert.equal(s.train.length + s.val.length, train.length);
  assert.equal(new Set([...s.train, ...s.val]).size, train.length);
  for (let c = 0; c < 2; c++) {
    const total = (s.images.train[c] ?? 0) + (s.images.val[c] ?? 0);
    const share = (s.images.val[c] ?? 0) / total;
    assert.ok(Math.abs(share - 0.15) < 0.01, `class ${c} val share ${share}`);
  }
  assert.deepEqual(patientSplit(labels, patients, { valFraction: 0.15, seed: 0 }).val, s.val);
  assert.notDeepEqual(patientSplit(labels, patients, { valFraction: 0.15, seed: 1 }).val, s.val);
  // Input order does not matter: reversed input gives the same patients in val.
  const rev = patientSplit([...labels].reverse(), [...patients].reverse(), { valFraction: 0.15, seed: 0 });
  assert.deepEqual(new Set(rev.val.map((i) => [...patients].reverse()[i])), new Set(s.val.map((i) => patients[i])));
});

test('patientSplit() keeps every image of a patient together on a hand-made case', () => {
  const patients = ['a', 'a', 'a', 'b', 'c', 'c', 'd', 'e', 'e', 'f'];
  const labels = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0];
  for (let seed = 0; seed < 20; seed++) {
    const s = patientSplit(labels, patients, { valFraction: 0.3, seed });
    assert.deepEqual(s.overlap, []);
    const groups = new Map<string, Set<string>>();
    s.train.forEach((i) => groups.set(patients[i] as string, (groups.get(patients[i] as string) ?? new Set()).add('train')));
    s.val.forEach((i) => groups.set(patients[i] as string, (groups.get(patients[i] as string) ?? new Set()).add('val')));
    for (const sides of groups.values()) assert.equal(sides.size, 1);
    assert.ok(s.val.some((i) => labels[i] === 0) && s.val.some((i) => labels[i] === 1), 'both classes in val');
  }
});

test('patientOverlap() finds shared patients', () => {
  assert.deepEqual(patientOverlap(['a', 'b', 'c'], ['c', 'd', 'a', 'a']), ['a', 'c']);
  assert.deepEqual(patientOverlap(['a'], ['b']), []);
});

test('patientSplit() rejects a fraction outside (0, 1)', () => {
  assert.throws(() => patientSplit([0], ['a'], { valFraction: 1, seed: 0 }), /between 0 and 1/);
});

test('stratifiedSubset() takes about max images with both classes', () => {
  const labels = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 0 : 1));
  const patients = labels.map((_, i) => `p${Math.floor(i / 2)}`);
  const sub = stratifiedSubset(labels, patients, 40, 3);
  assert.ok(Math.abs(sub.length - 40) <= 2, `got ${sub.length}`);
  assert.ok(sub.some((i) => labels[i] === 0) && sub.some((i) => labels[i] === 1));
  assert.equal(stratifiedSubset(labels, patients, 1000, 3).length, 400);
});
