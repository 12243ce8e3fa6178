import * as fs from 'node:fs';
import * as path from 'node:path';
import * as dicomParser from 'dicom-parser';
import sharp from 'sharp';

/*
 * DICOM files (.dcm), the format X-rays come in from a hospital, read into an 8-bit display image
 * that decode.ts then resizes like any other image.
 *
 * Parser: dicom-parser (cornerstonejs), not dcmjs. dicom-parser is 108 kB packed, has no
 * dependencies, ships its own TypeScript types, and gives exactly what this needs: typed tag
 * reads (uint16, DS strings) for implicit/explicit little and big endian (deflate through Node's
 * zlib), and the byte offset of Pixel Data or its encapsulated fragments. dcmjs (2.3 MB packed,
 * 7 dependencies, no types) is more actively released, but its strength is writing DICOM and
 * structured reports, which the kit does not need. dicom-parser's last release is 1.8.21
 * (December 2024); it is the parser under Cornerstone and OHIF, and stable rather than abandoned.
 *
 * Patient data: only technical tags (group 0002 and 0028, Modality, SOP Class, Number of Frames)
 * are read. No patient-identifying tag (PatientName, PatientID, PatientBirthDate, ...) is read,
 * logged or put in an error; errors name the file (decode.ts adds it) and technical tags only.
 */

/** What the kit knows about a transfer syntax: its name, and how it reads it (or not). */
interface Syntax {
  name: string;
  /** native: uncompressed pixels; jpeg: JPEG baseline fragments decoded by sharp; undefined: refused. */
  pixels?: 'native' | 'jpeg';
  /** For refused syntaxes: the DCMTK tool that decompresses this family. */
  dcmtk?: string;
}

export const TRANSFER_SYNTAXES: Readonly<Record<string, Syntax>> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', pixels: 'native' },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', pixels: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', pixels: 'native' },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian', pixels: 'native' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', pixels: 'jpeg' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', dcmtk: 'dcmdjpeg' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless, Non-Hierarchical (Process 14)', dcmtk: 'dcmdjpeg' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', dcmtk: 'dcmdjpeg' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless Image Compression', dcmtk: 'dcmdjpls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Lossy (Near-Lossless) Image Compression', dcmtk: 'dcmdjpls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 Image Compression (Lossless Only)' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000 Image Compression' },
  '1.2.840.10008.1.2.4.92': { name: 'JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)' },
  '1.2.840.10008.1.2.4.93': { name: 'JPEG 2000 Part 2 Multi-component Image Compression' },
  '1.2.840.10008.1.2.4.201': { name: 'High-Throughput JPEG 2000 Image Compression (Lossless Only)' },
  '1.2.840.10008.1.2.4.202': { name: 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)' },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000 Image Compression' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', dcmtk: 'dcmdrle' },
  '1.2.840.10008.1.2.1.98': { name: 'Encapsulated Uncompressed Explicit VR Little Endian' },
  '1.2.840.10008.1.2.4.100': { name: 'MPEG2 Main Profile / Main Level (video)' },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264 High Profile / Level 4.1 (video)' },
  '1.2.840.10008.1.2.4.107': { name: 'HEVC/H.265 Main Profile / Level 5.1 (video)' },
  '1.2.840.10008.1.2.4.110': { name: 'JPEG XL Lossless' },
  '1.2.840.10008.1.2.4.112': { name: 'JPEG XL' },
};

/** The file signature of DICOM Part 10: 'DICM' after a 128-byte preamble. */
const MAGIC_OFFSET = 128;
const MAGIC = 'DICM';
export const DICOM_EXTENSIONS: readonly string[] = ['.dcm', '.dicom'];

/** How the stored values became 8-bit display grey levels. */
export type DicomVoi =
  /** 8 bits stored, unsigned, no rescale, no window: the values as they are (the kit's 8-bit rule). */
  | { kind: 'none' }
  /** The file's Window Center/Width (the first pair), through its VOI LUT Function. */
  | { kind: 'window'; fn: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID'; center: number; width: number }
  /** No usable window: the kit's percentile rule (decode.ts windowTo8Bit) on the rescaled values. */
  | { kind: 'percentile'; low: number; high: number };

/** The technical facts of a DICOM image and what was applied to it; never a patient tag. */
export interface DicomSummary {
  transferSyntax: string;
  transferSyntaxName: string;
  photometric: string;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  /** Rescale Slope and Intercept when they change the values. */
  rescale?: { slope: number; intercept: number };
  voi: DicomVoi;
  /** MONOCHROME1 (bright = low values): the display grey levels were inverted after the VOI step. */
  inverted: boolean;
  /** Things the file holds that were not applied, in words. */
  notes: string[];
}

export interface DicomImage {
  width: number;
  height: number;
  /** 1: grey; 3: RGB, turned into luminance by the caller like any colour image. */
  channels: 1 | 3;
  /** width×height×channels, row-major, 8 bits. */
  pixels: Uint8Array;
  summary: DicomSummary;
}

/** The percentile window of decode.ts, passed in so that this module does not import decode.ts (which imports it). */
export type PercentileWindow = (values: ArrayLike<number>) => { pixels: Uint8Array; low: number; high: number } | undefined;

/** A DICOM file the kit cannot read: what is wrong (technical tags only) and what to do. decode.ts adds the file name. */
export class DicomError extends Error {
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(problem);
    this.name = 'DicomError';
  }
}

/**
 * Whether an input is to be read as DICOM: the Part 10 signature ('DICM' at byte 128), or a file
 * name ending in .dcm / .dicom (so that such a file without the signature gets a DICOM error,
 * not "unsupported image format").
 */
export function isDicom(input: string | Uint8Array): boolean {
  if (typeof input !== 'string') return hasMagic(input);
  if (DICOM_EXTENSIONS.includes(path.extname(input).toLowerCase())) return true;
  const head = Buffer.alloc(MAGIC_OFFSET + MAGIC.length);
  let fd: number | undefined;
  try {
    fd = fs.openSync(input, 'r');
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return n === head.length && hasMagic(head);
  } catch {
    return false; // the usual decoder reports unreadable files
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function hasMagic(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC_OFFSET + MAGIC.length && Buffer.from(bytes.buffer, bytes.byteOffset + MAGIC_OFFSET, MAGIC.length).toString('latin1') === MAGIC;
}

const CONVERT = 'gdcmconv --raw in.dcm out.dcm (GDCM) or pydicom (ds.decompress(); ds.save_as("out.dcm"))';

/**
 * A single-frame DICOM image as 8-bit display values, as radiology viewers show it, in this
 * order (PS3.3 C.11, C.7.6.3):
 * 1. Stored values: Bits Stored bits below High Bit (higher bits masked off), sign-extended when
 *    Pixel Representation is 1.
 * 2. Modality: value × Rescale Slope (0028,1053) + Rescale Intercept (0028,1052).
 * 3. VOI: Window Center/Width (0028,1050/1051; the first pair when there are several) through the
 *    VOI LUT Function (0028,1056: LINEAR, the default; LINEAR_EXACT; SIGMOID), onto 0..255.
 *    Without a usable window, the kit's percentile rule (windowTo8Bit). An 8-bit unsigned image
 *    with no rescale and no window keeps its values, like any 8-bit image.
 * 4. MONOCHROME1: 255 − value (bright is low in MONOCHROME1).
 * Round half up, as windowTo8Bit does. RGB images (and colour JPEGs) are returned as RGB.
 *
 * Transfer syntaxes: implicit and explicit VR little endian, deflated, explicit VR big endian,
 * and JPEG baseline (decoded by sharp from the concatenated fragments). Anything else, and
 * multi-frame images, PALETTE COLOR, YBR, a Modality LUT Sequence, 1-bit or packed 12-bit pixels,
 * are refused with a DicomError that names what was found and what to do.
 */
export async function readDicom(bytes: Uint8Array, options: { percentileWindow: PercentileWindow; maxPixels: number }): Promise<DicomImage> {
  const ds = parse(bytes);
  const uid = ds.string('x00020010') ?? '';
  const syntax = TRANSFER_SYNTAXES[uid];
  const syntaxName = syntax?.name ?? 'unknown to the kit';
  if (syntax?.pixels === undefined) {
    const tool = syntax?.dcmtk !== undefined ? ` or DCMTK \`${syntax.dcmtk} in.dcm out.dcm\`` : '';
    throw new DicomError(
      `transfer syntax ${uid || '(none)'} (${syntaxName}) is not supported; the kit reads uncompressed DICOM (implicit/explicit VR little endian, deflated, explicit VR big endian) and JPEG baseline (1.2.840.10008.1.2.4.50)`,
      `convert the file to uncompressed explicit VR little endian first: ${CONVERT}${tool}`,
    );
  }
  const pixelData = ds.elements['x7fe00010'];
  if (pixelData === undefined) {
    const what = [`Modality ${ds.string('x00080060') ?? '(none)'}`, `SOP Class ${ds.string('x00080016') ?? '(none)'}`].join(', ');
    const other = ds.elements['x7fe00008'] !== undefined || ds.elements['x7fe00009'] !== undefined ? '; it has Float Pixel Data, which X-ray images do not use' : '';
    throw new DicomError(
      `this DICOM file holds no image: it has no Pixel Data (7FE0,0010) (${what})${other}`,
      'give the DICOM image of the X-ray (Modality CR or DX), not a report, plan, dose or other non-image object; `dcmdump file.dcm` (DCMTK) lists what the file holds',
    );
  }
  const width = ds.uint16('x00280011') ?? 0;
  const height = ds.uint16('x00280010') ?? 0;
  const samples = ds.uint16('x00280002') ?? 1;
  const photometric = (ds.string('x00280004') ?? '').toUpperCase();
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const highBit = ds.uint16('x00280102') ?? bitsStored - 1;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const frames = ds.intString('x00280008') ?? 1;
  const facts = `${width}×${height}, ${samples} sample(s) per pixel, ${photometric || 'no Photometric Interpretation'}, ${bitsStored} of ${bitsAllocated} bits${signed ? ' signed' : ''}`;

  if (!(width > 0 && height > 0)) throw new DicomError(`the image has no size (Rows ${height}, Columns ${width})`, 'the file is damaged or not an image; export the X-ray again from the PACS or modality');
  if (width * height > options.maxPixels) throw new DicomError(`the image is ${width}×${height}, larger than ${options.maxPixels} pixels`, 'downscale it first (e.g. DCMTK `dcmscale`)');
  if (frames > 1) {
    throw new DicomError(
      `the file holds ${frames} frames (Number of Frames, 0028,0008); the kit reads single-frame images, and picking one frame of a series for you could be the wrong one`,
      'save the frame you want as its own image, e.g. DCMTK `dcm2img --frame N in.dcm frame.png`, or pydicom: `ds.pixel_array[N]`',
    );
  }
  const grey = photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2';
  if (!((samples === 1 && grey) || (samples === 3 && (photometric === 'RGB' || (syntax.pixels === 'jpeg' && photometric.startsWith('YBR_FULL')))))) {
    throw new DicomError(
      `${facts}: the kit reads MONOCHROME1/MONOCHROME2 images (and RGB ones) only`,
      'export the X-ray as a grey (MONOCHROME2) image, or convert it, e.g. DCMTK `dcm2img in.dcm out.png`',
    );
  }
  if (ds.elements['x00283000'] !== undefined) {
    throw new DicomError(
      `${facts}, with a Modality LUT Sequence (0028,3000), which the kit does not apply (it reads Rescale Slope/Intercept only), so the window would be applied to the wrong values`,
      'export the image with a linear rescale (Rescale Slope/Intercept) instead, or convert it to PNG with a DICOM viewer or DCMTK `dcm2img in.dcm out.png`',
    );
  }
  const supportedBits = syntax.pixels === 'jpeg' ? bitsAllocated === 8 : samples === 1 ? [8, 16, 32].includes(bitsAllocated) : bitsAllocated === 8;
  if (!supportedBits || bitsStored < 1 || bitsStored > bitsAllocated || highBit >= bitsAllocated || highBit + 1 < bitsStored) {
    throw new DicomError(
      `${facts}, High Bit ${highBit}: the kit reads 8, 16 or 32 bits allocated per grey sample (8 per colour sample, 8 in JPEG baseline), with Bits Stored ≤ Bits Allocated`,
      `convert it to uncompressed 16-bit MONOCHROME2, e.g. ${CONVERT}`,
    );
  }

  const summary: DicomSummary = { transferSyntax: uid, transferSyntaxName: syntaxName, photometric, samplesPerPixel: samples, bitsAllocated, bitsStored, signed, voi: { kind: 'none' }, inverted: false, notes: [] };
  let words: ArrayLike<number>;
  if (syntax.pixels === 'jpeg') {
    const decoded = await decodeJpegFrame(ds, pixelData, width, height, samples, options.maxPixels);
    if (samples === 3) return { width, height, channels: 3, pixels: decoded, summary };
    words = decoded;
  } else {
    const planes = nativeSamples(ds, pixelData, uid === '1.2.840.10008.1.2.2', width * height * samples, bitsAllocated);
    if (samples === 3) {
      const planar = (ds.uint16('x00280006') ?? 0) === 1;
      return { width, height, channels: 3, pixels: planar ? interleave(planes as Uint8Array, width * height) : Uint8Array.from(planes), summary };
    }
    words = planes;
  }
  const pixels = greyToDisplay(ds, words, { bitsStored, highBit, signed, photometric }, summary, options.percentileWindow);
  return { width, height, channels: 1, pixels, summary };
}

function parse(bytes: Uint8Array): dicomParser.DataSet {
  if (!hasMagic(bytes)) {
    throw new DicomError(
      `no DICOM signature ('DICM' at byte 128), so this is not a DICOM Part 10 file`,
      'if it is a DICOM data set without the file header (old ACR-NEMA style), rewrite it as a DICOM file, e.g. DCMTK `dcmconv in.dcm out.dcm`; if it is another format, give it that format\'s extension',
    );
  }
  // A Buffer, because dicom-parser inflates deflated files with Buffer.copy.
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return dicomParser.parseDicom(buffer);
  } catch (err) {
    // dicom-parser throws strings, Errors, or { exception, dataSet }; only the exception's text is
    // kept (the partial data set holds patient tags).
    throw new DicomError(`the DICOM structure cannot be parsed: ${parserMessage(err)}`, 'the file is truncated or damaged; copy or export it again');
  }
}

function parserMessage(err: unknown): string {
  const inner = typeof err === 'object' && err !== null && 'exception' in err ? (err as { exception: unknown }).exception : err;
  if (inner instanceof Error) return inner.message;
  return typeof inner === 'string' ? inner : 'unknown parser error';
}

/** The uncompressed samples of the one frame, in file order: (H, W, samples) or planar. */
function nativeSamples(ds: dicomParser.DataSet, el: dicomParser.Element, bigEndian: boolean, count: number, bitsAllocated: number): Uint8Array | Uint16Array | Uint32Array {
  const bytesPer = bitsAllocated / 8;
  const need = count * bytesPer;
  if (el.encapsulatedPixelData === true || el.length < need || el.dataOffset + need > ds.byteArray.length) {
    const found = el.encapsulatedPixelData === true ? 'encapsulated (compressed) fragments' : `${Math.max(0, Math.min(el.length, ds.byteArray.length - el.dataOffset))} bytes`;
    throw new DicomError(`Pixel Data holds ${found}, but the header describes ${count} samples of ${bitsAllocated} bits (${need} bytes)`, 'the file is truncated or its header is wrong; copy or export it again');
  }
  const view = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, need);
  if (bytesPer === 1) return new Uint8Array(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, count);
  const little = !bigEndian;
  if (bytesPer === 2) {
    const out = new Uint16Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, little);
    return out;
  }
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint32(4 * i, little);
  return out;
}

/** RRR...GGG...BBB... → RGBRGB... (Planar Configuration 1). */
function interleave(planes: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = planes[c * n + i] as number;
  return out;
}

/** The one frame of a JPEG baseline file, decoded by sharp: grey (1 byte per pixel) or RGB. */
async function decodeJpegFrame(ds: dicomParser.DataSet, el: dicomParser.Element, width: number, height: number, samples: number, maxPixels: number): Promise<Uint8Array> {
  if (el.encapsulatedPixelData !== true || el.fragments === undefined || el.fragments.length === 0) {
    throw new DicomError('the transfer syntax is JPEG baseline, but Pixel Data is not encapsulated in fragments', 'the file is damaged; export it again');
  }
  const jpeg = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, el.fragments.length);
  // No autoOrient: DICOM has its own orientation attributes, and JPEG APPn markers inside DICOM carry none.
  const open = (): sharp.Sharp => sharp(jpeg, { failOn: 'warning', limitInputPixels: maxPixels, autoOrient: false });
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    const meta = await open().metadata();
    if (meta.width !== width || meta.height !== height || meta.channels !== samples) {
      throw new DicomError(`the JPEG inside is ${meta.width}×${meta.height} with ${meta.channels} channel(s), but the DICOM header says ${width}×${height} with ${samples}`, 'the file is damaged or was written wrongly; export it again');
    }
    // libvips hands grey out as sRGB unless told; the stored grey values are wanted as they are.
    decoded = await open().toColourspace(samples === 1 ? 'b-w' : 'srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (err instanceof DicomError) throw err;
    throw new DicomError(`the JPEG baseline pixel data cannot be decoded: ${err instanceof Error ? err.message : String(err)}`, `the file is damaged, or not really JPEG baseline; try ${CONVERT}`);
  }
  const { data, info } = decoded;
  if (info.channels !== samples || data.length !== width * height * samples) throw new DicomError(`the JPEG decoder returned ${info.channels} channel(s), ${data.length} bytes`, 'please report this file\'s technical tags (not the file) to the kit');
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Steps 1–4 of readDicom for one grey frame of stored words. */
function greyToDisplay(
  ds: dicomParser.DataSet,
  words: ArrayLike<number>,
  bits: { bitsStored: number; highBit: number; signed: boolean; photometric: string },
  summary: DicomSummary,
  percentileWindow: PercentileWindow,
): Uint8Array {
  const n = words.length;
  // 1. Stored values. Bits above High Bit may hold overlays or junk (PS3.5 8.1.1).
  const shift = bits.highBit + 1 - bits.bitsStored;
  const range = 2 ** bits.bitsStored;
  const half = range / 2;
  // 2. Modality rescale.
  const slope = finiteOr(ds.floatString('x00281053'), 1);
  const intercept = finiteOr(ds.floatString('x00281052'), 0);
  const rescaled = slope !== 1 || intercept !== 0;
  if (rescaled) summary.rescale = { slope, intercept };
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = Math.floor((words[i] as number) / 2 ** shift) % range;
    if (bits.signed && v >= half) v -= range;
    values[i] = v * slope + intercept;
  }
  // 3. VOI.
  const window = voiWindow(ds, summary);
  let pixels: Uint8Array;
  if (window !== undefined) {
    summary.voi = window;
    pixels = applyWindow(values, window);
  } else if (bits.bitsStored <= 8 && !bits.signed && !rescaled) {
    pixels = Uint8Array.from(values);
  } else {
    const w = percentileWindow(values);
    if (w === undefined) throw new DicomError('no pixel has a finite value', 'check how the file was written');
    summary.voi = { kind: 'percentile', low: w.low, high: w.high };
    pixels = w.pixels;
  }
  // 4. MONOCHROME1: the presentation is inverted, after the VOI step as viewers do.
  if (bits.photometric === 'MONOCHROME1') {
    for (let i = 0; i < n; i++) pixels[i] = 255 - (pixels[i] as number);
    summary.inverted = true;
  }
  return pixels;
}

function finiteOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) ? v : fallback;
}

/** The file's first Window Center/Width with its VOI LUT Function, or undefined (with a note when one was present but unusable). */
function voiWindow(ds: dicomParser.DataSet, summary: DicomSummary): Extract<DicomVoi, { kind: 'window' }> | undefined {
  const center = ds.floatString('x00281050', 0);
  const width = ds.floatString('x00281051', 0);
  if (ds.elements['x00283010'] !== undefined) summary.notes.push('the VOI LUT Sequence (0028,3010) is not applied; ' + (center === undefined ? 'the percentile window is used instead' : 'the Window Center/Width is used instead (the standard lets a viewer choose)'));
  if (center === undefined || width === undefined || !Number.isFinite(center) || !Number.isFinite(width)) return undefined;
  const named = (ds.string('x00281056') ?? 'LINEAR').toUpperCase();
  let fn: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID' = 'LINEAR';
  if (named === 'LINEAR_EXACT' || named === 'SIGMOID') fn = named;
  else if (named !== 'LINEAR') summary.notes.push(`VOI LUT Function ${named} is unknown; LINEAR was used`);
  if (fn === 'LINEAR' ? width < 1 : width <= 0) {
    summary.notes.push(`Window Width ${width} is not valid for ${fn}; the percentile window is used instead`);
    return undefined;
  }
  if ((ds.numStringValues('x00281050') ?? 1) > 1) summary.notes.push('the file offers several windows; the first one is used');
  return { kind: 'window', fn, center, width };
}

/** The VOI LUT functions of PS3.3 C.11.2.1.2 and C.11.2.1.3 with output 0..255, rounded half up. */
export function applyWindow(values: ArrayLike<number>, w: { fn: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID'; center: number; width: number }): Uint8Array {
  const out = new Uint8Array(values.length);
  const c = w.fn === 'LINEAR' ? w.center - 0.5 : w.center;
  const width = w.fn === 'LINEAR' ? w.width - 1 : w.width;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    let y: number;
    if (w.fn === 'SIGMOID') y = 255 / (1 + Math.exp((-4 * (x - w.center)) / w.width));
    else if (x <= c - width / 2) y = 0;
    else if (x > c + width / 2) y = 255;
    else y = ((x - c) / width + 0.5) * 255;
    out[i] = y <= 0 ? 0 : y >= 255 ? 255 : Math.round(y);
  }
  return out;
}
