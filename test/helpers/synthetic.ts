import { pixelStats, classWeights } from '../../src/lib/data/batches';
import { ImageSet } from '../../src/lib/data/classes';
import { XrayData } from '../../src/lib/data/dataset';
import { Rng } from '../../src/lib/util/rng';

/**
 * A separable two-class image set: class 1 has a bright square at a random place, class 0 a
 * dark one; both on noise. A working trainer must get it nearly all right.
 */
export function squaresSet(n: number, size: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * size * size);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    labels[i] = label;
    const off = i * size * size;
    for (let k = 0; k < size * size; k++) images[off + k] = 96 + Math.floor(rng.next() * 64);
    const s = Math.floor(size / 4);
    const x0 = rng.int(size - s);
    const y0 = rng.int(size - s);
    for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) images[off + y * size + x] = label === 1 ? 250 : 5;
  }
  const ids = Array.from({ length: n }, (_, i) => `synthetic/${seed}/${i}`);
  return { images, labels, size, ids, patients: ids };
}

export function squaresData(size = 32, n = { train: 96, val: 48, test: 48 }): XrayData {
  const train = squaresSet(n.train, size, 1);
  return {
    source: { kind: 'folder', path: 'synthetic' },
    profile: 'smoke',
    size,
    fit: 'squash',
    train,
    val: squaresSet(n.val, size, 2),
    test: squaresSet(n.test, size, 3),
    split: { method: 'official', overlap: [] },
    stats: pixelStats(train),
    classWeights: classWeights(train.labels),
    skipped: [],
    notes: [],
    cacheHit: false,
    sourceCounts: {},
  };
}
