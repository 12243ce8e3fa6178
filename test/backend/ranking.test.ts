import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BackendLoaders, LoadResult, selectBackend } from '../../src/lib/backend';

// Which backend `auto` takes for each combination of what loads. Stand-in 'tensorflow' and
// 'webgpu' backends (the cpu backend's factory under those names) make every choice startable,
// so only the ranking decides.

type Avail = LoadResult | 'throws';
const ok = (accelerated: boolean): LoadResult => ({ ok: true, detail: accelerated ? 'accelerated' : 'software', accelerated });
const no: LoadResult = { ok: false, reason: 'not here', install: 'install it' };

async function choose(tensorflow: Avail, webgpu: Avail): Promise<{ backend: string; calls: string[]; tried: string[] }> {
  const cpuFactory = tf.findBackendFactory('cpu');
  assert.ok(cpuFactory);
  for (const name of ['tensorflow', 'webgpu']) {
    if (tf.findBackendFactory(name) != null) tf.removeBackend(name);
    tf.registerBackend(name, cpuFactory);
  }
  const calls: string[] = [];
  const loader = (name: string, a: Avail) => async (): Promise<LoadResult> => {
    calls.push(name);
    if (a === 'throws') throw new Error(`${name} exploded`);
    return a;
  };
  const loaders: BackendLoaders = { tensorflow: loader('tensorflow', tensorflow), webgpu: loader('webgpu', webgpu), cpu: loader('cpu', ok(false)) };
  const report = await selectBackend({ backend: 'auto', loaders, kitKernels: false, reselect: true });
  return { backend: report.backend, calls, tried: report.tried.map((t) => `${t.backend}:${t.ok}`) };
}

test('auto: tensorflow on a GPU beats webgpu on a GPU, and webgpu is then not even loaded', async () => {
  const r = await choose(ok(true), ok(true));
  assert.equal(r.backend, 'tensorflow');
  assert.deepEqual(r.calls, ['tensorflow']);
});

test('auto: webgpu on a hardware adapter beats tensorflow on the CPU', async () => {
  assert.equal((await choose(ok(false), ok(true))).backend, 'webgpu');
});

test('auto: tensorflow on the CPU beats webgpu on a software adapter (lavapipe); each loads once', async () => {
  const r = await choose(ok(false), ok(false));
  assert.equal(r.backend, 'tensorflow');
  assert.deepEqual(r.calls, ['tensorflow', 'webgpu']);
});

test('auto: webgpu on lavapipe when there is no native build', async () => {
  const r = await choose(no, ok(false));
  assert.equal(r.backend, 'webgpu');
  assert.deepEqual(r.tried, ['tensorflow:false', 'webgpu:true']);
});

test('auto: cpu when neither loads; a loader that throws counts as not available', async () => {
  const r = await choose('throws', no);
  assert.equal(r.backend, 'cpu');
  assert.deepEqual(r.tried, ['tensorflow:false', 'webgpu:false', 'cpu:true']);
});
