import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ensureBackend } from '../../src/lib/backend';
import { explainError, KitError } from '../../src/lib/util/errors';

test('ensureBackend() keeps a backend already running in tfjs (set with tf.setBackend) instead of switching', async () => {
  await tf.setBackend('cpu');
  const report = await ensureBackend();
  assert.equal(report.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.match(report.tried[0]?.detail ?? '', /already running/);
  assert.equal(await ensureBackend(), report);
});

test("explainError() turns tfjs's missing-kernel and no-backend errors into KitErrors with a fix, and leaves others alone", () => {
  const missing = explainError(new Error("Kernel 'Transform' not registered for backend 'tensorflow'"));
  assert.ok(missing instanceof KitError);
  assert.match(missing.message, /tensorflow backend has no Transform operation/);
  assert.match(missing.fix, /KIT_BACKEND=webgpu/);
  const none = explainError(new Error('No backend found in registry.'));
  assert.ok(none instanceof KitError);
  assert.match(none.fix, /selectBackend/);
  const other = new RangeError('something else');
  assert.equal(explainError(other), other);
  const kit = new KitError('x', { fix: 'y' });
  assert.equal(explainError(kit), kit);
});
