import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { KitError, messageOf } from '../util/errors';

/**
 * A reader for safetensors, the weight format of the HuggingFace hub and timm
 * (https://github.com/huggingface/safetensors, "Format"): 8 bytes of little-endian u64 header
 * length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`,
 * then the tensors' raw little-endian bytes, offsets counted from the end of the header. There is
 * no npm package for it that is kept up (npm `safetensors` is a 0.0.1 placeholder, and
 * `@huggingface/hub` only reads headers over HTTP), so it is these ~100 lines, checked in
 * test/pretrained/safetensors.test.ts against files written by Python's `safetensors`.
 *
 * Every tensor is returned as float32 with its PyTorch shape (e.g. a conv weight [O, I, kh, kw]);
 * turning PyTorch layouts into TensorFlow.js ones is the loader's job (convnext.ts).
 */
export interface StoredTensor {
  /** The dtype in the file: F32, F16, BF16 or F64 (all read as float32). */
  dtype: string;
  /** The shape as stored (PyTorch layout). */
  shape: number[];
  values: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  /** The optional `__metadata__` string map (e.g. `{format: 'pt'}`). */
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** safetensors refuses headers above 100 MB; so does this reader, before allocating one. */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * Read every tensor of a .safetensors file, and the file's sha256 (hashed from the same bytes, so
 * a 114 MB file is read once). Errors name the file, what is wrong and where.
 */
export function readSafetensors(file: string): SafetensorsFile & { sha256: string } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new KitError(`cannot read the weights file (${messageOf(err)})`, { where: file, fix: 'check the path; a model folder holds model.safetensors next to config.json' });
  }
  return { ...parseSafetensors(bytes, file), sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

/** Parse safetensors bytes (see readSafetensors); `where` names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, where: string): SafetensorsFile {
  const bad = (what: string): KitError =>
    new KitError(`not a valid safetensors file: ${what}`, { where, fix: 'download the file again (it may be cut off), or write it with safetensors.torch.save_file' });
  if (bytes.length < 8) throw bad(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) throw bad(`the header length ${headerLength} does not fit in the file's ${bytes.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(`the header is not JSON (${messageOf(err)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('the header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Object.values(entry).every((v) => typeof v === 'string')) throw bad('__metadata__ is not a map of strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad(`tensor ${name} is ${JSON.stringify(entry)}, not {dtype, shape, data_offsets}`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = String(e.dtype);
    const size = BYTES[dtype];
    if (size === undefined) throw bad(`tensor ${name} has dtype ${dtype}; the kit reads ${Object.keys(BYTES).join(', ')}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`tensor ${name} has shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o))) throw bad(`tensor ${name} has data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    const count = shape.reduce((a, b) => a * b, 1);
    if (begin < 0 || end < begin || end > dataLength) throw bad(`tensor ${name} lies at bytes ${begin}–${end} of a ${dataLength}-byte data section (the file is cut off?)`);
    if (end - begin !== count * size) throw bad(`tensor ${name} (${dtype} ${JSON.stringify(shape)}) needs ${count * size} bytes but spans ${end - begin}`);
    spans.push([begin, end, name]);
    tensors.set(name, { dtype, shape, values: toFloat32(bytes, dataStart + begin, count, dtype) });
  }
  // The format forbids overlaps and holes; a file with either was not written by safetensors.
  // safetensors orders by (begin, end): a zero-size tensor comes before one that starts at its offset.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let next = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== next) throw bad(`tensor ${name} starts at byte ${begin}, expected ${next} (overlapping or missing data)`);
    next = end;
  }
  if (next !== dataLength) throw bad(`the tensors end at byte ${next} of a ${dataLength}-byte data section`);
  return { tensors, metadata };
}

/** Decode `count` little-endian values of `dtype` at byte `at` into float32. */
function toFloat32(bytes: Uint8Array, at: number, count: number, dtype: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, count * (BYTES[dtype] as number));
  const out = new Float32Array(count);
  if (dtype === 'F32') for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  else if (dtype === 'F64') for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const word = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < count; i++) {
      word.setUint32(0, view.getUint16(2 * i, true) << 16);
      out[i] = word.getFloat32(0);
    }
  } else for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}

/** IEEE 754 half (1 sign, 5 exponent, 10 mantissa bits) to a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
