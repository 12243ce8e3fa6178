/**
 * NumPy `.npy` arrays: parse the bytes of one `.npy` file (format versions 1.0, 2.0 and 3.0),
 * including the Python-literal dict in its header, into a typed array plus shape. Format
 * reference: NEP 1 / numpy.lib.format. Reads C-order, little-endian bool, integer and float
 * arrays; anything else is a KitError that says how to save the array so the kit can read it.
 */
import { KitError, messageOf } from '../util/errors';
import { malformed } from './malformed';

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
 * file and array in error messages. `data` is a view into `bytes` when its offset is aligned for
 * the element size, else a copy. Throws a KitError for bad magic, an unknown version, a broken
 * header, too few data bytes, Fortran order, big-endian or any dtype outside NpyDtype.
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
