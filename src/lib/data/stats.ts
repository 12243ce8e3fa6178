import { ClassName, CLASS_NAMES, classCounts, ImageSet } from './classes';
import { describeSource, XrayData } from './dataset';
import { DHASH_SIDE, DuplicatePair, LeakageReport, SIMILAR_MAX_BITS, SplitOverlap } from './leakage';
import { ClassCountProblem, classCountProblems, FEW_IMAGES_PER_CLASS, MIN_IMAGES_PER_CLASS } from './measurable';

/** Images per class, their total, and distinct patients when the source has patient ids. */
export type SplitRow = Record<ClassName, number> & { total: number; patients?: number };

/** Numbers a person checks before training: what `convnext-xray data stats --json` prints. */
export interface DataStats {
  source: string;
  profile: string;
  imageSize: number;
  fit: string;
  /** The source as on disk, per split and class (before the val split and profile caps). */
  sourceSplits: Record<string, SplitRow>;
  /** What the model sees, per split and class (after the val split and profile caps). */
  splits: Record<'train' | 'val' | 'test', SplitRow>;
  split: { method: string; valFraction?: number; seed?: number; patientOverlap: number; overlapIds: string[] };
  /**
   * Patient ids in both the source's train/ and test/ folders, as on disk (170 in the published
   * Kermany split; whatever the profile's caps). Names without an id are left out of it, not
   * the whole count. Folder sources only.
   */
  trainTestPatientOverlap?: number;
  /** Patients and images shared across splits (data/leakage.ts). */
  leakage?: LeakageStats;
  /** Whether val and test can measure AUC, sensitivity and specificity (data/measurable.ts). */
  classCheck: { minPerClass: number; fewPerClass: number; problems: ClassCountProblem[] };
  /** Sizes of the source images before resizing (folder sources). */
  sourceImageSize?: { width: Summary; height: Summary };
  pixels: { mean: number; std: number };
  classWeights: Record<string, number>;
  skipped: { rel: string; reason: string }[];
  notes: string[];
}

/** What two splits share, counted, with every shared id and image pair. */
export interface OverlapStats {
  between: [string, string];
  patients: number;
  patientIds: string[];
  /** Distinct images of the second split with a copy in the first; of them identical (same bytes) and similar (near-duplicates). */
  images: number;
  identical: number;
  similar: number;
  pairs: DuplicatePair[];
}

export interface LeakageStats {
  /** How images are compared. */
  method: { identical: string; similar: string };
  /** The model's splits: train/val, train/test, val/test. */
  splits: OverlapStats[];
  /** The source as on disk (folder: train/test). */
  source: OverlapStats[];
  withoutPatientId: Record<string, number>;
}

export interface Summary {
  min: number;
  median: number;
  max: number;
}

export function dataStats(d: XrayData): DataStats {
  const sourceSplits: DataStats['sourceSplits'] = {};
  for (const [name, c] of Object.entries(d.sourceCounts)) {
    const row = rowOf(c.images);
    if (c.patients !== undefined) row.patients = c.patients.reduce((a, b) => a + b, 0);
    sourceSplits[name] = row;
  }
  // Distinct patients, an image without an id in its name counting as its own (as the split does); none when no name has one.
  const splitRow = (set: ImageSet): SplitRow => {
    const row = rowOf(classCounts(set.labels));
    if (set.patients.some((p) => !p.startsWith('?'))) row.patients = new Set(set.patients).size;
    return row;
  };
  const stats: DataStats = {
    source: describeSource(d.source),
    profile: d.profile,
    imageSize: d.size,
    fit: d.fit,
    sourceSplits,
    splits: { train: splitRow(d.train), val: splitRow(d.val), test: splitRow(d.test) },
    split: { method: d.split.method, valFraction: d.split.valFraction, seed: d.split.seed, patientOverlap: d.split.overlap.length, overlapIds: d.split.overlap },
    pixels: { mean: round(d.stats.mean), std: round(d.stats.std) },
    classWeights: Object.fromEntries(CLASS_NAMES.map((c, i) => [c, round(d.classWeights[i] ?? 0)])),
    skipped: d.skipped,
    notes: d.notes,
    classCheck: { minPerClass: MIN_IMAGES_PER_CLASS, fewPerClass: FEW_IMAGES_PER_CLASS, problems: classCountProblems(d) },
  };
  if (d.leakage !== undefined) {
    stats.leakage = leakageStats(d.leakage);
    if (d.split.method === 'patient-aware') stats.trainTestPatientOverlap = d.leakage.source.find((o) => o.between.join('/') === 'train/test')?.patients.length;
  }
  if (d.sourceSizes !== undefined) {
    stats.sourceImageSize = { width: summary(d.sourceSizes.widths), height: summary(d.sourceSizes.heights) };
  }
  return stats;
}

function leakageStats(r: LeakageReport): LeakageStats {
  const overlap = (o: SplitOverlap): OverlapStats => {
    const identical = new Set(o.duplicates.filter((p) => p.kind === 'identical').map((p) => p.b)).size;
    return { between: o.between, patients: o.patients.length, patientIds: o.patients, images: o.images, identical, similar: o.images - identical, pairs: o.duplicates };
  };
  return {
    method: {
      identical: 'SHA-256 of the file bytes (.npz: of the stored pixels)',
      similar: r.similarChecked ? `${DHASH_SIDE * DHASH_SIDE}-bit dHash of the decoded image, at most ${SIMILAR_MAX_BITS} bits apart` : 'not checked (images decoded too small)',
    },
    splits: r.splits.map(overlap),
    source: r.source.map(overlap),
    withoutPatientId: r.withoutPatientId,
  };
}

function rowOf(counts: readonly number[]): SplitRow {
  return { NORMAL: counts[0] ?? 0, PNEUMONIA: counts[1] ?? 0, total: counts.reduce((a, b) => a + b, 0) };
}

export function summary(values: readonly number[]): Summary {
  if (values.length === 0) return { min: NaN, median: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { min: s[0] as number, median, max: s[s.length - 1] as number };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Share of pixels in each of `bins` equal-width intensity bins (0–255), over the images of one class. */
export function pixelHistogram(set: ImageSet, label: number, bins = 32): number[] {
  const counts = new Array<number>(bins).fill(0);
  const px = set.size * set.size;
  let total = 0;
  for (let i = 0; i < set.labels.length; i++) {
    if (set.labels[i] !== label) continue;
    const image = set.images.subarray(i * px, (i + 1) * px);
    for (const v of image) {
      const b = Math.min(bins - 1, Math.floor((v * bins) / 256));
      counts[b] = (counts[b] ?? 0) + 1;
    }
    total += px;
  }
  return counts.map((c) => (total === 0 ? 0 : c / total));
}
