import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { formatRun, listNotebooks, NOTEBOOKS_DIR, PROJECT_ROOT, runNotebook } from './helpers/notebook-runner';

// Every notebooks/*.ipynb must run top to bottom with the tslab kernel, in name order (01 before
// 02: a later notebook may use what an earlier one cached). The rules a notebook must pass are at
// the top of test/helpers/notebook-runner.ts. KIT_PROFILE comes from the environment, default
// `smoke`. `npm test -- --notebooks 02` runs only names containing "02" (scripts/test.js passes
// the filter here in KIT_NOTEBOOK_FILTER, comma-separated). Executed notebooks and their HTML go
// to test-output/notebooks/, to look at the plots.

const OUT = path.join(PROJECT_ROOT, 'test-output', 'notebooks');
// Training notebooks write runs/<profile>/...; tests start from an empty folder of their own, so
// 03 really trains (a finished run would be loaded instead) and 04 evaluates what 03 trained.
if (process.env.KIT_RUNS_DIR === undefined) {
  process.env.KIT_RUNS_DIR = path.join(PROJECT_ROOT, 'test-output', 'runs');
  fs.rmSync(process.env.KIT_RUNS_DIR, { recursive: true, force: true });
}
// 03 and 04's fine-tuning sections run on a PyTorch-made fixture of random weights (this machine
// has no hub access): they prove the code path, not what ImageNet weights are worth. Without
// KIT_PRETRAINED the sections skip themselves (the JupyterLab test runs them that way).
if (process.env.KIT_PRETRAINED === undefined) process.env.KIT_PRETRAINED = path.join(PROJECT_ROOT, 'test', 'fixtures', 'pretrained', 'timm-a');
const filters = (process.env.KIT_NOTEBOOK_FILTER ?? '')
  .split(',')
  .map((f) => f.trim())
  .filter((f) => f !== '');
const all = listNotebooks(NOTEBOOKS_DIR);
const selected = listNotebooks(NOTEBOOKS_DIR, filters);

if (all.length === 0) {
  test('notebooks/*.ipynb execute', { skip: 'no notebooks in notebooks/ yet' }, () => {});
} else if (selected.length === 0) {
  test(`notebooks matching ${filters.join(', ')}`, () => {
    assert.fail(`no notebook in notebooks/ has a name containing ${filters.map((f) => JSON.stringify(f)).join(' or ')}; there are: ${all.map((f) => path.basename(f)).join(', ')}`);
  });
}

for (const notebook of selected) {
  test(`${path.basename(notebook)} runs top to bottom without errors`, async (t) => {
    const run = await runNotebook(notebook, { outDir: OUT });
    t.diagnostic(`${run.seconds.toFixed(1)} s; HTML: ${run.htmlPath ? path.relative(PROJECT_ROOT, run.htmlPath) : 'not written'}`);
    assert.ok(run.ok, formatRun(run));
  });
}
