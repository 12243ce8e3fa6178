import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { projectRoot } from '../../src/lib/config/paths';
import { crc32, openNpz, parseNpy, readMedmnist, readNpz, type NpyArray } from '../../src/lib/data/npz';
import { KitError } from '../../src/lib/util/errors';

// Fixtures are written by real NumPy: test/fixtures/make_npz.py. Expected values below restate
// the formulas in that script.
const fixture = (name: string): string => path.join(projectRoot(), 'test', 'fixtures', name);

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'npz-test-'));
}

/** Assert that fn throws a KitError whose message matches every pattern. */
function throwsKit(fn: () => unknown, ...patterns: RegExp[]): KitError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KitError, `expected a KitError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

function get(map: Map<string, NpyArray>, key: string): NpyArray {
  const a = map.get(key);
  assert.ok(a !== undefined, `missing array ${key}`);
  return a;
}

/** Flat pixel i of a fixture image array is (7*i + offset) % 256. */
function expectedImages(count: number, offset: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (7 * i + offset) % 256);
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
  const dir = tempDir();
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
  const dir = tempDir();
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
  const dir = tempDir();
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

/** A .npy file from a header literal (padded as numpy pads it) and raw data bytes. */
function npy(header: string, data: number[], version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const padded = header + ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const out = Buffer.alloc(prefix + padded.length + data.length);
  Buffer.from('\x93NUMPY', 'latin1').copy(out);
  out[6] = version;
  out[7] = 0;
  if (version === 1) out.writeUInt16LE(padded.length, 8);
  else out.writeUInt32LE(padded.length, 8);
  out.write(padded, prefix, 'latin1');
  Buffer.from(data).copy(out, prefix + padded.length);
  return out;
}

test('parseNpy() reads a hand-made header, including Python 2 long suffixes and double quotes', () => {
  const a = parseNpy(npy(`{"descr": "<i2", 'fortran_order': False, 'shape': (2L, 1L), }`, [1, 0, 0xff, 0xff]), 'x');
  assert.deepEqual(a, { dtype: 'int16', shape: [2, 1], data: Int16Array.from([1, -1]) });
});

test('parseNpy() copies data that sits at an offset typed arrays cannot view', () => {
  const bytes = npy(`{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }`, [...new Uint8Array(Float64Array.from([1.5, -2]).buffer)]);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const a = parseNpy(shifted.subarray(1), 'x');
  assert.deepEqual([...a.data], [1.5, -2]);
  assert.equal(a.data.byteOffset % 8, 0);
});

test('parseNpy() rejects bad magic, unknown versions, broken headers and short data', () => {
  const ok = `{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }`;
  throwsKit(() => parseNpy(Buffer.from('PK\x03\x04 not numpy'), 'f.npz [a]'), /magic/, /f\.npz \[a\]/);
  throwsKit(() => parseNpy(npy(ok, [1, 0, 2, 0], 4), 'w'), /format version 4\.0/);
  throwsKit(() => parseNpy(npy(`{'descr': '<i2', 'shape': (2,)}`, [1, 0, 2, 0]), 'w'), /lacks one of descr, fortran_order, shape/);
  throwsKit(() => parseNpy(npy(`{'descr': '<i2', 'fortran_order': False, 'shape': (2,`, [1, 0, 2, 0]), 'w'), /not a Python dict literal/);
  throwsKit(() => parseNpy(npy(`{'descr': '<i2', 'fortran_order': False, 'shape': (-2,), }`, []), 'w'), /non-negative/);
  throwsKit(() => parseNpy(npy(ok, [1, 0, 2]), 'w'), /needs 4 data bytes but only 3/);
  const long = Buffer.from(npy(ok, [1, 0, 2, 0]));
  long.writeUInt16LE(5000, 8);
  throwsKit(() => parseNpy(long, 'w'), /header says it is 5000 bytes/);
});

test('crc32() matches zlib.crc32, and its table fallback (for Node < 20.15) matches too', () => {
  assert.equal(crc32(Buffer.from('123456789'), false), 0xcbf43926); // the standard check value
  const data = crypto.randomBytes(10_000);
  assert.equal(crc32(data, false), zlib.crc32(data) >>> 0);
  assert.equal(crc32(data), zlib.crc32(data) >>> 0);
  assert.equal(crc32(new Uint8Array(0), false), 0);
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
