import { KitError } from '../util/errors';
import { Rng, seedFor } from '../util/rng';
import { CLASS_NAMES } from './classes';

export interface SplitOptions {
  /** Fraction of images (per class, approximately) that go to validation. */
  valFraction: number;
  seed: number;
}

export interface PatientSplit {
  /** Indices into the input, sorted. */
  train: number[];
  val: number[];
  /** Per class (CLASS_NAMES order): [train images, val images], [train patients, val patients]. */
  images: { train: number[]; val: number[] };
  patients: { train: number[]; val: number[] };
  /** Patients found on both sides (must be empty; computed independently by patientOverlap). */
  overlap: string[];
}

/**
 * Split images into train and validation so that every patient's images stay together
 * (patient-aware), each class keeps its share (stratified), and the same seed always gives the
 * same split. Patients are shuffled per class and taken for validation until the class's
 * validation share is reached.
 */
export function patientSplit(labels: ArrayLike<number>, patients: readonly string[], options: SplitOptions): PatientSplit {
  const { valFraction, seed } = options;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new KitError(`valFraction must be between 0 and 1 (exclusive), got ${valFraction}`, { where: 'split options', fix: 'use e.g. 0.15' });
  }
  if (labels.length !== patients.length) throw new RangeError(`labels (${labels.length}) and patients (${patients.length}) differ in length`);

  // A patient belongs to the class most of their images have (in this data each patient has one).
  const byPatient = new Map<string, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const p = patients[i] as string;
    const list = byPatient.get(p);
    if (list === undefined) byPatient.set(p, [i]);
    else list.push(i);
  }
  const patientClass = (idx: number[]): number => {
    const counts = CLASS_NAMES.map(() => 0);
    for (const i of idx) counts[labels[i] as number] = (counts[labels[i] as number] ?? 0) + 1;
    return counts.indexOf(Math.max(...counts));
  };

  const rng = new Rng(seedFor(seed, 'patient-split'));
  const valSet = new Set<string>();
  const imagesOut = { train: CLASS_NAMES.map(() => 0), val: CLASS_NAMES.map(() => 0) };
  const patientsOut = { train: CLASS_NAMES.map(() => 0), val: CLASS_NAMES.map(() => 0) };
  CLASS_NAMES.forEach((_, c) => {
    // Sorted first so the result does not depend on input order, then shuffled by the seed.
    const ids = [...byPatient.keys()].filter((p) => patientClass(byPatient.get(p) as number[]) === c).sort();
    rng.shuffle(ids);
    const total = ids.reduce((s, p) => s + (byPatient.get(p) as number[]).length, 0);
    const target = Math.round(total * valFraction);
    let taken = 0;
    for (const p of ids) {
      const n = (byPatient.get(p) as number[]).length;
      // Take a patient while it brings us closer to the target than leaving it out would.
      if (taken < target && Math.abs(target - (taken + n)) <= Math.abs(target - taken)) {
        valSet.add(p);
        taken += n;
      }
    }
  });

  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const side = valSet.has(patients[i] as string) ? 'val' : 'train';
    (side === 'val' ? val : train).push(i);
    const counts = imagesOut[side];
    counts[labels[i] as number] = (counts[labels[i] as number] ?? 0) + 1;
  }
  for (const [p, idx] of byPatient) {
    const counts = patientsOut[valSet.has(p) ? 'val' : 'train'];
    const c = patientClass(idx);
    counts[c] = (counts[c] ?? 0) + 1;
  }
  const overlap = patientOverlap(train.map((i) => patients[i] as string), val.map((i) => patients[i] as string));
  return { train, val, images: imagesOut, patients: patientsOut, overlap };
}

/** Patient ids present in both lists: the leakage check (an empty list means no leak). */
export function patientOverlap(a: readonly string[], b: readonly string[]): string[] {
  const inA = new Set(a);
  return [...new Set(b)].filter((p) => inA.has(p)).sort();
}

/**
 * A seeded, stratified subset of at most `max` indices (per-class shares kept), whole patients
 * at a time, for the small profiles. Returns all indices when max >= n.
 */
export function stratifiedSubset(labels: ArrayLike<number>, patients: readonly string[], max: number, seed: number): number[] {
  const n = labels.length;
  if (max >= n) return Array.from({ length: n }, (_, i) => i);
  const frac = max / n;
  const split = patientSplit(labels, patients, { valFraction: Math.min(Math.max(frac, 1e-6), 1 - 1e-6), seed: seedFor(seed, 'subset') });
  return split.val;
}
