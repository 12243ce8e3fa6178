import sharp from 'sharp';
import { KitError, messageOf } from '../util/errors';

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

export interface DecodedImage {
  /** size×size grayscale, row-major, 0 = black. */
  pixels: Uint8Array;
  /** Original width and height, before resizing. */
  sourceWidth: number;
  sourceHeight: number;
  /** The source was 16 bits per sample and was windowed to 8 bits (see decodeXray). */
  from16Bit: boolean;
}

/**
 * Decode any image sharp reads (JPEG, PNG, WebP, TIFF, ...) into a size×size 8-bit grayscale
 * X-ray. Color is converted to luminance; transparency is flattened onto black (the background of
 * a radiograph). 16-bit images are windowed to their own maximum before the 8-bit conversion:
 * scanners often store 10–12-bit data in 16-bit PNGs, which a plain 65535→255 scaling would turn
 * almost black. Truncated or corrupt files are errors (sharp's failOn 'warning').
 */
export async function decodeXray(input: string | Buffer, size: number, fit: Fit, name = typeof input === 'string' ? input : 'image buffer'): Promise<DecodedImage> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`image size must be a positive integer, got ${size}`);
  const open = (): sharp.Sharp => sharp(input, { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS });
  try {
    const meta = await open().metadata();
    const sourceWidth = meta.width;
    const sourceHeight = meta.height;
    if (sourceWidth === undefined || sourceHeight === undefined) throw new Error('image has no dimensions');
    const resize = { width: size, height: size, fit: SHARP_FIT[fit], position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } } as const;
    const from16Bit = meta.depth === 'ushort';
    let pipeline: sharp.Sharp;
    if (from16Bit) {
      const { data, info } = await open().flatten({ background: '#000000' }).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const wide = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
      let max = 0;
      for (const v of wide) if (v > max) max = v;
      const narrow = new Uint8Array(wide.length);
      if (max > 0) for (let i = 0; i < wide.length; i++) narrow[i] = Math.round(((wide[i] ?? 0) * 255) / max);
      pipeline = sharp(narrow, { raw: { width: info.width, height: info.height, channels: 1 } }).grayscale();
    } else {
      pipeline = open().flatten({ background: '#000000' }).grayscale();
    }
    const { data, info } = await pipeline.resize(resize).raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 || data.length !== size * size) throw new Error(`decoder returned ${info.channels} channels, ${data.length} bytes`);
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), sourceWidth, sourceHeight, from16Bit };
  } catch (err) {
    throw new KitError(`cannot read image: ${messageOf(err)}`, {
      where: name,
      fix: /pixel limit/i.test(messageOf(err))
        ? `the image is larger than ${MAX_INPUT_PIXELS} pixels; downscale it first (e.g. \`vips resize\` or any image editor)`
        : 'replace or delete the file (a truncated download or a non-image file), or load the folder with { onBadImage: "skip" } to skip such files and list them in the report',
    });
  }
}
