import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { projectRoot } from '../../src/lib/config/paths';
import {
  MEDMNIST_SIZES,
  PNEUMONIAMNIST,
  checkPneumoniaMnist,
  checkTwoClasses,
  downloadPneumoniaMnist,
  isValidMedmnistSize,
  medmnistPath,
  medmnistUrl,
  readMedmnist,
  type MedmnistData,
  type MedmnistSize,
} from '../../src/lib/data/medmnist';
import { KitError } from '../../src/lib/util/errors';
import type { ProgressUpdate } from '../../src/lib/util/progress';
import { writeMedmnistNpz, writeNpz, type NpyInput } from '../helpers/formats';
import { expectedImages, fixture, throwsKit } from './fixtures';
import { closedPortBase, sendBytes, serve } from './local-server';

function assertKit(err: unknown, ...patterns: RegExp[]): KitError {
  assert.ok(err instanceof KitError, `expected a KitError, got ${String(err)}`);
  for (const p of patterns) assert.match(err.message, p);
  return err;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the promise to reject');
}

function withCache<T>(fn: (cacheDir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medmnist-test-'));
  return fn(dir).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

test('PneumoniaMNIST constants match the Zenodo record 10519652 and the MedMNIST INFO table', () => {
  assert.deepEqual(MEDMNIST_SIZES, [28, 64, 128, 224]);
  const expected: Record<MedmnistSize, [string, string]> = {
    28: ['https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1', '28209eda62fecd6e6a2d98b1501bb15f'],
    64: ['https://zenodo.org/records/10519652/files/pneumoniamnist_64.npz?download=1', '8f4eceb4ccffa70c672198ea285246c6'],
    128: ['https://zenodo.org/records/10519652/files/pneumoniamnist_128.npz?download=1', '05b46931834c231683c68f40c47b2971'],
    224: ['https://zenodo.org/records/10519652/files/pneumoniamnist_224.npz?download=1', 'd6a3c71de1b945ea11211b03746c1fe1'],
  };
  for (const size of MEDMNIST_SIZES) {
    assert.equal(medmnistUrl(size), expected[size][0]);
    assert.equal(PNEUMONIAMNIST.files[size].md5, expected[size][1]);
  }
  assert.deepEqual(PNEUMONIAMNIST.splitSizes, { train: 4708, val: 524, test: 624 });
  // The source dataset has 5,856 images in all.
  assert.equal(PNEUMONIAMNIST.splitSizes.train + PNEUMONIAMNIST.splitSizes.val + PNEUMONIAMNIST.splitSizes.test, 5856);
  assert.deepEqual(PNEUMONIAMNIST.classNames, ['normal', 'pneumonia']);
  assert.equal(PNEUMONIAMNIST.license, 'CC BY 4.0');
  assert.match(PNEUMONIAMNIST.citation, /Yang.*Scientific Data.*2023/);
});

test('medmnistPath() puts the official file name under <cacheDir>/medmnist/', () => {
  assert.equal(medmnistPath('/c', 28), path.join('/c', 'medmnist', 'pneumoniamnist.npz'));
  assert.equal(medmnistPath('/c', 224), path.join('/c', 'medmnist', 'pneumoniamnist_224.npz'));
  assert.equal(medmnistUrl(64, 'http://mirror/x/'), 'http://mirror/x/pneumoniamnist_64.npz?download=1');
});

test('isValidMedmnistSize() accepts exactly 28, 64, 128, 224; other sizes are a KitError', () => {
  for (const s of [28, 64, 128, 224]) assert.equal(isValidMedmnistSize(s), true);
  for (const s of [0, 32, 100, 256, '128', undefined]) assert.equal(isValidMedmnistSize(s), false);
  let caught: unknown;
  try {
    medmnistPath('/c', 100 as MedmnistSize);
  } catch (err) {
    caught = err;
  }
  assertKit(caught, /no 100 px version/, /28, 64, 128, 224/);
});

test('downloadPneumoniaMnist() asks baseUrl for the official file name and rejects a file with the wrong MD5', async () => {
  const body = crypto.randomBytes(5000);
  const server = await serve((_req, res) => sendBytes(res, body));
  try {
    await withCache(async (cacheDir) => {
      const err = await rejection(downloadPneumoniaMnist({ size: 64, cacheDir, baseUrl: `${server.base}/files` }));
      assertKit(err, /8f4eceb4ccffa70c672198ea285246c6 was expected/);
      assert.deepEqual(server.requests, ['/files/pneumoniamnist_64.npz?download=1']);
      assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'medmnist')), [], 'no file and no temp file left');
    });
  } finally {
    await server.close();
  }
});

test('downloadPneumoniaMnist() says when a cached file has the wrong MD5 and downloads it again', async () => {
  const server = await serve((_req, res) => sendBytes(res, Buffer.from('not the dataset')));
  try {
    await withCache(async (cacheDir) => {
      const dest = medmnistPath(cacheDir, 28);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, 'stale');
      const updates: ProgressUpdate[] = [];
      const err = await rejection(
        downloadPneumoniaMnist({ size: 28, cacheDir, baseUrl: server.base, onProgress: (u) => updates.push(u) }),
      );
      assertKit(err, /28209eda62fecd6e6a2d98b1501bb15f was expected/);
      assert.match(updates[0]?.info ?? '', /pneumoniamnist\.npz has MD5 [0-9a-f]{32}, expected 28209eda62fecd6e6a2d98b1501bb15f/);
      assert.equal(updates[0]?.label, 'download PneumoniaMNIST 28px');
      assert.equal(server.requests.length, 1);
      assert.equal(fs.readFileSync(dest, 'utf8'), 'stale', 'a failed download leaves the old file as it was');
      assert.deepEqual(fs.readdirSync(path.dirname(dest)), ['pneumoniamnist.npz']);
    });
  } finally {
    await server.close();
  }
});

test('downloadPneumoniaMnist() offline: the error names XRAY_DATA with the Kaggle layout and the cache path', async () => {
  const base = await closedPortBase();
  await withCache(async (cacheDir) => {
    const err = assertKit(await rejection(downloadPneumoniaMnist({ size: 128, cacheDir, baseUrl: base })), /refused the connection/);
    assert.match(err.fix, /XRAY_DATA/);
    assert.ok(err.fix.includes('{train,test}/{NORMAL,PNEUMONIA}/*.jpeg'));
    assert.ok(err.fix.includes(medmnistPath(cacheDir, 128)));
  });
});

/** Data with the official split sizes and 1x1 images. */
function officialShaped(): MedmnistData {
  const split = (n: number): MedmnistData['train'] => ({
    images: new Uint8Array(n),
    labels: Uint8Array.from({ length: n }, (_, i) => i % 2),
    n,
    height: 1,
    width: 1,
  });
  return { train: split(4708), val: split(524), test: split(624) };
}

test('checkPneumoniaMnist() accepts the official split and rejects other counts, labels and sizes', () => {
  const data = officialShaped();
  checkPneumoniaMnist(data, 'f.npz');

  const tiny = path.join(projectRoot(), 'test', 'fixtures', 'medmnist_tiny.npz');
  const check = (fn: () => void, ...patterns: RegExp[]): void => {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    assertKit(caught, ...patterns);
  };
  check(
    () => checkPneumoniaMnist(readMedmnist(tiny), tiny),
    /found train 6, val 2, test 3, expected train 4708, val 524, test 624/,
    /medmnist_tiny\.npz/,
  );
  check(() => checkPneumoniaMnist(data, 'f.npz', 28), /train images are 1x1 px, expected 28x28/);
  data.val.labels[7] = 2;
  check(() => checkPneumoniaMnist(data, 'f.npz'), /val label 7 is 2/);
});

test('readMedmnist() reads (N,H,W) images and (N,1) labels per split', () => {
  const data = readMedmnist(fixture('medmnist_tiny.npz'));
  const counts = { train: 6, val: 2, test: 3 } as const;
  (['train', 'val', 'test'] as const).forEach((split, offset) => {
    const s = data[split];
    const n = counts[split];
    assert.equal(s.n, n);
    assert.equal(s.height, 8);
    assert.equal(s.width, 8);
    assert.deepEqual(s.images, expectedImages(n * 64, offset), split);
    assert.deepEqual(s.labels, Uint8Array.from({ length: n }, (_, i) => i % 2), split);
  });
});

test('readMedmnist() accepts (N,H,W,1) images and flat int64 labels', () => {
  const data = readMedmnist(fixture('medmnist_nhw1.npz'));
  assert.equal(data.train.n, 2);
  assert.equal(data.train.height, 4);
  assert.equal(data.train.width, 4);
  assert.deepEqual(data.train.images, expectedImages(2 * 16, 100));
  assert.deepEqual(data.val.images, expectedImages(16, 101));
  assert.deepEqual(data.test.images, expectedImages(16, 102));
  assert.ok(data.train.labels instanceof Uint8Array);
  assert.deepEqual([...data.train.labels], [0, 1]);
});

test('readMedmnist() rejects 3-channel images as not PneumoniaMNIST', () => {
  throwsKit(() => readMedmnist(fixture('medmnist_rgb.npz')), /3 colour channels/, /\(2, 4, 4, 3\)/, /grayscale/, /medmnist_rgb\.npz \[train_images\]/);
});

test('readMedmnist() lists the missing and the found keys', () => {
  throwsKit(
    () => readMedmnist(fixture('medmnist_missing.npz')),
    /lacks val_labels;/,
    /holds train_images, train_labels, val_images, test_images, test_labels/,
    /medmnist_missing\.npz/,
  );
  throwsKit(() => readMedmnist(fixture('dtypes.npz')), /lacks train_images, train_labels, val_images/, /holds u1, i1/);
});

test('readMedmnist() rejects image and label counts that differ', () => {
  throwsKit(() => readMedmnist(fixture('medmnist_mismatch.npz')), /train_images holds 3 images but train_labels holds 2 labels/);
});

test('checkTwoClasses() refuses labels outside 0/1, naming every label found with its count per split', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medmnist-test-'));
  const file = path.join(dir, 'organ11.npz');
  // Eleven classes, labels i % 11: like the case where 165 of 200 images were dropped unnoticed.
  writeMedmnistNpz(file, { train: 22, val: 11, test: 11 }, (_split, i) => i % 11);
  const data = readMedmnist(file);
  const err = throwsKit(
    () => checkTwoClasses(data, file),
    /labels outside 0 \(NORMAL\) and 1 \(PNEUMONIA\): 2, 3, 4, 5, 6, 7, 8, 9, 10 \(36 images\)/,
    /train: 0 ×2, 1 ×2, 2 ×2, .*10 ×2; val: 0 ×1, .*10 ×1; test: /,
    /organ11\.npz/,
  );
  assert.match(err.fix, /labels == k/);
  assert.match(err.fix, /data download/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('checkTwoClasses() refuses a split without one of the classes, with the counts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medmnist-test-'));
  const file = path.join(dir, 'oneclass.npz');
  writeMedmnistNpz(file, { train: 6, val: 3, test: 4 }, (split, i) => (split === 'val' ? 0 : i % 2));
  throwsKit(() => checkTwoClasses(readMedmnist(file), file), /val has no 1 \(PNEUMONIA\)/, /val: 0 ×3;/, /train: 0 ×3, 1 ×3/);
  // Both classes in every split: accepted.
  writeMedmnistNpz(file, { train: 6, val: 3, test: 4 }, (_split, i) => i % 2);
  checkTwoClasses(readMedmnist(file), file);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('readMedmnist() keeps refusing multi-label (N, 14) labels with a shape error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medmnist-test-'));
  const file = path.join(dir, 'chest14.npz');
  const arrays: Record<string, NpyInput> = {};
  for (const split of ['train', 'val', 'test']) {
    arrays[`${split}_images`] = { descr: '|u1', shape: [2, 4, 4], data: new Uint8Array(32) };
    arrays[`${split}_labels`] = { descr: '|u1', shape: [2, 14], data: new Uint8Array(28) };
  }
  writeNpz(file, arrays);
  throwsKit(() => readMedmnist(file), /train_labels must have shape \(N,\) or \(N, 1\) \(one class per image\), found \(2, 14\)/);
  fs.rmSync(dir, { recursive: true, force: true });
});
