import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../../src/lib/config/paths';
import { Rng, seedFor } from '../../src/lib/util/rng';

/**
 * The shared real chest X-rays (read-only). From XRAY_DATA, else ../shared/data/chest_xray beside
 * the project. Tests that need it fail with this message rather than silently skipping.
 */
export function sharedXrays(): string {
  const candidates = [process.env['XRAY_DATA'], path.resolve(projectRoot(), '../shared/data/chest_xray')];
  for (const c of candidates) if (c !== undefined && c !== '' && fs.existsSync(path.join(c, 'train'))) return c;
  throw new Error('these tests need the shared chest X-rays: set XRAY_DATA to the chest_xray folder ({train,test}/{NORMAL,PNEUMONIA})');
}

export function tempDir(prefix = 'kit-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A w×h grayscale gradient (value depends on x, y and a seed), as 8-bit pixels. */
export function gradient(w: number, h: number, seed = 0): Uint8Array {
  const px = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = (x * 7 + y * 3 + seed * 31) % 256;
  return px;
}

/** Encode grayscale pixels to an image file (format from the extension). */
export async function writeGrayImage(file: string, pixels: Uint8Array, w: number, h: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(Buffer.from(pixels), { raw: { width: w, height: h, channels: 1 } });
  const ext = path.extname(file).toLowerCase();
  const buf = ext === '.png' ? await img.png().toBuffer() : await img.jpeg({ quality: 95 }).toBuffer();
  fs.writeFileSync(file, buf);
}

/**
 * A small Kaggle-layout folder of generated images: per split and class, `n` images named like
 * the real ones (two images per patient), so patient parsing is exercised.
 */
export async function makeKaggleFolder(root: string, n = { train: 6, test: 2 }, size = 20): Promise<void> {
  let seed = 0;
  for (const split of ['train', 'test'] as const) {
    for (let i = 0; i < n[split]; i++) {
      const patient = 100 + i + (split === 'test' ? 50 : 0);
      const pn = `person${Math.floor(patient / 2)}_bacteria_${patient}.jpeg`;
      const nm = `IM-0${Math.floor(patient / 2)}-000${patient % 2}.jpeg`;
      await writeGrayImage(path.join(root, split, 'PNEUMONIA', pn), gradient(size, size, seed++), size, size);
      await writeGrayImage(path.join(root, split, 'NORMAL', nm), gradient(size, size, seed++), size, size);
    }
  }
}

/**
 * A random w×h "radiograph": soft bright and dark blobs on a vertical ramp. Unlike
 * gradient(), different seeds give unrelated images (dHashes ~128 of 256 bits apart), as real
 * X-rays of different patients do, so the leakage check finds only the copies a test makes.
 */
export function blobs(w: number, h: number, seed: number): Uint8Array {
  const rng = new Rng(seedFor(seed, 'blobs'));
  // Many small blobs: texture at the scale of the dHash's cells, as ribs give a real film, so a re-encoded copy keeps its hash.
  const spots = Array.from({ length: 60 }, () => ({ x: rng.next() * w, y: rng.next() * h, r: (0.03 + 0.03 * rng.next()) * w, a: rng.uniform(-120, 120) }));
  const px = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 60 + (100 * y) / h;
      for (const s of spots) v += s.a * Math.exp(-((x - s.x) ** 2 + (y - s.y) ** 2) / (2 * s.r * s.r));
      px[y * w + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return px;
}

/**
 * A Kaggle-layout folder of blobs() images, one image per patient, named like the real ones
 * (NORMAL: IM-0<id>-0001.jpeg, PNEUMONIA: person<id>_bacteria_<id>.jpeg); train and test
 * patients differ. `n` images per class and split; returns the files written, by split and class.
 */
export async function makeXrayFolder(root: string, n: { train: number | [number, number]; test: number | [number, number] }, size = 96): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  let patient = 100;
  for (const split of ['train', 'test'] as const) {
    const counts = n[split];
    const [normal, pneumonia] = typeof counts === 'number' ? [counts, counts] : counts;
    for (const [cls, count] of [['NORMAL', normal], ['PNEUMONIA', pneumonia]] as const) {
      const files: string[] = [];
      for (let i = 0; i < count; i++, patient++) {
        const name = cls === 'NORMAL' ? `IM-0${patient}-0001.jpeg` : `person${patient}_bacteria_${patient}.jpeg`;
        const file = path.join(root, split, cls, name);
        await writeGrayImage(file, blobs(size, size, patient), size, size);
        files.push(file);
      }
      out[`${split}/${cls}`] = files;
    }
  }
  return out;
}
