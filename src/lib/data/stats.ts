import { ClassName, CLASS_NAMES, classCounts, ImageSet } from './classes';
import { describeSource, XrayData } from './dataset';

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
  /** Patients in both the source's train and test folders (a property of the published split). */
  trainTestPatientOverlap?: number;
  /** Sizes of the source images before resizing (folder sources). */
  sourceImageSize?: { width: Summary; height: Summary };
  pixels: { mean: number; std: number };
  classWeights: Record<string, number>;
  skipped: { rel: string; reason: string }[];
  notes: string[];
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
  const known = (set: ImageSet): boolean => set.patients.every((p) => !p.startsWith('?'));
  const splitRow = (set: ImageSet): SplitRow => {
    const row = rowOf(classCounts(set.labels));
    if (known(set)) row.patients = new Set(set.patients).size;
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
  };
  if (known(d.train) && known(d.test)) {
    const trainPatients = new Set([...d.train.patients, ...d.val.patients]);
    stats.trainTestPatientOverlap = new Set(d.test.patients.filter((p) => trainPatients.has(p))).size;
  }
  if (d.sourceSizes !== undefined) {
    stats.sourceImageSize = { width: summary(d.sourceSizes.widths), height: summary(d.sourceSizes.heights) };
  }
  return stats;
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
