#!/usr/bin/env node
'use strict';
// `npm test`: setup (quiet) → unit tests (every dist/test/**/*.test.js but the notebooks and the
// lab) → the notebook execution test (dist/test/notebooks.test.js) → the JupyterLab browser test
// (dist/test/lab.test.js), when Chromium and Playwright are present. Exits non-zero if any part
// fails.
//
//   npm test                      everything
//   npm test -- --unit            setup + unit tests only
//   npm test -- --notebooks       setup + notebooks only
//   npm test -- 01 03             setup + only the notebooks whose names contain "01" or "03"
//   npm test -- --lab             setup + only the JupyterLab browser test
//
// KIT_PROFILE defaults to `smoke` (small data, few steps) unless already set. The lab test needs
// /usr/bin/chromium (or KIT_CHROMIUM) and Playwright in .venv (requirements-lab.txt); without
// them it is skipped with a note, unless KIT_LAB_REQUIRED=1 (.ci/run), when it fails.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, kitEnv, venvBin } = require('./setup.js');

const NOTEBOOK_TEST = path.join(ROOT, 'dist', 'test', 'notebooks.test.js');
const LAB_TEST = path.join(ROOT, 'dist', 'test', 'lab.test.js');

const USAGE = `usage: npm test -- [--unit | --notebooks | --lab] [NOTEBOOK_FILTER ...]
  --unit        run only the unit tests (dist/test/**/*.test.js except the notebook and lab tests)
  --notebooks   run only the notebook execution test
  --lab         run only the JupyterLab browser test (Chromium + Playwright)
  FILTER        run only the notebooks whose file name contains FILTER (implies --notebooks)
Env: KIT_PROFILE (default smoke) is passed to the tests and the notebooks; KIT_LAB_REQUIRED=1
fails when the lab test cannot run; KIT_CHROMIUM is the browser (default /usr/bin/chromium).`;

function parseArgs(argv) {
  const opts = { unit: false, notebooks: false, lab: false, filters: [] };
  for (const arg of argv) {
    if (arg === '--unit') opts.unit = true;
    else if (arg === '--notebooks') opts.notebooks = true;
    else if (arg === '--lab') opts.lab = true;
    else if (arg === '--help' || arg === '-h') opts.help = true;
    else if (arg.startsWith('-')) throw new Error(`unknown option ${JSON.stringify(arg)}\n${USAGE}`);
    else opts.filters.push(arg);
  }
  if (opts.filters.length > 0 && opts.unit) throw new Error(`a notebook filter cannot go with --unit\n${USAGE}`);
  if (!opts.unit && !opts.notebooks && !opts.lab) {
    opts.notebooks = true;
    opts.unit = opts.filters.length === 0;
    opts.lab = opts.filters.length === 0;
  }
  return opts;
}

/** Every *.test.js under dir, sorted, except the notebook test. */
function unitTestFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .filter((f) => f !== NOTEBOOK_TEST && f !== LAB_TEST)
    .sort();
}

/** Why the browser test cannot run here (undefined when it can). Mirrors test/helpers/lab.ts. */
function labMissing(env) {
  const chromium = env.KIT_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) return `no browser at ${chromium} (apt-get install chromium, or set KIT_CHROMIUM)`;
  const python = venvBin('python');
  const res = spawnSync(python, ['-c', 'import playwright'], { env, stdio: 'ignore' });
  if (res.status !== 0) return 'Playwright is not in .venv (.venv/bin/pip install -r requirements-lab.txt)';
  return undefined;
}

function phase(name, fn) {
  const started = Date.now();
  console.log(`\n== ${name}`);
  const result = fn();
  const seconds = (Date.now() - started) / 1000;
  console.log(`== ${name}: ${result.ok ? 'ok' : 'FAILED'}${result.note ? ` (${result.note})` : ''}, ${seconds.toFixed(1)} s`);
  return { name, seconds, ...result };
}

function runNode(args, env) {
  const res = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
  if (res.error) throw res.error;
  return res.status === 0;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`test: ${err.message}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const env = kitEnv({ ...process.env, KIT_PROFILE: process.env.KIT_PROFILE || 'smoke' });
  console.log(`test: KIT_PROFILE=${env.KIT_PROFILE}`);
  const results = [];

  results.push(phase('setup', () => ({ ok: runNode([path.join(__dirname, 'setup.js'), '--quiet'], env) })));
  if (results[0].ok) {
    if (opts.unit) {
      results.push(
        phase('unit tests', () => {
          const files = unitTestFiles(path.join(ROOT, 'dist', 'test'));
          if (files.length === 0) return { ok: false, note: 'no dist/test/**/*.test.js found; did the build run?' };
          const ok = runNode(['--test', '--test-reporter=spec', ...files], env);
          return { ok, note: `${files.length} files` };
        }),
      );
    }
    if (opts.notebooks) {
      results.push(
        phase(`notebooks${opts.filters.length ? ` matching ${opts.filters.join(', ')}` : ''}`, () => {
          const nbEnv = { ...env, KIT_NOTEBOOK_FILTER: opts.filters.join(',') };
          const ok = runNode(['--test', '--test-reporter=spec', NOTEBOOK_TEST], nbEnv);
          return { ok, note: 'executed notebooks and HTML in test-output/notebooks/' };
        }),
      );
    }
    if (opts.lab) {
      const missing = labMissing(env);
      if (missing !== undefined && env.KIT_LAB_REQUIRED !== '1') {
        console.log(`\n== JupyterLab in a browser: skipped: ${missing}`);
      } else {
        results.push(
          phase('JupyterLab in a browser', () => {
            const ok = runNode(['--test', '--test-reporter=spec', LAB_TEST], env);
            return { ok, note: 'screenshots in test-output/lab/' };
          }),
        );
      }
    }
  }

  console.log('\n== summary');
  for (const r of results) console.log(`  ${r.ok ? 'ok    ' : 'FAILED'}  ${r.name} (${r.seconds.toFixed(1)} s)`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    console.log(`test: FAILED: ${failed.map((r) => r.name).join(', ')}`);
    return 1;
  }
  console.log('test: all passed');
  return 0;
}

process.exitCode = main();
