import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { formatLabRun, labMissing, runInLab, startLab, type Lab } from './helpers/lab';
import { listNotebooks, makeNotebook, NOTEBOOKS_DIR, PROJECT_ROOT } from './helpers/notebook-runner';

// The notebooks as a learner sees them: JupyterLab started by scripts/lab.js, each notebook run
// cell by cell with Shift+Enter in Chromium (test/lab/driver.py lists the checks). Screenshots go
// to test-output/lab/<notebook>.png. scripts/test.js runs this file when a browser and Playwright
// are present (`npm test -- --lab` runs only it); with KIT_LAB_REQUIRED=1 (.ci/run) their absence
// fails. KIT_LAB_NOTEBOOKS=a.ipynb,b.ipynb runs those files instead of notebooks/*.ipynb.

const OUT = path.join(PROJECT_ROOT, 'test-output', 'lab');
const missing = labMissing();
const required = process.env.KIT_LAB_REQUIRED === '1';
let lab: Lab | undefined;

if (missing === undefined) {
  before(async () => {
    fs.mkdirSync(OUT, { recursive: true });
    // 03 trains into an empty runs folder of its own, and 04 evaluates what 03 wrote.
    const runs = path.join(OUT, 'runs');
    fs.rmSync(runs, { recursive: true, force: true });
    lab = await startLab(PROJECT_ROOT, path.join(OUT, 'jupyter-state'), { KIT_RUNS_DIR: runs });
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
  const chosen = (process.env.KIT_LAB_NOTEBOOKS ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  const files = chosen.length > 0 ? chosen.map((f) => path.resolve(f)) : listNotebooks(NOTEBOOKS_DIR);
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
