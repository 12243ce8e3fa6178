import { KitError } from '../util/errors';
import { CLASS_NAMES, classCounts } from './classes';

/**
 * Can a split measure what is asked of it? Validation selects the best epoch by ROC-AUC and
 * chooses the decision threshold; test reports ROC-AUC, sensitivity and specificity. Each needs
 * images of both classes: with none of one class the AUC is undefined (NaN) and so is either
 * sensitivity or specificity.
 */

/** The hard floor per class in val and test (and train, which cannot learn a class it never sees). */
export const MIN_IMAGES_PER_CLASS = 1;

/**
 * Below this many images of a class in val or test, a warning: a specificity on 9 NORMAL
 * images moves in steps of 0.11, and its 95% interval spans about ±0.3.
 */
export const FEW_IMAGES_PER_CLASS = 10;

export type SplitName = 'train' | 'val' | 'test';
const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

/** What each split is used for, for the messages. */
const PURPOSE: Readonly<Record<SplitName, string>> = {
  train: 'the model cannot learn a class it never sees',
  val: 'val ranks the epochs by ROC-AUC and chooses the decision threshold',
  test: 'test reports ROC-AUC, sensitivity and specificity',
};

export interface ClassCountProblem {
  split: SplitName;
  className: string;
  count: number;
  /** `error`: below MIN_IMAGES_PER_CLASS; `warning`: below FEW_IMAGES_PER_CLASS (val and test only). */
  severity: 'error' | 'warning';
}

/** The sets and split facts the check reads (an XrayData is one). */
export interface SplitsToCheck {
  train: { labels: Uint8Array };
  val: { labels: Uint8Array };
  test: { labels: Uint8Array };
  split: { method: 'patient-aware' | 'official'; valFraction?: number; seed?: number };
  /** Per source split, images per class on disk (to size the advice). */
  sourceCounts?: Record<string, { images: number[] }>;
}

export function classCountProblems(d: SplitsToCheck): ClassCountProblem[] {
  const out: ClassCountProblem[] = [];
  for (const split of SPLITS) {
    classCounts(d[split].labels).forEach((count, c) => {
      const className = CLASS_NAMES[c] as string;
      if (count < MIN_IMAGES_PER_CLASS) out.push({ split, className, count, severity: 'error' });
      else if (split !== 'train' && count < FEW_IMAGES_PER_CLASS) out.push({ split, className, count, severity: 'warning' });
    });
  }
  return out;
}

/** "train NORMAL 1, PNEUMONIA 20; val NORMAL 0, PNEUMONIA 4; test NORMAL 5, PNEUMONIA 5" */
export function describeClassCounts(sets: Partial<Record<string, { labels: ArrayLike<number> }>>): string {
  return Object.entries(sets)
    .filter((e): e is [string, { labels: ArrayLike<number> }] => e[1] !== undefined)
    .map(([name, s]) => `${name} ${countsText(s.labels)}`)
    .join('; ');
}

/** "NORMAL 0, PNEUMONIA 4" */
export function countsText(labels: ArrayLike<number>): string {
  const counts = classCounts(Uint8Array.from(labels));
  return CLASS_NAMES.map((c, i) => `${c} ${counts[i] ?? 0}`).join(', ');
}

/**
 * Refuse, before any training, splits that cannot measure what is asked of them: a KitError
 * with the counts per class per split and what to change. Fewer than FEW_IMAGES_PER_CLASS is
 * only a warning (classCountNotes).
 */
export function checkSplitsMeasurable(d: SplitsToCheck, where: string): void {
  const errors = classCountProblems(d).filter((p) => p.severity === 'error');
  if (errors.length === 0) return;
  const what = errors.map((p) => `${p.split} has ${p.count} ${p.className} image${p.count === 1 ? '' : 's'}, but ${PURPOSE[p.split]}`);
  throw new KitError(`the splits cannot measure what training needs: ${what.join('; ')}. Each class needs at least ${MIN_IMAGES_PER_CLASS} image in train, val and test (${FEW_IMAGES_PER_CLASS} or more in val and test for usable intervals). Images per class: ${describeClassCounts({ train: d.train, val: d.val, test: d.test })}`, {
    where,
    fix: fixFor(errors, d),
  });
}

/** Warnings for the loader's notes: splits below FEW_IMAGES_PER_CLASS, and ones training will refuse. */
export function classCountNotes(d: SplitsToCheck): string[] {
  const problems = classCountProblems(d);
  const notes: string[] = [];
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) {
    notes.push(`warning: training will refuse these splits: ${errors.map((p) => `${p.split} has ${p.count} ${p.className} images`).join(', ')} (images per class: ${describeClassCounts({ train: d.train, val: d.val, test: d.test })}). Fix: ${fixFor(errors, d)}`);
  }
  const few = problems.filter((p) => p.severity === 'warning');
  if (few.length > 0) {
    notes.push(`warning: few images of a class: ${few.map((p) => `${p.split} has ${p.count} ${p.className}`).join(', ')}; below ${FEW_IMAGES_PER_CLASS} per class, AUC, sensitivity and specificity on that split rest on a handful of images and their 95% intervals are wide`);
  }
  return notes;
}

function fixFor(problems: readonly ClassCountProblem[], d: SplitsToCheck): string {
  const fixes: string[] = [];
  const official = d.split.method === 'official';
  for (const p of problems) {
    if (p.split === 'test') fixes.push(official ? `add ${p.className} images to the file's test split` : `add ${p.className} images to test/${p.className}/`);
    else if (official) fixes.push(`add ${p.className} images to the file's ${p.split} split`);
    else {
      const f = d.split.valFraction ?? 0.15;
      const onDisk = d.sourceCounts?.['train']?.images[CLASS_NAMES.indexOf(p.className as (typeof CLASS_NAMES)[number])];
      const add = `add ${p.className} images to train/${p.className}/ (it has ${onDisk ?? '?'}${onDisk !== undefined && onDisk < 2 ? ', and train and val need one each' : ''}; val takes about ${Math.round(f * 100)}% of each class's patients, so about ${Math.ceil(FEW_IMAGES_PER_CLASS / f)} images give val ${FEW_IMAGES_PER_CLASS})`;
      const knobs = `profile.data.valFraction, now ${f}; another split seed: profile.data.splitSeed, now ${d.split.seed ?? 0}`;
      // With fewer than two images of the class, no split gives both train and val one.
      if (onDisk !== undefined && onDisk < 2) fixes.push(add);
      else fixes.push(`${add}, or split differently (a ${p.split === 'val' ? 'larger' : 'smaller'} valFraction: ${knobs})`);
    }
  }
  return [...new Set(fixes)].join('; ');
}
