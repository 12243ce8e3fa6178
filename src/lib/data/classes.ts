/** The two classes, in label order: label 0 = NORMAL, label 1 = PNEUMONIA (the positive class). */
export const CLASS_NAMES = ['NORMAL', 'PNEUMONIA'] as const;
export type ClassName = (typeof CLASS_NAMES)[number];
export const NUM_CLASSES = CLASS_NAMES.length;

/** A split of images held on the host as uint8, decoded once and reused every epoch. */
export interface ImageSet {
  /** n images of size×size grayscale, row-major, one after another. Layout (n, size, size). */
  images: Uint8Array;
  /** n labels, indexes into CLASS_NAMES. */
  labels: Uint8Array;
  /** Side length in pixels. */
  size: number;
  /** Per image, a stable id: the path relative to the data root, or `<split>/<index>` for .npz. */
  ids: string[];
  /** Per image, the patient id; `?<id>` when the file name carries none (then the image is its own patient). */
  patients: string[];
}

export function setLength(set: ImageSet): number {
  return set.labels.length;
}

/** The images of `set` at the given indices, as a new ImageSet. */
export function subset(set: ImageSet, indices: readonly number[]): ImageSet {
  const px = set.size * set.size;
  const images = new Uint8Array(indices.length * px);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, dst) => {
    images.set(set.images.subarray(src * px, (src + 1) * px), dst * px);
    labels[dst] = set.labels[src] ?? 0;
  });
  return {
    images,
    labels,
    size: set.size,
    ids: indices.map((i) => set.ids[i] ?? ''),
    patients: indices.map((i) => set.patients[i] ?? ''),
  };
}

/** Count of images per class, in CLASS_NAMES order. */
export function classCounts(labels: Uint8Array): number[] {
  const counts: number[] = CLASS_NAMES.map(() => 0);
  for (const l of labels) counts[l] = (counts[l] ?? 0) + 1;
  return counts;
}

/** The pixels of image i (a view, not a copy). */
export function imageAt(set: ImageSet, i: number): Uint8Array {
  const px = set.size * set.size;
  return set.images.subarray(i * px, (i + 1) * px);
}
