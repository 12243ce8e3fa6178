import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { decodeXray } from '../../src/lib/data/decode';
import { assertPixelsClose } from '../helpers/reference';
import { fixture } from './fixtures';

// decodeXray() against an independent decoder: tools/decode_reference.py decodes the files in
// test/fixtures/decode with Pillow and NumPy under the kit's rules (EXIF orientation, luminance,
// flattening onto black, CMYK through libvips' default profile, percentile windowing) and stores
// the expected pixels. The tolerance (±1 grey level) is explained in that script: the two sides
// round at different steps.

interface Expected {
  what: string;
  width: number;
  height: number;
  window: [number, number] | null;
  pixels: string;
}

const doc = JSON.parse(fs.readFileSync(fixture(path.join('decode', 'expected.json')), 'utf8')) as { tolerance: number; images: Record<string, Expected> };

test('the reference covers EXIF, 8/16-bit, float, int32, CMYK, palette and alpha inputs', () => {
  assert.deepEqual(Object.keys(doc.images).sort(), ['cmyk.jpeg', 'exif6.jpeg', 'float01.tif', 'float_wide.tif', 'gray16.png', 'gray8.png', 'int32.tif', 'palette.png', 'rgba.png']);
  assert.equal(doc.tolerance, 1);
});

for (const [name, e] of Object.entries(doc.images)) {
  test(`decodeXray() matches Pillow + NumPy on ${name} (${e.what})`, async () => {
    const expected = Buffer.from(e.pixels, 'base64');
    assert.equal(expected.length, e.width * e.height);
    const d = await decodeXray(fixture(path.join('decode', name)), e.width, 'squash');
    assert.equal(d.sourceWidth, e.width);
    assert.equal(d.sourceHeight, e.height);
    assertPixelsClose(name, d.pixels, expected, e.width, doc.tolerance, 'the reference');
    if (name === 'gray8.png') assert.deepEqual(Buffer.from(d.pixels), expected, '8-bit values are kept exactly');
    if (e.window === null) {
      assert.equal(d.window, undefined, `${name} is 8-bit and must not be windowed`);
    } else {
      assert.ok(d.window !== undefined, `${name} must be windowed`);
      const [low, high] = e.window;
      const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
      assert.ok(close(d.window.low, low) && close(d.window.high, high), `${name}: window ${d.window.low}..${d.window.high}, reference ${low}..${high}`);
    }
  });
}
