/**
 * Small files written by hand, not by the libraries under test, so a test can build exactly the
 * input it needs: a baseline TIFF of any sample type and a NumPy .npz archive.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export type TiffSample = 'uint8' | 'uint16' | 'int16' | 'int32' | 'uint32' | 'float32';

const TIFF_SAMPLE: Record<TiffSample, { bits: number; format: number; write: (b: Buffer, v: number, at: number) => void }> = {
  uint8: { bits: 8, format: 1, write: (b, v, at) => b.writeUInt8(v, at) },
  uint16: { bits: 16, format: 1, write: (b, v, at) => b.writeUInt16LE(v, at) },
  int16: { bits: 16, format: 2, write: (b, v, at) => b.writeInt16LE(v, at) },
  int32: { bits: 32, format: 2, write: (b, v, at) => b.writeInt32LE(v, at) },
  uint32: { bits: 32, format: 1, write: (b, v, at) => b.writeUInt32LE(v, at) },
  float32: { bits: 32, format: 3, write: (b, v, at) => b.writeFloatLE(v, at) },
};

/**
 * An uncompressed little-endian TIFF (one strip, BlackIsZero grey or RGB), from row-major
 * samples with `channels` interleaved values per pixel (TIFF 6.0, baseline tags + SampleFormat).
 */
export function tiff(width: number, height: number, sample: TiffSample, values: ArrayLike<number>, channels = 1): Buffer {
  const { bits, format, write } = TIFF_SAMPLE[sample];
  const bytes = bits / 8;
  if (values.length !== width * height * channels) throw new RangeError(`${values.length} values for ${width}x${height}x${channels}`);
  const data = Buffer.alloc(values.length * bytes);
  for (let i = 0; i < values.length; i++) write(data, values[i] as number, i * bytes);
  // Tags: [tag, type (3 SHORT, 4 LONG), value]; per-sample tags of a multi-sample image point at arrays.
  const perSample = (v: number): number[] => Array.from({ length: channels }, () => v);
  const entries: [number, number, number[]][] = [
    [256, 4, [width]],
    [257, 4, [height]],
    [258, 3, perSample(bits)],
    [259, 3, [1]],
    [262, 3, [channels === 1 ? 1 : 2]],
    [273, 4, [0]], // strip offset, patched below
    [277, 3, [channels]],
    [278, 4, [height]],
    [279, 4, [data.length]],
    [284, 3, [1]],
    [339, 3, perSample(format)],
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  const extra: Buffer[] = [];
  let extraAt = 8 + ifdSize;
  const ifd = Buffer.alloc(ifdSize);
  ifd.writeUInt16LE(entries.length, 0);
  const offsets: { pos: number }[] = [];
  entries.forEach(([tag, type, vals], k) => {
    const at = 2 + k * 12;
    ifd.writeUInt16LE(tag, at);
    ifd.writeUInt16LE(type, at + 2);
    ifd.writeUInt32LE(vals.length, at + 4);
    const size = type === 3 ? 2 : 4;
    if (vals.length * size <= 4) {
      vals.forEach((v, j) => (type === 3 ? ifd.writeUInt16LE(v, at + 8 + j * 2) : ifd.writeUInt32LE(v, at + 8 + j * 4)));
      if (tag === 273) offsets.push({ pos: at + 8 });
    } else {
      const arr = Buffer.alloc(vals.length * size);
      vals.forEach((v, j) => (type === 3 ? arr.writeUInt16LE(v, j * 2) : arr.writeUInt32LE(v, j * 4)));
      ifd.writeUInt32LE(extraAt, at + 8);
      extra.push(arr);
      extraAt += arr.length;
    }
  });
  for (const o of offsets) ifd.writeUInt32LE(extraAt, o.pos);
  const header = Buffer.from([0x49, 0x49, 42, 0, 8, 0, 0, 0]);
  return Buffer.concat([header, ifd, ...extra, data]);
}

export interface NpyInput {
  /** NumPy dtype string, e.g. '|u1', '<i8'. */
  descr: '|u1' | '<i8';
  shape: number[];
  data: Uint8Array | BigInt64Array;
}

function npy(a: NpyInput): Buffer {
  const shape = `(${a.shape.join(', ')}${a.shape.length === 1 ? ',' : ''})`;
  const dict = `{'descr': '${a.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const padded = dict + ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(head);
  head[6] = 1;
  head.writeUInt16LE(padded.length, 8);
  return Buffer.concat([head, Buffer.from(padded, 'latin1'), Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)]);
}

/** Write `arrays` as an .npz (a zip of stored `<name>.npy` entries, as numpy.savez does). */
export function writeNpz(file: string, arrays: Record<string, NpyInput>): void {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [key, array] of Object.entries(arrays)) {
    const name = Buffer.from(`${key}.npy`);
    const body = npy(array);
    const crc = zlib.crc32(body);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(body.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(arrays).length, 8);
  end.writeUInt16LE(Object.keys(arrays).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([...locals, cd, end]));
}

/**
 * A MedMNIST-layout .npz: `counts[split]` images of h×w pixels per split, labels (N, 1) uint8
 * from `label(split, i)`.
 */
export function writeMedmnistNpz(file: string, counts: Record<'train' | 'val' | 'test', number>, label: (split: string, i: number) => number, hw = 4): void {
  const arrays: Record<string, NpyInput> = {};
  for (const [split, n] of Object.entries(counts)) {
    arrays[`${split}_images`] = { descr: '|u1', shape: [n, hw, hw], data: Uint8Array.from({ length: n * hw * hw }, (_, i) => (i * 7) % 256) };
    arrays[`${split}_labels`] = { descr: '|u1', shape: [n, 1], data: Uint8Array.from({ length: n }, (_, i) => label(split, i)) };
  }
  writeNpz(file, arrays);
}
