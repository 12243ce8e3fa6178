import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { classCounts } from '../../src/lib/data/classes';
import { loadImageFolder, scanImageFolder } from '../../src/lib/data/imagefolder';
import { KitError } from '../../src/lib/util/errors';
import { gradient, makeKaggleFolder, sharedXrays, tempDir, writeGrayImage } from '../helpers/data';

test('scanImageFolder() lists the shared X-rays with the published counts and patient ids', () => {
  const scan = scanImageFolder(sharedXrays());
  const count = (split: string, label: number): number => scan.files.filter((f) => f.split === split && f.label === label).length;
  assert.deepEqual([count('train', 0), count('train', 1), count('test', 0), count('test', 1)], [1341, 3875, 234, 390]);
  assert.equal(scan.files.filter((f) => f.patient.startsWith('?')).length, 0, 'every real file name carries a patient id');
  const f = scan.files.find((x) => x.rel === 'train/PNEUMONIA/person1000_bacteria_2931.jpeg');
  assert.equal(f?.patient, 'person1000');
});

test('loadImageFolder() decodes a generated folder and the cache returns identical data', async () => {
  const root = tempDir();
  const cacheDir = tempDir();
  await makeKaggleFolder(root);
  const first = await loadImageFolder(root, { size: 8, fit: 'squash', cacheDir });
  assert.equal(first.cache.hit, false);
  assert.deepEqual(classCounts(first.train.labels), [6, 6]);
  assert.deepEqual(classCounts(first.test.labels), [2, 2]);
  assert.equal(first.train.images.length, 12 * 64);
  const second = await loadImageFolder(root, { size: 8, fit: 'squash', cacheDir });
  assert.equal(second.cache.hit, true);
  assert.deepEqual(second.train.images, first.train.images);
  assert.deepEqual(second.train.ids, first.train.ids);
  assert.deepEqual(second.test.patients, first.test.patients);
  // Another size or fit is another cache entry.
  const other = await loadImageFolder(root, { size: 8, fit: 'letterbox', cacheDir });
  assert.equal(other.cache.hit, false);
});

test('loadImageFolder() invalidates the cache when an image changes, even with the same name', async () => {
  const root = tempDir();
  const cacheDir = tempDir();
  await makeKaggleFolder(root);
  const before = await loadImageFolder(root, { size: 8, fit: 'squash', cacheDir });
  const target = path.join(root, 'train', 'NORMAL', 'IM-050-0000.jpeg');
  assert.ok(fs.existsSync(target));
  await writeGrayImage(target, new Uint8Array(400).fill(255), 20, 20);
  const after = await loadImageFolder(root, { size: 8, fit: 'squash', cacheDir });
  assert.equal(after.cache.hit, false);
  const i = after.train.ids.indexOf('train/NORMAL/IM-050-0000.jpeg');
  assert.ok(after.train.images.subarray(i * 64, (i + 1) * 64).every((v) => v === 255));
  assert.notDeepEqual(after.train.images, before.train.images);
});

test('loadImageFolder() stops at a corrupt image by default and names it; skip policy reports it', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  const bad = path.join(root, 'train', 'PNEUMONIA', 'person999_virus_1.jpeg');
  fs.writeFileSync(bad, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]));
  await assert.rejects(loadImageFolder(root, { size: 8, fit: 'squash' }), (err: unknown) => err instanceof KitError && /person999_virus_1\.jpeg/.test(err.message));
  const cacheDir = tempDir();
  const r = await loadImageFolder(root, { size: 8, fit: 'squash', onBadImage: 'skip', cacheDir });
  assert.deepEqual(r.skipped.map((s) => s.rel), ['train/PNEUMONIA/person999_virus_1.jpeg']);
  assert.deepEqual(classCounts(r.train.labels), [6, 6]);
  // The skip list survives the cache.
  const again = await loadImageFolder(root, { size: 8, fit: 'squash', onBadImage: 'skip', cacheDir });
  assert.equal(again.cache.hit, true);
  assert.deepEqual(again.skipped, r.skipped);
});

test('scanImageFolder() explains a wrong layout, an empty class folder and an unknown class', async () => {
  const root = tempDir();
  assert.throws(() => scanImageFolder(path.join(root, 'nope')), /does not exist/);
  fs.mkdirSync(path.join(root, 'images'));
  assert.throws(() => scanImageFolder(root), (err: unknown) => err instanceof KitError && /no train or test folder; found images\//.test(err.message) && /\{train,test\}\/\{NORMAL,PNEUMONIA\}/.test(err.fix));

  const empty = tempDir();
  await makeKaggleFolder(empty);
  for (const f of fs.readdirSync(path.join(empty, 'test', 'NORMAL'))) fs.rmSync(path.join(empty, 'test', 'NORMAL', f));
  assert.throws(() => scanImageFolder(empty), /class folder test\/NORMAL\/ is empty/);

  const extra = tempDir();
  await makeKaggleFolder(extra);
  await writeGrayImage(path.join(extra, 'train', 'COVID', 'x.png'), gradient(4, 4), 4, 4);
  assert.throws(() => scanImageFolder(extra), /unknown class folder\(s\) train\/COVID\//);

  const loose = tempDir();
  await makeKaggleFolder(loose);
  await writeGrayImage(path.join(loose, 'test', 'x.png'), gradient(4, 4), 4, 4);
  assert.throws(() => scanImageFolder(loose), /test\/ holds files directly \(x\.png\)/);
});

test('scanImageFolder() ignores hidden files and __MACOSX, merges val/ into train, notes unknown patients', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  fs.writeFileSync(path.join(root, 'train', 'NORMAL', '.DS_Store'), 'x');
  fs.mkdirSync(path.join(root, '__MACOSX'));
  await writeGrayImage(path.join(root, 'val', 'NORMAL', 'scan.png'), gradient(4, 4), 4, 4);
  await writeGrayImage(path.join(root, 'val', 'PNEUMONIA', 'person7_virus_1.png'), gradient(4, 4), 4, 4);
  const scan = scanImageFolder(root);
  assert.ok(scan.ignored.includes('train/NORMAL/.DS_Store'));
  assert.ok(scan.ignored.includes('__MACOSX'));
  assert.equal(scan.files.filter((f) => f.split === 'train').length, 14);
  assert.ok(scan.notes.some((n) => /val\/ was merged into train/.test(n)));
  assert.equal(scan.files.find((f) => f.rel === 'val/NORMAL/scan.png')?.patient, '?scan');
  assert.ok(scan.notes.some((n) => /1 file names carry no patient id/.test(n)));
});

test('scanImageFolder() refuses class folders that differ only in case, naming both and the merge', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  await writeGrayImage(path.join(root, 'train', 'Normal', 'IM-0900-0001.jpeg'), gradient(20, 20), 20, 20);
  assert.throws(() => scanImageFolder(root), (e: unknown) => {
    assert.ok(e instanceof KitError);
    assert.match(e.message, /train\/NORMAL\/ and train\/Normal\/ differ only in case/);
    assert.match(e.message, /would drop the images of the other/);
    assert.match(e.fix, /move everything in train\/Normal\/ into train\/NORMAL\//);
    return true;
  });
});

test('scanImageFolder() refuses split folders that differ only in case (Test/ beside test/)', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  await writeGrayImage(path.join(root, 'Test', 'NORMAL', 'IM-0901-0001.jpeg'), gradient(20, 20), 20, 20);
  assert.throws(() => scanImageFolder(root), (e: unknown) => e instanceof KitError && /test\/ and Test\/ differ only in case/.test(e.message) && /one folder per split/.test(e.message) && /move everything in Test\/ into test\//.test(e.fix));
});

test('scanImageFolder() still reads one folder per split or class in any case', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  fs.renameSync(path.join(root, 'train'), path.join(root, 'Train'));
  fs.renameSync(path.join(root, 'Train', 'NORMAL'), path.join(root, 'Train', 'normal'));
  const scan = scanImageFolder(root);
  assert.equal(scan.files.filter((f) => f.split === 'train' && f.label === 0).length, 6);
  assert.ok(scan.files.some((f) => f.rel.startsWith('Train/normal/')));
});

test('scanImageFolder() notes folders inside a class folder instead of dropping them without a word', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  await writeGrayImage(path.join(root, 'train', 'NORMAL', 'more', 'IM-0902-0001.jpeg'), gradient(20, 20), 20, 20);
  const scan = scanImageFolder(root);
  assert.ok(scan.notes.some((n) => /train\/NORMAL\/more\/: folder\(s\) inside a class folder, not read/.test(n)), scan.notes.join('\n'));
});

test('loadImageFolder() names a dangling symbolic link (git-annex before `get`); skip lists it; fetching it makes a new cache entry', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  const target = path.join(root, '.git', 'annex', 'objects', 'IM-0903-0001.jpeg');
  const link = path.join(root, 'train', 'NORMAL', 'IM-0903-0001.jpeg');
  fs.symlinkSync(target, link);
  await assert.rejects(loadImageFolder(root, { size: 8, fit: 'squash' }), (err: unknown) => {
    assert.ok(err instanceof KitError);
    assert.match(err.message, /cannot read image train\/NORMAL\/IM-0903-0001\.jpeg: a dangling symbolic link: its target .*annex.* does not exist/);
    assert.match(err.fix, /git annex get/);
    assert.ok(err.fix.includes("{ onBadImage: 'skip' }"));
    return true;
  });
  const cacheDir = tempDir();
  const r = await loadImageFolder(root, { size: 8, fit: 'squash', onBadImage: 'skip', cacheDir });
  assert.deepEqual(r.skipped.map((s) => s.rel), ['train/NORMAL/IM-0903-0001.jpeg']);
  assert.match(r.skipped[0]?.reason ?? '', /dangling symbolic link/);
  assert.deepEqual(classCounts(r.train.labels), [6, 6]);
  // `git annex get`: the content arrives, the same link now reads, and the cache sees the change.
  await writeGrayImage(target, new Uint8Array(400).fill(200), 20, 20);
  const fetched = await loadImageFolder(root, { size: 8, fit: 'squash', onBadImage: 'skip', cacheDir });
  assert.equal(fetched.cache.hit, false);
  assert.deepEqual(fetched.skipped, []);
  assert.deepEqual(classCounts(fetched.train.labels), [7, 6]);
});

test('scanImageFolder() names a dangling link where a split or class folder should be', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  fs.rmSync(path.join(root, 'test'), { recursive: true });
  fs.symlinkSync(path.join(root, 'elsewhere', 'test'), path.join(root, 'test'));
  assert.throws(() => scanImageFolder(root), (e: unknown) => e instanceof KitError && /cannot read test: a dangling symbolic link/.test(e.message));
});

test('loadImageFolder() names a file whose name is not valid UTF-8, or skips it and lists it', async (t) => {
  const root = tempDir();
  await makeKaggleFolder(root);
  const dir = path.join(root, 'test', 'PNEUMONIA');
  const bad = Buffer.concat([Buffer.from(`${dir}/person7_virus_`), Buffer.from([0xe9]), Buffer.from('.jpeg')]);
  try {
    fs.writeFileSync(bad, fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0] as string)));
  } catch (err) {
    // Some file systems (APFS, NTFS) refuse such names; then nothing can hold them there.
    if ((err as NodeJS.ErrnoException).code === 'EILSEQ' || (err as NodeJS.ErrnoException).code === 'EINVAL') return t.skip('this file system refuses non-UTF-8 names');
    throw err;
  }
  await assert.rejects(loadImageFolder(root, { size: 8, fit: 'squash', cacheDir: tempDir() }), (err: unknown) => {
    assert.ok(err instanceof KitError);
    assert.match(err.message, /test\/PNEUMONIA\/person7_virus_\uFFFD\.jpeg: the file name is not valid UTF-8 \(bytes [0-9a-f]*e9[0-9a-f]*\)/);
    assert.match(err.fix, /rename it/);
    return true;
  });
  const r = await loadImageFolder(root, { size: 8, fit: 'squash', onBadImage: 'skip', cacheDir: tempDir() });
  assert.equal(r.skipped.length, 1);
  assert.match(r.skipped[0]?.reason ?? '', /not valid UTF-8/);
  assert.deepEqual(classCounts(r.test.labels), [2, 2]);
});
