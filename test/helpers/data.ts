import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../../src/lib/config/paths';

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
