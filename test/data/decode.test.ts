import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeXray } from '../../src/lib/data/decode';
import { KitError } from '../../src/lib/util/errors';
import { sharedXrays, tempDir, writeGrayImage } from '../helpers/data';

/** A PNG written by hand (not by the library under test): 16-bit gray or RGBA. */
function png(w: number, h: number, bitDepth: number, colorType: number, rows: Buffer[]): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.writeUInt8(bitDepth, 8);
  ihdr.writeUInt8(colorType, 9);
  const raw = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), r])));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('decodeXray() keeps the pixels of an 8-bit grayscale PNG at the same size', async () => {
  const dir = tempDir();
  const px = Uint8Array.from({ length: 16 }, (_, i) => i * 16);
  await writeGrayImage(path.join(dir, 'a.png'), px, 4, 4);
  const d = await decodeXray(path.join(dir, 'a.png'), 4, 'squash');
  assert.deepEqual([...d.pixels], [...px]);
  assert.equal(d.sourceWidth, 4);
  assert.equal(d.from16Bit, false);
});

test('decodeXray() windows 12-bit data stored in a 16-bit PNG to the full 8-bit range', async () => {
  const dir = tempDir();
  const values = [4095, 2048, 256, 0];
  const row = Buffer.alloc(8);
  values.forEach((v, i) => row.writeUInt16BE(v, i * 2));
  fs.writeFileSync(path.join(dir, 'g16.png'), png(4, 4, 16, 0, [row, row, row, row]));
  const d = await decodeXray(path.join(dir, 'g16.png'), 4, 'squash');
  assert.equal(d.from16Bit, true);
  // Windowed to the image's own maximum (4095), not to 65535 (which would give 16, 8, 1, 0).
  assert.deepEqual([...d.pixels.subarray(0, 4)], values.map((v) => Math.round((v * 255) / 4095)));
});

test('decodeXray() flattens a 16-bit RGBA PNG onto black and converts it to gray', async () => {
  const dir = tempDir();
  const row = Buffer.alloc(4 * 8);
  // Opaque white, half-transparent white, opaque black, fully transparent white.
  [[65535, 65535], [65535, 32768], [0, 65535], [65535, 0]].forEach(([v, a], i) => {
    for (let c = 0; c < 3; c++) row.writeUInt16BE(v as number, i * 8 + c * 2);
    row.writeUInt16BE(a as number, i * 8 + 6);
  });
  fs.writeFileSync(path.join(dir, 'rgba16.png'), png(4, 4, 16, 6, [row, row, row, row]));
  const d = await decodeXray(path.join(dir, 'rgba16.png'), 4, 'squash');
  const [white, half, black, transparent] = [...d.pixels.subarray(0, 4)];
  assert.equal(white, 255);
  assert.ok(Math.abs((half as number) - 128) <= 1, `half-transparent white should be mid gray, got ${half}`);
  assert.equal(black, 0);
  assert.equal(transparent, 0);
});

test('decodeXray() handles a tiny image (upscaled) and the three fits give the expected geometry', async () => {
  const dir = tempDir();
  await writeGrayImage(path.join(dir, 'tiny.png'), Uint8Array.from([255]), 1, 1);
  const tiny = await decodeXray(path.join(dir, 'tiny.png'), 8, 'squash');
  assert.deepEqual([...new Set(tiny.pixels)], [255]);

  // A 20×10 white image: letterbox pads top and bottom with black, squash and crop fill everything.
  await writeGrayImage(path.join(dir, 'wide.png'), new Uint8Array(200).fill(255), 20, 10);
  const box = await decodeXray(path.join(dir, 'wide.png'), 10, 'letterbox');
  assert.equal(box.pixels[0], 0, 'letterbox pads with black');
  assert.equal(box.pixels[5 * 10 + 5], 255);
  for (const fit of ['squash', 'center-crop'] as const) {
    const d = await decodeXray(path.join(dir, 'wide.png'), 10, fit);
    assert.ok(d.pixels.every((v) => v === 255), `${fit} keeps only image content`);
  }
});

test('decodeXray() center-crop keeps the middle of a wide image', async () => {
  const dir = tempDir();
  // 30×10: left third black, middle white, right third black.
  const px = new Uint8Array(300);
  for (let y = 0; y < 10; y++) for (let x = 10; x < 20; x++) px[y * 30 + x] = 255;
  await writeGrayImage(path.join(dir, 'mid.png'), px, 30, 10);
  const d = await decodeXray(path.join(dir, 'mid.png'), 10, 'center-crop');
  assert.ok(d.pixels.every((v) => v === 255));
});

test('decodeXray() names the file of a truncated JPEG and of a non-image file', async () => {
  const dir = tempDir();
  const real = path.join(sharedXrays(), 'train', 'NORMAL', 'IM-0115-0001.jpeg');
  const bytes = fs.readFileSync(real);
  fs.writeFileSync(path.join(dir, 'cut.jpeg'), bytes.subarray(0, bytes.length >> 1));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  for (const name of ['cut.jpeg', 'notes.txt']) {
    await assert.rejects(decodeXray(path.join(dir, name), 16, 'squash'), (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.message, new RegExp(name.replace('.', '\\.')));
      assert.match(err.fix, /skip/);
      return true;
    });
  }
});

test('decodeXray() refuses an image over the pixel limit before decoding it', async () => {
  const dir = tempDir();
  // A 20000×20000 PNG header (400 Mpx): sharp reads the size from the header and stops.
  const row = Buffer.alloc(1);
  const header = png(20000, 20000, 8, 0, [row]);
  fs.writeFileSync(path.join(dir, 'huge.png'), header);
  await assert.rejects(decodeXray(path.join(dir, 'huge.png'), 16, 'squash'), /downscale/);
});

test('decodeXray() reads a real 224 px chest X-ray and resizes it', async () => {
  const real = path.join(sharedXrays(), 'train', 'PNEUMONIA', 'person1000_bacteria_2931.jpeg');
  const d = await decodeXray(real, 32, 'squash');
  assert.equal(d.pixels.length, 32 * 32);
  assert.equal(d.sourceWidth, 224);
  const meta = await sharp(real).metadata();
  assert.equal(meta.channels, 3, 'the shared copy is 3-channel JPEG; the decoder must reduce it to one');
  const mean = d.pixels.reduce((s, v) => s + v, 0) / d.pixels.length;
  assert.ok(mean > 30 && mean < 220, `a chest film is neither black nor white, mean ${mean}`);
});
