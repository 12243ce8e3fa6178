import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NpyArray } from '../../src/lib/data/npy';
import { openNpz, readNpz } from '../../src/lib/data/npz';
import { tempDir } from '../helpers/data';
import { expectedImages, fixture, throwsKit } from './fixtures';

// readNpz / openNpz end to end, on archives written by real NumPy (test/fixtures/make_npz.py):
// the zip container (zip.test.ts) and the .npy arrays (npy.test.ts) together.

function get(map: Map<string, NpyArray>, key: string): NpyArray {
  const a = map.get(key);
  assert.ok(a !== undefined, `missing array ${key}`);
  return a;
}

test('readNpz() reads every supported dtype with exact values (np.savez, stored entries)', () => {
  const arrays = readNpz(fixture('dtypes.npz'));
  assert.deepEqual(
    [...arrays.keys()],
    ['u1', 'i1', 'u2', 'i2', 'u4', 'i4', 'i8', 'u8', 'f4', 'f8', 'flags', 'scalar', 'cube', 'empty'],
  );
  const expect = (key: string, dtype: string, shape: number[], values: unknown[]): void => {
    const a = get(arrays, key);
    assert.equal(a.dtype, dtype, key);
    assert.deepEqual(a.shape, shape, key);
    assert.deepEqual([...a.data], values, key);
  };
  expect('u1', 'uint8', [5], [0, 50, 100, 150, 200]);
  expect('i1', 'int8', [5], [-128, -1, 0, 1, 127]);
  expect('u2', 'uint16', [3], [0, 1, 65535]);
  expect('i2', 'int16', [3], [-32768, 0, 32767]);
  expect('u4', 'uint32', [2], [0, 4294967295]);
  expect('i4', 'int32', [2], [-2147483648, 2147483647]);
  // 2**53 + 1 is not a JS number: int64 must stay BigInt to keep it.
  expect('i8', 'int64', [5], [-(2n ** 62n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]);
  expect('u8', 'uint64', [2], [0n, 2n ** 64n - 1n]);
  expect('f8', 'float64', [4], [0.1, -2.5, 1e300, -0]);
  assert.ok(Object.is(get(arrays, 'f8').data[3], -0), 'float64 -0 keeps its sign');
  expect('flags', 'bool', [3], [1, 0, 1]);
  expect('scalar', 'float64', [], [3.5]);
  expect('cube', 'int32', [2, 3, 4], Array.from({ length: 24 }, (_, i) => i));
  expect('empty', 'float32', [0, 3], []);

  const f4 = get(arrays, 'f4');
  assert.equal(f4.dtype, 'float32');
  assert.ok(f4.data instanceof Float32Array);
  assert.deepEqual([...f4.data].slice(0, 4), [0.5, -1.25, Math.fround(1 / 3), Infinity]);
  assert.ok(Number.isNaN(f4.data[4]));
  assert.ok(get(arrays, 'i8').data instanceof BigInt64Array);
});

test('readNpz() reads .npy format versions 1.0, 2.0 and 3.0, stored and deflated in one archive', () => {
  const arrays = readNpz(fixture('versions.npz'));
  for (const v of [1, 2, 3]) {
    const a = get(arrays, `v${v}`);
    assert.equal(a.dtype, 'float64');
    assert.deepEqual(a.shape, [4]);
    assert.deepEqual([...a.data], [0, 1, 2, 3].map((i) => i * 1.5 + v));
  }
});

test('readNpz() reads a ZIP64 archive (zip64 end record, locator and central extra fields)', () => {
  const a = get(readNpz(fixture('zip64.npz')), 'a');
  assert.equal(a.dtype, 'int64');
  assert.deepEqual([...a.data], Array.from({ length: 10 }, (_, i) => BigInt(-3 * i)));
});

test('readNpz() reads np.savez_compressed (deflate) output', () => {
  const arrays = readNpz(fixture('medmnist_tiny.npz'));
  const images = get(arrays, 'val_images');
  assert.deepEqual(images.shape, [2, 8, 8]);
  assert.deepEqual(images.data, expectedImages(2 * 64, 1));
  const labels = get(arrays, 'test_labels');
  assert.deepEqual(labels.shape, [3, 1]);
  assert.deepEqual([...labels.data], [0, 1, 0]);
});

test('openNpz() lists keys without reading arrays and reads one on request', () => {
  const npz = openNpz(fixture('rejects.npz'));
  try {
    assert.deepEqual(npz.keys, ['ok', 'fortran', 'big_endian', 'objects', 'structured', 'half']);
    assert.equal(npz.has('ok'), true);
    assert.equal(npz.has('nope'), false);
    assert.deepEqual([...npz.read('ok').data], [0, 1, 2]);
    throwsKit(() => npz.read('nope'), /no array "nope"/, /ok, fortran, big_endian/, /rejects\.npz/);
  } finally {
    npz.close();
  }
});

test('openNpz().read() rejects Fortran order, big-endian, object, structured and float16 arrays, naming file, key and dtype', () => {
  const npz = openNpz(fixture('rejects.npz'));
  try {
    throwsKit(() => npz.read('fortran'), /rejects\.npz \[fortran\]/, /Fortran/, /'<i4'/, /ascontiguousarray/);
    throwsKit(() => npz.read('big_endian'), /rejects\.npz \[big_endian\]/, /big-endian dtype '>i4'/, /newbyteorder/);
    throwsKit(() => npz.read('objects'), /rejects\.npz \[objects\]/, /dtype '\|O' \(Python objects\)/);
    throwsKit(() => npz.read('structured'), /rejects\.npz \[structured\]/, /structured/, /"x","<i4"/);
    throwsKit(() => npz.read('half'), /rejects\.npz \[half\]/, /dtype '<f2'/);
  } finally {
    npz.close();
  }
});

test('readNpz() on a truncated download says it is truncated and how to fix it', () => {
  const dir = tempDir('npz-test-');
  try {
    const bytes = fs.readFileSync(fixture('dtypes.npz'));
    for (const keep of [Math.floor(bytes.length / 2), bytes.length - 10, 0]) {
      const file = path.join(dir, `cut-${keep}.npz`);
      fs.writeFileSync(file, bytes.subarray(0, keep));
      const err = throwsKit(() => readNpz(file), /truncated|empty/, new RegExp(`cut-${keep}\\.npz`));
      assert.match(err.fix, /convnext-xray data download/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readNpz() detects a flipped byte by its CRC-32 (stored) or a corrupt stream (deflated)', () => {
  const dir = tempDir('npz-test-');
  try {
    const bytes = Buffer.from(fs.readFileSync(fixture('dtypes.npz')));
    // The first entry is u1.npy: a 128-byte v1 header, then [0, 50, 100, 150, 200].
    const dataAt = bytes.indexOf(Buffer.from('\x93NUMPY', 'latin1')) + 128;
    assert.equal(bytes[dataAt + 1], 50);
    bytes[dataAt + 1] = 51;
    const file = path.join(dir, 'flipped.npz');
    fs.writeFileSync(file, bytes);
    throwsKit(() => readNpz(file), /CRC-32 check failed/, /flipped\.npz \[u1\]/);
    // The other arrays are intact and stay readable through the lazy reader.
    const npz = openNpz(file);
    assert.deepEqual([...npz.read('u2').data], [0, 1, 65535]);
    npz.close();

    const compressed = Buffer.from(fs.readFileSync(fixture('medmnist_tiny.npz')));
    // train_images is the first entry; its deflate stream starts after the 30-byte local header,
    // the name and the extra field.
    const streamAt = 30 + compressed.readUInt16LE(26) + compressed.readUInt16LE(28);
    compressed[streamAt + 20] = (compressed[streamAt + 20] as number) ^ 0xff;
    const file2 = path.join(dir, 'flipped2.npz');
    fs.writeFileSync(file2, compressed);
    throwsKit(() => readNpz(file2), /flipped2\.npz \[train_images\]/, /corrupt|CRC-32|unpack/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readNpz() rejects a file that is not a zip, and a missing file', () => {
  const dir = tempDir('npz-test-');
  try {
    const file = path.join(dir, 'page.npz');
    fs.writeFileSync(file, '<html><body>Too many requests</body></html>\n'.repeat(5));
    const err = throwsKit(() => readNpz(file), /not a zip archive/, /page\.npz/);
    assert.match(err.fix, /download it again/);
    throwsKit(() => readNpz(path.join(dir, 'absent.npz')), /cannot open/, /absent\.npz/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
