import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseSafetensors, readSafetensors } from '../../src/lib/pretrained/safetensors';
import { KitError } from '../../src/lib/util/errors';
import { tempDir } from '../helpers/data';
import { FIXTURES } from '../helpers/pretrained';

/**
 * Two references: the fixtures, written by Python's `safetensors` (transformers and timm save
 * them), and files built here byte by byte from the format's definition (8-byte little-endian
 * header length, JSON header, raw data) holding values whose bit patterns are worked out by hand.
 */
const FOLDERS = ['hf-a', 'hf-b', 'timm-a', 'timm-b'];

interface RawEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** A safetensors file: the header (an object, or raw text to write as is) and the data section. */
function fileBytes(header: object | string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

/** The header as Python wrote it, read with nothing but Buffer and JSON.parse. */
function rawHeader(bytes: Buffer): { header: Record<string, unknown>; dataStart: number } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, dataStart: 8 + n };
}

function writeTemp(label: string, bytes: Uint8Array): string {
  const file = path.join(tempDir(`safetensors-${label}-`), 'model.safetensors');
  fs.writeFileSync(file, bytes);
  return file;
}

test('readSafetensors() reads the fixtures written by Python\'s safetensors: every tensor, its shape and values, the parameter count and the metadata', () => {
  for (const name of FOLDERS) {
    const file = path.join(FIXTURES, name, 'model.safetensors');
    const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'fixture.json'), 'utf8')) as { kind: string; params: number };
    const bytes = fs.readFileSync(file);
    const { header, dataStart } = rawHeader(bytes);
    const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, RawEntry][];

    const { tensors, metadata } = readSafetensors(file);
    assert.equal(tensors.size, entries.length, `${name}: tensor count`);
    let params = 0;
    for (const [key, entry] of entries) {
      const t = tensors.get(key);
      assert.ok(t !== undefined, `${name}: ${key} is read`);
      assert.equal(t.dtype, 'F32', `${name}: ${key}`);
      assert.deepEqual(t.shape, entry.shape, `${name}: ${key}`);
      const expected = new Float32Array(t.values.length);
      for (let i = 0; i < expected.length; i++) expected[i] = bytes.readFloatLE(dataStart + entry.data_offsets[0] + 4 * i);
      assert.deepEqual(t.values, expected, `${name}: ${key} values`);
      params += t.values.length;
    }
    assert.equal(params, fixture.params, `${name}: the sizes of the tensors add up to fixture.json's params`);
    // transformers' save_pretrained stamps {format: 'pt'}; timm's safetensors.torch.save_file call passes none.
    assert.deepEqual(metadata, fixture.kind === 'hf' ? { format: 'pt' } : {}, `${name}: metadata`);
  }
});

/** The IEEE 754 binary16 bits of a value that half precision holds exactly (throws otherwise). */
function halfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  if (a < 2 ** -14) {
    // Subnormal: a multiple of 2^-24, no implicit leading 1.
    const frac = a / 2 ** -24;
    assert.ok(Number.isInteger(frac) && frac < 1024, `${v} is not a half subnormal`);
    return sign | frac;
  }
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const frac = (a / 2 ** e - 1) * 1024;
  assert.ok(Number.isInteger(frac) && e >= -14 && e <= 15, `${v} is not exactly a half`);
  return sign | ((e + 15) << 10) | frac;
}

/** bfloat16 bits, rounded to nearest even as PyTorch's c10::BFloat16 does: the top half of the float32 bits. */
function bf16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7fc0;
  const u = new Uint32Array(new Float32Array([v]).buffer)[0] as number;
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

test('F32, F64, F16 and BF16 are all read as float32, with zeros\' signs, subnormals, infinities and NaN kept', () => {
  // Known patterns (IEEE 754 binary16 tables) check the test's own encoders first.
  assert.equal(halfBits(1), 0x3c00);
  assert.equal(halfBits(-2), 0xc000);
  assert.equal(halfBits(65504), 0x7bff);
  assert.equal(halfBits(2 ** -14), 0x0400);
  assert.equal(halfBits(1023 * 2 ** -24), 0x03ff);
  assert.equal(halfBits(2 ** -24), 0x0001);
  assert.equal(halfBits(0.333251953125), 0x3555);
  assert.equal(bf16Bits(1), 0x3f80);
  assert.equal(bf16Bits(-2), 0xc000);
  assert.equal(bf16Bits(Infinity), 0x7f80);

  const values = [0, 1, -2, 0.5, 65504, 1e-3, 2 ** -24, Infinity, -0, NaN];
  // 1e-3 is no half: 1e-3 = 2^-10 · 1.024, and 0.024 · 1024 = 24.576 rounds to 25, so it is stored as 2^-10 · (1 + 25/1024) = 1049 · 2^-20 (bits 0x1419).
  const halfValues = values.map((v) => (v === 1e-3 ? 1049 * 2 ** -20 : v));
  assert.equal(halfBits(1049 * 2 ** -20), 0x1419);
  // bfloat16 keeps 8 bits of mantissa: 65504 (float32 0x477fe000) rounds up to 0x4780 = 65536,
  // and 1e-3 (0x3a83126f) down to 0x3a83 = 2^-10 · (1 + 3/128) = 131 · 2^-17.
  const bf16Expected = values.map((v) => (v === 65504 ? 65536 : v === 1e-3 ? 131 * 2 ** -17 : v));
  assert.deepEqual(values.map(bf16Bits), [0x0000, 0x3f80, 0xc000, 0x3f00, 0x4780, 0x3a83, 0x3380, 0x7f80, 0x8000, 0x7fc0]);

  const n = values.length;
  const data = Buffer.alloc(n * (8 + 4 + 2 + 2));
  values.forEach((v, i) => data.writeDoubleLE(v, 8 * i));
  values.forEach((v, i) => data.writeFloatLE(v, 8 * n + 4 * i));
  values.forEach((v, i) => data.writeUInt16LE(bf16Bits(v), 12 * n + 2 * i));
  halfValues.forEach((v, i) => data.writeUInt16LE(halfBits(v), 14 * n + 2 * i));
  const header = {
    __metadata__: { format: 'pt', note: 'hand-made' },
    f64: { dtype: 'F64', shape: [2, 5], data_offsets: [0, 8 * n] },
    f32: { dtype: 'F32', shape: [2, 5], data_offsets: [8 * n, 12 * n] },
    bf16: { dtype: 'BF16', shape: [2, 5], data_offsets: [12 * n, 14 * n] },
    f16: { dtype: 'F16', shape: [2, 5], data_offsets: [14 * n, 16 * n] },
  };
  const { tensors, metadata } = parseSafetensors(fileBytes(header, data), 'dtypes.safetensors');
  assert.deepEqual(metadata, { format: 'pt', note: 'hand-made' });
  const read = (key: string): { dtype: string; shape: number[]; values: number[] } => {
    const t = tensors.get(key);
    assert.ok(t !== undefined && t.values instanceof Float32Array, key);
    return { dtype: t.dtype, shape: t.shape, values: Array.from(t.values) };
  };
  // deepEqual compares numbers with Object.is: -0 is not 0, NaN is NaN.
  const asFloat32 = values.map(Math.fround);
  assert.deepEqual(read('f32'), { dtype: 'F32', shape: [2, 5], values: asFloat32 });
  assert.deepEqual(read('f64'), { dtype: 'F64', shape: [2, 5], values: asFloat32 });
  assert.deepEqual(read('f16'), { dtype: 'F16', shape: [2, 5], values: halfValues });
  assert.deepEqual(read('bf16'), { dtype: 'BF16', shape: [2, 5], values: bf16Expected });
});

test('parseSafetensors() takes tensors in any header order, scalars, and bytes that are a view into a larger buffer', () => {
  const data = Buffer.alloc(12);
  data.writeFloatLE(1.5, 0);
  data.writeFloatLE(-3, 4);
  data.writeFloatLE(7, 8);
  // The header lists b before a and the scalar last, though a's data comes first.
  const bytes = fileBytes({ b: { dtype: 'F32', shape: [1, 2], data_offsets: [4, 12] }, a: { dtype: 'F32', shape: [], data_offsets: [0, 4] } }, data);
  const inside = Buffer.alloc(bytes.length + 5);
  bytes.copy(inside, 3);
  const view = inside.subarray(3, 3 + bytes.length);
  assert.equal(view.byteOffset % 4, 3, 'an unaligned view');
  const { tensors, metadata } = parseSafetensors(view, 'view');
  assert.deepEqual(metadata, {});
  assert.deepEqual(tensors.get('a'), { dtype: 'F32', shape: [], values: Float32Array.from([1.5]) });
  assert.deepEqual(tensors.get('b'), { dtype: 'F32', shape: [1, 2], values: Float32Array.from([-3, 7]) });
});

/** A fixture cut short by 100 bytes, as an interrupted download leaves it, and the tensors that then stick out past its end. */
function cutFixture(): { bytes: Buffer; outside: RegExp } {
  const full = fs.readFileSync(path.join(FIXTURES, 'timm-a', 'model.safetensors'));
  const { header, dataStart } = rawHeader(full);
  const dataLength = full.length - 100 - dataStart;
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, RawEntry][];
  const outside = entries.filter(([, e]) => e.data_offsets[1] > dataLength);
  assert.ok(outside.length > 0);
  const named = outside.map(([k, e]) => `${k.replace(/\./g, '\\.')} lies at bytes ${e.data_offsets[0]}–${e.data_offsets[1]}`).join('|');
  return { bytes: full.subarray(0, full.length - 100), outside: new RegExp(`tensor (${named}) of a ${dataLength}-byte data section \\(the file is cut off\\?\\)`) };
}

/** A header length that says `length`, followed by `rest`. */
function withLength(length: bigint, rest: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(length);
  return Buffer.concat([head, rest]);
}

function f32(name: string, shape: number[], begin: number, end: number): Record<string, RawEntry> {
  return { [name]: { dtype: 'F32', shape, data_offsets: [begin, end] } };
}

test('every malformed file is a KitError that names the file and what is wrong with it', () => {
  const cut = cutFixture();
  const cases: { what: string; bytes: Uint8Array; message: RegExp }[] = [
    { what: 'fewer than 8 bytes', bytes: Buffer.from([1, 2, 3, 4, 5]), message: /it has 5 bytes, fewer than the 8-byte header length/ },
    { what: 'a header length beyond the file', bytes: withLength(1000n, Buffer.from('{}')), message: /the header length 1000 does not fit in the file's 10 bytes/ },
    { what: 'a header length over the 100 MB limit', bytes: withLength(2n ** 40n, Buffer.alloc(8)), message: /the header length 1099511627776 does not fit in the file's 16 bytes/ },
    { what: 'a header that is not JSON', bytes: fileBytes('{"w": {"dtype": "F32",'), message: /the header is not JSON \(.+\)/ },
    { what: 'a header that is a JSON array', bytes: fileBytes('[{"dtype": "F32"}]'), message: /the header is not a JSON object/ },
    { what: 'a header that is JSON null', bytes: fileBytes('null'), message: /the header is not a JSON object/ },
    { what: 'an integer dtype (I64)', bytes: fileBytes({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, Buffer.alloc(16)), message: /tensor ids has dtype I64; the kit reads F32, F16, BF16, F64/ },
    { what: 'a byte dtype (U8)', bytes: fileBytes({ mask: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, Buffer.alloc(4)), message: /tensor mask has dtype U8; the kit reads F32, F16, BF16, F64/ },
    { what: 'a negative dimension', bytes: fileBytes(f32('w', [2, -1], 0, 8), Buffer.alloc(8)), message: /tensor w has shape \[2,-1\]/ },
    { what: 'a fractional dimension', bytes: fileBytes(f32('w', [1.5], 0, 8), Buffer.alloc(8)), message: /tensor w has shape \[1\.5\]/ },
    { what: 'a shape that is not a list', bytes: fileBytes({ w: { dtype: 'F32', shape: '4', data_offsets: [0, 16] } }, Buffer.alloc(16)), message: /tensor w has shape "4"/ },
    { what: 'data_offsets that are not two integers', bytes: fileBytes({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, Buffer.alloc(4)), message: /tensor w has data_offsets \[0\]/ },
    { what: 'data_offsets beyond the data (a file cut off by 100 bytes)', bytes: cut.bytes, message: cut.outside },
    { what: 'data_offsets ending before they begin', bytes: fileBytes(f32('w', [0], 8, 4), Buffer.alloc(8)), message: /tensor w lies at bytes 8–4 of a 8-byte data section/ },
    { what: 'a byte count that does not match shape × dtype', bytes: fileBytes(f32('w', [3], 0, 8), Buffer.alloc(8)), message: /tensor w \(F32 \[3\]\) needs 12 bytes but spans 8/ },
    { what: 'two tensors that overlap', bytes: fileBytes({ ...f32('a', [2], 0, 8), ...f32('b', [2], 4, 12) }, Buffer.alloc(12)), message: /tensor b starts at byte 4, expected 8 \(overlapping or missing data\)/ },
    { what: 'a hole between two tensors', bytes: fileBytes({ ...f32('a', [1], 0, 4), ...f32('b', [1], 8, 12) }, Buffer.alloc(12)), message: /tensor b starts at byte 8, expected 4 \(overlapping or missing data\)/ },
    { what: 'a hole before the first tensor', bytes: fileBytes(f32('a', [1], 4, 8), Buffer.alloc(8)), message: /tensor a starts at byte 4, expected 0/ },
    { what: 'trailing data no tensor covers', bytes: fileBytes(f32('a', [1], 0, 4), Buffer.alloc(8)), message: /the tensors end at byte 4 of a 8-byte data section/ },
  ];
  for (const c of cases) {
    const file = writeTemp('bad', c.bytes);
    assert.throws(
      () => readSafetensors(file),
      (err: unknown) => {
        assert.ok(err instanceof KitError, `${c.what}: a KitError, not ${String(err)}`);
        assert.match(err.message, /^not a valid safetensors file: /, c.what);
        assert.match(err.problem, c.message, c.what);
        assert.equal(err.where, file, `${c.what}: names the file`);
        assert.ok(err.message.includes(file), `${c.what}: the message names the file`);
        assert.match(err.fix, /download the file again/, c.what);
        return true;
      },
      c.what,
    );
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
});

test('a missing weights file is a KitError naming the path', () => {
  const dir = tempDir('safetensors-missing-');
  const file = path.join(dir, 'nowhere', 'model.safetensors');
  assert.throws(
    () => readSafetensors(file),
    (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.problem, /cannot read the weights file \(.*ENOENT/);
      assert.equal(err.where, file);
      assert.ok(err.message.includes(file));
      assert.match(err.fix, /model\.safetensors next to config\.json/);
      return true;
    },
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a zero-size tensor listed after the tensor that starts at the same offset is valid (safetensors sorts by begin, then end)', () => {
  // Rust's safetensors orders tensors by (begin, end) before checking them, so this file loads in Python.
  const bytes = fileBytes({ ...f32('w', [2], 0, 8), ...f32('empty', [0], 0, 0) }, Buffer.alloc(8));
  const { tensors } = parseSafetensors(bytes, 'zero-size');
  assert.deepEqual(tensors.get('empty'), { dtype: 'F32', shape: [0], values: new Float32Array(0) });
});

test('a header entry that is not an object is a KitError, not a TypeError', () => {
  assert.throws(() => parseSafetensors(fileBytes('{"w": null}'), 'null-entry'), KitError);
});
