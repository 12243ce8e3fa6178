import { KitError } from '../util/errors';
import { escapeHtml } from './escape';

/**
 * One image, row-major: pixel (row r, column c) is `pixels[r * width + c]` for grayscale, or the
 * three bytes at `3 * (r * width + c)` for RGB (`channels: 3`, e.g. a Grad-CAM overlay).
 */
export interface GrayImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  /** 1 (grayscale, the default) or 3 (RGB). */
  channels?: 1 | 3;
  caption?: string;
}

export interface ImageGridOptions {
  /**
   * Screen pixels per image pixel. Default: enough to make the longer side about 128 px, never
   * below 1, so 28×28 thumbnails are readable and 224×224 X-rays stay their size.
   */
  scale?: number;
  /** Images per row (default: as many as fit). */
  columns?: number;
  /** A heading above the grid. */
  title?: string;
}

/**
 * An HTML grid of the images as inline PNGs (data: URIs, so the notebook and exported HTML carry
 * them). Scaled-up images use `image-rendering: pixelated` so each pixel stays a crisp square
 * instead of being blurred, which matters when looking at what a model actually saw.
 */
export async function imageGridHtml(images: readonly GrayImage[], options: ImageGridOptions = {}): Promise<string> {
  checkGrayImages(images);
  const columns = options.columns;
  if (columns !== undefined && (!Number.isInteger(columns) || columns < 1)) {
    throw new KitError(`Image grid columns must be a positive integer, but got ${columns}.`, {
      where: 'ImageGridOptions.columns',
      fix: 'Pass e.g. { columns: 8 }, or leave it out to fill the width.',
    });
  }
  if (options.scale !== undefined && !(options.scale > 0)) {
    throw new KitError(`Image scale must be a positive number, but got ${options.scale}.`, {
      where: 'ImageGridOptions.scale',
      fix: 'Pass e.g. { scale: 4 } to show each pixel as 4×4 screen pixels.',
    });
  }
  const pngs = await Promise.all(images.map(encodeGrayPng));
  const cells = images.map((img, i) => {
    const scale = options.scale ?? Math.max(1, Math.floor(128 / Math.max(img.width, img.height)));
    const style = `width:${Math.round(img.width * scale)}px;height:${Math.round(img.height * scale)}px;image-rendering:pixelated`;
    const alt = escapeHtml(img.caption ?? `image ${i + 1}`);
    const caption = img.caption === undefined ? '' : `<figcaption>${escapeHtml(img.caption)}</figcaption>`;
    const src = `data:image/png;base64,${(pngs[i] ?? Buffer.alloc(0)).toString('base64')}`;
    return `<figure style="margin:0;text-align:center"><img src="${src}" alt="${alt}" style="${style}">${caption}</figure>`;
  });
  const template = columns === undefined ? 'display:flex;flex-wrap:wrap' : `display:grid;grid-template-columns:repeat(${columns},max-content)`;
  const title = options.title === undefined ? '' : `<div style="font-weight:600;margin:4px 0">${escapeHtml(options.title)}</div>`;
  return `${title}<div class="kit-images" style="${template};gap:8px;align-items:start;font:12px system-ui,sans-serif">${cells.join('')}</div>`;
}

/**
 * Encode one grayscale image as an 8-bit grayscale PNG. Without the explicit 'b-w' colourspace
 * sharp writes RGB, three times the bytes for the same picture. sharp is loaded on first use: it
 * is a native module.
 */
export async function encodeGrayPng(img: GrayImage): Promise<Buffer> {
  checkImage(img);
  const sharp = (await import('sharp')).default;
  const channels = img.channels ?? 1;
  const raw = sharp(img.pixels, { raw: { width: img.width, height: img.height, channels } });
  return (channels === 1 ? raw.toColourspace('b-w') : raw).png().toBuffer();
}

/** Throw a KitError naming the first image whose size and pixel count disagree. */
export function checkGrayImages(images: readonly GrayImage[]): void {
  images.forEach((img, i) => checkImage(img, i));
}

function checkImage(img: GrayImage, i?: number): void {
  const where = `${i === undefined ? 'image' : `image ${i}`}${img.caption === undefined ? '' : ` ("${img.caption}")`}`;
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new KitError(`Image size must be positive integers, but got ${img.width}×${img.height}.`, {
      where,
      fix: 'Pass width and height in pixels, e.g. { width: 224, height: 224 }.',
    });
  }
  const channels = img.channels ?? 1;
  if (!(img.pixels instanceof Uint8Array) || img.pixels.length !== img.width * img.height * channels) {
    const found = img.pixels instanceof Uint8Array ? `${img.pixels.length} bytes` : 'not a Uint8Array';
    throw new KitError(`A ${img.width}×${img.height} ${channels === 1 ? 'grayscale' : 'RGB'} image needs ${img.width * img.height * channels} bytes, but pixels is ${found}.`, {
      where,
      fix: 'Pass one byte (0–255) per pixel, row by row; convert floats in [0, 1] with Math.round(v * 255).',
    });
  }
}
