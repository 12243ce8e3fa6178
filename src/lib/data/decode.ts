import * as fs from 'node:fs';
import sharp from 'sharp';
import { KitError, messageOf } from '../util/errors';
import { DicomError, DicomImage, DicomSummary, isDicom, readDicom } from './dicom';

/**
 * How a non-square X-ray becomes a square model input.
 * - `squash`: stretch to size×size (keeps the whole chest, distorts the aspect ratio; what the
 *   shared 224 px copy already did, so on it all three fits agree).
 * - `center-crop`: scale the short side to `size`, cut the middle (MedMNIST's choice; can cut off
 *   the lung apices or costophrenic angles on tall films).
 * - `letterbox`: scale the long side to `size`, pad with black (no distortion, no loss).
 */
export type Fit = 'squash' | 'center-crop' | 'letterbox';
export const FITS: readonly Fit[] = ['squash', 'center-crop', 'letterbox'];

/** sharp's name for each fit. */
export const SHARP_FIT: Readonly<Record<Fit, 'fill' | 'cover' | 'contain'>> = {
  squash: 'fill',
  'center-crop': 'cover',
  letterbox: 'contain',
};

/** Larger inputs are refused before decoding (about 16k × 16k): they are not X-rays but mistakes. */
export const MAX_INPUT_PIXELS = 2 ** 28;

/** The percentiles of an image's own values that become black and white (see windowTo8Bit). */
export const WINDOW_PERCENTILES = { low: 0.5, high: 99.5 } as const;

/** The fix every unreadable-image error ends with: the library's skip option. */
export const SKIP_BAD_IMAGES = "or load the folder with { onBadImage: 'skip' } to leave such files out and list them in the report";

/** Where a source of more than 8 bits per sample was windowed (see windowTo8Bit). */
export interface IntensityWindow {
  /** The source's sample type as libvips names it: ushort (16-bit), int, uint, char, float (for DICOM: from Bits Allocated and Pixel Representation). */
  sampleType: string;
  /** The source values that became 0 and 255. */
  low: number;
  high: number;
}

export interface DecodedImage {
  /** size×size grayscale, row-major, 0 = black. */
  pixels: Uint8Array;
  /** Width and height before resizing, upright (after the EXIF orientation). */
  sourceWidth: number;
  sourceHeight: number;
  /** Set when the source was not 8-bit and was windowed to 8 bits (see windowTo8Bit). */
  window?: IntensityWindow;
  /** Set for a DICOM file: its technical facts and how its values became grey levels (see dicom.ts). */
  dicom?: DicomSummary;
}

/**
 * Decode any image sharp reads (JPEG, PNG, WebP, TIFF, ...) into a size×size 8-bit grayscale
 * X-ray, as an EXIF-aware viewer shows it:
 * - The EXIF Orientation tag is applied first, so a film stored sideways with Orientation 6 comes
 *   out upright; the fits (crop, letterbox) act on the upright image.
 * - Colour is converted to luminance (libvips: Y of linear-light sRGB, re-encoded with the sRGB
 *   curve); CMYK goes through its ICC profile (libvips' default CMYK profile when the file has
 *   none), palettes are expanded, transparency is flattened onto black (a radiograph's
 *   background).
 * - 8-bit images keep their values exactly. Anything else (16-bit, 32-bit integer, 32-bit float)
 *   is windowed to 8 bits with windowTo8Bit: the 0.5th–99.5th percentiles of the image's own
 *   values become 0 and 255. Float and 32-bit integer images must be single-channel; signed
 *   16-bit and other sample types are refused with a KitError (see highBitSamples).
 * Truncated or corrupt files are errors (sharp's failOn 'warning').
 * DICOM files (the 'DICM' signature, or a .dcm/.dicom name) are read by dicom.ts with their own
 * rules (rescale, VOI window, MONOCHROME1), then resized exactly like the images above.
 */
export async function decodeXray(input: string | Buffer, size: number, fit: Fit, name = typeof input === 'string' ? input : 'image buffer'): Promise<DecodedImage> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`image size must be a positive integer, got ${size}`);
  if (typeof input === 'string') {
    const problem = pathProblem(input);
    if (problem !== undefined) throw new KitError(`cannot read image: ${problem.problem}`, { where: name, fix: `${problem.fix}, ${SKIP_BAD_IMAGES}` });
  }
  if (isDicom(input)) return decodeDicomXray(input, size, fit, name);
  // autoOrient: the EXIF Orientation is applied when the pixels are read, before any other step.
  const open = (): sharp.Sharp => sharp(input, { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true });
  try {
    const meta = await open().metadata();
    const sourceWidth = meta.autoOrient?.width ?? meta.width;
    const sourceHeight = meta.autoOrient?.height ?? meta.height;
    if (sourceWidth === undefined || sourceHeight === undefined) throw new Error('image has no dimensions');
    const resize = resizeOptions(size, fit);
    let pipeline: sharp.Sharp;
    let window: IntensityWindow | undefined;
    if (meta.depth === 'uchar') {
      pipeline = open().flatten({ background: '#000000' }).grayscale();
    } else {
      const { values, width, height } = await highBitSamples(open, meta, name);
      const w = windowTo8Bit(values);
      if (w === undefined) {
        throw new KitError(`cannot read image: no pixel has a finite value (all NaN or infinite ${meta.depth} samples)`, {
          where: name,
          fix: `check how the file was written; ${SKIP_BAD_IMAGES}`,
        });
      }
      window = { sampleType: meta.depth, low: w.low, high: w.high };
      pipeline = sharp(w.pixels, { raw: { width, height, channels: 1 } }).grayscale();
    }
    const { data, info } = await pipeline.resize(resize).raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 || data.length !== size * size) throw new Error(`decoder returned ${info.channels} channels, ${data.length} bytes`);
    const out: DecodedImage = { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), sourceWidth, sourceHeight };
    if (window !== undefined) out.window = window;
    return out;
  } catch (err) {
    if (err instanceof KitError) throw err;
    const said = [...new Set(messageOf(err).split('\n').map((l) => l.trim()).filter((l) => l !== ''))].join('; ');
    const cut = truncation(input, said);
    if (cut !== undefined) {
      throw new KitError(`cannot read image: ${cut} (the decoder says: ${said})`, {
        where: name,
        fix: `download or copy the file again (an interrupted download or copy leaves it cut short), or delete it, ${SKIP_BAD_IMAGES}`,
      });
    }
    throw new KitError(`cannot read image: ${said}`, {
      where: name,
      fix: /pixel limit/i.test(said)
        ? `the image is larger than ${MAX_INPUT_PIXELS} pixels; downscale it first (e.g. \`vips resize\` or any image editor)`
        : `replace or delete the file (a truncated download or a non-image file), ${SKIP_BAD_IMAGES}`,
    });
  }
}

function resizeOptions(size: number, fit: Fit): sharp.ResizeOptions {
  return { width: size, height: size, fit: SHARP_FIT[fit], position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } };
}

/** decodeXray for a DICOM file: dicom.ts makes the 8-bit display image, then the same resize as any image. */
async function decodeDicomXray(input: string | Buffer, size: number, fit: Fit, name: string): Promise<DecodedImage> {
  let image: DicomImage;
  try {
    const bytes = typeof input === 'string' ? await fs.promises.readFile(input) : input;
    image = await readDicom(bytes, { percentileWindow: windowTo8Bit, maxPixels: MAX_INPUT_PIXELS });
  } catch (err) {
    const known = err instanceof DicomError;
    throw new KitError(`cannot read DICOM image: ${known ? err.problem : messageOf(err)}`, {
      where: name,
      fix: `${known ? err.fix : 'the file is damaged or not DICOM; copy or export it again'}, ${SKIP_BAD_IMAGES}`,
      cause: err,
    });
  }
  const { width, height, channels, pixels, summary } = image;
  // Colour (RGB) becomes luminance exactly as for any other colour image.
  const { data, info } = await sharp(pixels, { raw: { width, height, channels } }).grayscale().resize(resizeOptions(size, fit)).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 || data.length !== size * size) throw new Error(`decoder returned ${info.channels} channels, ${data.length} bytes`);
  const out: DecodedImage = { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), sourceWidth: width, sourceHeight: height, dicom: summary };
  if (summary.voi.kind === 'percentile') {
    const sampleType = { 8: 'uchar', 16: 'ushort', 32: 'uint' }[summary.bitsAllocated] ?? `${summary.bitsAllocated}-bit`;
    out.window = { sampleType: summary.signed ? sampleType.replace(/^u/, '') : sampleType, low: summary.voi.low, high: summary.voi.high };
  }
  return out;
}

/**
 * Why a file that failed to decode looks cut short, or undefined: a JPEG without its end marker
 * (FF D9) or a PNG without its IEND chunk, or the decoder's own words for it (libjpeg's "premature
 * end", or sharp's "Warning treated as error due to failOn setting", which is how a truncated
 * scan shows in some libvips versions).
 */
function truncation(input: string | Buffer, said: string): string | undefined {
  let head: Buffer;
  let tail: Buffer;
  try {
    const bytes = typeof input === 'string' ? readEnds(input) : { head: input.subarray(0, 8), tail: input.subarray(Math.max(0, input.length - 64)) };
    ({ head, tail } = bytes);
  } catch {
    return undefined;
  }
  const jpeg = head[0] === 0xff && head[1] === 0xd8;
  const png = head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const ended = jpeg ? tail.includes(Buffer.from([0xff, 0xd9])) : png ? tail.includes(Buffer.from('IEND')) : true;
  if (!ended || /premature end|truncated|unexpected end of/i.test(said)) return `the file is truncated: it ends before its image data does${jpeg ? ' (no JPEG end marker)' : png ? ' (no PNG IEND chunk)' : ''}`;
  if (/Warning treated as error/i.test(said)) return 'the image data is truncated or damaged';
  return undefined;
}

/** The first 8 and the last 64 bytes of a file. */
function readEnds(file: string): { head: Buffer; tail: Buffer } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(8, size));
    fs.readSync(fd, head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(64, size));
    fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    return { head, tail };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The one rule the kit uses to bring an image of more than 8 bits per sample (16-bit, 32-bit
 * integer, float) to 8 bits, applied to each image on its own values, before resizing:
 *
 *   low  = the 0.5th percentile, high = the 99.5th percentile of the finite values
 *          (linear interpolation between sorted values: numpy.percentile's default);
 *   if high <= low (more than 99% of the pixels share one value): low = min, high = max;
 *   pixel = round(255 · (v − low) / (high − low)), clipped to 0..255 (round half up);
 *   NaN becomes 0; +∞ and −∞ clip to 255 and 0; an image of one value becomes all 0.
 *
 * Why: a file's type says nothing about its range (12-bit data in 16-bit PNGs, floats in 0..1 or
 * in any unit, 32-bit integers up to 4095), and a fixed scaling turns such images black or white.
 * The image's own min/max would let one hot or dead pixel squeeze the rest into a few grey
 * levels; cutting 0.5 % at each end cannot be moved by a few extreme pixels and clips almost
 * nothing of the film. Returns undefined when no value is finite.
 */
export function windowTo8Bit(values: ArrayLike<number>): { pixels: Uint8Array; low: number; high: number } | undefined {
  const finite = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isFinite(v)) finite[n++] = v;
  }
  if (n === 0) return undefined;
  const sorted = finite.subarray(0, n).sort();
  let low = percentile(sorted, WINDOW_PERCENTILES.low);
  let high = percentile(sorted, WINDOW_PERCENTILES.high);
  if (!(high > low)) {
    low = sorted[0] as number;
    high = sorted[n - 1] as number;
  }
  const pixels = new Uint8Array(values.length);
  if (high > low) {
    const scale = 255 / (high - low);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (Number.isNaN(v)) continue;
      const t = (v - low) * scale;
      pixels[i] = t <= 0 ? 0 : t >= 255 ? 255 : Math.round(t);
    }
  }
  return { pixels, low, high };
}

/** The p-th percentile (0..100) of ascending values, interpolating linearly (numpy's default). */
function percentile(sorted: Float64Array, p: number): number {
  const h = ((sorted.length - 1) * p) / 100;
  const i = Math.floor(h);
  const a = sorted[i] as number;
  const b = sorted[Math.min(i + 1, sorted.length - 1)] as number;
  return a + (b - a) * (h - i);
}

const TYPED: Partial<Record<string, { new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayLike<number>; BYTES_PER_ELEMENT: number }>> = {
  ushort: Uint16Array,
  char: Int8Array,
  int: Int32Array,
  uint: Uint32Array,
  float: Float32Array,
};

/**
 * The samples of a non-8-bit image as numbers, one grey value per pixel, upright.
 * - 16-bit (ushort): flattened onto black and converted to grey16 by libvips, so 16-bit colour
 *   and alpha work as in 8 bits.
 * - 32-bit integer, 32-bit float, 8-bit signed: read as they are; they must be single-channel,
 *   because colour or alpha in these types has no agreed meaning (linear light or not, alpha in
 *   0..1 or 0..255).
 * - Signed 16-bit: libvips reads it as unsigned grey16 and clips negative values, so it cannot
 *   be windowed faithfully; refused, as are 64-bit float and complex samples.
 */
async function highBitSamples(open: () => sharp.Sharp, meta: sharp.Metadata, name: string): Promise<{ values: ArrayLike<number>; width: number; height: number }> {
  const depth = meta.depth;
  const Typed = TYPED[depth];
  if (Typed === undefined) {
    const what = depth === 'short' ? 'signed 16-bit samples (libvips reads them as unsigned and would clip every negative value)' : `${depth} samples`;
    throw new KitError(`cannot read image: ${what} are not supported`, {
      where: name,
      fix: `save the image as 16-bit unsigned PNG/TIFF or as single-channel 32-bit float TIFF (e.g. numpy: img.astype(np.float32) then tifffile.imwrite), ${SKIP_BAD_IMAGES}`,
    });
  }
  if (depth !== 'ushort' && meta.channels !== 1) {
    throw new KitError(`cannot read image: ${meta.channels} channels of ${depth} samples (${meta.space}); the kit reads ${depth} images only as single-channel grayscale, since colour or alpha in ${depth} has no agreed scale`, {
      where: name,
      fix: `save the X-ray as a single-channel (grayscale) image, ${SKIP_BAD_IMAGES}`,
    });
  }
  const pipeline = depth === 'ushort' ? open().flatten({ background: '#000000' }).toColourspace('grey16') : open().toColourspace('b-w');
  const { data, info } = await pipeline.raw({ depth }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`decoder returned ${info.channels} channels of ${depth} samples, expected 1`);
  // Copy into an aligned buffer: the typed view needs an offset that is a multiple of its size.
  const aligned = new Uint8Array(data.length);
  aligned.set(data);
  return { values: new Typed(aligned.buffer, 0, data.length / Typed.BYTES_PER_ELEMENT), width: info.width, height: info.height };
}

/**
 * Why a path cannot be read as an image file, or undefined when it can: missing, a symbolic link
 * whose target is missing (git-annex or DataLad content not fetched yet), a folder, no permission.
 */
export function pathProblem(file: string): { problem: string; fix: string } | undefined {
  let link: fs.Stats;
  try {
    link = fs.lstatSync(file);
  } catch {
    return { problem: 'the file does not exist', fix: 'check the path' };
  }
  if (link.isSymbolicLink()) {
    let target = '?';
    try {
      target = fs.readlinkSync(file);
    } catch {
      // the target text is only for the message
    }
    try {
      fs.statSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        problem: code === 'ELOOP' ? `a symbolic link that points to itself in a loop (-> ${target})` : `a dangling symbolic link: its target ${target} does not exist`,
        fix: 'fetch the content first (`git annex get <path>` or `datalad get <path>` for an annexed dataset) or delete the link',
      };
    }
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    return { problem: `cannot look at the file: ${messageOf(err)}`, fix: 'check the path and its permissions' };
  }
  if (st.isDirectory()) return { problem: 'this is a folder, not an image file', fix: 'give the path of an image file' };
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    return { problem: `no permission to read the file (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`, fix: 'make it readable (chmod +r) or run as a user who may read it' };
  }
  return undefined;
}
