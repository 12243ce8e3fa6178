/**
 * A zip archive reader, just enough for `.npz` files (the only zip archives the kit reads, so its
 * errors speak of them): the central directory (ZIP64 included), then one entry at a time on
 * request, stored or deflated, its size and CRC-32 checked. Format reference: PKWARE APPNOTE.TXT.
 * Works on an open file descriptor; the caller opens and closes it.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { messageOf } from '../util/errors';
import { malformed } from './malformed';

/** One member as the central directory lists it; sizes and offset in bytes. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** General-purpose bit flags (bit 0: encrypted, bit 11: UTF-8 name). */
  flags: number;
  /** CRC-32 of the uncompressed bytes. */
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

/**
 * Entries listed in the central directory, the zip's table of contents at the end of the file,
 * in archive order. `fileSize` is the file's size in bytes; `file` names it in errors.
 * Throws a KitError for an empty, truncated or non-zip file and for a damaged directory.
 */
export function readCentralDirectory(fd: number, fileSize: number, file: string): ZipEntry[] {
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

/**
 * The uncompressed bytes of one entry (`entry.size` bytes), after checking its size and CRC-32.
 * `where` names the file and member in errors. Throws a KitError for an encrypted entry, a
 * compression method other than stored or deflate, corrupt data or a CRC mismatch.
 */
export function readEntry(fd: number, fileSize: number, entry: ZipEntry, where: string): Buffer {
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
