import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseNpy } from '../../src/lib/data/npy';
import { throwsKit } from './fixtures';

// The real-NumPy cases (every dtype, format versions 1-3, the refused kinds) are read through
// readNpz in npz.test.ts; these build .npy bytes by hand for what NumPy would not write.

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
