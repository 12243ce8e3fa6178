import * as path from 'node:path';
import sharp from 'sharp';
import { KitError } from '../util/errors';
import type { ProgressSink } from '../util/progress';
import { CLASS_NAMES, type ImageSet } from './classes';
import { Fit, SHARP_FIT } from './decode';
import { ensureDownloaded, type EnsureResult } from './download';
import { malformed, REDOWNLOAD_FIX } from './malformed';
import type { NpyArray } from './npy';
import { openNpz, type NpzReader } from './npz';

/**
 * Everything the kit knows about MedMNIST, in one place: the layout of a MedMNIST `.npz`
 * (arrays `{train,val,test}_{images,labels}`, their shapes and dtypes), and PneumoniaMNIST
 * (MedMNIST v2 / MedMNIST+): 5,856 pediatric chest X-rays, center-cropped and resized, labelled
 * normal or pneumonia. Facts below are from the official Zenodo record 10519652 and MedMNIST's
 * INFO table (medmnist/info.py), so a download can be checked against them.
 */

export type MedmnistSize = 28 | 64 | 128 | 224;

export const MEDMNIST_SIZES: readonly MedmnistSize[] = [28, 64, 128, 224];

export const PNEUMONIAMNIST = {
  name: 'PneumoniaMNIST',
  zenodoRecord: '10519652',
  baseUrl: 'https://zenodo.org/records/10519652/files',
  /** One file per image size; the 28 px file has no size suffix (MedMNIST v2 naming). */
  files: {
    28: { file: 'pneumoniamnist.npz', md5: '28209eda62fecd6e6a2d98b1501bb15f' },
    64: { file: 'pneumoniamnist_64.npz', md5: '8f4eceb4ccffa70c672198ea285246c6' },
    128: { file: 'pneumoniamnist_128.npz', md5: '05b46931834c231683c68f40c47b2971' },
    224: { file: 'pneumoniamnist_224.npz', md5: 'd6a3c71de1b945ea11211b03746c1fe1' },
  } satisfies Record<MedmnistSize, { file: string; md5: string }>,
  /** Official split: the source training set split 9:1 into train/val; the source test set as test. */
  splitSizes: { train: 4708, val: 524, test: 624 },
  /** Label index -> class. */
  classNames: ['normal', 'pneumonia'],
  channels: 1,
  license: 'CC BY 4.0',
  citation:
    'Jiancheng Yang, Rui Shi, Donglai Wei, Zequan Liu, Lin Zhao, Bilian Ke, Hanspeter Pfister, Bingbing Ni. ' +
    'MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image classification. ' +
    'Scientific Data 10, 41 (2023). https://doi.org/10.1038/s41597-022-01721-8',
  /** MedMNIST asks users to cite the source dataset as well. */
  sourceCitation:
    'Daniel S. Kermany et al. Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning. ' +
    'Cell 172(5), 1122-1131 (2018). https://doi.org/10.1016/j.cell.2018.02.010',
} as const;

export function isValidMedmnistSize(size: unknown): size is MedmnistSize {
  return (MEDMNIST_SIZES as readonly unknown[]).includes(size);
}

/** Where the kit keeps the file for `size`: `<cacheDir>/medmnist/<official file name>`. */
export function medmnistPath(cacheDir: string, size: MedmnistSize): string {
  return path.join(cacheDir, 'medmnist', PNEUMONIAMNIST.files[checkedSize(size)].file);
}

/** The download URL for `size`; `baseUrl` replaces the Zenodo files folder (tests, mirrors). */
export function medmnistUrl(size: MedmnistSize, baseUrl: string = PNEUMONIAMNIST.baseUrl): string {
  return `${baseUrl.replace(/\/+$/, '')}/${PNEUMONIAMNIST.files[checkedSize(size)].file}?download=1`;
}

export interface DownloadPneumoniaMnistOptions {
  size: MedmnistSize;
  cacheDir: string;
  onProgress?: ProgressSink;
  /** Replaces https://zenodo.org/records/10519652/files, e.g. a local server in tests. */
  baseUrl?: string;
  timeoutMs?: number;
}

/**
 * Make sure PneumoniaMNIST at `size` px is in the cache: keep a file with the official MD5,
 * otherwise download it (again) from Zenodo and check it. Returns the path and what was done.
 */
export async function downloadPneumoniaMnist(options: DownloadPneumoniaMnistOptions): Promise<EnsureResult> {
  const size = checkedSize(options.size);
  const dest = medmnistPath(options.cacheDir, size);
  return ensureDownloaded({
    url: medmnistUrl(size, options.baseUrl),
    dest,
    md5: PNEUMONIAMNIST.files[size].md5,
    onProgress: options.onProgress,
    timeoutMs: options.timeoutMs,
    label: `download ${PNEUMONIAMNIST.name} ${size}px`,
    offlineHelp:
      'use local images instead: set XRAY_DATA to a folder in the Kaggle "chest-xray-pneumonia" layout ' +
      '{train,test}/{NORMAL,PNEUMONIA}/*.jpeg (or to a MedMNIST .npz file); or fetch the file ahead of time ' +
      'on a connected machine with `npx convnext-xray data download` and copy the cache folder over',
  });
}

// The layout of a MedMNIST .npz

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
 * all splits share one image size. Anything else is a KitError naming the file and array.
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

/**
 * Assert the official dataset facts on loaded data: split sizes, labels 0/1, and (when given)
 * the image size. Catches a wrong or hand-edited file before any training time is spent on it.
 */
export function checkPneumoniaMnist(data: MedmnistData, file: string, size?: MedmnistSize): void {
  const fix = `delete ${file} and download it again (\`npx convnext-xray data download\`)`;
  const found = MEDMNIST_SPLITS.map((s) => `${s} ${data[s].n}`).join(', ');
  const expected = MEDMNIST_SPLITS.map((s) => `${s} ${PNEUMONIAMNIST.splitSizes[s]}`).join(', ');
  if (found !== expected) {
    throw new KitError(`not the official PneumoniaMNIST split: found ${found}, expected ${expected}`, { where: file, fix });
  }
  for (const split of MEDMNIST_SPLITS) {
    const s = data[split];
    if (size !== undefined && (s.height !== size || s.width !== size)) {
      throw new KitError(`${split} images are ${s.height}x${s.width} px, expected ${size}x${size}`, { where: file, fix });
    }
    const bad = s.labels.findIndex((v) => v > 1);
    if (bad >= 0) {
      throw new KitError(`${split} label ${bad} is ${s.labels[bad]}; PneumoniaMNIST labels are 0 (normal) or 1 (pneumonia)`, {
        where: file,
        fix,
      });
    }
  }
}

/**
 * Check that a MedMNIST file can be used as the kit's two-class task: every label is 0 (NORMAL)
 * or 1 (PNEUMONIA), and every split has images of both classes. Other labels would otherwise be
 * dropped or miscounted without a word (an 11-class file would keep only its classes 0 and 1),
 * and a split without one class cannot measure AUC. The error lists the labels found per split,
 * with counts. Multi-label (N, 14) files are refused earlier, by readMedmnist.
 */
export function checkTwoClasses(data: MedmnistData, file: string): void {
  const counts = MEDMNIST_SPLITS.map((split) => {
    const c = new Map<number, number>();
    for (const v of data[split].labels) c.set(v, (c.get(v) ?? 0) + 1);
    return [split, new Map([...c].sort((x, y) => x[0] - y[0]))] as const;
  });
  const found = counts.map(([split, c]) => `${split}: ${[...c].map(([v, n]) => `${v} ×${n}`).join(', ') || 'no images'}`).join('; ');
  const classes = CLASS_NAMES.map((c, i) => `${i} (${c})`).join(' and ');
  const outside = new Map<number, number>();
  for (const [, c] of counts) for (const [v, n] of c) if (v >= CLASS_NAMES.length) outside.set(v, (outside.get(v) ?? 0) + n);
  if (outside.size > 0) {
    const dropped = [...outside.values()].reduce((a, b) => a + b, 0);
    throw new KitError(
      `labels outside ${classes}: ${[...outside.keys()].sort((x, y) => x - y).join(', ')} (${dropped} images); the kit is a two-class classifier. Labels found per split: ${found}`,
      {
        where: file,
        fix:
          'use PneumoniaMNIST (`npx convnext-xray data download`), or a file whose labels are 0 and 1: ' +
          'map the labels in NumPy first (e.g. one class against the rest: labels = (labels == k).astype(np.uint8)) and save with numpy.savez',
      },
    );
  }
  const lacking = counts.flatMap(([split, c]) => CLASS_NAMES.flatMap((name, i) => (c.has(i) ? [] : [`${split} has no ${i} (${name})`])));
  if (lacking.length > 0) {
    throw new KitError(`a split lacks a class: ${lacking.join(', ')}; every split needs images of both classes to train and to measure. Labels found per split: ${found}`, {
      where: file,
      fix: 'move some images of the missing class into that split (keeping images, labels and the other splits consistent) and save again with numpy.savez, or use PneumoniaMNIST (`npx convnext-xray data download`)',
    });
  }
}

/**
 * A MedMNIST split as an ImageSet at `size` px (resized with sharp when the file's size differs).
 * Ids are `<split>/<index>`; labels are used as they are (PneumoniaMNIST's 0 normal, 1 pneumonia
 * is CLASS_NAMES order).
 */
export async function medmnistImageSet(s: MedmnistSplit, split: string, size: number, fit: Fit, onProgress: ProgressSink): Promise<ImageSet> {
  const ids = Array.from({ length: s.n }, (_, i) => `${split}/${i}`);
  // No patient ids in MedMNIST: each image stands for its own patient (marked with '?').
  const patients = ids.map((id) => `?${id}`);
  if (s.height === size && s.width === size) return { images: s.images, labels: s.labels, size, ids, patients };
  const out = new Uint8Array(s.n * size * size);
  const px = s.height * s.width;
  for (let i = 0; i < s.n; i++) {
    const { data } = await sharp(s.images.subarray(i * px, (i + 1) * px), { raw: { width: s.width, height: s.height, channels: 1 } })
      .grayscale()
      .resize({ width: size, height: size, fit: SHARP_FIT[fit], background: { r: 0, g: 0, b: 0, alpha: 1 } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    out.set(data, i * size * size);
    if (i % 256 === 255 || i === s.n - 1) onProgress({ label: `resize ${split} images to ${size} px`, done: i + 1, total: s.n, unit: 'images' });
  }
  return { images: out, labels: s.labels, size, ids, patients };
}

/** Runtime check for sizes that come from JavaScript callers, notebooks or the CLI. */
function checkedSize(size: number): MedmnistSize {
  if (!isValidMedmnistSize(size)) {
    throw new KitError(`PneumoniaMNIST has no ${String(size)} px version`, {
      fix: `use one of ${MEDMNIST_SIZES.join(', ')}`,
    });
  }
  return size;
}
