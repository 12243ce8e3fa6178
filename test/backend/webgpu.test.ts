import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { formatDeviceReport, selectBackend } from '../../src/lib/backend';

// The real WebGPU path: Dawn over Vulkan. On CI (no GPU) that is Mesa's lavapipe on the CPU, so
// this test needs libvulkan1 and mesa-vulkan-drivers (installed by .ci/run).
test('selectBackend({ backend: "webgpu" }) starts Dawn, reports the adapter, and computes correctly', async () => {
  const report = await selectBackend({ backend: 'webgpu' });
  assert.equal(report.backend, 'webgpu');
  assert.equal(tf.getBackend(), 'webgpu');
  assert.ok(report.adapter !== undefined);
  assert.ok(report.adapter.vendor.length > 0, 'adapter vendor reported');
  assert.ok(report.adapter.limits.maxBufferSize > 0);
  assert.match(formatDeviceReport(report), /backend\s+webgpu/);
  const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const b = tf.tensor2d([5, 6, 7, 8], [2, 2]);
  assert.deepEqual([...(await tf.matMul(a, b).data())], [19, 22, 43, 50]);
  // A convolution against hand-computed values: a 3×3 image of ones, a 2×2 kernel of ones.
  const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
  const k = tf.ones([2, 2, 1, 1]) as tf.Tensor4D;
  assert.deepEqual([...(await tf.conv2d(x, k, 1, 'valid').data())], [4, 4, 4, 4]);
  // Asking again returns the same report without re-initializing.
  assert.equal(await selectBackend({ backend: 'auto' }), report);
});
