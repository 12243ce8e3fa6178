import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { crc32, readCentralDirectory, readEntry, type ZipEntry } from '../../src/lib/data/zip';
import { fixture, throwsKit } from './fixtures';

// The zip reader on its own. Damaged archives (truncated, a flipped byte, not a zip) are read
// through readNpz in npz.test.ts, since the errors there name the array as well.

/** Call fn with the central directory of a fixture and a reader for its entries, then close it. */
function withZip(name: string, fn: (entries: ZipEntry[], read: (entry: ZipEntry) => Buffer) => void): void {
  const file = fixture(name);
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    fn(readCentralDirectory(fd, size, file), (entry) => readEntry(fd, size, entry, `${file} [${entry.name}]`));
  } finally {
    fs.closeSync(fd);
  }
}

/** The .npy format major version in the bytes of an entry, after checking the magic. */
function npyVersion(bytes: Buffer): number | undefined {
  assert.equal(bytes.toString('latin1', 0, 6), '\x93NUMPY');
  return bytes[6];
}

test('readCentralDirectory() lists members in archive order; readEntry() returns stored and deflated bytes', () => {
  withZip('versions.npz', (entries, read) => {
    assert.deepEqual(
      entries.map((e) => [e.name, e.method]),
      [
        ['v1.npy', 0],
        ['v2.npy', 8],
        ['v3.npy', 0],
      ],
    );
    entries.forEach((entry, i) => {
      const bytes = read(entry);
      assert.equal(bytes.length, entry.size, entry.name);
      assert.equal(crc32(bytes), entry.crc, entry.name);
      assert.equal(npyVersion(bytes), i + 1, entry.name);
    });
    const deflated = entries[1];
    assert.ok(deflated !== undefined && deflated.compressedSize < deflated.size, 'v2.npy is stored compressed');
  });
});

test('readCentralDirectory() takes sizes and the header offset from the ZIP64 extra field and end record', () => {
  withZip('zip64.npz', (entries, read) => {
    assert.equal(entries.length, 1);
    const entry = entries[0];
    assert.ok(entry !== undefined);
    assert.equal(entry.name, 'a.npy');
    // The 4-byte fields all hold 0xFFFFFFFF; the real values come from the ZIP64 extra field.
    assert.equal(entry.localHeaderOffset, 0);
    assert.equal(entry.compressedSize, entry.size);
    const bytes = read(entry);
    assert.equal(npyVersion(bytes), 1);
    // 10 int64 values after the v1 header: np.arange(10) * -3.
    const dataStart = 10 + bytes.readUInt16LE(8);
    assert.equal(entry.size, dataStart + 10 * 8);
    const values = Array.from({ length: 10 }, (_, i) => bytes.readBigInt64LE(dataStart + 8 * i));
    assert.deepEqual(values, Array.from({ length: 10 }, (_, i) => BigInt(-3 * i)));
  });
});

test('readEntry() refuses a CRC mismatch, an unknown compression method and encryption, naming the member', () => {
  withZip('dtypes.npz', (entries, read) => {
    const entry = entries[0];
    assert.ok(entry !== undefined && entry.name === 'u1.npy');
    const hex = (n: number): string => n.toString(16).padStart(8, '0');
    const wrong = (entry.crc ^ 1) >>> 0;
    const expected = new RegExp(`CRC-32 check failed: expected ${hex(wrong)}, found ${hex(entry.crc)}`);
    throwsKit(() => read({ ...entry, crc: wrong }), expected, /dtypes\.npz \[u1\.npy\]/);
    throwsKit(() => read({ ...entry, method: 12 }), /compression method 12 is not supported/);
    throwsKit(() => read({ ...entry, flags: entry.flags | 0x1 }), /encrypted/);
  });
});

test('crc32() matches zlib.crc32, and its table fallback (for Node < 20.15) matches too', () => {
  assert.equal(crc32(Buffer.from('123456789'), false), 0xcbf43926); // the standard check value
  const data = crypto.randomBytes(10_000);
  assert.equal(crc32(data, false), zlib.crc32(data) >>> 0);
  assert.equal(crc32(data), zlib.crc32(data) >>> 0);
  assert.equal(crc32(new Uint8Array(0), false), 0);
});
