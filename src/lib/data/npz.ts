/**
 * NumPy `.npz` files (a zip archive holding one `.npy` file per array) read in TypeScript, so the
 * kit needs no Python: zip.ts reads the container, npy.ts each array. Arrays are read one at a
 * time on request (`openNpz`), so a 200 MB archive never has to be held in memory as a whole.
 */
import * as fs from 'node:fs';
import { KitError, messageOf } from '../util/errors';
import { REDOWNLOAD_FIX } from './malformed';
import { parseNpy, type NpyArray } from './npy';
import { readCentralDirectory, readEntry, type ZipEntry } from './zip';

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
