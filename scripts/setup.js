#!/usr/bin/env node
'use strict';
// One-command setup of the kit (`npm run setup`). Every step first checks whether it is already
// done and skips it, so running this again is fast and safe. Needs no root.
//
//   1. toolchain   Node >= 20.9 and Python >= 3.9
//   2. packages    `npm ci` when node_modules is missing or older than package-lock.json
//   3. build       `npm run build` when a .ts file in src/ or test/ is newer than the last build
//   4. venv        .venv/ with the exact pins of requirements.txt (JupyterLab, nbconvert)
//   5. kernel      the tslab kernelspecs in .venv/, started by this Node with absolute paths
//   6. native      the native TensorFlow backend, built from PyPI's TensorFlow wheel (scripts/native.js;
//                  warning only: without it the kit runs on webgpu)
//   7. system      Vulkan loader + a Vulkan driver for the webgpu backend (warning only)
//
// Flags: --quiet (print only warnings, errors and the work actually done), --native=auto|cpu|gpu|off
// (which native build; also KIT_NATIVE or "native" in kit.config.json), --native-rebuild (download
// and build it again). Env: KIT_PYTHON picks the Python used to create the venv (default: python3,
// then python).

const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { ensureNative, NativeError } = require('./native.js');

const ROOT = path.resolve(__dirname, '..');
const VENV = path.join(ROOT, '.venv');
const REQUIREMENTS = path.join(ROOT, 'requirements.txt');
const REQUIREMENTS_HASH = path.join(VENV, '.kit-requirements-hash');
const BUILD_STAMP = path.join(ROOT, 'dist', '.kit-build-stamp');
const TSLAB_BIN = path.join(ROOT, 'node_modules', '.bin', 'tslab');
const KERNELS_DIR = path.join(VENV, 'share', 'jupyter', 'kernels');
const MIN_NODE = [20, 9, 0];
const MIN_PYTHON = [3, 9];

/** A failed step: what went wrong and what the user should do about it. */
class SetupError extends Error {
  constructor(message, fix, output) {
    super(message);
    this.fix = fix;
    this.output = output;
  }
}

/** A path inside the venv's bin folder (`Scripts` on Windows). */
function venvBin(name) {
  return process.platform === 'win32' ? path.join(VENV, 'Scripts', `${name}.exe`) : path.join(VENV, 'bin', name);
}

/**
 * The environment for everything the kit starts (jupyter, kernels, tests): this Node's folder and
 * the venv's bin first on PATH, so `node` and `jupyter` are the ones setup checked, whatever the
 * calling shell's PATH is.
 */
function kitEnv(base = process.env) {
  const extra = [path.dirname(process.execPath), path.dirname(venvBin('python'))];
  const rest = (base.PATH ?? '').split(path.delimiter).filter((p) => p !== '' && !extra.includes(p));
  // Jupyter prefers the venv's kernelspecs over ~/.local ones already; say so in case the user's
  // environment says otherwise, so a stale user-level `tslab` kernelspec can never win.
  return { ...base, PATH: [...extra, ...rest].join(path.delimiter), JUPYTER_PREFER_ENV_PATH: '1' };
}

function versionAtLeast(found, wanted) {
  for (let i = 0; i < wanted.length; i++) {
    const f = found[i] ?? 0;
    if (f !== wanted[i]) return f > wanted[i];
  }
  return true;
}

function mtimeMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Newest mtime of `dir`, its subfolders and the files in them whose names end with `ext` (0 if
 * none). Folders count because deleting or renaming a file changes only its folder's mtime.
 */
function newestMtime(dir, ext) {
  let newest = mtimeMs(dir) ?? 0;
  if (newest === 0) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isDirectory() && !(entry.isFile() && entry.name.endsWith(ext))) continue;
    const m = mtimeMs(path.join(entry.parentPath ?? entry.path, entry.name)) ?? 0;
    if (m > newest) newest = m;
  }
  return newest;
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function rel(p) {
  return path.relative(ROOT, p) || '.';
}

function seconds(startMs) {
  return `${((Date.now() - startMs) / 1000).toFixed(1)} s`;
}

/**
 * Run a command to completion. Its output goes to the terminal, or (quiet) is kept and shown
 * only if it fails. Throws a SetupError naming the command when it cannot start or exits non-zero.
 */
function run(cmd, args, { quiet, fix, cwd = ROOT, env = kitEnv() }) {
  const shown = [cmd, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
  const res = spawnSync(cmd, args, {
    cwd,
    env,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.error) throw new SetupError(`could not start \`${shown}\`: ${res.error.message}`, fix);
  if (res.status !== 0) {
    const how = res.status === null ? `was killed by ${res.signal}` : `exited with code ${res.status}`;
    throw new SetupError(`\`${shown}\` ${how}`, fix, quiet ? `${res.stdout}${res.stderr}` : undefined);
  }
}

/** Run a short probe command; its trimmed stdout, or undefined when it fails to run or exits non-zero. */
function probe(cmd, args, env = kitEnv()) {
  const res = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return res.error || res.status !== 0 ? undefined : res.stdout.trim();
}

function npmCommand() {
  // Under `npm run`, reuse the very npm that started us; else the npm beside this node, else PATH.
  const execpath = process.env.npm_execpath;
  if (execpath && /npm-cli\.js$/.test(execpath) && fs.existsSync(execpath)) return [process.execPath, [execpath]];
  const beside = path.join(path.dirname(process.execPath), process.platform === 'win32' ? 'npm.cmd' : 'npm');
  return [fs.existsSync(beside) ? beside : 'npm', []];
}

function readOsRelease() {
  const out = {};
  try {
    for (const line of fs.readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
    }
  } catch {
    // No os-release: not a Linux distro we can give apt advice for.
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Step 1: Node and Python versions. Returns the Python to create the venv with. */
function checkToolchain() {
  const node = process.versions.node.split('.').map(Number);
  if (!versionAtLeast(node, MIN_NODE)) {
    throw new SetupError(
      `Node ${process.versions.node} is too old (${process.execPath}); the kit needs Node >= ${MIN_NODE.join('.')}`,
      'install Node 20 LTS or newer (https://nodejs.org, or `nvm install 20`), then run `npm run setup` again',
    );
  }
  const candidates = process.env.KIT_PYTHON ? [process.env.KIT_PYTHON] : ['python3', 'python'];
  const found = [];
  for (const py of candidates) {
    const out = probe(py, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3]); print(sys.executable)'], process.env);
    if (out === undefined) continue;
    const [version = '', executable = py] = out.split('\n');
    if (versionAtLeast(version.split('.').map(Number), MIN_PYTHON)) return { python: py, version, executable };
    found.push(`${py} is Python ${version}`);
  }
  throw new SetupError(
    `no Python >= ${MIN_PYTHON.join('.')} found (tried ${candidates.join(', ')}${found.length ? `; ${found.join(', ')}` : ': not on PATH'})`,
    'install Python 3.9 or newer (Debian/Ubuntu: `sudo apt-get install python3 python3-venv`), ' +
      'or point KIT_PYTHON at one, then run `npm run setup` again',
  );
}

/** Step 2: node_modules matches package-lock.json. Returns whether `npm ci` ran. */
function ensureNodeModules(opts) {
  const lock = path.join(ROOT, 'package-lock.json');
  const installed = path.join(ROOT, 'node_modules', '.package-lock.json');
  const lockTime = mtimeMs(lock);
  if (lockTime === undefined) {
    throw new SetupError(`${rel(lock)} is missing`, 'restore it (`git checkout package-lock.json`), then run `npm run setup` again');
  }
  const installedTime = mtimeMs(installed);
  if (installedTime !== undefined && installedTime >= lockTime) return { skipped: 'node_modules is up to date with package-lock.json' };
  opts.announce(installedTime === undefined ? 'node_modules is missing: running npm ci' : 'package-lock.json changed: running npm ci');
  const [npm, pre] = npmCommand();
  run(npm, [...pre, 'ci', '--no-audit', '--no-fund'], {
    ...opts,
    fix: 'check access to the npm registry and the error above, then run `npm run setup` again',
  });
  return { done: 'installed node_modules with npm ci' };
}

/** Delete compiled files in dist/ whose .ts source is gone, so a removed test cannot still run. */
function pruneOrphans() {
  const dist = path.join(ROOT, 'dist');
  let removed = 0;
  for (const top of ['src', 'test']) {
    const dir = path.join(dist, top);
    if (!fs.existsSync(dir)) continue;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const m = /^(.*)\.(js|d\.ts)(\.map)?$/.exec(entry.name);
      if (!m) continue;
      const file = path.join(entry.parentPath ?? entry.path, entry.name);
      const source = path.join(ROOT, path.relative(dist, path.dirname(file)), `${m[1]}.ts`);
      if (!fs.existsSync(source)) {
        fs.rmSync(file);
        removed++;
      }
    }
  }
  return removed;
}

/** Step 3: dist/ is compiled from the current sources. */
function ensureBuild(opts, force) {
  const newestSource = Math.max(
    newestMtime(path.join(ROOT, 'src'), '.ts'),
    newestMtime(path.join(ROOT, 'test'), '.ts'),
    mtimeMs(path.join(ROOT, 'tsconfig.json')) ?? 0,
  );
  const stamp = mtimeMs(BUILD_STAMP);
  const entry = path.join(ROOT, 'dist', 'src', 'lib', 'index.js');
  if (!force && stamp !== undefined && stamp >= newestSource && fs.existsSync(entry)) {
    return { skipped: 'the last build is newer than every .ts (and folder) in src/ and test/' };
  }
  opts.announce(force ? 'node_modules changed: compiling with npm run build' : 'sources changed: compiling with npm run build');
  // The stamp gets the time the build started, so a file saved during the build triggers the next one.
  const started = new Date();
  fs.rmSync(BUILD_STAMP, { force: true }); // a failed or interrupted build must run again next time
  const [npm, pre] = npmCommand();
  run(npm, [...pre, 'run', '--silent', 'build'], {
    ...opts,
    fix: 'fix the TypeScript errors above (they name file and line), then run `npm run setup` again',
  });
  const removed = pruneOrphans();
  fs.writeFileSync(BUILD_STAMP, 'written by scripts/setup.js after a successful `npm run build`\n');
  fs.utimesSync(BUILD_STAMP, started, started);
  return { done: `compiled src/ and test/ into dist/${removed ? ` (removed ${removed} stale files)` : ''}` };
}

/** Step 4: .venv/ exists, works and has exactly requirements.txt installed. */
function ensureVenv(opts, toolchain) {
  if (!fs.existsSync(REQUIREMENTS)) {
    throw new SetupError(`${rel(REQUIREMENTS)} is missing`, 'restore it (`git checkout requirements.txt`), then run `npm run setup` again');
  }
  const want = sha256(REQUIREMENTS);
  const py = venvBin('python');
  const healthy = fs.existsSync(py) && probe(py, ['-c', 'import sys']) !== undefined;
  let have;
  try {
    have = fs.readFileSync(REQUIREMENTS_HASH, 'utf8').trim();
  } catch {
    have = undefined;
  }
  if (healthy && have === want) return { skipped: '.venv matches requirements.txt' };

  if (!healthy) {
    if (fs.existsSync(VENV)) {
      opts.announce('.venv is broken (its Python does not run, e.g. the Python it came from moved): recreating it');
      fs.rmSync(VENV, { recursive: true, force: true });
    }
    const ensurepip = probe(toolchain.python, ['-c', 'import venv, ensurepip'], process.env);
    if (ensurepip === undefined) {
      throw new SetupError(
        `${toolchain.python} (${toolchain.executable}) cannot create virtual environments: its venv/ensurepip module is missing`,
        'Debian/Ubuntu: `sudo apt-get install python3-venv`; or point KIT_PYTHON at another Python >= 3.9',
      );
    }
    opts.announce(`creating .venv with ${toolchain.python} (Python ${toolchain.version})`);
    run(toolchain.python, ['-m', 'venv', VENV], { ...opts, env: process.env, fix: 'see the error above; `rm -rf .venv` and run `npm run setup` again' });
  }
  opts.announce(`installing requirements.txt into .venv (pip, from PyPI)`);
  run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS], {
    ...opts,
    fix: 'check access to PyPI and the pip error above, then run `npm run setup` again',
  });
  const versions = probe(py, [
    '-c',
    'import importlib.metadata as m; print(" ".join(p + " " + m.version(p) for p in ("jupyterlab", "nbconvert", "ipykernel")))',
  ]);
  if (versions === undefined) {
    throw new SetupError('pip finished but jupyterlab / nbconvert / ipykernel cannot be imported from .venv', '`rm -rf .venv` and run `npm run setup` again');
  }
  fs.writeFileSync(REQUIREMENTS_HASH, `${want}\n`);
  return { done: `installed ${versions}` };
}

/** The kernelspecs we want: absolute node + absolute tslab, so no PATH lookup is needed to start. */
function desiredKernelSpecs() {
  const nodeDir = path.dirname(process.execPath);
  const spec = (js) => ({
    argv: [process.execPath, TSLAB_BIN, 'kernel', '--config-path', '{connection_file}', ...(js ? ['--js'] : [])],
    // The same name the notebooks' metadata carries; says which project's kernel this is.
    display_name: js ? 'JavaScript (convnext-xray-kit)' : 'TypeScript (convnext-xray-kit)',
    language: js ? 'javascript' : 'typescript',
    // Code in a notebook that starts `node` (or npm) gets this same Node; ${PATH} is the server's PATH.
    env: { PATH: `${nodeDir}${path.delimiter}\${PATH}` },
  });
  return { tslab: spec(false), jslab: spec(true) };
}

/**
 * Step 5: the `tslab` and `jslab` kernelspecs in .venv/share/jupyter/kernels, i.e. what
 * `tslab install --sys-prefix` writes, but with node and tslab as absolute paths.
 */
function ensureKernel(opts) {
  if (!fs.existsSync(TSLAB_BIN)) {
    throw new SetupError(`${rel(TSLAB_BIN)} is missing`, '`rm -rf node_modules` and run `npm run setup` again (it runs npm ci)');
  }
  const changed = [];
  for (const [name, spec] of Object.entries(desiredKernelSpecs())) {
    const file = path.join(KERNELS_DIR, name, 'kernel.json');
    let current;
    try {
      current = JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')));
    } catch {
      current = undefined;
    }
    if (current === JSON.stringify(spec)) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(spec, null, 2)}\n`);
    changed.push(name);
  }
  if (changed.length === 0) return { skipped: `tslab kernelspec is up to date (${process.execPath})` };

  opts.announce(`registering kernelspecs ${changed.join(', ')}`);
  const listed = probe(venvBin('jupyter'), ['kernelspec', 'list', '--json']);
  const dir = listed === undefined ? undefined : JSON.parse(listed).kernelspecs?.tslab?.resource_dir;
  if (dir === undefined || path.resolve(dir) !== path.join(KERNELS_DIR, 'tslab')) {
    throw new SetupError(
      `jupyter in .venv resolves the tslab kernel to ${dir ?? 'nothing'}, expected ${rel(path.join(KERNELS_DIR, 'tslab'))}`,
      'remove the other tslab kernelspec (`jupyter kernelspec list`, then `jupyter kernelspec remove tslab`) or unset JUPYTER_PATH',
    );
  }
  return { done: `wrote ${changed.map((n) => rel(path.join(KERNELS_DIR, n, 'kernel.json'))).join(', ')}` };
}

/** Step 6: can the webgpu backend find Vulkan? Returns warnings; never fails setup. */
function checkVulkan() {
  if (process.platform !== 'linux') return { skipped: `not Linux (${process.platform}): no Vulkan check` };
  const ldconfig = ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig'].find((p) => !p.startsWith('/') || fs.existsSync(p));
  const libs = ldconfig ? probe(ldconfig, ['-p']) ?? '' : '';
  const hasLoader = /\blibvulkan\.so\.1\b/.test(libs);
  const icdDirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  const icds = icdDirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.json')) : []));
  const problems = [];
  if (!hasLoader) problems.push('the Vulkan loader libvulkan.so.1 is not installed');
  if (icds.length === 0) problems.push(`no Vulkan driver (ICD .json) in ${icdDirs.join(', ')}`);
  const mesa = probe('dpkg-query', ['-W', '-f=${Version}', 'mesa-vulkan-drivers']);
  const mesaMajor = mesa ? Number(/^(?:\d+:)?(\d+)\./.exec(mesa)?.[1]) : undefined;
  if (mesaMajor !== undefined && mesaMajor < 23) problems.push(`mesa-vulkan-drivers ${mesa} is too old for Dawn's Vulkan backend (Mesa 22.x is known not to work)`);
  if (problems.length === 0) {
    return { ok: `Vulkan loader and ${icds.length} driver(s) found (${icds.join(', ')})${mesa ? `, Mesa ${mesa}` : ''}` };
  }
  const osr = readOsRelease();
  const debianLike = osr.ID === 'debian' || osr.ID === 'ubuntu' || /\b(debian|ubuntu)\b/.test(osr.ID_LIKE ?? '');
  let fixText;
  if (osr.ID === 'debian' && osr.VERSION_CODENAME === 'bookworm') {
    fixText = [
      "Debian 12's own Mesa (22.3) is too old; take both from bookworm-backports:",
      "  printf '%s\\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \\",
      "    'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \\",
      '    | sudo tee /etc/apt/sources.list.d/backports.sources',
      '  sudo apt-get update',
      '  sudo apt-get install -t bookworm-backports libvulkan1 mesa-vulkan-drivers',
    ].join('\n');
  } else if (debianLike) {
    fixText = '  sudo apt-get update && sudo apt-get install libvulkan1 mesa-vulkan-drivers';
  } else {
    fixText = "  install your distribution's Vulkan loader (libvulkan.so.1) and Mesa Vulkan drivers (lavapipe)";
  }
  return {
    warning:
      `${problems.join('; ')}.\n` +
      'The webgpu backend will not start, and the kit will fall back to the slow pure-JS cpu backend.\n' +
      `To fix (needs root, once):\n${fixText}`,
  };
}

// ---------------------------------------------------------------------------------------------

const USAGE = `usage: node scripts/setup.js [--quiet] [--native=auto|cpu|gpu|off] [--native-rebuild]
Sets up the kit: npm packages, build, Python venv with JupyterLab, tslab kernel, the native
TensorFlow backend, Vulkan check. Each step is skipped when already done.
  --native=WHICH     the native TensorFlow build: auto (gpu with an NVIDIA driver, else cpu), cpu,
                     gpu or off (default: KIT_NATIVE, else "native" in kit.config.json, else auto)
  --native-rebuild   download and build the native backend again
Env: KIT_PYTHON=/path/to/python3 picks the venv's Python; KIT_NATIVE as --native.`;

function main(argv = process.argv.slice(2)) {
  let quiet = false;
  let nativeFlag;
  let nativeRebuild = false;
  for (const arg of argv) {
    if (arg === '--quiet' || arg === '-q') quiet = true;
    else if (arg.startsWith('--native=')) nativeFlag = arg.slice('--native='.length);
    else if (arg === '--native-rebuild') nativeRebuild = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`setup: unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
      return 2;
    }
  }
  const started = Date.now();
  const say = quiet ? () => {} : (line) => console.log(line);
  say(`setup: convnext-xray-kit in ${ROOT}`);

  const state = {};
  const steps = [
    ['toolchain', () => {
      const t = checkToolchain();
      state.toolchain = t;
      return { ok: `Node ${process.versions.node} (${process.execPath}), Python ${t.version} (${t.executable})` };
    }],
    ['npm packages', (opts) => {
      const r = ensureNodeModules(opts);
      state.installed = 'done' in r;
      return r;
    }],
    ['build', (opts) => ensureBuild(opts, state.installed)],
    ['python venv', (opts) => ensureVenv(opts, state.toolchain)],
    ['jupyter kernel', (opts) => ensureKernel(opts)],
    ['native backend', (opts) => {
      try {
        return ensureNative({ ...opts, flag: nativeFlag, rebuild: nativeRebuild, python: venvBin('python') });
      } catch (err) {
        // A wrong --native / KIT_NATIVE value is the user's to fix; build failures come back as warnings.
        if (err instanceof NativeError) throw new SetupError(err.message, err.fix);
        throw err;
      }
    }],
    ['system', () => checkVulkan()],
  ];
  for (const [i, [name, fn]] of steps.entries()) {
    const label = `[${i + 1}/${steps.length}] ${name}`;
    const t0 = Date.now();
    // In quiet mode, a step that has real work to do still says so (it can take minutes).
    const announce = (what) => (quiet ? console.log(`setup: ${what} ...`) : console.log(`${label}: ${what} ...`));
    try {
      const r = fn({ quiet, announce });
      if (r.skipped) say(`${label}: ok, skipped: ${r.skipped}`);
      else if (r.done) say(`${label}: done: ${r.done} (${seconds(t0)})`);
      else if (r.ok) say(`${label}: ok: ${r.ok}`);
      if (r.warning) console.warn(`${label}: WARNING: ${r.warning.replace(/\n/g, '\n  ')}`);
    } catch (err) {
      if (err instanceof SetupError) {
        if (err.output) process.stderr.write(err.output.endsWith('\n') ? err.output : `${err.output}\n`);
        console.error(`setup failed at ${label}: ${err.message}\n  fix: ${err.fix}`);
      } else {
        console.error(`setup failed at ${label} with an unexpected error (a bug in scripts/setup.js):`);
        console.error(err);
      }
      return 1;
    }
  }
  say(`setup: ready in ${seconds(started)}. Start JupyterLab with \`npm start\`, run the tests with \`npm test\`.`);
  return 0;
}

module.exports = { ROOT, VENV, venvBin, kitEnv };

if (require.main === module) process.exitCode = main();
