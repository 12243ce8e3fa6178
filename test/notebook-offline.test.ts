import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { NO_DATA_TAG } from '../src/lib/notebook/guard';
import { closedPortBase } from './data/local-server';
import { NOTEBOOKS_DIR, PROJECT_ROOT, runNotebook, sourceOf, type Output } from './helpers/notebook-runner';

// An offline first run: XRAY_DATA unset, an empty cache and the default download's server
// unreachable (KIT_DATA_URL on a port where nothing listens). Notebook 01 must stop in its first
// code cell with one tagged error that lists the ways out, and run nothing after it.

function outputText(o: Output): string {
  if (o.output_type === 'stream') return Array.isArray(o.text) ? o.text.join('') : o.text;
  if (o.output_type === 'error') return `${o.ename}: ${o.evalue}\n${o.traceback.join('\n')}`;
  return JSON.stringify(o.data);
}

test('01-data.ipynb offline without XRAY_DATA stops once, in its first code cell, with the options', async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'offline-cache-'));
  try {
    const run = await runNotebook(path.join(NOTEBOOKS_DIR, '01-data.ipynb'), {
      outDir: path.join(PROJECT_ROOT, 'test-output', 'offline'),
      html: false,
      cellTimeoutS: 120,
      env: { XRAY_DATA: '', KIT_DATA_URL: await closedPortBase(), KIT_CACHE_DIR: cache },
    });
    assert.equal(run.ok, false, 'the notebook ran to the end without data');
    const first = run.executed.cells.findIndex((c) => c.cell_type === 'code' && sourceOf(c).includes('requireData'));
    assert.equal(run.failedCell, first);
    const texts = run.executed.cells.map((c) => (c.outputs ?? []).map(outputText).join('\n'));
    const all = texts.join('\n');
    assert.equal(all.split(NO_DATA_TAG).length - 1, 1, `the tag should appear once:\n${all}`);
    assert.match(texts[first] ?? '', /npx convnext-xray data download/);
    assert.match(texts[first] ?? '', /Kaggle "chest-xray-pneumonia" layout/);
    assert.doesNotMatch(all, /Cannot find name/);
    run.executed.cells.slice(first + 1).forEach((c, i) => assert.deepEqual(c.outputs ?? [], [], `cell ${first + 1 + i} ran`));
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
