import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as dicomParser from 'dicom-parser';
import { decodeXray } from '../../src/lib/data/decode';
import { applyWindow, isDicom } from '../../src/lib/data/dicom';
import { loadImageFolder } from '../../src/lib/data/imagefolder';
import { KitError } from '../../src/lib/util/errors';
import { sharedXrays, tempDir } from '../helpers/data';
import { fixture } from './fixtures';

const dir = fixture('dicom');
const doc = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { fakePatient: Record<string, string>; refused: Record<string, { transferSyntax: string }> };
const CHEST = path.join(dir, 'chest_cr_8bit.dcm');

/** Every patient value a message must never show: the synthetic files' fake identity, and what the pydicom files hold. */
function patientValues(): string[] {
  const values = Object.values(doc.fakePatient).flatMap((v) => v.split('^'));
  for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.dcm'))) {
    const ds = dicomParser.parseDicom(fs.readFileSync(path.join(dir, name)), { untilTag: 'x00280000' });
    for (const tag of ['x00100010', 'x00100020', 'x00100030']) {
      for (const part of (ds.string(tag) ?? '').split('^')) if (part.trim().length >= 4) values.push(part.trim());
    }
  }
  return [...new Set(values)];
}
const PATIENT = patientValues();

/** Decoding `input` fails with a KitError whose text matches every pattern and shows no patient value. */
async function refuses(input: string | Buffer, name: string, ...patterns: RegExp[]): Promise<KitError> {
  let caught: unknown;
  try {
    await decodeXray(input, 32, 'squash', name);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KitError, `expected a KitError for ${name}, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  assert.ok(caught.message.includes(name), `the error names the file: ${caught.message}`);
  const everything = `${caught.message}\n${caught.stack ?? ''}\n${String((caught.cause as Error | undefined)?.stack ?? '')}`;
  for (const v of PATIENT) assert.ok(!new RegExp(`\\b${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(everything), `the error shows the patient value ${JSON.stringify(v)}: ${caught.message}`);
  return caught;
}

/**
 * A copy of the synthetic chest file with another Transfer Syntax UID in its meta header (the
 * pixels stay as they are: the kit must refuse before it reads them). Explicit VR: the UI value is
 * preceded by its 2-byte length; (0002,0000) at byte 132 holds the meta group's length.
 */
function withSyntax(uid: string): Buffer {
  const bytes = fs.readFileSync(CHEST);
  const old = '1.2.840.10008.1.2.1\0';
  const at = bytes.indexOf(old, 0, 'latin1');
  assert.ok(at > 132 && at < 400 && bytes.readUInt16LE(at - 2) === old.length, 'the transfer syntax in the meta header');
  const value = Buffer.from(uid.length % 2 === 0 ? uid : `${uid}\0`, 'latin1');
  const out = Buffer.concat([bytes.subarray(0, at), value, bytes.subarray(at + old.length)]);
  out.writeUInt16LE(value.length, at - 2);
  assert.equal(out.toString('latin1', 132, 136), '\x02\x00\x00\x00');
  out.writeUInt32LE(out.readUInt32LE(140) + value.length - old.length, 140);
  return out;
}

test('the fixtures carry a patient name, so the no-patient-data checks check something', () => {
  assert.ok(PATIENT.includes('Fakename') && PATIENT.includes('FAKE-ID-0042'));
  assert.ok(PATIENT.length > 4, `patient values found: ${PATIENT.length}`);
});

test('isDicom() knows DICOM by its signature, whatever the name, and by a .dcm / .dicom name', () => {
  const copy = path.join(tempDir(), 'scan0001');
  fs.copyFileSync(CHEST, copy);
  assert.equal(isDicom(copy), true);
  assert.equal(isDicom(fs.readFileSync(CHEST)), true);
  assert.equal(isDicom(path.join(tempDir(), 'missing.DCM')), true);
  assert.equal(isDicom(fixture(path.join('decode', 'gray8.png'))), false);
});

test('decodeXray() reads a DICOM file without extension, and from a buffer, with the same pixels', async () => {
  const copy = path.join(tempDir(), 'scan0001');
  fs.copyFileSync(CHEST, copy);
  const a = await decodeXray(CHEST, 64, 'letterbox');
  const b = await decodeXray(copy, 64, 'letterbox');
  const c = await decodeXray(fs.readFileSync(CHEST), 64, 'letterbox');
  assert.deepEqual(b.pixels, a.pixels);
  assert.deepEqual(c.pixels, a.pixels);
  assert.equal(a.dicom?.photometric, 'MONOCHROME2');
  assert.deepEqual([a.sourceWidth, a.sourceHeight], [224, 224]);
});

test('an unsupported transfer syntax is refused with its UID, its name and the conversion to run', async () => {
  for (const [name, uid, title] of [
    ['JPEG2000.dcm', '1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression'],
    ['MR_small_RLE.dcm', '1.2.840.10008.1.2.5', 'RLE Lossless'],
  ] as const) {
    assert.equal(doc.refused[name]?.transferSyntax, uid);
    const err = await refuses(path.join(dir, name), path.join(dir, name), new RegExp(uid.replace(/\./g, '\\.')), new RegExp(title), /not supported/, /gdcmconv --raw/);
    if (name === 'MR_small_RLE.dcm') assert.match(err.fix, /dcmdrle/);
  }
  // A file the test builds: the chest X-ray relabelled as JPEG-LS, with a fake patient name inside.
  const err = await refuses(withSyntax('1.2.840.10008.1.2.4.80'), 'relabelled.dcm', /1\.2\.840\.10008\.1\.2\.4\.80 \(JPEG-LS Lossless Image Compression\)/, /dcmdjpls/);
  assert.match(err.message, /uncompressed/);
  await refuses(withSyntax('1.2.840.10008.9.9.9'), 'unknown.dcm', /1\.2\.840\.10008\.9\.9\.9 \(unknown to the kit\)/);
});

test('a DICOM file without pixel data (an RT plan) is a clear error, not "unsupported image format"', async () => {
  const file = path.join(dir, 'rtplan.dcm');
  const err = await refuses(file, file, /holds no image/, /no Pixel Data \(7FE0,0010\)/, /Modality RTPLAN/);
  assert.doesNotMatch(err.message, /unsupported image format/);
});

test('a multi-frame file is refused with the frame count and how to take one frame', async () => {
  const file = path.join(dir, 'rtdose.dcm');
  const err = await refuses(file, file, /15 frames/, /single-frame/);
  assert.match(err.fix, /--frame/);
});

test('a truncated DICOM file, and a .dcm that is not DICOM, are clear errors that show no patient data', async () => {
  const whole = fs.readFileSync(CHEST);
  await refuses(whole.subarray(0, whole.length - 20000), 'truncated.dcm', /cannot read DICOM image/, /truncated|damaged/);
  const notes = path.join(tempDir(), 'notes.dcm');
  fs.writeFileSync(notes, 'PatientName=Fakename^Kittest but this is not DICOM'.padEnd(200, '.'));
  await refuses(notes, notes, /no DICOM signature \('DICM' at byte 128\)/);
});

test('applyWindow() follows the DICOM formulas (hand-computed cases)', () => {
  // LINEAR, c = 100.5, w = 101: x <= 50 -> 0, x > 150 -> 255, else ((x - 100) / 100 + 0.5) * 255.
  assert.deepEqual(Array.from(applyWindow([50, 50.5, 75, 100, 150, 150.5], { fn: 'LINEAR', center: 100.5, width: 101 })), [0, 1, 64, 128, 255, 255]);
  // LINEAR_EXACT, c = 100, w = 100: ((x - 100) / 100 + 0.5) * 255.
  assert.deepEqual(Array.from(applyWindow([50, 60.2, 100, 149, 151], { fn: 'LINEAR_EXACT', center: 100, width: 100 })), [0, 26, 128, 252, 255]);
  // SIGMOID: 255 / (1 + exp(-4 (x - c) / w)); at the centre 127.5 -> 128.
  assert.deepEqual(Array.from(applyWindow([0, 25, -1000], { fn: 'SIGMOID', center: 0, width: 100 })), [128, Math.round(255 / (1 + Math.exp(-1))), 0]);
});

test('a Kaggle-layout folder with DICOM files among the JPEGs loads them like any image', async () => {
  const root = tempDir();
  const src = sharedXrays();
  for (const split of ['train', 'test']) {
    for (const cls of ['NORMAL', 'PNEUMONIA']) {
      const names = fs.readdirSync(path.join(src, split, cls)).sort().slice(0, 3);
      fs.mkdirSync(path.join(root, split, cls), { recursive: true });
      for (const n of names) fs.copyFileSync(path.join(src, split, cls, n), path.join(root, split, cls, n));
    }
  }
  fs.copyFileSync(CHEST, path.join(root, 'train', 'NORMAL', 'IM-9001-0001.dcm'));
  fs.copyFileSync(path.join(dir, 'chest_jpeg_baseline.dcm'), path.join(root, 'test', 'NORMAL', 'IM-9002-0001.dcm'));
  const data = await loadImageFolder(root, { size: 48, fit: 'squash' });
  assert.equal(data.skipped.length, 0);
  const i = data.train.ids.indexOf('train/NORMAL/IM-9001-0001.dcm');
  assert.ok(i >= 0, `the .dcm is in train: ${data.train.ids.join(', ')}`);
  assert.equal(data.train.patients[i], 'IM-9001');
  assert.equal(data.train.labels[i], 0);
  // The same pixels as decodeXray gives for the same pixels in a PNG: one resize path for all.
  const png = await decodeXray(path.join(dir, 'expected', 'chest_cr_8bit.png'), 48, 'squash');
  assert.deepEqual(data.train.images.subarray(i * 48 * 48, (i + 1) * 48 * 48), png.pixels);
  assert.ok(data.test.ids.includes('test/NORMAL/IM-9002-0001.dcm'));

  // An unsupported one stops the load with its name and syntax, or is skipped and listed.
  fs.copyFileSync(path.join(dir, 'JPEG2000.dcm'), path.join(root, 'train', 'PNEUMONIA', 'person9003_bacteria_1.dcm'));
  await assert.rejects(loadImageFolder(root, { size: 48, fit: 'squash' }), (e: unknown) => e instanceof KitError && /person9003_bacteria_1\.dcm/.test(e.message) && /1\.2\.840\.10008\.1\.2\.4\.91/.test(e.message));
  const skipped = await loadImageFolder(root, { size: 48, fit: 'squash', onBadImage: 'skip' });
  assert.equal(skipped.skipped.length, 1);
  assert.equal(skipped.skipped[0]?.rel, 'train/PNEUMONIA/person9003_bacteria_1.dcm');
  assert.match(skipped.skipped[0]?.reason ?? '', /JPEG 2000/);
});
