import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeXray } from '../../src/lib/data/decode';
import { assertPixelsClose } from '../helpers/reference';
import { fixture } from './fixtures';

// DICOM decoding against pydicom: tools/dicom_reference.py decodes the files in
// test/fixtures/dicom with pydicom + NumPy under the viewers' rules (mask/sign, rescale, VOI
// window or the kit's percentile rule, MONOCHROME1 inversion, luminance for colour) and stores the
// expected 8-bit pixels as PNG. The acceptance bar: the kit gives the same pixels within ±1 grey
// level. The images are compared at their own size (no resize), through decodeXray itself.

interface Expected {
  what: string;
  source: string;
  width: number;
  height: number;
  transferSyntax: string;
  expected: string;
  voi: string;
  window: [number, number] | null;
  inverted: boolean;
}

const dir = fixture('dicom');
const doc = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { tolerance: number; images: Record<string, Expected> };

test('the DICOM reference covers every supported transfer syntax and pixel rule', () => {
  assert.equal(doc.tolerance, 1);
  const syntaxes = new Set(Object.values(doc.images).map((e) => e.transferSyntax));
  for (const uid of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.4.50']) assert.ok(syntaxes.has(uid), `no fixture in ${uid}`);
  const vois = new Set(Object.values(doc.images).map((e) => e.voi));
  assert.deepEqual([...vois].sort(), ['none', 'percentile', 'window LINEAR', 'window LINEAR_EXACT', 'window SIGMOID']);
  assert.ok(Object.values(doc.images).some((e) => e.inverted), 'a MONOCHROME1 fixture');
});

for (const [name, e] of Object.entries(doc.images)) {
  test(`decodeXray() matches pydicom on ${name} (${e.what})`, async () => {
    const expected = await sharp(path.join(dir, e.expected)).toColourspace('b-w').raw().toBuffer();
    assert.equal(expected.length, e.width * e.height);
    assert.equal(e.width, e.height, 'compared without a resize, so square');
    const d = await decodeXray(path.join(dir, name), e.width, 'squash');
    assert.equal(d.sourceWidth, e.width);
    assert.equal(d.sourceHeight, e.height);
    assertPixelsClose(name, d.pixels, expected, e.width, doc.tolerance, 'pydicom');
    const s = d.dicom;
    assert.ok(s !== undefined, 'a DICOM summary');
    assert.equal(s.transferSyntax, e.transferSyntax);
    assert.equal(s.inverted, e.inverted);
    assert.equal(s.voi.kind === 'window' ? `window ${s.voi.fn}` : s.voi.kind, e.voi);
    if (s.voi.kind === 'window') assert.deepEqual([s.voi.center, s.voi.width], e.window, 'the first Window Center/Width');
    if (s.voi.kind === 'percentile') {
      const [low, high] = e.window ?? [NaN, NaN];
      assert.ok(Math.abs(s.voi.low - low) <= 1e-9 * Math.max(1, Math.abs(low)) && Math.abs(s.voi.high - high) <= 1e-9 * Math.max(1, Math.abs(high)), `window ${s.voi.low}..${s.voi.high}, reference ${low}..${high}`);
      assert.deepEqual([d.window?.low, d.window?.high], [s.voi.low, s.voi.high], 'a percentile-windowed DICOM counts as windowed, like a 16-bit PNG');
    } else {
      assert.equal(d.window, undefined);
    }
    if (e.voi === 'none' && !e.what.includes('colour')) assert.deepEqual(Buffer.from(d.pixels), expected, '8-bit values are kept exactly');
  });
}
