import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { ablationId } from '../../src/lib/experiment/ablation';
import { ablationDir, runDirOf } from '../../src/lib/runs';
import { makeKaggleFolder, sharedXrays, tempDir } from '../helpers/data';

/**
 * Errors for the person in front of them: the CLI names its flags (`--skip-bad-images`), never
 * the library's options (`{ onBadImage: 'skip' }`); a missing file, a folder and a truncated JPEG
 * are called what they are.
 */
const bin = path.join(projectRoot(), 'bin', 'convnext-xray.js');

function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The first half of a real chest X-ray JPEG: a download cut short. */
function halfJpeg(file: string): string {
  const bytes = fs.readFileSync(path.join(sharedXrays(), 'train', 'NORMAL', 'IM-0115-0001.jpeg'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
  return file;
}

let checkpoint: string;
before(() => {
  const runs = tempDir();
  const t = cli(['train', '--step', 'resnet', '--override', 'epochs=1', '--runs-dir', runs], { XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke' });
  assert.equal(t.code, 0, t.stderr);
  checkpoint = runDirOf(ablationDir(runs, ablationId('smoke', { epochs: 1 })), { step: 'resnet', seed: 0 });
});

test('predict on a missing file says the file does not exist, with a command-line fix (no library option)', () => {
  const missing = path.join(tempDir(), 'chest.jpeg');
  const r = cli(['predict', missing, '--checkpoint', checkpoint]);
  assert.equal(r.code, 1);
  // The backend may log a line or two to stderr first (TensorFlow's own start-up notes).
  assert.ok(r.stderr.endsWith(`convnext-xray: cannot predict: the file does not exist (${missing})\n  Fix: check the path, or leave the file off the command line\n`), r.stderr);
});

test('predict on a folder says it is a folder and shows how to give its images', () => {
  const folder = tempDir();
  const r = cli(['predict', folder, '--checkpoint', checkpoint]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot predict: this is a folder, not an image file \\(${folder}\\)`));
  assert.ok(r.stderr.includes(`Fix: give the image files in it, e.g. \`npx convnext-xray predict ${path.join(folder, '*.jpeg')} --checkpoint …\``), r.stderr);
  assert.doesNotMatch(r.stderr, /unsupported image format|onBadImage/);
});

test('predict on a JPEG cut in half says it is truncated', () => {
  const cut = halfJpeg(path.join(tempDir(), 'cut.jpeg'));
  const r = cli(['predict', cut, '--checkpoint', checkpoint]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read image: the file is truncated: it ends before its image data does \(no JPEG end marker\) \(the decoder says: .*\) \(.*cut\.jpeg\)/);
  assert.match(r.stderr, /Fix: download or copy the file again .*, or leave the file off the command line\n$/);
  assert.doesNotMatch(r.stderr, /onBadImage|--skip-bad-images/);
});

test('data stats on a folder with a bad image suggests --skip-bad-images, and --skip-bad-images lists it', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  halfJpeg(path.join(root, 'train', 'NORMAL', 'IM-0999-0001.jpeg'));
  const env = { XRAY_DATA: root, KIT_PROFILE: 'smoke', KIT_CACHE_DIR: tempDir() };
  const r = cli(['data', 'stats'], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /IM-0999-0001\.jpeg/);
  assert.match(r.stderr, /truncated/);
  assert.match(r.stderr, /or run again with --skip-bad-images to leave such files out and list them in the report/);
  assert.doesNotMatch(r.stderr, /onBadImage/);
  const skipped = cli(['data', 'stats', '--skip-bad-images'], env);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stdout + skipped.stderr, /IM-0999-0001\.jpeg/);
});

test('train on a folder with a bad image points to `data stats --skip-bad-images` (train has no such flag)', async () => {
  const root = tempDir();
  await makeKaggleFolder(root);
  halfJpeg(path.join(root, 'train', 'NORMAL', 'IM-0999-0001.jpeg'));
  const r = cli(['train', '--step', 'resnet', '--runs-dir', tempDir()], { XRAY_DATA: root, KIT_PROFILE: 'smoke', KIT_CACHE_DIR: tempDir() });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /list every unreadable file with `npx convnext-xray data stats --skip-bad-images`/);
  assert.doesNotMatch(r.stderr, /onBadImage/);
});
