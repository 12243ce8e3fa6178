import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeXray, FITS, windowTo8Bit } from '../../src/lib/data/decode';
import { KitError } from '../../src/lib/util/errors';
import { gradient, sharedXrays, tempDir, writeGrayImage } from '../helpers/data';
import { tiff } from '../helpers/formats';

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
  assert.equal(d.window, undefined);
});

test('decodeXray() windows 12-bit data stored in a 16-bit PNG to the full 8-bit range (percentiles of its own values)', async () => {
  const dir = tempDir();
  const values = [4095, 2048, 256, 0];
  const row = Buffer.alloc(8);
  values.forEach((v, i) => row.writeUInt16BE(v, i * 2));
  fs.writeFileSync(path.join(dir, 'g16.png'), png(4, 4, 16, 0, [row, row, row, row]));
  const d = await decodeXray(path.join(dir, 'g16.png'), 4, 'squash');
  assert.equal(d.window?.sampleType, 'ushort');
  // 16 values, four of each: the 0.5th and 99.5th percentiles are 0 and 4095, so 4095 is white;
  // a plain 65535 -> 255 scaling would give 16, 8, 1, 0.
  assert.deepEqual([...d.pixels.subarray(0, 4)], values.map((v) => Math.round((v * 255) / 4095)));
  assert.deepEqual(d.window, { sampleType: 'ushort', low: 0, high: 4095 });
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
      assert.ok(err.fix.includes("{ onBadImage: 'skip' }"), err.fix);
      return true;
    });
  }
});

test('decodeXray() says "truncated" for a JPEG or PNG cut short (file or buffer), not only what the decoder said', async () => {
  const dir = tempDir();
  const jpeg = fs.readFileSync(path.join(sharedXrays(), 'train', 'NORMAL', 'IM-0115-0001.jpeg'));
  const pngBytes = await sharp(Buffer.from(gradient(40, 40)), { raw: { width: 40, height: 40, channels: 1 } }).png().toBuffer();
  fs.writeFileSync(path.join(dir, 'half.jpeg'), jpeg.subarray(0, jpeg.length >> 1));
  fs.writeFileSync(path.join(dir, 'half.png'), pngBytes.subarray(0, pngBytes.length >> 1));
  const cases: [string | Buffer, RegExp][] = [
    [path.join(dir, 'half.jpeg'), /the file is truncated: it ends before its image data does \(no JPEG end marker\) \(the decoder says: /],
    [jpeg.subarray(0, jpeg.length - 200), /the file is truncated: .*\(no JPEG end marker\)/],
    [path.join(dir, 'half.png'), /the file is truncated: .*\(no PNG IEND chunk\)/],
  ];
  for (const [input, problem] of cases) {
    await assert.rejects(decodeXray(input, 16, 'squash'), (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.message, /^cannot read image: /);
      assert.match(err.message, problem);
      assert.match(err.fix, /^download or copy the file again/);
      return true;
    });
  }
  // A whole file that is not an image is not called truncated.
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  await assert.rejects(decodeXray(path.join(dir, 'notes.txt'), 16, 'squash'), (err: unknown) => err instanceof KitError && !/truncated:/.test(err.problem) && /unsupported image format/.test(err.problem));
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

/** An upright w×h test picture: a ramp, with a bright bar in the top-left corner (orientation shows). */
function uprightPicture(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = 40 + Math.round((150 * (x + 2 * y)) / (w + 2 * h));
  for (let y = 1; y < 4; y++) for (let x = 1; x < Math.floor(w / 2); x++) px[y * w + x] = 250;
  return px;
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

test('decodeXray() applies EXIF Orientation 6: a sideways-stored JPEG decodes like the upright image, in every fit', async () => {
  const dir = tempDir();
  const [w, h] = [40, 24];
  const upright = uprightPicture(w, h);
  await writeGrayImage(path.join(dir, 'upright.png'), upright, w, h);
  // Stored turned a quarter to the left (h×w), tagged "rotate 90° clockwise to view".
  const stored = await sharp(Buffer.from(upright), { raw: { width: w, height: h, channels: 1 } }).rotate(270).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  fs.writeFileSync(path.join(dir, 'exif6.jpeg'), stored);
  const meta = await sharp(stored).metadata();
  assert.deepEqual([meta.orientation, meta.width, meta.height], [6, h, w], 'the test file is stored sideways with Orientation 6');
  for (const fit of FITS) {
    const want = await decodeXray(path.join(dir, 'upright.png'), 16, fit);
    const got = await decodeXray(path.join(dir, 'exif6.jpeg'), 16, fit);
    assert.deepEqual([got.sourceWidth, got.sourceHeight], [w, h], 'the source size is the upright one');
    assert.ok(meanAbsDiff(got.pixels, want.pixels) < 2, `${fit}: mean difference ${meanAbsDiff(got.pixels, want.pixels)} grey levels from the upright image`);
  }
  // Without the orientation the same pixels are far off: the comparison above can fail.
  const sideways = await sharp(stored).rotate(90).grayscale().raw().toBuffer();
  assert.ok(meanAbsDiff(new Uint8Array(sideways), upright) < 2, 'rotating by hand gives the upright image');
  const plain = await sharp(stored).resize(16, 16, { fit: 'fill' }).grayscale().raw().toBuffer();
  const want = await decodeXray(path.join(dir, 'upright.png'), 16, 'squash');
  assert.ok(meanAbsDiff(new Uint8Array(plain), want.pixels) > 20);
});

test('windowTo8Bit() maps the 0.5th-99.5th percentiles to 0-255, so one hot pixel cannot set the window', () => {
  // 0..998 and one hot pixel of 1e9: 1000 values. numpy.percentile (linear): P0.5 at rank 4.995
  // is 4.995, P99.5 at rank 994.005 is 994.005.
  const values = Float64Array.from({ length: 1000 }, (_, i) => (i === 999 ? 1e9 : i));
  const w = windowTo8Bit(values);
  assert.ok(w !== undefined);
  assert.ok(Math.abs(w.low - 4.995) < 1e-9 && Math.abs(w.high - 994.005) < 1e-9, `${w.low}..${w.high}`);
  assert.equal(w.pixels[0], 0);
  assert.equal(w.pixels[4], 0, 'below the window clips to black');
  assert.equal(w.pixels[500], Math.round((255 * (500 - 4.995)) / (994.005 - 4.995)));
  assert.equal(w.pixels[998], 255, 'above the window clips to white');
  assert.equal(w.pixels[999], 255);
  // With the plain maximum (1e9) every other pixel would be 0.
  assert.ok(w.pixels.filter((v) => v > 0).length > 900);
});

test('windowTo8Bit() edge cases: NaN, infinities, one value, a nearly flat image, nothing finite', () => {
  // Finite values 0, 1, 2, 3: the window is 0.015..2.985, so 1 -> round(255 * 0.985 / 2.97) = 85
  // and 2 -> round(170.43) = 170; NaN is black, the infinities clip.
  const w = windowTo8Bit([NaN, -Infinity, 0, 1, 2, 3, Infinity]);
  assert.ok(w !== undefined);
  assert.deepEqual([...w.pixels], [0, 0, 0, 85, 170, 255, 255]);
  assert.deepEqual([...(windowTo8Bit([7, 7, 7])?.pixels ?? [])], [0, 0, 0], 'one value everywhere: black');
  // 999 zeros and one 5: both percentiles are 0, so the window falls back to min..max.
  const flat = windowTo8Bit(Float64Array.from({ length: 1000 }, (_, i) => (i === 10 ? 5 : 0)));
  assert.deepEqual([flat?.low, flat?.high, flat?.pixels[10], flat?.pixels[0]], [0, 5, 255, 0]);
  assert.equal(windowTo8Bit([NaN, Infinity]), undefined);
});

test('decodeXray() gives the same picture from 32-bit float (0..1 or any range), 32-bit int and 16-bit TIFFs', async () => {
  const dir = tempDir();
  const [w, h] = [20, 20];
  const levels = uprightPicture(w, h); // integers 40..250
  const files: [string, Buffer][] = [
    ['float01.tif', tiff(w, h, 'float32', [...levels].map((v) => v / 255))],
    ['float_hu.tif', tiff(w, h, 'float32', [...levels].map((v) => v * 16 - 1000))],
    ['int32.tif', tiff(w, h, 'int32', [...levels].map((v) => v * 16))],
    ['uint32.tif', tiff(w, h, 'uint32', [...levels].map((v) => v * 1000))],
    ['uint16.tif', tiff(w, h, 'uint16', [...levels].map((v) => v * 16 + 100))],
  ];
  const decoded = [];
  for (const [name, bytes] of files) {
    fs.writeFileSync(path.join(dir, name), bytes);
    const d = await decodeXray(path.join(dir, name), w, 'squash');
    assert.ok(d.window !== undefined, `${name} is windowed`);
    const min = Math.min(...d.pixels);
    const max = Math.max(...d.pixels);
    assert.ok(min === 0 && max === 255, `${name}: uses the full range (was all black / all white before), got ${min}..${max}`);
    decoded.push(d.pixels);
  }
  // Windowing is the same for any linear scaling of the values: every file gives one picture.
  const [first, ...rest] = decoded;
  rest.forEach((p, k) => {
    const worst = Math.max(...p.map((v, i) => Math.abs(v - (first?.[i] ?? 0))));
    assert.ok(worst <= 1, `${files[k + 1]?.[0]} differs from float01.tif by ${worst}`);
  });
  // And the 8-bit picture itself, windowed by the same rule.
  const eight = windowTo8Bit(levels);
  assert.ok(first !== undefined && eight !== undefined);
  assert.ok(Math.max(...first.map((v, i) => Math.abs(v - (eight.pixels[i] as number)))) <= 1);
});

test('decodeXray() refuses signed 16-bit and multi-channel float TIFFs with a KitError that says what to do', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'signed16.tif'), tiff(4, 4, 'int16', Array.from({ length: 16 }, (_, i) => i * 100 - 800)));
  fs.writeFileSync(path.join(dir, 'rgbfloat.tif'), tiff(4, 4, 'float32', Array.from({ length: 48 }, (_, i) => i / 48), 3));
  for (const [name, problem] of [['signed16.tif', /signed 16-bit samples/], ['rgbfloat.tif', /3 channels of float samples/]] as const) {
    await assert.rejects(decodeXray(path.join(dir, name), 4, 'squash'), (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.message, problem);
      assert.match(err.message, new RegExp(name.replace('.', '\\.')));
      assert.ok(err.fix.includes("{ onBadImage: 'skip' }"));
      return true;
    });
  }
});

test('decodeXray() says when the path is missing, a folder, or a dangling symbolic link', async () => {
  const dir = tempDir();
  fs.symlinkSync(path.join(dir, 'not-fetched-yet'), path.join(dir, 'link.jpeg'));
  const cases: [string, RegExp][] = [
    [path.join(dir, 'nope.jpeg'), /the file does not exist/],
    [dir, /this is a folder/],
    [path.join(dir, 'link.jpeg'), /dangling symbolic link: its target .*not-fetched-yet does not exist/],
  ];
  for (const [p, problem] of cases) {
    await assert.rejects(decodeXray(p, 4, 'squash'), (err: unknown) => {
      assert.ok(err instanceof KitError);
      assert.match(err.message, problem);
      return true;
    });
  }
  await assert.rejects(decodeXray(path.join(dir, 'link.jpeg'), 4, 'squash'), (err: unknown) => err instanceof KitError && /git annex get/.test(err.fix));
});
