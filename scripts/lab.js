#!/usr/bin/env node
'use strict';
// `npm start`: JupyterLab from the project's .venv, showing notebooks/. Extra arguments go to
// `jupyter lab`, e.g. `npm start -- --no-browser --port 8890 --IdentityProvider.token=SECRET`
// (test/lab.test.ts starts it so); a --notebook-dir or --ServerApp.root_dir of their own replaces
// notebooks/. Run `npm run setup` first (npm start does). This Node's folder and the venv's bin
// come first on PATH, so the tslab kernel and anything a notebook starts use the Node that setup
// checked.

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { ROOT, venvBin, kitEnv } = require('./setup.js');

const jupyter = venvBin('jupyter');
if (!fs.existsSync(jupyter)) {
  console.error(`lab: ${path.relative(ROOT, jupyter)} is missing.\n  fix: run \`npm run setup\` (it creates .venv with JupyterLab and the tslab kernel)`);
  process.exit(1);
}

const extra = process.argv.slice(2);
const ownRoot = extra.some((a) => /^--(notebook-dir|ServerApp\.root_dir)(=|$)/.test(a));
const args = ['lab', ...(ownRoot ? [] : [`--notebook-dir=${path.join(ROOT, 'notebooks')}`]), ...extra];
// Jupyter refuses to run as root; in a container root is the norm, so say it is meant.
if (process.getuid?.() === 0 && !extra.includes('--allow-root')) args.push('--allow-root');
console.log(`lab: ${path.relative(ROOT, jupyter)} ${args.join(' ')}`);
const child = spawn(jupyter, args, { cwd: ROOT, env: kitEnv(), stdio: 'inherit' });

// Ctrl-C reaches jupyter directly (same terminal); it asks to confirm, so this process must not
// exit first. Other signals are passed on.
process.on('SIGINT', () => {});
for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('error', (err) => {
  console.error(`lab: could not start ${jupyter}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
