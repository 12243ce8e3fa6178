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
