import * as crypto from 'node:crypto';
import { KitError } from '../util/errors';
import { ImageSet } from './classes';

/**
 * Leakage across splits: the same patient, or the same image, on both sides of a split makes
 * validation and test scores optimistic. Two checks, both on every load:
 *
 * - Patients: the ids in the file names (patients.ts). Names without an id ('?<name>') are not
 *   compared by id; the content check covers them.
 * - Content: `identical` = the same file bytes (SHA-256; for a .npz, the image's stored pixels),
 *   so a copy under any name is found, whatever the decoder does. `similar` = a near-duplicate:
 *   the 256-bit difference hash (dHash) of the decoded image within SIMILAR_MAX_BITS, which
 *   finds re-encodes, resizes and brightness changes (not crops or flips). Hashing the decoded
 *   pixels exactly would add nothing: a lossless re-encode is within the dHash threshold too.
 *
 * On the 5840 published Kermany images the two checks cost 0.2 s at 32 and 64 px, 0.35 s at
 * 128 px (file hashing, 0.03 s, rides on the read that keys the decode cache; the rest is the
 * all-pairs dHash comparison), so nothing is cached.
 */

/** Side of the dHash: a (side+1)×side thumbnail gives side² bits. 8 (64 bits) cannot tell chest X-rays apart. */
export const DHASH_SIDE = 16;
const DHASH_WORDS = (DHASH_SIDE * DHASH_SIDE) / 32;

/**
 * Largest dHash distance (bits of 256) that counts as the same image. Measured on the 5840 real
 * images at 32, 64 and 128 px: distinct X-rays are ≥ 13 bits apart (the closest pair of two
 * patients), while re-encoding (JPEG q60, PNG), resizing (180 or 400 px) and brightness or gamma
 * changes move an image by a median of 1–4 bits (at most 10, at 32 px).
 */
export const SIMILAR_MAX_BITS = 8;

/** Smallest decoded side for the dHash: below it the thumbnail repeats pixels and unrelated images collide. */
export const DHASH_MIN_SIZE = 2 * DHASH_SIDE;

/** What loading does about a leak between the model's splits: `warn` in the notes, or `error`: refuse. */
export type LeakagePolicy = 'warn' | 'error';
export const LEAKAGE_POLICIES: readonly LeakagePolicy[] = ['warn', 'error'];

export interface DuplicatePair {
  /** Image ids (paths relative to the data root, or `<split>/<index>` in a .npz); `a` is in the earlier split. */
  a: string;
  b: string;
  /** `identical`: the same bytes; `similar`: dHash within SIMILAR_MAX_BITS. */
  kind: 'identical' | 'similar';
  /** dHash distance in bits (0 for identical images). */
  distance: number;
}

/** What two splits share. */
export interface SplitOverlap {
  /** The two splits, the earlier first (train, val, test). */
  between: [string, string];
  /** Patient ids (from file names) with images in both, sorted. */
  patients: string[];
  /** Pairs of images, one in each split, with the same content. */
  duplicates: DuplicatePair[];
  /** Distinct images of the second split that have an identical or similar image in the first. */
  images: number;
}

export interface LeakageReport {
  /** The splits the model sees (train, val, test after the val split and any profile cap): what a run is scored on. */
  splits: SplitOverlap[];
  /** The source as it is on disk (folder: train/ and test/; MedMNIST: its train, val, test), before the val split and caps. */
  source: SplitOverlap[];
  /** Per split the model sees, images whose file name carries no patient id (compared by content only). */
  withoutPatientId: Record<string, number>;
  /** Whether near-duplicates were looked for (the decoded images must be at least DHASH_MIN_SIZE px). */
  similarChecked: boolean;
}

/** SHA-256 of some bytes, hex: the content id of a file. */
export function contentHash(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/**
 * The difference hash of a size×size grayscale image (Krawetz's dHash at 16×16): average it
 * down to a 17×16 thumbnail, then one bit per horizontally adjacent pair, set when the right
 * cell is brighter. Robust to re-encoding, resizing and brightness; 8 words of 32 bits.
 */
export function dHash(pixels: Uint8Array, size: number): Uint32Array {
  const out = new Uint32Array(DHASH_WORDS);
  dHashInto(pixels, size, thumbnailCells(size), out, 0);
  return out;
}

/** Pixel ranges [from, to) of the thumbnail's columns (side+1 of them) and rows (side), for one image size. */
function thumbnailCells(size: number): { cols: Int32Array; rows: Int32Array } {
  const range = (cells: number): Int32Array => {
    const r = new Int32Array(2 * cells);
    for (let c = 0; c < cells; c++) {
      const from = Math.floor((c * size) / cells);
      r[2 * c] = from;
      r[2 * c + 1] = Math.max(from + 1, Math.floor(((c + 1) * size) / cells));
    }
    return r;
  };
  return { cols: range(DHASH_SIDE + 1), rows: range(DHASH_SIDE) };
}

function dHashInto(pixels: Uint8Array, size: number, cells: { cols: Int32Array; rows: Int32Array }, out: Uint32Array, offset: number): void {
  const w = DHASH_SIDE + 1;
  const colSums = new Float64Array(size);
  const cell = new Float64Array(w);
  for (let ty = 0; ty < DHASH_SIDE; ty++) {
    const y0 = cells.rows[2 * ty] as number;
    const y1 = cells.rows[2 * ty + 1] as number;
    // Sum the band of rows per column, then each cell's columns: every pixel is read once.
    colSums.fill(0);
    for (let y = y0; y < y1; y++) for (let x = 0; x < size; x++) colSums[x] = (colSums[x] as number) + (pixels[y * size + x] as number);
    for (let tx = 0; tx < w; tx++) {
      const x0 = cells.cols[2 * tx] as number;
      const x1 = cells.cols[2 * tx + 1] as number;
      let sum = 0;
      for (let x = x0; x < x1; x++) sum += colSums[x] as number;
      cell[tx] = sum / (x1 - x0);
    }
    for (let tx = 0; tx < DHASH_SIDE; tx++) {
      if ((cell[tx + 1] as number) > (cell[tx] as number)) {
        const bit = ty * DHASH_SIDE + tx;
        const k = offset + (bit >>> 5);
        out[k] = ((out[k] as number) | (1 << (bit & 31))) >>> 0;
      }
    }
  }
}

/** Bits set in a 32-bit word. */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** Bits in which two dHashes differ. */
export function hashDistance(a: Uint32Array, b: Uint32Array): number {
  let d = 0;
  for (let k = 0; k < a.length; k++) d += popcount(((a[k] as number) ^ (b[k] as number)) >>> 0);
  return d;
}

/** One split of the source, with each image's content hash (same order as set.ids). */
export interface HashedSet {
  name: string;
  set: ImageSet;
  hashes: readonly string[];
}

/**
 * Every pair of images with the same content, over all the given splits (pairs inside one split
 * too: the train/val split needs them). Identical bytes always; near-duplicates when the
 * images are at least DHASH_MIN_SIZE px. Hashing and comparing all pairs of the 5840 real
 * images takes 0.17–0.33 s, so no index is needed at this scale.
 */
export function findDuplicates(sets: readonly HashedSet[]): { pairs: DuplicatePair[]; similarChecked: boolean } {
  const ids: string[] = [];
  const hashes: string[] = [];
  for (const s of sets) {
    if (s.hashes.length !== s.set.ids.length) throw new RangeError(`${s.name}: ${s.hashes.length} hashes for ${s.set.ids.length} images`);
    ids.push(...s.set.ids);
    hashes.push(...s.hashes);
  }
  const pairs: DuplicatePair[] = [];
  const byHash = new Map<string, number[]>();
  hashes.forEach((h, i) => {
    const list = byHash.get(h);
    if (list === undefined) byHash.set(h, [i]);
    else list.push(i);
  });
  for (const group of byHash.values()) {
    for (let x = 0; x < group.length; x++) {
      for (let y = x + 1; y < group.length; y++) pairs.push({ a: ids[group[x] as number] as string, b: ids[group[y] as number] as string, kind: 'identical', distance: 0 });
    }
  }
  const size = sets[0]?.set.size ?? 0;
  const similarChecked = size >= DHASH_MIN_SIZE;
  if (similarChecked) {
    const n = ids.length;
    // Identical images share a group number, so the loop skips them with one integer compare.
    const group = new Int32Array(n);
    [...byHash.values()].forEach((members, g) => members.forEach((i) => (group[i] = g)));
    const words = new Uint32Array(n * DHASH_WORDS);
    const cells = thumbnailCells(size);
    const px = size * size;
    let k = 0;
    for (const s of sets) for (let i = 0; i < s.set.ids.length; i++) dHashInto(s.set.images.subarray(i * px, (i + 1) * px), size, cells, words, k++ * DHASH_WORDS);
    for (let i = 0; i < n; i++) {
      const oi = i * DHASH_WORDS;
      for (let j = i + 1; j < n; j++) {
        if (group[i] === group[j]) continue;
        const oj = j * DHASH_WORDS;
        let d = 0;
        // Stop as soon as the pair is too far apart: most are after the first word.
        for (let w = 0; w < DHASH_WORDS && d <= SIMILAR_MAX_BITS; w++) d += popcount(((words[oi + w] as number) ^ (words[oj + w] as number)) >>> 0);
        if (d <= SIMILAR_MAX_BITS) pairs.push({ a: ids[i] as string, b: ids[j] as string, kind: 'similar', distance: d });
      }
    }
  }
  return { pairs, similarChecked };
}

/**
 * Per image of `set`, the key the train/val split groups by: its patient, joined (union-find)
 * with the patients of any image it duplicates, so copies under another name (or another
 * patient's name) land on the same side. Without duplicates this is set.patients unchanged.
 */
export function linkDuplicates(set: Pick<ImageSet, 'ids' | 'patients'>, pairs: readonly DuplicatePair[]): string[] {
  const index = new Map(set.ids.map((id, i) => [id, i]));
  const parent = new Map<string, string>();
  const find = (p: string): string => {
    let r = p;
    for (let up = parent.get(r); up !== undefined && up !== r; up = parent.get(r)) r = up;
    parent.set(p, r);
    return r;
  };
  for (const pair of pairs) {
    const i = index.get(pair.a);
    const j = index.get(pair.b);
    if (i === undefined || j === undefined) continue;
    const a = find(set.patients[i] as string);
    const b = find(set.patients[j] as string);
    // The smaller id is the root, so the grouping does not depend on the order of the pairs.
    if (a < b) parent.set(b, a);
    else if (b < a) parent.set(a, b);
  }
  return set.patients.map(find);
}

/**
 * What each pair of the named splits shares: patient ids (unknown '?' ids excluded) and
 * duplicate images (from findDuplicates, filtered to pairs across the two splits).
 */
export function splitOverlaps(sets: readonly { name: string; set: Pick<ImageSet, 'ids' | 'patients'> }[], pairs: readonly DuplicatePair[]): SplitOverlap[] {
  const splitOf = new Map<string, number>();
  sets.forEach((s, k) => s.set.ids.forEach((id) => splitOf.set(id, k)));
  const out: SplitOverlap[] = [];
  for (let x = 0; x < sets.length; x++) {
    for (let y = x + 1; y < sets.length; y++) {
      const first = sets[x] as (typeof sets)[number];
      const second = sets[y] as (typeof sets)[number];
      const known = (ps: readonly string[]): Set<string> => new Set(ps.filter((p) => !p.startsWith('?')));
      const inFirst = known(first.set.patients);
      const patients = [...known(second.set.patients)].filter((p) => inFirst.has(p)).sort();
      const duplicates: DuplicatePair[] = [];
      for (const p of pairs) {
        const sa = splitOf.get(p.a);
        const sb = splitOf.get(p.b);
        if (sa === x && sb === y) duplicates.push(p);
        else if (sa === y && sb === x) duplicates.push({ ...p, a: p.b, b: p.a });
      }
      duplicates.sort((p, q) => (p.b < q.b ? -1 : p.b > q.b ? 1 : p.a < q.a ? -1 : p.a > q.a ? 1 : 0));
      out.push({ between: [first.name, second.name], patients, duplicates, images: new Set(duplicates.map((d) => d.b)).size });
    }
  }
  return out;
}

/** Whether two splits share anything. */
export function leaks(o: SplitOverlap): boolean {
  return o.patients.length > 0 || o.duplicates.length > 0;
}

/** One overlap in words: "train and test share 4 patient ids (IM-0001, ...) and 10 images (10 identical: test/x = train/y, ...)". */
export function describeOverlap(o: SplitOverlap, examples = 3): string {
  const [first, second] = o.between;
  const parts: string[] = [];
  if (o.patients.length > 0) parts.push(`${o.patients.length} patient id${o.patients.length === 1 ? '' : 's'} (${listed(o.patients, examples + 3)})`);
  if (o.duplicates.length > 0) {
    const identical = new Set(o.duplicates.filter((d) => d.kind === 'identical').map((d) => d.b)).size;
    const similar = o.images - identical;
    const kinds = [identical > 0 ? `${identical} identical` : '', similar > 0 ? `${similar} near-identical` : ''].filter((s) => s !== '').join(', ');
    const shown = o.duplicates.slice(0, examples).map((d) => `${d.b} ${d.kind === 'identical' ? '=' : `≈ (${d.distance} bits)`} ${d.a}`);
    parts.push(`${o.images} image${o.images === 1 ? '' : 's'} of ${second} with a copy in ${first} (${kinds}: ${shown.join(', ')}${o.duplicates.length > examples ? ', ...' : ''})`);
  }
  return `${first} and ${second} share ${parts.length === 0 ? 'nothing' : parts.join(' and ')}`;
}

function listed(items: readonly string[], max: number): string {
  return items.slice(0, max).join(', ') + (items.length > max ? `, ... ${items.length - max} more` : '');
}

/** How to stop it, said once for the note and the error. */
const LEAK_FIX = 'move or delete the shared images so each patient and image is in one split (every pair: `npx convnext-xray data stats --json`, field leakage)';

/**
 * The notes a load adds: a warning when the model's splits share patients or images, and a
 * line when only the source does (the published Kermany split shares 170 patient ids between
 * train/ and test/; a capped profile may not pick any of them).
 */
export function leakageNotes(report: LeakageReport): string[] {
  const notes: string[] = [];
  const leaking = report.splits.filter(leaks);
  if (leaking.length > 0) {
    notes.push(
      `warning: leakage across splits, so validation and test scores will be optimistic: ${leaking.map((o) => describeOverlap(o)).join('; ')}. ` +
        `To fix: ${LEAK_FIX}. To refuse such data instead of training on it: --strict-splits (library: loadXrayData({ leakage: 'error' }))`,
    );
  } else {
    const onDisk = report.source.filter(leaks);
    if (onDisk.length > 0) notes.push(`on disk, ${onDisk.map((o) => describeOverlap(o)).join('; ')}; none of it is in the splits this profile uses`);
  }
  if (!report.similarChecked) notes.push(`near-duplicate images were not looked for: the images are decoded below ${DHASH_MIN_SIZE} px (identical files were)`);
  return notes;
}

/** The policy, default `warn`; anything else (from JavaScript or a notebook) is a KitError before any work. */
export function leakagePolicy(value: unknown = 'warn'): LeakagePolicy {
  if (!(LEAKAGE_POLICIES as readonly unknown[]).includes(value)) throw new KitError(`unknown leakage policy ${JSON.stringify(value)}`, { where: 'leakage', fix: `use one of: ${LEAKAGE_POLICIES.join(', ')}` });
  return value as LeakagePolicy;
}

/** Under the `error` policy, a leak between the model's splits is a KitError with what is shared. */
export function checkLeakage(report: LeakageReport, policy: LeakagePolicy, where: string): void {
  if (policy !== 'error') return;
  const leaking = report.splits.filter(leaks);
  if (leaking.length === 0) return;
  throw new KitError(`the splits share data (leakage; refused because strict splits were asked for): ${leaking.map((o) => describeOverlap(o, 5)).join('; ')}`, {
    where,
    fix: `${LEAK_FIX}; or drop --strict-splits (library: leakage: 'warn') to train anyway with a warning`,
  });
}
