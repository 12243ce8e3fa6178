import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTO_RANKING, BackendLoaders, LoadResult, parseBackendName, selectBackend } from '../../src/lib/backend';
import { KitError } from '../../src/lib/util/errors';

// These tests each run in a fresh process (node --test runs files separately); within this file
// the selected backend is cached, so the order of tests matters and is documented per test.

const missing = (what: string): (() => Promise<LoadResult>) => async () => ({ ok: false, reason: `${what} is not installed`, install: `npm install ${what}` });

test('parseBackendName() accepts the four names and rejects others with the list', () => {
  for (const n of ['auto', 'tensorflow', 'webgpu', 'cpu']) assert.equal(parseBackendName(n), n);
  assert.throws(() => parseBackendName('cuda'), (err: unknown) => err instanceof KitError && /auto, tensorflow, webgpu, cpu/.test(err.fix));
});

test('asking for an unavailable backend is an error that names what is missing and how to install it', async () => {
  await assert.rejects(selectBackend({ backend: 'tensorflow', loaders: { tensorflow: missing('@tensorflow/tfjs-node-gpu') } }), (err: unknown) => {
    assert.ok(err instanceof KitError);
    assert.match(err.message, /"tensorflow" backend is not available: @tensorflow\/tfjs-node-gpu is not installed/);
    assert.match(err.fix, /npm install @tensorflow\/tfjs-node-gpu/);
    return true;
  });
});

test('auto selection tries tensorflow, then webgpu, then cpu, and takes the first that loads', async () => {
  const calls: string[] = [];
  const loaders: BackendLoaders = {
    tensorflow: async () => {
      calls.push('tensorflow');
      return { ok: false, reason: 'no native binding', install: 'npm run setup' };
    },
    webgpu: async () => {
      calls.push('webgpu');
      throw new Error('Dawn exploded');
    },
    cpu: async () => {
      calls.push('cpu');
      require('@tensorflow/tfjs-backend-cpu');
      return { ok: true, detail: 'pure JavaScript' };
    },
  };
  const report = await selectBackend({ backend: 'auto', loaders });
  assert.deepEqual(calls, ['tensorflow', 'webgpu', 'cpu']);
  assert.equal(report.backend, 'cpu');
  assert.deepEqual(report.tried.map((t) => [t.backend, t.ok]), [['tensorflow', false], ['webgpu', false], ['cpu', true]]);
  assert.match(report.tried[1]?.detail ?? '', /Dawn exploded/);
  assert.equal(report.adapter, undefined);
});

test('AUTO_RANKING orders the backends by speed: tf GPU, webgpu hardware, tf CPU, webgpu software, cpu', () => {
  assert.deepEqual(
    AUTO_RANKING.map((r) => `${r.backend}${r.accelerated ? '+' : ''}`),
    ['tensorflow+', 'webgpu+', 'tensorflow', 'webgpu', 'cpu'],
  );
});
