import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { loadXrayData } from '../../src/lib/data/dataset';
import { dataStats } from '../../src/lib/data/stats';
import { DHASH_SIDE, dHash, DuplicatePair, findDuplicates, hashDistance, linkDuplicates, SIMILAR_MAX_BITS, splitOverlaps } from '../../src/lib/data/leakage';
import { patientIdOf } from '../../src/lib/data/patients';
import { patientSplit } from '../../src/lib/data/split';
import { PROFILES, Profile } from '../../src/lib/experiment/profiles';
import { KitError } from '../../src/lib/util/errors';
import { Rng } from '../../src/lib/util/rng';
import { blobs, makeXrayFolder, tempDir } from '../helpers/data';
import { writeMedmnistNpz } from '../helpers/formats';

/** 32 px (the smallest size the near-duplicate check runs at), no caps, a third of train for val. */
const profile: Profile = { ...PROFILES.smoke, data: { imageSize: 32, fit: 'squash', valFraction: 0.3, splitSeed: 0 } };

/** The dHash the obvious way, in float64: average each thumbnail cell, compare right with left. */
function referenceDHash(px: Uint8Array, size: number): number[] {
  const w = DHASH_SIDE + 1;
  const h = DHASH_SIDE;
  const bits: number[] = [];
  const cell = (tx: number, ty: number): number => {
    const x0 = Math.floor((tx * size) / w);
    const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * size) / w));
    const y0 = Math.floor((ty * size) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * size) / h));
    let s = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += px[y * size + x] as number;
    return s / ((x1 - x0) * (y1 - y0));
  };
  for (let ty = 0; ty < h; ty++) for (let tx = 0; tx < DHASH_SIDE; tx++) bits.push(cell(tx + 1, ty) > cell(tx, ty) ? 1 : 0);
  return bits;
}

const bitsOf = (words: Uint32Array): number[] => Array.from({ length: words.length * 32 }, (_, i) => ((words[i >>> 5] as number) >>> (i & 31)) & 1);

test('dHash() equals a float64 reference bit for bit, and hashDistance() counts the differing bits', () => {
  const rng = new Rng(7);
  for (const size of [32, 37, 64, 100]) {
    const a = Uint8Array.from({ length: size * size }, () => rng.int(256));
    const b = blobs(size, size, size);
    for (const px of [a, b]) assert.deepEqual(bitsOf(dHash(px, size)), referenceDHash(px, size), `size ${size}`);
    const ref = referenceDHash(a, size).reduce((d, bit, i) => d + (bit ^ (referenceDHash(b, size)[i] as number)), 0);
    assert.equal(hashDistance(dHash(a, size), dHash(b, size)), ref);
  }
});

test('a Kaggle folder with test images copied into train: identical copies (any name), a re-encoded copy and shared patient ids are reported, on disk and in the model splits', async () => {
  const root = tempDir();
  const files = await makeXrayFolder(root, { train: 12, test: 4 });
  const testNormal = files['test/NORMAL'] as string[];
  const testPneumonia = files['test/PNEUMONIA'] as string[];
  // Under their own names (their patient ids now in both), under a name without an id, and re-encoded smaller at JPEG quality 60.
  fs.copyFileSync(testNormal[0] as string, path.join(root, 'train', 'NORMAL', path.basename(testNormal[0] as string)));
  fs.copyFileSync(testPneumonia[0] as string, path.join(root, 'train', 'PNEUMONIA', path.basename(testPneumonia[0] as string)));
  fs.copyFileSync(testNormal[1] as string, path.join(root, 'train', 'NORMAL', 'scan_normal_0.jpeg'));
  await sharp(testPneumonia[1] as string).resize(80, 80).jpeg({ quality: 60 }).toFile(path.join(root, 'train', 'PNEUMONIA', 'scan_pneumonia_0.jpeg'));

  const d = await loadXrayData({ profile, source: { kind: 'folder', path: root }, cacheDir: tempDir() });
  const onDisk = d.leakage?.source;
  assert.deepEqual(onDisk?.map((o) => o.between), [['train', 'test']]);
  const o = onDisk?.[0];
  assert.ok(o !== undefined);
  const rel = (f: string): string => path.relative(root, f).split(path.sep).join('/');
  assert.deepEqual(o.patients, [testNormal[0], testPneumonia[0]].map((f) => patientIdOf(path.basename(f as string))).sort());
  assert.equal(o.images, 4);
  const byTest = new Map(o.duplicates.map((p) => [p.b, p]));
  assert.equal(byTest.get(rel(testNormal[0] as string))?.kind, 'identical');
  assert.equal(byTest.get(rel(testNormal[1] as string))?.a, 'train/NORMAL/scan_normal_0.jpeg');
  const similar = byTest.get(rel(testPneumonia[1] as string));
  assert.equal(similar?.kind, 'similar');
  assert.ok((similar?.distance ?? 99) <= SIMILAR_MAX_BITS);
  // The model's splits (train, val, test) share the same 4 images between them, wherever val took them.
  const inModel = new Set((d.leakage?.splits ?? []).filter((s) => s.between[1] === 'test').flatMap((s) => s.duplicates.map((p) => p.b)));
  assert.equal(inModel.size, 4);
  assert.ok(d.notes.some((n) => /^warning: leakage across splits/.test(n) && /--strict-splits/.test(n)), d.notes.join('\n'));
  // data stats: the on-disk train/test patient overlap counts the ids it has, though two names carry none.
  const s = dataStats(d);
  assert.equal(s.trainTestPatientOverlap, 2);
  assert.deepEqual(s.leakage?.source[0] && [s.leakage.source[0].images, s.leakage.source[0].identical, s.leakage.source[0].similar], [4, 3, 1]);
  assert.equal((s.leakage?.withoutPatientId['train'] ?? 0) + (s.leakage?.withoutPatientId['val'] ?? 0), 2, 'the two copies without an id');

  // Refused when asked, with what is shared.
  await assert.rejects(loadXrayData({ profile, source: { kind: 'folder', path: root }, cacheDir: tempDir(), leakage: 'error' }), (err: unknown) => {
    assert.ok(err instanceof KitError);
    assert.match(err.message, /the splits share data/);
    assert.match(err.message, /scan_normal_0\.jpeg/);
    assert.match(err.fix, /drop --strict-splits/);
    return true;
  });
});

test('a folder without shared patients or images: no warning, and leakage: error loads it', async () => {
  const root = tempDir();
  await makeXrayFolder(root, { train: 10, test: 4 });
  const d = await loadXrayData({ profile, source: { kind: 'folder', path: root }, cacheDir: tempDir(), leakage: 'error' });
  assert.ok(d.leakage?.splits.every((o) => o.patients.length === 0 && o.duplicates.length === 0));
  assert.equal(d.leakage?.similarChecked, true);
  assert.ok(!d.notes.some((n) => /leakage/.test(n)), d.notes.join('\n'));
  assert.equal(dataStats(d).trainTestPatientOverlap, 0);
});

test('duplicates inside train/ under two patients stay on one side of the val split', async () => {
  const root = tempDir();
  const files = await makeXrayFolder(root, { train: 8, test: 2 });
  const normal = files['train/NORMAL'] as string[];
  // The same film under a second patient's id: a patient split alone could put the two in train and val.
  fs.copyFileSync(normal[0] as string, path.join(root, 'train', 'NORMAL', 'IM-0999-0001.jpeg'));
  for (let seed = 0; seed < 8; seed++) {
    const d = await loadXrayData({ profile: { ...profile, data: { ...profile.data, splitSeed: seed } }, source: { kind: 'folder', path: root }, cacheDir: tempDir() });
    const copies = [path.basename(normal[0] as string), 'IM-0999-0001.jpeg'].map((n) => `train/NORMAL/${n}`);
    const sides = copies.map((id) => (d.train.ids.includes(id) ? 'train' : d.val.ids.includes(id) ? 'val' : 'none'));
    assert.equal(sides[0], sides[1], `seed ${seed}: ${sides.join(' and ')}`);
    assert.ok(!d.notes.some((n) => /leakage/.test(n)), `seed ${seed}`);
  }
});

test('linkDuplicates() joins the patients of duplicate images and leaves a split without duplicates unchanged', () => {
  const set = { ids: ['a1', 'a2', 'b1', 'c1', 'd1'], patients: ['pa', 'pa', 'pb', 'pc', '?d1'] };
  const pairs: DuplicatePair[] = [
    { a: 'b1', b: 'd1', kind: 'identical', distance: 0 },
    { a: 'c1', b: 'd1', kind: 'similar', distance: 3 },
    { a: 'x', b: 'a1', kind: 'identical', distance: 0 },
  ];
  assert.deepEqual(linkDuplicates(set, pairs), ['pa', 'pa', '?d1', '?d1', '?d1']);
  assert.deepEqual(linkDuplicates(set, []), set.patients);
  const labels = [0, 0, 1, 1, 1];
  assert.deepEqual(patientSplit(labels, linkDuplicates(set, []), { valFraction: 0.4, seed: 1 }), patientSplit(labels, set.patients, { valFraction: 0.4, seed: 1 }));
});

test('splitOverlaps() compares patient ids it knows, never the ? of names without one', () => {
  const train = { ids: ['t/1', 't/2', 't/3'], patients: ['p1', '?scan', 'p2'] };
  const test = { ids: ['s/1', 's/2'], patients: ['p2', '?scan'] };
  const [o] = splitOverlaps([{ name: 'train', set: train }, { name: 'test', set: test }], [{ a: 's/2', b: 't/2', kind: 'identical', distance: 0 }]);
  assert.deepEqual(o?.patients, ['p2']);
  assert.deepEqual(o?.duplicates, [{ a: 't/2', b: 's/2', kind: 'identical', distance: 0 }], 'oriented from the earlier split');
  assert.equal(o?.images, 1);
});

test('findDuplicates() below 32 px finds identical images only, and the notes say near-duplicates were not looked for', async () => {
  const img = (seed: number): { images: Uint8Array; labels: Uint8Array; size: number; ids: string[]; patients: string[] } => ({ images: blobs(8, 8, seed), labels: Uint8Array.of(0), size: 8, ids: [`x/${seed}`], patients: [`p${seed}`] });
  const r = findDuplicates([{ name: 'train', set: img(1), hashes: ['h'] }, { name: 'test', set: img(1), hashes: ['h'] }]);
  assert.equal(r.similarChecked, false);
  assert.deepEqual(r.pairs.map((p) => p.kind), ['identical']);
  const root = tempDir();
  await makeXrayFolder(root, { train: 6, test: 2 });
  const d = await loadXrayData({ profile: { ...profile, data: { ...profile.data, imageSize: 8 } }, source: { kind: 'folder', path: root }, cacheDir: tempDir() });
  assert.ok(d.notes.some((n) => /near-duplicate images were not looked for/.test(n)));
});

test('a MedMNIST file: images identical across its official splits are found by their stored pixels', async () => {
  const file = path.join(tempDir(), 'copies.npz');
  // writeMedmnistNpz fills every split with the same image sequence: image k is the same in train, val and test.
  writeMedmnistNpz(file, { train: 4, val: 2, test: 2 }, (_split, i) => i % 2);
  const d = await loadXrayData({ profile: { ...profile, data: { ...profile.data, imageSize: 4 } }, source: { kind: 'medmnist', path: file }, cacheDir: tempDir() });
  assert.deepEqual(d.leakage?.splits.map((o) => [o.between.join('/'), o.images, o.patients.length]), [['train/val', 2, 0], ['train/test', 2, 0], ['val/test', 2, 0]]);
  assert.deepEqual(d.leakage?.splits[1]?.duplicates.map((p) => `${p.b}=${p.a}`), ['test/0=train/0', 'test/1=train/1']);
  assert.ok(d.notes.some((n) => /^warning: leakage across splits/.test(n)));
});
