import assert from 'node:assert/strict';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { getProfile, PROFILES, Profile } from '../../src/lib/experiment/profiles';
import { classCounts } from '../../src/lib/data/classes';
import { loadXrayData, resolveDataSource } from '../../src/lib/data/dataset';
import { projectRoot } from '../../src/lib/config/paths';
import { KitError } from '../../src/lib/util/errors';
import { makeKaggleFolder, sharedXrays, tempDir } from '../helpers/data';
import { writeMedmnistNpz } from '../helpers/formats';
import { useCpu } from '../helpers/tf';
import { closedPortBase } from './local-server';

before(useCpu);

const tiny: Profile = { ...PROFILES.smoke, data: { imageSize: 8, fit: 'squash', valFraction: 0.3, splitSeed: 0 } };

test('resolveDataSource() maps XRAY_DATA to a folder or a .npz, and no setting to the 128 px download', () => {
  const base = { profile: 'smoke', backend: 'auto', cacheDir: '/c', runsDir: '/r', native: 'auto' };
  assert.deepEqual(resolveDataSource({ ...base, data: '/x/chest_xray' }), { kind: 'folder', path: '/x/chest_xray' });
  assert.deepEqual(resolveDataSource({ ...base, data: '/x/p.NPZ' }), { kind: 'medmnist', path: '/x/p.NPZ' });
  assert.deepEqual(resolveDataSource({ ...base, data: undefined }), { kind: 'medmnist', path: path.join('/c', 'medmnist', 'pneumoniamnist_128.npz'), download: 128 });
});

test('loadXrayData() on a folder: patient-aware val split, no overlap, stats from train only', async () => {
  const root = tempDir();
  await makeKaggleFolder(root, { train: 10, test: 3 });
  const d = await loadXrayData({ profile: tiny, source: { kind: 'folder', path: root }, cacheDir: tempDir() });
  assert.equal(d.split.method, 'patient-aware');
  assert.deepEqual(d.split.overlap, []);
  assert.equal(d.train.labels.length + d.val.labels.length, 20);
  assert.ok(classCounts(d.val.labels).every((c) => c > 0), 'both classes in val');
  assert.deepEqual(d.sourceCounts['train']?.images, [10, 10]);
  assert.equal(d.train.size, 8);
  const trainMean = d.train.images.reduce((a, b) => a + b, 0) / d.train.images.length / 255;
  assert.ok(Math.abs(d.stats.mean - trainMean) < 1e-9);
});

test('loadXrayData() on a MedMNIST file uses its official split and resizes to the profile size', async () => {
  const file = path.join(projectRoot(), 'test', 'fixtures', 'medmnist_tiny.npz');
  const d = await loadXrayData({ profile: { ...tiny, data: { ...tiny.data, imageSize: 4 } }, source: { kind: 'medmnist', path: file }, cacheDir: tempDir() });
  assert.equal(d.split.method, 'official');
  assert.deepEqual([d.train.labels.length, d.val.labels.length, d.test.labels.length], [6, 2, 3]);
  assert.equal(d.train.images.length, 6 * 16);
  assert.ok(d.notes.some((n) => /resized from 8 px/.test(n)));
  assert.ok(d.notes.some((n) => /no patient ids/.test(n)));
});

test('loadXrayData() caps the splits of the smoke profile on the real data and keeps both classes', async () => {
  const d = await loadXrayData({ profile: getProfile('smoke'), source: { kind: 'folder', path: sharedXrays() }, cacheDir: path.join(projectRoot(), '.cache') });
  const limit = PROFILES.smoke.data.limit;
  assert.ok(limit !== undefined);
  for (const [set, max] of [[d.train, limit.train], [d.val, limit.val], [d.test, limit.test]] as const) {
    assert.ok(Math.abs(set.labels.length - max) <= 3, `about ${max} images, got ${set.labels.length}`);
    assert.ok(classCounts(set.labels).every((c) => c > 0));
  }
  assert.deepEqual(d.split.overlap, []);
  assert.deepEqual(d.sourceCounts['train']?.images, [1341, 3875]);
});

test('loadXrayData() without XRAY_DATA and without network explains the options', async () => {
  const base = await closedPortBase();
  await assert.rejects(
    loadXrayData({ profile: tiny, source: resolveDataSource({ data: undefined, profile: 'smoke', backend: 'auto', cacheDir: tempDir(), runsDir: '', native: 'auto' }), downloadBaseUrl: base, cacheDir: tempDir() }),
    (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.fix, /XRAY_DATA/);
      assert.match(err.fix, /\{train,test\}\/\{NORMAL,PNEUMONIA\}/);
      assert.match(err.fix, /data download/);
      return true;
    },
  );
});

test('loadXrayData() names a missing .npz file', async () => {
  await assert.rejects(loadXrayData({ profile: tiny, source: { kind: 'medmnist', path: '/nonexistent/p.npz' } }), /MedMNIST file does not exist/);
});

test('loadXrayData() refuses a MedMNIST file with more than two classes instead of dropping the rest', async () => {
  const file = path.join(tempDir(), 'eleven.npz');
  writeMedmnistNpz(file, { train: 22, val: 11, test: 11 }, (_split, i) => i % 11);
  await assert.rejects(loadXrayData({ profile: tiny, source: { kind: 'medmnist', path: file }, cacheDir: tempDir() }), (err: unknown) => {
    assert.ok(err instanceof KitError);
    assert.match(err.message, /labels outside 0 \(NORMAL\) and 1 \(PNEUMONIA\): 2, 3, .*10 \(36 images\)/);
    assert.match(err.message, /eleven\.npz/);
    return true;
  });
});
