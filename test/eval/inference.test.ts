import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { selectBackend } from '../../src/lib/backend';
import { PROFILES } from '../../src/lib/experiment/profiles';
import { loadXrayData } from '../../src/lib/data/dataset';
import { evaluatePredictions, evaluateRun, readPredictions } from '../../src/lib/experiment/evaluate';
import { ablationHtmlPage } from '../../src/lib/experiment/html-report';
import { loadClassifier, predictFiles } from '../../src/lib/eval/inference';
import { standaloneHtml } from '../../src/lib/plot/html';
import { runAblation } from '../../src/lib/experiment/ablation';
import { KitError } from '../../src/lib/util/errors';
import { sharedXrays, tempDir } from '../helpers/data';
import { fixture } from '../data/fixtures';

let runDir: string;
let ablationDir: string;
const profile = PROFILES.smoke;

before(async () => {
  await selectBackend();
  const data = await loadXrayData({ profile, source: { kind: 'folder', path: sharedXrays() } });
  const outcome = await runAblation({ profile: 'smoke', steps: ['resnet', 'separate-downsampling'], seeds: 1, overrides: { epochs: 1 }, runsDir: tempDir(), data });
  ablationDir = outcome.dir;
  runDir = path.join(outcome.dir, 'separate-downsampling', '0');
});

test('predict on shared images gives the same probabilities as the evaluation pipeline', async () => {
  const data = await loadXrayData({ profile, source: { kind: 'folder', path: sharedXrays() } });
  const { predictions } = await evaluateRun(runDir, 'test', { data, rounds: 50 });
  const clf = await loadClassifier(runDir);
  const files = data.test.ids.slice(0, 12).map((id) => path.join(sharedXrays(), id));
  const predicted = await predictFiles(clf, files, 5);
  predicted.forEach((p, i) => {
    const pipeline = predictions.test.probs[i] as number;
    assert.ok(Math.abs((p.probabilities['PNEUMONIA'] as number) - pipeline) < 1e-5, `${p.file}: predict ${p.probabilities['PNEUMONIA']} vs pipeline ${pipeline}`);
    assert.ok(Math.abs((p.probabilities['NORMAL'] as number) + (p.probabilities['PNEUMONIA'] as number) - 1) < 1e-5);
  });
  // The saved predictions of the ablation are the same pipeline, run at training time.
  const saved = readPredictions(runDir);
  saved.test.probs.forEach((v, i) => assert.ok(Math.abs(v - (predictions.test.probs[i] as number)) < 1e-5));
  clf.model.dispose();
});

test('predict accepts DICOM files: the same probabilities as the same pixels in a PNG', async () => {
  const clf = await loadClassifier(runDir);
  const dicom = ['chest_cr_8bit', 'chest_jpeg_baseline'].map((n) => fixture(path.join('dicom', `${n}.dcm`)));
  const pngs = ['chest_cr_8bit', 'chest_jpeg_baseline'].map((n) => fixture(path.join('dicom', 'expected', `${n}.png`)));
  const fromDicom = await predictFiles(clf, dicom);
  const fromPng = await predictFiles(clf, pngs);
  fromDicom.forEach((p, i) => {
    assert.equal(p.file, dicom[i]);
    for (const c of clf.classes) assert.ok(Math.abs((p.probabilities[c] as number) - (fromPng[i]?.probabilities[c] as number)) < 1e-6, `${p.file}: P(${c}) ${p.probabilities[c]} vs PNG ${fromPng[i]?.probabilities[c]}`);
    assert.equal(p.predicted, fromPng[i]?.predicted);
  });
  // An unsupported DICOM names the file and the syntax.
  const j2k = fixture(path.join('dicom', 'JPEG2000.dcm'));
  await assert.rejects(predictFiles(clf, [j2k]), (e: unknown) => e instanceof KitError && e.message.includes(j2k) && /JPEG 2000/.test(e.message));
  clf.model.dispose();
});

test('evaluation chooses the threshold on validation and applies it unchanged to test', () => {
  const p = readPredictions(runDir);
  const e = evaluatePredictions(p, 'test', { rule: { rule: 'sensitivity', target: 0.9 }, rounds: 100 });
  assert.equal(e.threshold.chosenOn, 'val');
  const valSens = p.val.probs.filter((s, i) => p.val.labels[i] === 1 && s >= e.threshold.value).length / p.val.labels.filter((l) => l === 1).length;
  assert.ok(valSens >= 0.9, `validation sensitivity at the chosen threshold ${valSens}`);
  assert.equal(e.n, p.test.labels.length);
  assert.equal(e.confusion.tp + e.confusion.fn + e.confusion.fp + e.confusion.tn, e.n);
  for (const iv of Object.values(e.metrics)) assert.ok(!(iv.lo > iv.value + 1e-9 || iv.hi < iv.value - 1e-9));
});

test('predict refuses a non-image, a folder without a checkpoint, and a checkpoint whose metadata disagrees', async () => {
  const clf = await loadClassifier(runDir);
  const bad = path.join(tempDir(), 'notes.txt');
  fs.writeFileSync(bad, 'not an x-ray');
  await assert.rejects(predictFiles(clf, [bad]), (e: unknown) => e instanceof KitError && /notes\.txt/.test(e.message));
  clf.model.dispose();
  await assert.rejects(loadClassifier(tempDir()), /no model checkpoint here/);
  // A copy of the checkpoint whose metadata claims another input size.
  const copy = path.join(tempDir(), 'best');
  fs.cpSync(path.join(runDir, 'best'), copy, { recursive: true });
  const json = JSON.parse(fs.readFileSync(path.join(copy, 'model.json'), 'utf8')) as { kit: { input: { size: number; channels: number } } };
  json.kit.input.size = 64;
  fs.writeFileSync(path.join(copy, 'model.json'), JSON.stringify(json));
  await assert.rejects(loadClassifier(copy), /takes 32×32 inputs but the metadata says 64 px/);
  json.kit.input.size = 32;
  json.kit.input.channels = 3;
  fs.writeFileSync(path.join(copy, 'model.json'), JSON.stringify(json));
  await assert.rejects(loadClassifier(copy), /takes 1 channel\(s\) but the metadata says 3/);
});

test('predictFiles() says what is wrong with each path before predicting anything, with a fix for the library and one for the CLI', async () => {
  const clf = await loadClassifier(runDir);
  const dir = tempDir();
  const real = path.join(sharedXrays(), 'test', 'NORMAL', fs.readdirSync(path.join(sharedXrays(), 'test', 'NORMAL'))[0] as string);
  const bytes = fs.readFileSync(real);
  const cut = path.join(dir, 'cut.jpeg');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  const cases: [string[], RegExp, RegExp, RegExp][] = [
    [[real, path.join(dir, 'nope.jpeg')], /^cannot predict: the file does not exist$/, /^check the path, or leave the file out$/, /^check the path, or leave the file off the command line$/],
    [[dir], /^cannot predict: this is a folder, not an image file$/, /^give the image files in it/, /^give the image files in it, e.g. `npx convnext-xray predict .*\*\.jpeg --checkpoint …`$/],
    [[cut], /^cannot read image: the file is truncated: it ends before its image data does/, /^download or copy the file again .*, or leave the file out$/, /, or leave the file off the command line$/],
  ];
  for (const [files, problem, fix, cliFix] of cases) {
    await assert.rejects(predictFiles(clf, files), (e: unknown) => {
      assert.ok(e instanceof KitError, String(e));
      assert.match(e.problem, problem);
      assert.match(e.fix, fix);
      assert.match(e.cliFix ?? '', cliFix);
      // predictFiles has no onBadImage option: neither fix may suggest it.
      assert.doesNotMatch(e.fix + (e.cliFix ?? ''), /onBadImage|skip-bad-images|unsupported image format/);
      return true;
    });
  }
  clf.model.dispose();
});

test('the standalone HTML report holds the ablation and evaluation plots with Plotly inlined once', () => {
  const html = standaloneHtml(ablationHtmlPage(ablationDir, { rounds: 50 }));
  assert.equal(html.split('window.Plotly = Plotly').length - 1, 1, 'plotly.js inlined exactly once');
  for (const title of ['Per step, test split', 'What each step changed', 'ROC curves on test', 'Confusion matrix at threshold', 'Reliability diagram', 'Published results']) {
    assert.ok(html.includes(title), `report contains "${title}"`);
  }
});
