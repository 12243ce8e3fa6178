import * as path from 'node:path';
import { KitError } from '../util/errors';
import type { ProgressSink } from '../util/progress';
import { ensureDownloaded, type EnsureResult } from './download';
import { MEDMNIST_SPLITS, type MedmnistData } from './npz';

/**
 * PneumoniaMNIST (MedMNIST v2 / MedMNIST+): 5,856 pediatric chest X-rays, center-cropped and
 * resized, labelled normal or pneumonia. Facts below are from the official Zenodo record
 * 10519652 and MedMNIST's INFO table (medmnist/info.py), so a download can be checked against them.
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

/** Runtime check for sizes that come from JavaScript callers, notebooks or the CLI. */
function checkedSize(size: number): MedmnistSize {
  if (!isValidMedmnistSize(size)) {
    throw new KitError(`PneumoniaMNIST has no ${String(size)} px version`, {
      fix: `use one of ${MEDMNIST_SIZES.join(', ')}`,
    });
  }
  return size;
}
