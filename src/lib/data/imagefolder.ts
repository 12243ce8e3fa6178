import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KitError, messageOf } from '../util/errors';
import { writeFileAtomic } from '../util/fs';
import { ProgressSink, silentProgress } from '../util/progress';
import { CLASS_NAMES, ImageSet } from './classes';
import { decodeXray, Fit, pathProblem, SKIP_BAD_IMAGES } from './decode';
import { contentHash } from './leakage';
import { patientIdOf } from './patients';

/**
 * Image folders in the Kaggle / Kermany layout:
 *
 *   <root>/train/NORMAL/*.jpeg   <root>/train/PNEUMONIA/*.jpeg
 *   <root>/test/NORMAL/*.jpeg    <root>/test/PNEUMONIA/*.jpeg
 *   <root>/val/...               (optional; the original archive's 16-image val is merged into
 *                                 train, because the kit carves its own patient-aware val split)
 *
 * A class folder may hold any image decodeXray reads, DICOM (.dcm) included.
 */
export type FolderSplit = 'train' | 'test';

export interface FolderFile {
  /** Path relative to the root, with forward slashes: the image's id. */
  rel: string;
  abs: string;
  split: FolderSplit;
  label: number;
  patient: string;
  /**
   * Set when the entry cannot be read at all (a dangling symbolic link, a name that is not valid
   * UTF-8): loading stops with this error, or under onBadImage 'skip' lists it as skipped.
   */
  unreadable?: { problem: string; fix: string };
}

export interface FolderScan {
  root: string;
  files: FolderFile[];
  /** Files and folders deliberately not read (hidden files, OS metadata, __MACOSX). */
  ignored: string[];
  /** Things a user should know about how the folder was read. */
  notes: string[];
}

const IGNORED_NAMES = new Set(['Thumbs.db', 'desktop.ini', '__MACOSX']);
const LAYOUT = '{train,test}/{NORMAL,PNEUMONIA}/<images>';
const SPLIT_NAMES = ['train', 'test', 'val'];

/**
 * List the images of a Kaggle-layout folder and check the layout; reads no pixels.
 *
 * Folder names match whatever their case (`Train/`, `normal/`), but two folders that differ only
 * in case (`train/NORMAL/` beside `train/Normal/`) are a layout error naming both: the kit does
 * not merge them, since the same tree cannot even exist on a case-insensitive disk (macOS,
 * Windows), and two copies of a class are more often a half-finished move than two halves.
 * Entries that cannot be read (dangling symbolic links, file names that are not UTF-8) are kept
 * in the list, marked `unreadable`, so the loader reports them; folders inside class folders are
 * not read and a note says so.
 */
export function scanImageFolder(root: string): FolderScan {
  if (!fs.existsSync(root)) {
    throw new KitError(`data folder does not exist`, { where: root, fix: `point XRAY_DATA at a folder in the layout ${LAYOUT}, or unset it to use PneumoniaMNIST` });
  }
  if (!fs.statSync(root).isDirectory()) {
    throw new KitError(`data path is a file, not a folder`, { where: root, fix: `for a MedMNIST file use a name ending in .npz; otherwise point XRAY_DATA at a folder in the layout ${LAYOUT}` });
  }
  const ignored: string[] = [];
  const notes: string[] = [];
  const top = listDir(root, '', ignored);
  for (const bad of top.unreadable) {
    if (SPLIT_NAMES.includes(bad.name.toLowerCase())) throw unreadableEntry(root, bad);
    notes.push(`${bad.rel} was not read: ${bad.problem}`);
  }
  refuseCaseVariants(root, '', top.dirs, SPLIT_NAMES);
  const splitDir = (want: string): string | undefined => top.dirs.find((d) => d.toLowerCase() === want);
  const missing = ['train', 'test'].filter((s) => splitDir(s) === undefined);
  if (missing.length > 0) {
    throw new KitError(`wrong layout: no ${missing.join(' or ')} folder; found ${describe(top)}`, { where: root, fix: `arrange the images as ${LAYOUT}` });
  }
  for (const d of top.dirs) {
    if (!SPLIT_NAMES.includes(d.toLowerCase())) notes.push(`folder ${d}/ is not a split (train, test, val) and was not read`);
  }
  const files: FolderFile[] = [];
  const sources: [string, FolderSplit][] = [[splitDir('train') ?? 'train', 'train'], [splitDir('test') ?? 'test', 'test']];
  const val = splitDir('val');
  if (val !== undefined) {
    sources.push([val, 'train']);
    notes.push(`${val}/ was merged into train/: the kit splits train into train and val by patient itself`);
  }
  for (const [dir, split] of sources) files.push(...scanSplit(root, dir, split, ignored, notes));
  let unknownPatients = 0;
  for (const f of files) if (f.patient.startsWith('?')) unknownPatients++;
  if (unknownPatients > 0) {
    notes.push(`${unknownPatients} file names carry no patient id (expected personN_*, IM-NNNN-*, NORMAL2-IM-NNNN-*): each such image counts as its own patient`);
  }
  return { root, files, ignored, notes };
}

function scanSplit(root: string, dir: string, split: FolderSplit, ignored: string[], notes: string[]): FolderFile[] {
  const here = listDir(root, dir, ignored);
  const badEntry = here.unreadable[0];
  if (badEntry !== undefined) throw unreadableEntry(root, badEntry);
  if (here.files.length > 0) {
    throw new KitError(`wrong layout: ${dir}/ holds files directly (${here.files.slice(0, 3).join(', ')}${here.files.length > 3 ? ', ...' : ''}); images belong in class folders`, {
      where: path.join(root, dir),
      fix: `move them into ${dir}/NORMAL/ or ${dir}/PNEUMONIA/`,
    });
  }
  const unknown = here.dirs.filter((d) => !CLASS_NAMES.some((c) => c === d.toUpperCase()));
  if (unknown.length > 0) {
    throw new KitError(`wrong layout: unknown class folder(s) ${unknown.map((d) => `${dir}/${d}/`).join(', ')}`, {
      where: path.join(root, dir),
      fix: `use exactly the class folders ${CLASS_NAMES.join(' and ')} (the kit is a two-class pneumonia classifier)`,
    });
  }
  refuseCaseVariants(root, dir, here.dirs, CLASS_NAMES);
  const out: FolderFile[] = [];
  CLASS_NAMES.forEach((cls, label) => {
    const classDir = here.dirs.find((d) => d.toUpperCase() === cls);
    if (classDir === undefined) {
      throw new KitError(`wrong layout: ${dir}/ has no ${cls}/ folder; found ${describe(here)}`, { where: path.join(root, dir), fix: `arrange the images as ${LAYOUT}` });
    }
    const rel = `${dir}/${classDir}`;
    const inside = listDir(root, rel, ignored);
    if (inside.dirs.length > 0) {
      ignored.push(...inside.dirs.map((d) => `${rel}/${d}/`));
      notes.push(`${inside.dirs.map((d) => `${rel}/${d}/`).join(', ')}: folder(s) inside a class folder, not read (only the images directly in ${rel}/ are); move their images up into ${rel}/ to use them`);
    }
    if (inside.files.length === 0 && inside.unreadable.length === 0) {
      throw new KitError(`class folder ${rel}/ is empty`, { where: path.join(root, rel), fix: `put its images there, or check that the download finished` });
    }
    const entries: { name: string; unreadable?: FolderFile['unreadable'] }[] = [
      ...inside.files.map((name) => ({ name })),
      ...inside.unreadable.map((u) => ({ name: u.name, unreadable: { problem: u.problem, fix: u.fix } })),
    ];
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, unreadable } of entries) {
      const stem = name.replace(/\.[^.]*$/, '');
      const file: FolderFile = { rel: `${rel}/${name}`, abs: path.join(root, rel, name), split, label, patient: patientIdOf(name) ?? `?${stem}` };
      if (unreadable !== undefined) file.unreadable = unreadable;
      out.push(file);
    }
  });
  return out;
}

/**
 * Two folders whose names differ only in case, among the ones the layout reads: a layout error.
 * The fix keeps the canonical spelling (`test/`, `NORMAL/`) when it is one of them.
 */
function refuseCaseVariants(root: string, rel: string, dirs: readonly string[], canonical: readonly string[]): void {
  for (const want of canonical) {
    const variants = dirs.filter((d) => d.toLowerCase() === want.toLowerCase());
    if (variants.length < 2) continue;
    variants.sort((a, b) => Number(b === want) - Number(a === want));
    const shown = variants.map((d) => (rel === '' ? `${d}/` : `${rel}/${d}/`));
    const [keep, ...others] = shown;
    throw new KitError(`wrong layout: ${shown.join(' and ')} differ only in case; the kit reads one folder per ${rel === '' ? 'split' : 'class'} and would drop the images of the other`, {
      where: path.join(root, rel),
      fix: `merge them into one folder: move everything in ${others.join(', ')} into ${keep} (check for files with the same name first), then delete the emptied folder${others.length > 1 ? 's' : ''}`,
    });
  }
}

interface Unreadable {
  name: string;
  rel: string;
  problem: string;
  fix: string;
}

interface Listing {
  dirs: string[];
  files: string[];
  /** Entries that can be neither opened nor classified as file or folder. */
  unreadable: Unreadable[];
}

function listDir(root: string, rel: string, ignored: string[]): Listing {
  const out: Listing = { dirs: [], files: [], unreadable: [] };
  const dir = path.join(root, rel);
  let entries: fs.Dirent<Buffer>[];
  try {
    // Names as bytes, so a name that is not valid UTF-8 is seen as such instead of as a mangled string.
    entries = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    throw new KitError(`cannot list the folder: ${messageOf(err)}`, { where: dir, fix: 'check that it exists and that you may read it (chmod +rx)' });
  }
  for (const e of entries) {
    const name = e.name.toString('utf8');
    const relName = rel === '' ? name : `${rel}/${name}`;
    if (name.startsWith('.') || IGNORED_NAMES.has(name)) {
      ignored.push(relName);
      continue;
    }
    if (!Buffer.from(name, 'utf8').equals(e.name)) {
      out.unreadable.push({
        name,
        rel: relName,
        problem: `the file name is not valid UTF-8 (bytes ${e.name.toString('hex')}), so Node.js cannot open it by name`,
        fix: 'rename it with a UTF-8 name (e.g. `convmv -f latin1 -t utf-8 --notest <file>`)',
      });
      continue;
    }
    let isDir = e.isDirectory();
    // Follow symbolic links: datasets are often linked in.
    if (e.isSymbolicLink()) {
      const full = path.join(root, relName);
      let target: fs.Stats | undefined;
      try {
        target = fs.statSync(full);
      } catch {
        // A dangling or looping link: pathProblem says which.
      }
      if (target === undefined) {
        const problem = pathProblem(full) ?? { problem: 'a symbolic link that cannot be followed', fix: 'fix or delete the link' };
        out.unreadable.push({ name, rel: relName, problem: problem.problem, fix: problem.fix });
        continue;
      }
      isDir = target.isDirectory();
    }
    (isDir ? out.dirs : out.files).push(name);
  }
  out.dirs.sort();
  return out;
}

/** An entry the layout needs (a split or class folder, or something in their place) that cannot be read. */
function unreadableEntry(root: string, bad: Unreadable): KitError {
  return new KitError(`cannot read ${bad.rel}: ${bad.problem}`, { where: path.join(root, bad.rel), fix: bad.fix });
}

function describe(l: Listing): string {
  const items = [...l.dirs.map((d) => `${d}/`), ...l.files];
  return items.length === 0 ? 'nothing' : items.slice(0, 8).join(', ') + (items.length > 8 ? ', ...' : '');
}

// ---- decoding with a cache ------------------------------------------------------------------

export type BadImagePolicy = 'error' | 'skip';

export interface FolderLoadOptions {
  size: number;
  fit: Fit;
  /** `error` (default): stop at the first unreadable file. `skip`: leave it out and report it. */
  onBadImage?: BadImagePolicy;
  /** Folder for the preprocessed-tensor cache; undefined = no cache. */
  cacheDir?: string;
  onProgress?: ProgressSink;
  /** Images decoded at once (sharp decodes on libuv's thread pool). */
  concurrency?: number;
}

export interface FolderImages {
  train: ImageSet;
  test: ImageSet;
  /** Unreadable files left out under onBadImage 'skip'. */
  skipped: { rel: string; reason: string }[];
  /** Per kept image (train then test), the source width and height before resizing. */
  sourceWidths: number[];
  sourceHeights: number[];
  /** Kept images of more than 8 bits per sample (16-bit, 32-bit, float), windowed to 8 bits (decode.windowTo8Bit). */
  windowed: number;
  scan: FolderScan;
  /** Whether this came from the cache, and the cache file. */
  cache: { hit: boolean; file?: string };
  /**
   * SHA-256 of each readable file's bytes, by image id (`rel`): the leakage check's "identical".
   * Computed on every load from the same read that keys the cache.
   */
  hashes: Map<string, string>;
}

/** Bump when decoding changes, so old caches are not reused (2: EXIF orientation, percentile windowing; 3: DICOM). */
const CACHE_VERSION = 3;
const CACHE_MAGIC = 'XRAYKIT-CACHE-1\n';

/**
 * Decode every image of a Kaggle-layout folder to size×size uint8, or load the result from the
 * cache. The cache key covers the content of every file (not just names and times), the size,
 * the fit and the bad-image policy, so any change to the source makes a new entry.
 */
export async function loadImageFolder(root: string, options: FolderLoadOptions): Promise<FolderImages> {
  const onProgress = options.onProgress ?? silentProgress;
  const scan = scanImageFolder(root);
  const policy = options.onBadImage ?? 'error';
  let cacheFile: string | undefined;
  const { digest, hashes } = readSources(scan, onProgress);
  if (options.cacheDir !== undefined) {
    const key = crypto.createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, digest, size: options.size, fit: options.fit, policy })).digest('hex').slice(0, 24);
    cacheFile = path.join(options.cacheDir, 'images', `${key}.bin`);
    const cached = readCache(cacheFile, scan);
    if (cached !== undefined) return { ...cached, hashes };
  }
  const decoded = await decodeAll(scan, options.size, options.fit, policy, onProgress, options.concurrency ?? 4);
  if (cacheFile !== undefined) writeCache(cacheFile, decoded);
  return { ...decoded, cache: { hit: false, file: cacheFile }, hashes };
}

/**
 * Read every file once: the digest of the whole folder (names, splits and bytes: the cache key)
 * and each file's own SHA-256 (the leakage check; it adds 0.03 s for the 5840 real images).
 */
function readSources(scan: FolderScan, onProgress: ProgressSink): { digest: string; hashes: Map<string, string> } {
  const h = crypto.createHash('sha256');
  const hashes = new Map<string, string>();
  scan.files.forEach((f, i) => {
    h.update(`${f.rel}\0${f.split}\0`);
    // An unreadable entry counts by its problem, so fetching or fixing it later makes a new key.
    if (f.unreadable !== undefined) h.update(`unreadable\0${f.unreadable.problem}`);
    else {
      try {
        const bytes = fs.readFileSync(f.abs);
        h.update(bytes);
        hashes.set(f.rel, contentHash(bytes));
      } catch (err) {
        h.update(`unreadable\0${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
      }
    }
    if (i % 256 === 0 || i === scan.files.length - 1) onProgress({ label: 'check source files', done: i + 1, total: scan.files.length, unit: 'files' });
  });
  return { digest: h.digest('hex'), hashes };
}

type Decoded = Omit<FolderImages, 'cache' | 'hashes'>;

async function decodeAll(scan: FolderScan, size: number, fit: Fit, policy: BadImagePolicy, onProgress: ProgressSink, concurrency: number): Promise<Decoded> {
  const results: ({ pixels: Uint8Array; w: number; h: number; windowed: boolean } | { error: string })[] = new Array(scan.files.length);
  // Entries the scan could not open stop the load at once, or are skipped with their reason.
  const unreadable = scan.files.filter((f) => f.unreadable !== undefined);
  const first = unreadable[0];
  if (policy === 'error' && first?.unreadable !== undefined) {
    const more = unreadable.length > 1 ? ` (and ${unreadable.length - 1} more: ${unreadable.slice(1, 4).map((f) => f.rel).join(', ')}${unreadable.length > 4 ? ', ...' : ''})` : '';
    throw new KitError(`cannot read image ${first.rel}: ${first.unreadable.problem}${more}`, {
      where: first.abs,
      fix: `${first.unreadable.fix}, ${SKIP_BAD_IMAGES}`,
    });
  }
  scan.files.forEach((f, i) => {
    if (f.unreadable !== undefined) results[i] = { error: f.unreadable.problem };
  });
  let next = 0;
  let done = 0;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (next < scan.files.length && firstError === undefined) {
      const i = next++;
      const f = scan.files[i] as FolderFile;
      if (results[i] === undefined) {
        try {
          const d = await decodeXray(f.abs, size, fit, f.rel);
          results[i] = { pixels: d.pixels, w: d.sourceWidth, h: d.sourceHeight, windowed: d.window !== undefined };
        } catch (err) {
          if (policy === 'error') firstError ??= err;
          results[i] = { error: messageOf(err).split('\n')[0] ?? '' };
        }
      }
      done++;
      if (done % 32 === 0 || done === scan.files.length) onProgress({ label: `decode images (${size} px, ${fit})`, done, total: scan.files.length, unit: 'images' });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (firstError !== undefined) throw firstError;

  const skipped: Decoded['skipped'] = [];
  const sets: Record<FolderSplit, { pixels: Uint8Array[]; labels: number[]; ids: string[]; patients: string[] }> = {
    train: { pixels: [], labels: [], ids: [], patients: [] },
    test: { pixels: [], labels: [], ids: [], patients: [] },
  };
  const widths: Record<FolderSplit, number[]> = { train: [], test: [] };
  const heights: Record<FolderSplit, number[]> = { train: [], test: [] };
  let windowed = 0;
  scan.files.forEach((f, i) => {
    const r = results[i];
    if (r === undefined || 'error' in r) {
      skipped.push({ rel: f.rel, reason: r === undefined ? 'not decoded' : r.error });
      return;
    }
    const s = sets[f.split];
    s.pixels.push(r.pixels);
    s.labels.push(f.label);
    s.ids.push(f.rel);
    s.patients.push(f.patient);
    widths[f.split].push(r.w);
    heights[f.split].push(r.h);
    if (r.windowed) windowed++;
  });
  for (const split of ['train', 'test'] as const) {
    for (let c = 0; c < CLASS_NAMES.length; c++) {
      if (!sets[split].labels.includes(c)) {
        throw new KitError(`no readable image left in ${split}/${CLASS_NAMES[c]}/ after skipping ${skipped.length} unreadable file(s)`, {
          where: scan.root,
          fix: `check the files listed by \`npx convnext-xray data stats\`; the folder's images may all be corrupt`,
        });
      }
    }
  }
  const toSet = (s: (typeof sets)['train']): ImageSet => {
    const images = new Uint8Array(s.pixels.length * size * size);
    s.pixels.forEach((p, i) => images.set(p, i * size * size));
    return { images, labels: Uint8Array.from(s.labels), size, ids: s.ids, patients: s.patients };
  };
  return {
    train: toSet(sets.train),
    test: toSet(sets.test),
    skipped,
    sourceWidths: [...widths.train, ...widths.test],
    sourceHeights: [...heights.train, ...heights.test],
    windowed,
    scan,
  };
}

interface CacheMeta {
  size: number;
  train: { labels: number[]; ids: string[]; patients: string[] };
  test: { labels: number[]; ids: string[]; patients: string[] };
  skipped: Decoded['skipped'];
  sourceWidths: number[];
  sourceHeights: number[];
  windowed: number;
}

function writeCache(file: string, d: Decoded): void {
  const meta: CacheMeta = {
    size: d.train.size,
    train: { labels: [...d.train.labels], ids: d.train.ids, patients: d.train.patients },
    test: { labels: [...d.test.labels], ids: d.test.ids, patients: d.test.patients },
    skipped: d.skipped,
    sourceWidths: d.sourceWidths,
    sourceHeights: d.sourceHeights,
    windowed: d.windowed,
  };
  const json = Buffer.from(JSON.stringify(meta));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(json.length);
  writeFileAtomic(file, [Buffer.from(CACHE_MAGIC), header, json, d.train.images, d.test.images]);
}

/** The cached decode, or undefined when absent or unreadable (a bad cache is rebuilt, not fatal). */
function readCache(file: string, scan: FolderScan): Decoded & { cache: FolderImages['cache'] } | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const buf = fs.readFileSync(file);
    if (buf.subarray(0, CACHE_MAGIC.length).toString() !== CACHE_MAGIC) return undefined;
    const jsonLen = buf.readUInt32LE(CACHE_MAGIC.length);
    const jsonStart = CACHE_MAGIC.length + 4;
    const meta = JSON.parse(buf.subarray(jsonStart, jsonStart + jsonLen).toString()) as CacheMeta;
    const px = meta.size * meta.size;
    const trainBytes = meta.train.labels.length * px;
    const testBytes = meta.test.labels.length * px;
    const dataStart = jsonStart + jsonLen;
    if (buf.length !== dataStart + trainBytes + testBytes) return undefined;
    // Copy out of the file buffer so the sets own tightly sized arrays.
    const set = (m: CacheMeta['train'], start: number, bytes: number): ImageSet => ({
      images: new Uint8Array(buf.subarray(start, start + bytes)),
      labels: Uint8Array.from(m.labels),
      size: meta.size,
      ids: m.ids,
      patients: m.patients,
    });
    return {
      train: set(meta.train, dataStart, trainBytes),
      test: set(meta.test, dataStart + trainBytes, testBytes),
      skipped: meta.skipped,
      sourceWidths: meta.sourceWidths,
      sourceHeights: meta.sourceHeights,
      windowed: meta.windowed,
      scan,
      cache: { hit: true, file },
    };
  } catch {
    return undefined;
  }
}
