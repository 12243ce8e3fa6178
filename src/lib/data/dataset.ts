import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSettings, type Settings } from '../config/settings';
import { KitError, messageOf } from '../util/errors';
import { ProgressSink, silentProgress } from '../util/progress';
import { classWeights, pixelStats, PixelStats } from './batches';
import { CLASS_NAMES, classCounts, imageAt, ImageSet, subset } from './classes';
import { Fit } from './decode';
import { BadImagePolicy, loadImageFolder } from './imagefolder';
import {
  checkPneumoniaMnist,
  checkTwoClasses,
  downloadPneumoniaMnist,
  isValidMedmnistSize,
  medmnistImageSet,
  medmnistPath,
  MedmnistSize,
  medmnistUrl,
  MedmnistSplit,
  PNEUMONIAMNIST,
  readMedmnist,
} from './medmnist';
import { checkLeakage, contentHash, findDuplicates, HashedSet, LeakagePolicy, leakagePolicy, LeakageReport, leakageNotes, linkDuplicates, splitOverlaps } from './leakage';
import { classCountNotes } from './measurable';
import { patientOverlap, patientSplit, stratifiedSubset } from './split';

/**
 * Where the X-rays come from:
 * - `folder`: a folder in the Kaggle/Kermany layout (XRAY_DATA=/path/to/chest_xray);
 * - `medmnist`: a MedMNIST .npz file (XRAY_DATA=/path/to/pneumoniamnist_128.npz), or, when
 *   XRAY_DATA is unset, PneumoniaMNIST at 128 px downloaded once into the cache.
 */
export type DataSource =
  | { kind: 'folder'; path: string }
  | { kind: 'medmnist'; path: string; /** the kit's default download, fetched on first use */ download?: MedmnistSize };

/** The default when XRAY_DATA is unset: PneumoniaMNIST at 128 px. */
export const DEFAULT_MEDMNIST_SIZE: MedmnistSize = 128;

/** The data source from XRAY_DATA / kit.config.json, or the default download. */
export function resolveDataSource(settings = loadSettings()): DataSource {
  if (settings.data === undefined) {
    return { kind: 'medmnist', path: medmnistPath(settings.cacheDir, DEFAULT_MEDMNIST_SIZE), download: DEFAULT_MEDMNIST_SIZE };
  }
  if (settings.data.toLowerCase().endsWith('.npz')) return { kind: 'medmnist', path: settings.data };
  return { kind: 'folder', path: settings.data };
}

export function describeSource(source: DataSource): string {
  if (source.kind === 'folder') return `image folder ${source.path}`;
  return source.download !== undefined ? `${PNEUMONIAMNIST.name} ${source.download} px (default download) ${source.path}` : `MedMNIST file ${source.path}`;
}

export interface XrayData {
  source: DataSource;
  /** The name of the profile it was loaded for. */
  profile: string;
  size: number;
  fit: Fit;
  train: ImageSet;
  val: ImageSet;
  test: ImageSet;
  /** How val was made, and the patient check of the val split (patients in both train and val; see also `leakage`). */
  split: {
    method: 'patient-aware' | 'official';
    valFraction?: number;
    seed?: number;
    overlap: string[];
    /** Distinct patients per split (undefined where the source has no patient ids). */
    patients?: { train: number; val: number; test: number };
  };
  /** Normalization statistics of the training split. */
  stats: PixelStats;
  /** Loss weights per class from the training split (see batches.classWeights). */
  classWeights: number[];
  /** Files left out under onBadImage 'skip'. */
  skipped: { rel: string; reason: string }[];
  /** Things worth telling the user about how the data was read; warnings (leakage, too few images of a class) start with "warning:". */
  notes: string[];
  /**
   * Patients and images shared across splits, in the model's splits and on disk (data/leakage.ts).
   * Set by loadXrayData; undefined for data built by hand.
   */
  leakage?: LeakageReport;
  /** Whether the decoded images came from the preprocessed cache. */
  cacheHit: boolean;
  /**
   * Per split of the source as it is on disk (before the val split and any profile cap): images
   * and distinct patients per class, in CLASS_NAMES order. Folder: train, test. MedMNIST: train,
   * val, test (patients unknown there).
   */
  sourceCounts: Record<string, { images: number[]; patients?: number[] }>;
  /** Per image of the source (train then test), the size before resizing; folder sources only. */
  sourceSizes?: { widths: number[]; heights: number[] };
}

/** The data part of a profile (experiment/profiles.ts): what to load and at what size. */
export interface DataProfile {
  /** Side of the square model input, in pixels. */
  imageSize: number;
  /** How a non-square image becomes square (see data/decode.ts). */
  fit: Fit;
  /** Share of the training images held out, by patient, for validation. */
  valFraction: number;
  /** Seed of the train/val split: fixed per profile so every run of an ablation sees the same split. */
  splitSeed: number;
  /** At most this many images per split (stratified, whole patients); undefined = all. */
  limit?: { train: number; val: number; test: number };
}

export interface LoadOptions {
  /**
   * Which images and at what size: a profile (`getProfile()` in experiment/profiles.ts reads
   * KIT_PROFILE) or any object with a name and a data part.
   */
  profile: { name: string; data: DataProfile };
  /** Default from XRAY_DATA. */
  source?: DataSource;
  onProgress?: ProgressSink;
  onBadImage?: BadImagePolicy;
  /** Default from KIT_CACHE_DIR. */
  cacheDir?: string;
  /** Replaces the Zenodo URL for the default download (tests, mirrors). Default from KIT_DATA_URL. */
  downloadBaseUrl?: string;
  /**
   * What to do when the splits the model sees (train, val, test) share a patient id or an
   * identical or near-identical image (data/leakage.ts): `warn` (default) adds a warning to
   * `notes`, `error` refuses with a KitError listing what is shared. Set here, where the splits
   * are made and checked, rather than in the recipe: refusing changes no result, so it belongs
   * to neither a run's reproduction spec nor its checkpoint. The CLI's `--strict-splits` sets
   * `error`. The published Kermany split shares 170 patient ids between train/ and test/, so
   * `error` refuses it (unless a profile's caps leave none of them).
   */
  leakage?: LeakagePolicy;
}

/**
 * Load the X-rays for a profile: decode (or read from the cache), split train into train and
 * validation by patient (duplicate images kept together), cap the sizes for small profiles,
 * check the splits for shared patients and images (`leakage`, warned in `notes` or refused
 * under `leakage: 'error'`) and for classes too small to measure, and compute the normalization.
 */
export async function loadXrayData(options: LoadOptions): Promise<XrayData> {
  const settings = loadSettings();
  const { profile } = options;
  const source = options.source ?? resolveDataSource(settings);
  const onProgress = options.onProgress ?? silentProgress;
  const cacheDir = options.cacheDir ?? settings.cacheDir;
  const { imageSize: size, fit } = profile.data;
  const policy = leakagePolicy(options.leakage);
  const notes: string[] = [];

  let train: ImageSet;
  let val: ImageSet;
  let test: ImageSet;
  let split: XrayData['split'];
  let skipped: XrayData['skipped'] = [];
  let cacheHit = false;
  let sourceSizes: XrayData['sourceSizes'];
  const sourceCounts: XrayData['sourceCounts'] = {};
  // The source's splits with each image's content hash, and every pair of duplicate images among them.
  let sourceSets: HashedSet[];
  let duplicates: ReturnType<typeof findDuplicates>;

  if (source.kind === 'folder') {
    const folder = await loadImageFolder(source.path, { size, fit, onBadImage: options.onBadImage, cacheDir, onProgress });
    notes.push(...folder.scan.notes);
    if (folder.windowed > 0) {
      notes.push(`${folder.windowed} images had more than 8 bits per sample (16-bit, 32-bit or float) and were windowed to 8 bits: each image's 0.5th-99.5th percentile became black-white`);
    }
    skipped = folder.skipped;
    cacheHit = folder.cache.hit;
    sourceSizes = { widths: folder.sourceWidths, heights: folder.sourceHeights };
    sourceCounts['train'] = countsOf(folder.train, true);
    sourceCounts['test'] = countsOf(folder.test, true);
    const hashesOf = (set: ImageSet): string[] => set.ids.map((id, i) => folder.hashes.get(id) ?? contentHash(imageAt(set, i)));
    sourceSets = [{ name: 'train', set: folder.train, hashes: hashesOf(folder.train) }, { name: 'test', set: folder.test, hashes: hashesOf(folder.test) }];
    duplicates = findDuplicates(sourceSets);
    // Duplicates inside train/ stay on one side of the val split, as if they were one patient.
    const groups = linkDuplicates(folder.train, duplicates.pairs);
    const s = patientSplit(folder.train.labels, groups, { valFraction: profile.data.valFraction, seed: profile.data.splitSeed });
    train = subset(folder.train, s.train);
    val = subset(folder.train, s.val);
    test = folder.test;
    split = { method: 'patient-aware', valFraction: profile.data.valFraction, seed: profile.data.splitSeed, overlap: s.overlap };
  } else {
    const file = await ensureMedmnist(source, cacheDir, onProgress, options.downloadBaseUrl ?? settings.dataUrl);
    const data = readMedmnist(file);
    if (source.download !== undefined) checkPneumoniaMnist(data, file, source.download);
    checkTwoClasses(data, file);
    train = await medmnistImageSet(data.train, 'train', size, fit, onProgress);
    val = await medmnistImageSet(data.val, 'val', size, fit, onProgress);
    test = await medmnistImageSet(data.test, 'test', size, fit, onProgress);
    split = { method: 'official', overlap: [] };
    for (const [name, set] of [['train', train], ['val', val], ['test', test]] as const) sourceCounts[name] = countsOf(set, false);
    // The stored pixels are a .npz image's bytes: hashed before any resizing.
    const hashesOf = (s: MedmnistSplit): string[] => Array.from({ length: s.n }, (_, i) => contentHash(s.images.subarray(i * s.height * s.width, (i + 1) * s.height * s.width)));
    sourceSets = [
      { name: 'train', set: train, hashes: hashesOf(data.train) },
      { name: 'val', set: val, hashes: hashesOf(data.val) },
      { name: 'test', set: test, hashes: hashesOf(data.test) },
    ];
    duplicates = findDuplicates(sourceSets);
    notes.push(
      `${path.basename(file)}: MedMNIST's official train/val/test split is used. It carries no patient ids, so the kit cannot check that no patient is in both train and val, only that no image is (use the Kaggle-layout folder for a patient-aware split).`,
    );
    if (data.train.height !== size) notes.push(`images resized from ${data.train.height} px to the profile's ${size} px`);
  }

  if (profile.data.limit !== undefined) {
    const { limit } = profile.data;
    const cap = (set: ImageSet, max: number, label: string): ImageSet => {
      if (set.labels.length <= max) return set;
      notes.push(`profile ${profile.name}: ${label} capped at about ${max} of ${set.labels.length} images (stratified, whole patients)`);
      return subset(set, stratifiedSubset(set.labels, set.patients, max, profile.data.splitSeed));
    };
    train = cap(train, limit.train, 'train');
    val = cap(val, limit.val, 'val');
    test = cap(test, limit.test, 'test');
  }
  // The leakage check runs on the final sets, after any capping.
  split.overlap = split.method === 'patient-aware' ? patientOverlap(train.patients, val.patients) : [];
  if (split.method === 'patient-aware') {
    split.patients = { train: new Set(train.patients).size, val: new Set(val.patients).size, test: new Set(test.patients).size };
  }
  const finalSets = { train, val, test };
  const leakage: LeakageReport = {
    splits: splitOverlaps(Object.entries(finalSets).map(([name, set]) => ({ name, set })), duplicates.pairs),
    source: splitOverlaps(sourceSets, duplicates.pairs),
    withoutPatientId: Object.fromEntries(Object.entries(finalSets).map(([name, set]) => [name, set.patients.filter((p) => p.startsWith('?')).length])),
    similarChecked: duplicates.similarChecked,
  };
  notes.push(...leakageNotes(leakage), ...classCountNotes({ ...finalSets, split, sourceCounts }));
  checkLeakage(leakage, policy, describeSource(source));
  return {
    source,
    profile: profile.name,
    size,
    fit,
    train,
    val,
    test,
    split,
    stats: pixelStats(train),
    classWeights: classWeights(train.labels),
    skipped,
    notes,
    cacheHit,
    sourceCounts,
    sourceSizes,
    leakage,
  };
}

function countsOf(set: ImageSet, withPatients: boolean): { images: number[]; patients?: number[] } {
  const images = classCounts(set.labels);
  if (!withPatients) return { images };
  const patients = CLASS_NAMES.map((_, c) => new Set(set.patients.filter((_, i) => set.labels[i] === c)).size);
  return { images, patients };
}

async function ensureMedmnist(source: Extract<DataSource, { kind: 'medmnist' }>, cacheDir: string, onProgress: ProgressSink, baseUrl?: string): Promise<string> {
  if (source.download === undefined) {
    if (!fs.existsSync(source.path)) {
      throw new KitError('MedMNIST file does not exist', { where: source.path, fix: 'check XRAY_DATA, or unset it to download PneumoniaMNIST (`npx convnext-xray data download`)' });
    }
    return source.path;
  }
  if (!isValidMedmnistSize(source.download)) throw new RangeError(`no PneumoniaMNIST file at ${source.download} px`);
  const r = await downloadPneumoniaMnist({ size: source.download, cacheDir, onProgress, baseUrl });
  return r.path;
}

/**
 * Why the configured data cannot be loaded, or undefined when it can, checked without
 * downloading anything: XRAY_DATA's folder or file exists; for the default download, the file
 * is in the cache or its server answers a HEAD request. The text lists what to do instead. The
 * notebooks call it (through `nb.requireData`) before their first data cell, so an offline
 * first run stops once, with this text, instead of failing in every later cell.
 */
export async function dataSourceProblem(settings: Settings = loadSettings(), timeoutMs = 8000): Promise<string | undefined> {
  const source = resolveDataSource(settings);
  const options =
    'To fix, either:\n' +
    '  - download it once on a machine with network: `npx convnext-xray data download` (then copy the cache folder here if needed), or\n' +
    '  - set XRAY_DATA to a folder in the Kaggle "chest-xray-pneumonia" layout {train,test}/{NORMAL,PNEUMONIA}/*.jpeg (or to a MedMNIST .npz file), and restart the kernel.';
  if (source.kind === 'folder') {
    const missing = ['train', 'test'].filter((d) => !fs.existsSync(path.join(source.path, d)));
    if (!fs.existsSync(source.path)) return `XRAY_DATA is ${source.path}, which does not exist.\n${options}`;
    if (missing.length > 0) return `XRAY_DATA is ${source.path}, which has no ${missing.join('/ or ')}/ folder (expected {train,test}/{NORMAL,PNEUMONIA}).\n${options}`;
    return undefined;
  }
  if (fs.existsSync(source.path)) return undefined;
  if (source.download === undefined) return `XRAY_DATA is ${source.path}, which does not exist.\n${options}`;
  const url = medmnistUrl(source.download, settings.dataUrl);
  try {
    await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    return undefined;
  } catch (err) {
    return `XRAY_DATA is not set, so the kit would download ${PNEUMONIAMNIST.name} ${source.download} px, but ${url} cannot be reached (${messageOf(err)}${err instanceof Error && err.cause !== undefined ? `: ${messageOf(err.cause)}` : ''}).\n${options}`;
  }
}
