import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { KitError, messageOf } from '../util/errors';

/**
 * NumPy `.npz` files (a zip archive holding one `.npy` file per array) read in TypeScript, so the
 * kit needs no Python. Format references: PKWARE APPNOTE.TXT (zip, ZIP64) and NEP 1 / numpy.lib.format
 * (`.npy`). Arrays are read one at a time on request (`openNpz`), so a 200 MB archive never has to
 * be held in memory as a whole.
 */

export type NpyDtype =
  | 'bool'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'uint64'
  | 'int64'
  | 'float32'
  | 'float64';

/** Element storage: 64-bit integers stay BigInt so no value is silently rounded; bool is 0/1 bytes. */
export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/**
 * One array: `data` is row-major (C order), `shape` is [] for a 0-d array (one element). `data`
 * may be a view into a larger buffer, so use it as a typed array, not through `data.buffer`.
 */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const REDOWNLOAD_FIX =
  'delete the file and download it again (`npx convnext-xray data download`); ' +
  'if you wrote it yourself, save it again with numpy.savez or numpy.savez_compressed';

/** An open `.npz` archive: the array names are known at once, each array is read on `read()`. */
export class NpzReader {
  readonly file: string;
  /** Array names in archive order, without the `.npy` suffix (as `np.load(f).files`). */
  readonly keys: readonly string[];
  private readonly fd: number;
  private readonly size: number;
  private readonly entries: Map<string, ZipEntry>;

  constructor(file: string) {
    this.file = file;
    try {
      this.fd = fs.openSync(file, 'r');
    } catch (err) {
      throw new KitError(`cannot open the .npz file: ${messageOf(err)}`, {
        where: file,
        fix: 'check the path, or download the data with `npx convnext-xray data download`',
        cause: err,
      });
    }
    try {
      this.size = fs.fstatSync(this.fd).size;
      this.entries = new Map();
      for (const entry of readCentralDirectory(this.fd, this.size, file)) {
        // Only `.npy` members are arrays; np.savez writes nothing else, so others are skipped.
        if (entry.name.endsWith('.npy')) this.entries.set(entry.name.slice(0, -'.npy'.length), entry);
      }
      this.keys = [...this.entries.keys()];
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Decompress, CRC-check and parse one array. */
  read(key: string): NpyArray {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      throw new KitError(`the .npz file has no array "${key}"; it holds: ${this.keys.join(', ') || '(none)'}`, {
        where: this.file,
        fix: `use one of the names listed, or ${REDOWNLOAD_FIX}`,
      });
    }
    const where = `${this.file} [${key}]`;
    return parseNpy(readEntry(this.fd, this.size, entry, where), where);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Open an `.npz` archive and read its table of contents (not the arrays). Call `close()` after. */
export function openNpz(file: string): NpzReader {
  return new NpzReader(file);
}

/** Read every array of an `.npz` file, keyed by name (as `dict(np.load(file))`). */
export function readNpz(file: string): Map<string, NpyArray> {
  const npz = openNpz(file);
  try {
    return new Map(npz.keys.map((key) => [key, npz.read(key)]));
  } finally {
    npz.close();
  }
}

// Zip container

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

function malformed(problem: string, where: string): KitError {
  return new KitError(problem, { where, fix: REDOWNLOAD_FIX });
}

/** Read `length` bytes at `offset`; running past the end of the file means it was cut short. */
function readAt(fd: number, fileSize: number, offset: number, length: number, where: string): Buffer {
  if (offset < 0 || offset + length > fileSize) {
    throw malformed(
      `the .npz file is truncated or damaged: it needs bytes ${offset}..${offset + length} but has only ${fileSize} bytes (an interrupted download?)`,
      where,
    );
  }
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    // One read call takes at most 2 GiB, so large entries are read in pieces.
    const n = fs.readSync(fd, buf, done, Math.min(length - done, 1 << 30), offset + done);
    if (n === 0) throw malformed(`the .npz file ended early while reading ${length} bytes at offset ${offset}`, where);
    done += n;
  }
  return buf;
}

function u64(buf: Buffer, offset: number, what: string, where: string): number {
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`zip field ${what} is impossibly large (${v})`, where);
  return Number(v);
}

/** Entries listed in the central directory, the zip's table of contents at the end of the file. */
function readCentralDirectory(fd: number, fileSize: number, file: string): ZipEntry[] {
  // The end-of-central-directory record is the last 22 bytes, unless an archive comment (at most
  // 64 KiB) follows it, so search backwards through that window for its signature.
  const tailLength = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT);
  const tailStart = fileSize - tailLength;
  const tail = readAt(fd, fileSize, tailStart, tailLength, file);
  let eocdAt = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + EOCD_SIZE + tail.readUInt16LE(i + 20) <= tailLength) {
      eocdAt = i;
      break;
    }
  }
  if (eocdAt < 0) {
    throw malformed(
      fileSize === 0
        ? 'the .npz file is empty (an interrupted download?)'
        : 'this is not a readable .npz file: no zip end-of-central-directory record found, so it is truncated (an interrupted download?) or not a zip archive at all',
      file,
    );
  }
  const disk = tail.readUInt16LE(eocdAt + 4);
  let count = tail.readUInt16LE(eocdAt + 10);
  let cdSize = tail.readUInt32LE(eocdAt + 12);
  let cdOffset = tail.readUInt32LE(eocdAt + 16);

  // ZIP64: a field too small for its value holds all ones, and the real values are in the ZIP64
  // end record, found through the locator that sits right before the classic record.
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const locatorAt = tailStart + eocdAt - 20;
    const locator = readAt(fd, fileSize, locatorAt, 20, file);
    if (locator.readUInt32LE(0) !== SIG_EOCD64_LOCATOR) throw malformed('the zip uses ZIP64 sizes but has no ZIP64 locator', file);
    const eocd64At = u64(locator, 8, 'ZIP64 end offset', file);
    const eocd64 = readAt(fd, fileSize, eocd64At, 56, file);
    if (eocd64.readUInt32LE(0) !== SIG_EOCD64) throw malformed('the ZIP64 end-of-central-directory record is missing', file);
    count = u64(eocd64, 32, 'entry count', file);
    cdSize = u64(eocd64, 40, 'central directory size', file);
    cdOffset = u64(eocd64, 48, 'central directory offset', file);
  } else if (disk !== 0) {
    throw malformed('this zip is split over several disks, which .npz files never are', file);
  }

  const cd = readAt(fd, fileSize, cdOffset, cdSize, file);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) {
      throw malformed(`zip central directory entry ${i} of ${count} is damaged`, file);
    }
    const flags = cd.readUInt16LE(p + 8);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) throw malformed(`zip central directory entry ${i} of ${count} runs past the directory`, file);
    // Bit 11: the name is UTF-8; otherwise CP437, which equals Latin-1 for the ASCII names numpy writes.
    const name = cd.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLength);
    const entry: ZipEntry = {
      name,
      method: cd.readUInt16LE(p + 10),
      flags,
      crc: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localHeaderOffset: cd.readUInt32LE(p + 42),
    };
    applyZip64Extra(entry, cd.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength), `${file} [${name}]`);
    entries.push(entry);
    p = end;
  }
  return entries;
}

/**
 * The ZIP64 extra field (id 0x0001) carries 8-byte values for exactly those of size, compressed
 * size and header offset whose 4-byte field is 0xFFFFFFFF, in that order.
 */
function applyZip64Extra(entry: ZipEntry, extra: Buffer, where: string): void {
  let p = 0;
  while (p + 4 <= extra.length) {
    const id = extra.readUInt16LE(p);
    const length = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      const field = extra.subarray(p + 4, p + 4 + length);
      let q = 0;
      const next = (what: string): number => {
        if (q + 8 > field.length) throw malformed(`the ZIP64 extra field lacks the ${what}`, where);
        const v = u64(field, q, what, where);
        q += 8;
        return v;
      };
      if (entry.size === U32_MAX) entry.size = next('uncompressed size');
      if (entry.compressedSize === U32_MAX) entry.compressedSize = next('compressed size');
      if (entry.localHeaderOffset === U32_MAX) entry.localHeaderOffset = next('local header offset');
      return;
    }
    p += 4 + length;
  }
}

/** The uncompressed bytes of one entry, after checking its size and CRC-32. */
function readEntry(fd: number, fileSize: number, entry: ZipEntry, where: string): Buffer {
  if (entry.flags & 0x1) throw malformed('this .npz entry is encrypted, which numpy never does', where);
  const local = readAt(fd, fileSize, entry.localHeaderOffset, 30, where);
  if (local.readUInt32LE(0) !== SIG_LOCAL) throw malformed('the zip local header of this array is damaged', where);
  // Sizes come from the central directory: numpy's local headers hold 0xFFFFFFFF placeholders
  // (force_zip64), and streamed zips put zeros there with the real sizes after the data.
  const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const raw = readAt(fd, fileSize, dataStart, entry.compressedSize, where);
  let data: Buffer;
  if (entry.method === 0) {
    data = raw;
  } else if (entry.method === 8) {
    try {
      data = zlib.inflateRawSync(raw);
    } catch (err) {
      throw malformed(`the compressed data of this array is corrupt (${messageOf(err)})`, where);
    }
  } else {
    throw malformed(`zip compression method ${entry.method} is not supported (numpy writes 0 = stored or 8 = deflate)`, where);
  }
  if (data.length !== entry.size) {
    throw malformed(`this array should unpack to ${entry.size} bytes but gave ${data.length}`, where);
  }
  const crc = crc32(data);
  if (crc !== entry.crc) {
    throw malformed(`CRC-32 check failed: expected ${hex32(entry.crc)}, found ${hex32(crc)}; the file is damaged`, where);
  }
  return data;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

let crcTable: Uint32Array | undefined;

/**
 * CRC-32 as zip uses it (IEEE polynomial, reflected). Uses zlib.crc32 (native) where Node has it
 * (20.15+ / 22.2+); package.json allows Node 20.9, so older versions fall back to a table.
 */
export function crc32(data: Uint8Array, useNative = true): number {
  if (useNative && typeof zlib.crc32 === 'function') return zlib.crc32(data) >>> 0;
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (crcTable[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// .npy arrays

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

interface DtypeInfo {
  dtype: NpyDtype;
  bytes: number;
  make: (buffer: ArrayBuffer, byteOffset: number, length: number) => NpyData;
}

/** Keyed by kind + item size of a numpy `descr` such as '<f4' (byte order handled separately). */
const DTYPES: Record<string, DtypeInfo> = {
  b1: { dtype: 'bool', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  u1: { dtype: 'uint8', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  i1: { dtype: 'int8', bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  u2: { dtype: 'uint16', bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  i2: { dtype: 'int16', bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  u4: { dtype: 'uint32', bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  i4: { dtype: 'int32', bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  u8: { dtype: 'uint64', bytes: 8, make: (b, o, n) => new BigUint64Array(b, o, n) },
  i8: { dtype: 'int64', bytes: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  f4: { dtype: 'float32', bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  f8: { dtype: 'float64', bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
};

/**
 * Parse the bytes of one `.npy` file (format versions 1.0, 2.0 and 3.0). `where` names the
 * file and array in error messages.
 */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  const bad = (problem: string): KitError => malformed(`bad .npy data: ${problem}`, where);
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) throw bad('it does not start with the \\x93NUMPY magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('the header is cut off');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw bad(`format version ${major}.${bytes[7]} is unknown (1.0, 2.0 and 3.0 are supported)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw bad(`the header says it is ${headerLength} bytes long but the data ends first`);
  // Versions 1 and 2 store the header as Latin-1; version 3 allows UTF-8 (for field names).
  const headerText = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLength).toString(major === 3 ? 'utf8' : 'latin1');

  let header: PyValue;
  try {
    header = parsePythonLiteral(headerText);
  } catch (err) {
    throw bad(`the header is not a Python dict literal (${messageOf(err)}): ${JSON.stringify(headerText.trim())}`);
  }
  if (!(header instanceof Map)) throw bad(`the header is not a dict: ${JSON.stringify(headerText.trim())}`);
  const descr = header.get('descr');
  const fortranOrder = header.get('fortran_order');
  const shapeValue = header.get('shape');
  if (descr === undefined || fortranOrder === undefined || shapeValue === undefined) {
    throw bad(`the header lacks one of descr, fortran_order, shape: ${JSON.stringify(headerText.trim())}`);
  }
  if (!Array.isArray(shapeValue) || !shapeValue.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`shape must be a tuple of non-negative integers, found ${JSON.stringify(shapeValue)}`);
  }
  const shape = shapeValue as number[];
  const info = dtypeOf(descr, where);
  if (fortranOrder !== false) {
    throw new KitError(`array is stored in Fortran (column-major) order (dtype '${String(descr)}', fortran_order=True), which the kit does not read`, {
      where,
      fix: 'save it in C order: np.savez(..., name=np.ascontiguousarray(arr))',
    });
  }

  const count = shape.reduce((a, b) => a * b, 1);
  const byteLength = count * info.bytes;
  if (bytes.length - dataStart < byteLength) {
    throw bad(`shape (${shape.join(', ')}) needs ${byteLength} data bytes but only ${bytes.length - dataStart} are present`);
  }
  // A view avoids a second copy of large image arrays; typed arrays need the offset to be a
  // multiple of the element size (numpy pads headers to 64 bytes, so it usually is), else copy.
  // Element order is little-endian, as on every platform Node and TensorFlow.js run on.
  const offset = bytes.byteOffset + dataStart;
  if (offset % info.bytes === 0) return { dtype: info.dtype, shape, data: info.make(bytes.buffer as ArrayBuffer, offset, count) };
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(dataStart, dataStart + byteLength));
  return { dtype: info.dtype, shape, data: info.make(copy.buffer, 0, count) };
}

function dtypeOf(descr: PyValue, where: string): DtypeInfo {
  if (typeof descr !== 'string') {
    throw new KitError(`array has a structured (record) dtype ${JSON.stringify(descr)}, which the kit does not read`, {
      where,
      fix: 'save each field as its own array: np.savez(..., x=arr["x"], y=arr["y"])',
    });
  }
  const order = descr[0];
  const info = DTYPES[descr.slice(1)];
  if (order === '>' && info !== undefined && info.bytes > 1) {
    throw new KitError(`array has big-endian dtype '${descr}'; the kit reads little-endian data only`, {
      where,
      fix: "convert it in Python: arr.astype(arr.dtype.newbyteorder('<')), then save again",
    });
  }
  if (info === undefined || (order !== '<' && order !== '|' && order !== '>')) {
    const what = descr.slice(1) === 'O' ? ' (Python objects)' : '';
    throw new KitError(`array has dtype '${descr}'${what}, which the kit does not read`, {
      where,
      fix: 'save it as bool, (u)int8/16/32/64, float32 or float64, e.g. arr.astype(np.float32)',
    });
  }
  return info;
}

// The Python literal in a .npy header, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

function parsePythonLiteral(text: string): PyValue {
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i}`);
  };
  const value = (): PyValue => {
    skipSpace();
    const c = text[i];
    if (c === '{') return dict();
    if (c === '(' || c === '[') return sequence(c === '(' ? ')' : ']');
    if (c === "'" || c === '"') return str(c);
    const word = /^(-?\d+)L?|^(True|False|None)\b/.exec(text.slice(i));
    if (word === null) return fail(`unexpected ${c === undefined ? 'end' : JSON.stringify(c)}`);
    i += word[0].length;
    if (word[1] !== undefined) return Number(word[1]); // an `L` suffix comes from Python 2 writers
    return word[2] === 'True' ? true : word[2] === 'False' ? false : null;
  };
  // Items separated by commas, a trailing comma allowed (numpy writes "(3,)" and "{..., }").
  const items = (close: string, item: () => void): void => {
    i++;
    for (;;) {
      skipSpace();
      if (text[i] === close) break;
      item();
      skipSpace();
      if (text[i] === ',') i++;
      else if (text[i] !== close) fail(`expected ',' or '${close}'`);
    }
    i++;
  };
  const sequence = (close: string): PyValue[] => {
    const out: PyValue[] = [];
    items(close, () => out.push(value()));
    return out;
  };
  const dict = (): Map<string, PyValue> => {
    const out = new Map<string, PyValue>();
    items('}', () => {
      const key = value();
      if (typeof key !== 'string') fail('dict keys must be strings');
      skipSpace();
      if (text[i] !== ':') fail("expected ':'");
      i++;
      out.set(key as string, value());
    });
    return out;
  };
  const str = (quote: string): string => {
    let out = '';
    i++;
    while (i < text.length && text[i] !== quote) {
      if (text[i] === '\\') i++;
      out += text[i] ?? '';
      i++;
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    return out;
  };
  const result = value();
  skipSpace();
  if (i !== text.length) fail('unexpected text after the value');
  return result;
}

// MedMNIST layout

export type MedmnistSplitName = 'train' | 'val' | 'test';

export const MEDMNIST_SPLITS: readonly MedmnistSplitName[] = ['train', 'val', 'test'];

/** One split of a grayscale MedMNIST file. */
export interface MedmnistSplit {
  /** Pixels 0..255, (N, H, W) row-major: image k is images[k*H*W .. (k+1)*H*W). */
  images: Uint8Array;
  /** Class index of each image (PneumoniaMNIST: 0 normal, 1 pneumonia). */
  labels: Uint8Array;
  n: number;
  height: number;
  width: number;
}

export type MedmnistData = Record<MedmnistSplitName, MedmnistSplit>;

/**
 * Read a grayscale MedMNIST `.npz` (keys `{train,val,test}_{images,labels}`), checking that the
 * keys exist, images are uint8 (N,H,W) or (N,H,W,1), labels are one integer per image, and
 * all splits share one image size.
 */
export function readMedmnist(file: string): MedmnistData {
  const npz = openNpz(file);
  try {
    const required = MEDMNIST_SPLITS.flatMap((s) => [`${s}_images`, `${s}_labels`]);
    const missing = required.filter((k) => !npz.has(k));
    if (missing.length > 0) {
      throw new KitError(
        `not a MedMNIST file: it lacks ${missing.join(', ')}; it holds ${npz.keys.join(', ') || '(no arrays)'}, but needs ${required.join(', ')}`,
        { where: file, fix: `use a MedMNIST .npz (e.g. pneumoniamnist_128.npz), or ${REDOWNLOAD_FIX}` },
      );
    }
    const out = {} as MedmnistData;
    for (const split of MEDMNIST_SPLITS) out[split] = readSplit(npz, split);
    const first = out.train;
    for (const split of MEDMNIST_SPLITS) {
      const s = out[split];
      if (s.height !== first.height || s.width !== first.width) {
        throw malformed(`${split} images are ${s.height}x${s.width} but train images are ${first.height}x${first.width}`, file);
      }
    }
    return out;
  } finally {
    npz.close();
  }
}

function readSplit(npz: NpzReader, split: MedmnistSplitName): MedmnistSplit {
  const imagesKey = `${split}_images`;
  const labelsKey = `${split}_labels`;
  const images = npz.read(imagesKey);
  const where = `${npz.file} [${imagesKey}]`;
  const [n, height, width, channels] = images.shape;
  if (images.shape.length === 4 && channels === 3) {
    throw new KitError(`${imagesKey} has 3 colour channels (shape ${fmtShape(images.shape)}), but PneumoniaMNIST is grayscale`, {
      where,
      fix: 'this is a colour MedMNIST set; use the PneumoniaMNIST file (`npx convnext-xray data download`)',
    });
  }
  if (
    n === undefined ||
    height === undefined ||
    width === undefined ||
    !(images.shape.length === 3 || (images.shape.length === 4 && channels === 1))
  ) {
    throw malformed(`${imagesKey} must have shape (N, H, W) or (N, H, W, 1), found ${fmtShape(images.shape)}`, where);
  }
  if (images.dtype !== 'uint8') throw malformed(`${imagesKey} must be uint8 pixels, found ${images.dtype}`, where);

  const labels = npz.read(labelsKey);
  const labelsWhere = `${npz.file} [${labelsKey}]`;
  const [ln, lcols] = labels.shape;
  if (ln === undefined || !(labels.shape.length === 1 || (labels.shape.length === 2 && lcols === 1))) {
    throw malformed(`${labelsKey} must have shape (N,) or (N, 1) (one class per image), found ${fmtShape(labels.shape)}`, labelsWhere);
  }
  if (ln !== n) throw malformed(`${imagesKey} holds ${n} images but ${labelsKey} holds ${ln} labels`, npz.file);
  // (N, H, W, 1) and (N, H, W) have the same bytes in C order, so the data is used as is.
  return { images: images.data as Uint8Array, labels: labelsToUint8(labels, labelsWhere), n, height, width };
}

function labelsToUint8(labels: NpyArray, where: string): Uint8Array {
  if (labels.dtype === 'uint8') return labels.data as Uint8Array;
  if (labels.dtype === 'float32' || labels.dtype === 'float64' || labels.dtype === 'bool') {
    throw malformed(`labels must be integers, found ${labels.dtype}`, where);
  }
  const out = new Uint8Array(labels.data.length);
  for (let i = 0; i < labels.data.length; i++) {
    const v = Number(labels.data[i]);
    if (!(v >= 0 && v <= 255)) throw malformed(`label ${i} is ${String(labels.data[i])}, outside 0..255`, where);
    out[i] = v;
  }
  return out;
}

function fmtShape(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}
