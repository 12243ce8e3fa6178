import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import {
  ALLOW_STDERR_ERROR_TAG,
  checkNotebook,
  formatRun,
  listNotebooks,
  makeNotebook,
  PROJECT_ROOT,
  runNotebook,
  streamText,
  type Notebook,
} from './helpers/notebook-runner';

// Temporary notebooks live in test-output/nb-<random>/ (ignored by git), two folders below the
// root; a real notebook in notebooks/ is one below and imports the kit as '../dist/src/lib'.
fs.mkdirSync(path.join(PROJECT_ROOT, 'test-output'), { recursive: true });
const dir = fs.mkdtempSync(path.join(PROJECT_ROOT, 'test-output', 'nb-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, nb: Notebook): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(nb, null, 1));
  return file;
}

test('runNotebook() executes a tslab notebook that imports the compiled kit from dist/', async (t) => {
  const lib = path.relative(dir, path.join(PROJECT_ROOT, 'dist', 'src', 'lib')).split(path.sep).join('/');
  assert.equal(lib, '../../dist/src/lib');
  const nb = makeNotebook([
    `import * as kit from '${lib}';\nconst names: string[] = Object.keys(kit).sort();\nconsole.log('exports: ' + names.join(','));`,
    `console.log('cwd=' + process.cwd());\nconsole.log('profile=' + process.env.KIT_PROFILE);`,
  ]);
  const run = await runNotebook(write('ok.ipynb', nb), { outDir: path.join(dir, 'out') });
  t.diagnostic(`2-cell notebook executed in ${run.seconds.toFixed(1)} s`);
  assert.ok(run.ok, formatRun(run));
  const [first, second] = run.executed.cells;
  assert.ok(first && second);
  // KitError is exported by src/lib/index.ts; a value, so it survives compilation.
  assert.match(streamText(first, 'stdout'), /^exports: .*\bKitError\b/);
  // The kernel starts in the notebook's folder, and sees KIT_PROFILE (smoke unless set).
  assert.equal(streamText(second, 'stdout'), `cwd=${dir}\nprofile=${process.env.KIT_PROFILE || 'smoke'}\n`);
  assert.deepEqual(
    run.executed.cells.map((c) => c.execution_count),
    [1, 2],
  );
  assert.equal(run.executedPath, path.join(dir, 'out', 'ok.ipynb'));
  assert.ok(run.htmlPath && fs.readFileSync(run.htmlPath, 'utf8').includes('exports: '), 'the HTML export shows the output');
});

test('runNotebook() reports a throwing cell: failure, cell index, source and the error text', async () => {
  const nb = makeNotebook([`console.log('before');`, `const answer = 42;\nthrow new Error('boom-123');`, `console.log('never printed');`]);
  const run = await runNotebook(write('throws.ipynb', nb), { outDir: path.join(dir, 'out') });
  assert.equal(run.ok, false);
  assert.notEqual(run.exitCode, 0);
  assert.equal(run.failedCell, 1);
  // tslab puts the real message on stderr; the error output itself only says `<Error>:`.
  assert.match(streamText(run.executed.cells[1]!, 'stderr'), /Error: boom-123/);
  assert.deepEqual(
    run.executed.cells.map((c) => c.execution_count),
    [1, 2, null],
  );
  const report = formatRun(run);
  assert.match(report, /throws\.ipynb: failed/);
  assert.match(report, /cell 1 \(0-based; execution_count 2\)/);
  assert.match(report, /throw new Error\('boom-123'\);/);
  assert.match(report, /boom-123/);
  assert.doesNotMatch(report, /cell 2 \(/, 'cells after the failing one are not listed one by one');
  assert.ok(run.executedPath.endsWith('throws.partial.ipynb') && fs.existsSync(run.executedPath));
  assert.ok(run.htmlPath && fs.existsSync(run.htmlPath));
});

test(`runNotebook() fails a notebook that prints "Error" to stderr, unless the cell is tagged ${ALLOW_STDERR_ERROR_TAG}`, async () => {
  const printsError = `try { JSON.parse('{'); } catch (e) { console.error('Error: ' + (e as Error).message); }`;
  const nb = makeNotebook([printsError, printsError, `console.error('a warning is fine');`], [[], [ALLOW_STDERR_ERROR_TAG]]);
  const run = await runNotebook(write('stderr.ipynb', nb), { outDir: path.join(dir, 'out'), html: false });
  assert.equal(run.exitCode, 0);
  assert.equal(run.ok, false);
  assert.deepEqual(
    run.problems.map((p) => p.cell),
    [0],
  );
  assert.match(formatRun(run), /cell 0 .*stderr contains "Error"/);
});

const executedCell = (source: string, outputs: Notebook['cells'][number]['outputs'], count: number | null, tags?: string[]) => ({
  cell_type: 'code' as const,
  source,
  metadata: tags ? { tags } : {},
  outputs,
  execution_count: count,
});

test('checkNotebook() flags error outputs and cells that did not run; skips markdown and empty cells', () => {
  const nb: Notebook = {
    ...makeNotebook([]),
    cells: [
      { cell_type: 'markdown', source: '# Title', metadata: {} },
      executedCell('1 + 1', [], 1),
      executedCell('  \n', [], null),
      executedCell('f()', [{ output_type: 'error', ename: 'Error', evalue: 'x', traceback: [] }], 2),
      executedCell('g()', [], null),
    ],
  };
  assert.deepEqual(checkNotebook(nb), [
    { cell: 3, problem: 'error output: Error: x' },
    { cell: 4, problem: 'no execution_count: the cell did not run' },
  ]);
});

test('checkNotebook() flags "Error" on stderr only in untagged cells, and not on stdout', () => {
  const stderr = { output_type: 'stream' as const, name: 'stderr' as const, text: ['TypeError: ', 'x is undefined\n'] };
  const nb: Notebook = {
    ...makeNotebook([]),
    cells: [
      executedCell('a', [stderr], 1),
      executedCell('b', [stderr], 2, [ALLOW_STDERR_ERROR_TAG]),
      executedCell('c', [{ output_type: 'stream', name: 'stdout', text: 'Error rate: 3%\n' }], 3),
    ],
  };
  assert.deepEqual(
    checkNotebook(nb).map((p) => p.cell),
    [0],
  );
});

test('listNotebooks() returns .ipynb files sorted by name, filtered by substring', () => {
  const d = fs.mkdtempSync(path.join(dir, 'list-'));
  for (const n of ['02-b.ipynb', '01-a.ipynb', '10-c.ipynb', 'x.nbconvert.ipynb', 'notes.md']) fs.writeFileSync(path.join(d, n), '{}');
  assert.deepEqual(
    listNotebooks(d).map((f) => path.basename(f)),
    ['01-a.ipynb', '02-b.ipynb', '10-c.ipynb'],
  );
  assert.deepEqual(
    listNotebooks(d, ['02', 'C']).map((f) => path.basename(f)),
    ['02-b.ipynb', '10-c.ipynb'],
  );
  assert.deepEqual(listNotebooks(path.join(d, 'missing')), []);
});
