import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { imageGridHtml, type GrayImage } from '../../src/lib/plot/images';
import { KitError } from '../../src/lib/util/errors';

function gradient(width: number, height: number, caption?: string): GrayImage {
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 256;
  return caption === undefined ? { pixels, width, height } : { pixels, width, height, caption };
}

test('imageGridHtml embeds PNGs that decode back to the same pixels', async () => {
  const images = [gradient(5, 3, 'wide'), gradient(2, 7, 'tall')];
  const html = await imageGridHtml(images);
  const uris = [...html.matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) => m[1] ?? '');
  assert.equal(uris.length, 2);
  for (const [i, b64] of uris.entries()) {
    const original = images[i];
    assert.ok(original !== undefined);
    const png = Buffer.from(b64, 'base64');
    assert.deepEqual([png[24], png[25]], [8, 0], 'IHDR: 8-bit grayscale, not RGB');
    // sharp decodes to sRGB unless asked for one band.
    const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [original.width, original.height, 1]);
    assert.deepEqual(new Uint8Array(data), original.pixels);
  }
});

test('imageGridHtml escapes captions and scales small images up with pixelated rendering', async () => {
  const html = await imageGridHtml([gradient(28, 28, 'label <PNEUMONIA>')], { title: 'batch & co' });
  assert.ok(html.includes('<figcaption>label &lt;PNEUMONIA&gt;</figcaption>'));
  assert.ok(html.includes('batch &amp; co'));
  assert.ok(!html.includes('<PNEUMONIA>'));
  assert.ok(html.includes('width:112px;height:112px;image-rendering:pixelated'), '28 px × 4 = 112 px');
  const big = await imageGridHtml([gradient(200, 100)], { scale: 0.5, columns: 3 });
  assert.ok(big.includes('width:100px;height:50px'));
  assert.ok(big.includes('grid-template-columns:repeat(3,max-content)'));
});

test('imageGridHtml rejects pixels that do not match width × height', async () => {
  const bad = { pixels: new Uint8Array(10), width: 4, height: 4, caption: 'x' };
  await assert.rejects(imageGridHtml([gradient(2, 2), bad]), (err: unknown) => err instanceof KitError && /16 bytes/.test(err.message) && /image 1/.test(err.message));
  await assert.rejects(imageGridHtml([gradient(2, 2)], { columns: 0 }), KitError);
});
