import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { WEIGHTS_BIN } from '../src/lib/models/io';
import { ablationDir, finishedRuns, runPaths } from '../src/lib/runs';
import { formatLabRun, labMissing, runInLab, startLab, type DriverRun, type Lab } from './helpers/lab';
import { listNotebooks, makeNotebook, NOTEBOOKS_DIR, PROJECT_ROOT, sourceOf, type Notebook } from './helpers/notebook-runner';

// The notebooks as a learner sees them: JupyterLab started by scripts/lab.js, each notebook run
// cell by cell with Shift+Enter in Chromium (test/lab/driver.py lists the checks). Screenshots go
// to test-output/lab/<notebook>.png. scripts/test.js runs this file when a browser and Playwright
// are present (`npm test -- --lab` runs only it); with KIT_LAB_REQUIRED=1 (.ci/run) their absence
// fails. KIT_LAB_NOTEBOOKS=a.ipynb,b.ipynb runs those files instead of notebooks/*.ipynb (and
// the interrupt scenario only when 03-train.ipynb is among them: it compares with that pass).

const OUT = path.join(PROJECT_ROOT, 'test-output', 'lab');
/** The runs of the pass over every notebook: 03 trains here, 04 evaluates it. */
const RUNS = path.join(OUT, 'runs');
const TRAIN_NOTEBOOK = path.join(NOTEBOOKS_DIR, '03-train.ipynb');
const missing = labMissing();
const required = process.env.KIT_LAB_REQUIRED === '1';
const chosen = (process.env.KIT_LAB_NOTEBOOKS ?? '')
  .split(',')
  .map((f) => f.trim())
  .filter((f) => f !== '')
  .map((f) => path.resolve(f));
let lab: Lab | undefined;

if (missing === undefined) {
  before(async () => {
    fs.mkdirSync(OUT, { recursive: true });
    // 03 trains into an empty runs folder of its own, and 04 evaluates what 03 wrote.
    fs.rmSync(RUNS, { recursive: true, force: true });
    lab = await startLab(PROJECT_ROOT, path.join(OUT, 'jupyter-state'), { KIT_RUNS_DIR: RUNS });
  });
  after(async () => {
    await lab?.stop();
  });
}

const skip = missing !== undefined && !required ? missing : false;

test('a deliberately broken notebook fails the lab test', { skip }, async () => {
  assert.equal(missing, undefined, missing);
  const dir = path.join(OUT, 'broken');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, sources: string[]): string => {
    fs.writeFileSync(path.join(dir, name), JSON.stringify(makeNotebook(sources), null, 1));
    return path.relative(PROJECT_ROOT, path.join(dir, name));
  };
  // One cell with a chart div that no Plotly call ever draws and an image that cannot decode.
  const display = write('broken-display.ipynb', [
    "import * as tslab from 'tslab';",
    'tslab.display.html(\'<div class="kit-plot" style="height:60px"></div><img src="data:image/png;base64,AAAA">\');',
  ]);
  const thrown = write('broken-throw.ipynb', ["console.log('fine');", "throw new Error('deliberately broken');", "console.log('never runs');"]);
  const run = await runInLab(lab!, PROJECT_ROOT, [display, thrown], dir);
  const byName = new Map(run.results.map((r) => [path.basename(r.notebook), r]));
  assert.equal(run.code, 1, formatLabRun(run));
  const shown = JSON.stringify(byName.get('broken-display.ipynb')?.problems);
  assert.match(shown, /Plotly charts not drawn/, formatLabRun(run));
  assert.match(shown, /images did not load/, formatLabRun(run));
  const t = byName.get('broken-throw.ipynb');
  assert.deepEqual(t?.problems.map((p) => p.cell), [1], formatLabRun(run));
  assert.match(JSON.stringify(t?.problems), /deliberately broken/, formatLabRun(run));
});

test('every notebook runs cell by cell in JupyterLab, as a learner sees it', { skip }, async (t) => {
  assert.equal(missing, undefined, missing);
  const files = chosen.length > 0 ? chosen : listNotebooks(NOTEBOOKS_DIR);
  assert.ok(files.length > 0, 'no notebooks to run');
  const run = await runInLab(lab!, PROJECT_ROOT, files.map((f) => path.relative(PROJECT_ROOT, f)), OUT);
  for (const r of run.results) {
    t.diagnostic(`${r.notebook}: ${r.ok ? 'ok' : 'FAILED'}, ${r.seconds} s, screenshot ${path.relative(PROJECT_ROOT, r.screenshot)}${Object.keys(r.live).length ? `, live cells ${JSON.stringify(r.live)}` : ''}`);
  }
  assert.equal(run.results.length, files.length, formatLabRun(run));
  assert.equal(run.code, 0, formatLabRun(run));
  for (const r of run.results) assert.ok(fs.statSync(r.screenshot).size > 10_000, `${r.screenshot} is (nearly) empty`);
  if (chosen.length === 0) {
    const train = run.results.find((r) => r.notebook.includes('03'));
    assert.ok(train && Object.keys(train.live).length > 0, `no live training display was seen in notebook 03: ${JSON.stringify(train?.live)}`);
  }
});

/** The cell of notebook 03 that trains one run live (the one a learner interrupts). */
function trainingCell(file: string): number {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as Notebook;
  const i = nb.cells.findIndex((c) => c.cell_type === 'code' && sourceOf(c).includes('trainOrLoad('));
  assert.ok(i >= 0, `no code cell of ${file} calls kit.experiment.trainOrLoad(): which cell trains? Update trainingCell() in test/lab.test.ts`);
  return i;
}

/** Index of the first byte where a and b differ (the shorter length when one is a prefix of the other). */
function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

const interruptSkip = skip || (chosen.length > 0 && !chosen.includes(TRAIN_NOTEBOOK) && 'the interrupt scenario compares with the pass over notebook 03, which KIT_LAB_NOTEBOOKS left out');

test('Kernel › Interrupt during notebook 03\'s training, then the cell run again: it resumes and ends with the weights of the uninterrupted pass', { skip: interruptSkip }, async (t) => {
  assert.equal(missing, undefined, missing);
  const cell = trainingCell(TRAIN_NOTEBOOK);
  const runs = path.join(OUT, 'runs-interrupted');
  fs.rmSync(runs, { recursive: true, force: true });
  // The kernel inherits the server's environment, so a runs folder of its own (KIT_RUNS_DIR) takes
  // a second JupyterLab; the first pass's runs stay untouched as the uninterrupted reference.
  const lab2 = await startLab(PROJECT_ROOT, path.join(OUT, 'jupyter-state-interrupt'), { KIT_RUNS_DIR: runs });
  let run: DriverRun;
  try {
    run = await runInLab(lab2, PROJECT_ROOT, [path.relative(PROJECT_ROOT, TRAIN_NOTEBOOK)], OUT, {
      cell,
      // <runs>/<ablation>/<step>/<seed>/last: written (atomically) when a run's first epoch ends.
      checkpoint: runPaths(path.join(ablationDir(runs, '*'), '*', '*')).last,
      screenshot: path.join(OUT, '03-interrupted.png'),
    });
  } finally {
    await lab2.stop();
  }
  const r = run.results[0];
  t.diagnostic(`${r?.notebook}: ${r?.ok ? 'ok' : 'FAILED'}, ${r?.seconds} s (kernel held ${r?.kernelPausedSeconds} s for the click), epochs shown ${JSON.stringify(r?.epochsShown)}, screenshot ${r && path.relative(PROJECT_ROOT, r.screenshot)}`);
  assert.equal(run.code, 0, formatLabRun(run));
  assert.ok(r !== undefined && r.epochs !== undefined && r.epochsShown?.interrupted !== undefined && r.epochsShown.rerun !== undefined, formatLabRun(run));
  assert.match(r.interruptedText ?? '', /Interrupted asynchronously/, 'the interrupted cell says so, as tslab does');
  assert.match(r.interruptedText ?? '', /interrupted \(Kernel › Interrupt\)[\s\S]*the checkpoint of epoch 1 is kept[\s\S]*Run this cell again to continue/, "the live display says what happens next (tslab's own message is a bare stack trace)");
  assert.ok(fs.statSync(r.screenshot).size > 10_000, `${r.screenshot} is (nearly) empty`);

  // The kernel was interrupted right after the first checkpoint (epoch 1), so the re-run must
  // start at epoch 2: showing epoch 1 again means it trained from scratch instead of resuming.
  const { interrupted, rerun } = r.epochsShown;
  const shown = `the interrupted execution showed epochs [${interrupted}], the re-run [${rerun}]`;
  assert.ok(interrupted.includes(1), `the interrupted execution never showed epoch 1: ${shown}`);
  assert.ok(rerun.length > 0, `the re-run trained nothing (was the run already finished, the interrupt too late?): ${shown}\n${r.rerunText}`);
  assert.ok(!rerun.includes(1), `the re-run trained epoch 1 again instead of resuming from the checkpoint the interrupted execution left: ${shown}`);
  assert.deepEqual([...new Set([...interrupted, ...rerun])].sort((a, b) => a - b), Array.from({ length: r.epochs }, (_, i) => i + 1), `every epoch is trained: ${shown}`);

  // Every run the cell trained ends with the uninterrupted run's weights, byte for byte.
  const trained = fs.readdirSync(runs).flatMap((id) => finishedRuns(ablationDir(runs, id)));
  assert.ok(trained.length > 0, `no finished run in ${runs}`);
  for (const { dir } of trained) {
    const rel = path.relative(runs, dir);
    const reference = path.join(runPaths(path.join(RUNS, rel)).last, WEIGHTS_BIN);
    assert.ok(fs.existsSync(reference), `no uninterrupted weights to compare with at ${reference}: the pass over notebook 03 above trains them`);
    const resumed = fs.readFileSync(path.join(runPaths(dir).last, WEIGHTS_BIN));
    const straight = fs.readFileSync(reference);
    assert.ok(
      resumed.equals(straight),
      `${rel}: interrupted and re-run, the final ${WEIGHTS_BIN} differs from the uninterrupted run's (${resumed.length} and ${straight.length} bytes, first difference at byte ${firstDifference(resumed, straight)}): the resume does not continue the run exactly`,
    );
  }
  t.diagnostic(`same final weights as the uninterrupted pass: ${trained.map((x) => path.relative(runs, x.dir)).join(', ')}`);
});
