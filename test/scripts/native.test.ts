import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';

/** scripts/native.js (CommonJS, run by `npm run setup`): the choices and the pinned wheels. */
interface NativeScript {
  requestedFlavour(flag: string | undefined, env: Record<string, string | undefined>): { value: string; where: string };
  pinnedWheels(file: string): string[];
  requirementsFile(flavour: string): string;
  ensureNative(opts: Record<string, unknown>): { skipped?: string; warning?: string };
  patchBindingSource(pkgDir: string): void;
  NativeError: new (...args: never[]) => Error;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const native = require(path.join(projectRoot(), 'scripts', 'native.js')) as NativeScript;

test('the native flavour comes from --native, then KIT_NATIVE, then auto; a wrong value names where it came from and the choices', () => {
  assert.deepEqual(native.requestedFlavour('cpu', { KIT_NATIVE: 'gpu' }), { value: 'cpu', where: '--native' });
  assert.deepEqual(native.requestedFlavour(undefined, { KIT_NATIVE: 'gpu' }), { value: 'gpu', where: 'KIT_NATIVE' });
  assert.equal(native.requestedFlavour(undefined, {}).value, 'auto');
  assert.throws(
    () => native.requestedFlavour(undefined, { KIT_NATIVE: 'cuda' }),
    (err: unknown) => err instanceof native.NativeError && /KIT_NATIVE is "cuda"/.test((err as Error).message) && /auto, off, cpu, gpu/.test((err as unknown as { fix: string }).fix),
  );
});

test('KIT_NATIVE=off skips the native step without touching anything', () => {
  const r = native.ensureNative({ flag: 'off', env: {}, quiet: true, announce: () => undefined });
  assert.match(r.skipped ?? '', /native backend off \(--native\)/);
  assert.equal(r.warning, undefined);
});

for (const flavour of ['cpu', 'gpu']) {
  test(`native/tensorflow-${flavour}.txt pins every wheel to one version and one sha256, TensorFlow 2.21.0 first`, () => {
    const pins = native.pinnedWheels(native.requirementsFile(flavour));
    assert.ok(pins.length >= 1);
    for (const pin of pins) assert.match(pin, /^[a-z0-9_-]+==[0-9][0-9a-z.]* --hash=sha256:[0-9a-f]{64}$/, pin);
    assert.match(pins[0] ?? '', /^tensorflow(-cpu)?==2\.21\.0 /);
    if (flavour === 'gpu') for (const lib of ['cudnn', 'cublas', 'cuda-runtime', 'nccl']) assert.ok(pins.some((p) => p.includes(`nvidia-${lib}`)), lib);
  });
}

test('a failed download is a warning that names the part, the fix and the opt-out, and leaves nothing half-written in the cache', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-native-'));
  const r = native.ensureNative({ flag: 'cpu', python: path.join(cache, 'no-such-python'), quiet: true, announce: () => undefined, env: { ...process.env, KIT_CACHE_DIR: cache } });
  assert.match(r.warning ?? '', /failed at download: could not start/);
  assert.match(r.warning ?? '', /fix: check access to PyPI/);
  assert.match(r.warning ?? '', /KIT_NATIVE=off/);
  assert.match(r.warning ?? '', /works without it, on webgpu/);
  // Neither the extraction folder nor the wheel folder survives the failure.
  assert.deepEqual(fs.readdirSync(path.join(cache, 'native')), []);
  fs.rmSync(cache, { recursive: true, force: true });
});

test('the binding patch adds the kit ops and list attributes once, and refuses a source without its anchors, leaving it untouched', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-binding-'));
  try {
    fs.mkdirSync(path.join(dir, 'binding'));
    // The shape of tfjs-node 4.22's files where the patch goes (the real ones are compiled by setup; test/kernels checks the result).
    const source = ['#include <string>', 'void AssignOpAttr() {', '  switch (tf_attr_type) {', '    case TF_ATTR_STRING: {', '      break;', '    }', '    case TF_ATTR_TYPE: {', '      break;', '    }', '  }', '}', ''].join('\n');
    const gyp = "{ 'targets': [{ 'sources': [\n      'binding/tfjs_backend.cc',\n      'binding/tfjs_binding.cc'\n    ] }] }\n";
    fs.writeFileSync(path.join(dir, 'binding', 'tfjs_backend.cc'), source);
    fs.writeFileSync(path.join(dir, 'binding.gyp'), gyp);
    native.patchBindingSource(dir);
    const patched = fs.readFileSync(path.join(dir, 'binding', 'tfjs_backend.cc'), 'utf8');
    assert.match(patched, /#include <vector>/);
    assert.match(patched, /case TF_ATTR_STRING: \{\n.*convnext-xray-kit[^]*TFE_OpSetAttrStringList[^]*case TF_ATTR_TYPE: \{\n.*convnext-xray-kit[^]*TFE_OpSetAttrTypeList/);
    assert.match(fs.readFileSync(path.join(dir, 'binding.gyp'), 'utf8'), /'binding\/tfjs_binding.cc',\n\s+'binding\/kit_ops.cc'/);
    assert.equal(fs.readFileSync(path.join(dir, 'binding', 'kit_ops.cc'), 'utf8'), fs.readFileSync(path.join(projectRoot(), 'native', 'kit_ops.cc'), 'utf8'));
    native.patchBindingSource(dir);
    assert.equal(fs.readFileSync(path.join(dir, 'binding', 'tfjs_backend.cc'), 'utf8'), patched, 'patching twice changed the source');
    assert.equal((fs.readFileSync(path.join(dir, 'binding.gyp'), 'utf8').match(/kit_ops/g) ?? []).length, 1);

    const other = source.replace('    case TF_ATTR_TYPE: {\n', '    case TF_ATTR_DATATYPE: {\n');
    fs.writeFileSync(path.join(dir, 'binding', 'tfjs_backend.cc'), other);
    assert.throws(() => native.patchBindingSource(dir), (e: Error) => e instanceof native.NativeError && /does not have the code the kit patches \(one `case TF_ATTR_TYPE: \{`\)/.test(e.message));
    assert.equal(fs.readFileSync(path.join(dir, 'binding', 'tfjs_backend.cc'), 'utf8'), other);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
