import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeBackend } from '../kernels/tensorflow';
import { messageOf } from '../util/errors';

export type { NativeAttr, NativeBackend, NativeBinding } from '../kernels/tensorflow';

/**
 * The native backend: libtensorflow through @tensorflow/tfjs-node's binding.
 *
 * Packages tried, first to last:
 * - `tfjs-node-native`: the npm alias of @tensorflow/tfjs-node 4.22.0 whose binding
 *   `npm run setup` builds against the TensorFlow wheel from PyPI (scripts/native.js). It writes
 *   `kit-native.json` beside the package: flavour, wheel and library folder.
 * - `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`: installed the usual way (their install
 *   script downloads libtensorflow from a host that has answered 403 since August 2026; a user
 *   with a mirror may still have them). danfojs-node's npm override maps `@tensorflow/tfjs-node`
 *   onto plain @tensorflow/tfjs, which has no native code: that counts as not installed.
 */
export const NATIVE_PACKAGES = ['tfjs-node-native', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** The real package each name must resolve to. */
const REAL_NAME: Record<(typeof NATIVE_PACKAGES)[number], string> = {
  'tfjs-node-native': '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  '@tensorflow/tfjs-node': '@tensorflow/tfjs-node',
};

/** How `npm run setup` built the binding (scripts/native.js writes it to kit-native.json). */
export interface NativeBuild {
  flavour: string;
  requirements: string;
  library: string;
  builtAt: string;
}

export interface NativeLoad {
  package: string;
  build?: NativeBuild;
}

/** What the native backend runs on and where its library came from (the device report's section). */
export interface TensorflowReport {
  /** libtensorflow's version, as the binding reports it. */
  version: string;
  /** The npm package that provided the binding (`tfjs-node-native` is the kit's own build). */
  package: string;
  /** Whether ops run on a CUDA GPU. */
  gpu: boolean;
  /** TensorFlow's devices as the kit knows them: `CPU:0`, plus `GPU:0` when a GPU is in use. */
  devices: string[];
  /** Threads per op and ops in parallel (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS; 0 = TensorFlow's default, one per core). */
  threads: { intraOp: number; interOp: number };
  /** How `npm run setup` built it, when it did. */
  build?: NativeBuild;
}

let loadedFrom: NativeLoad | undefined;

/**
 * Make the `tensorflow` backend available to tfjs (registers it; does not select it). Returns
 * the package that provided it, or the reason for each package that did not.
 */
export function loadNative(): { ok: true; load: NativeLoad } | { ok: false; reasons: string[] } {
  if (loadedFrom !== undefined) return { ok: true, load: loadedFrom };
  // TensorFlow logs its CPU features and oneDNN notice at start; keep warnings and errors only.
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
  const reasons: string[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    let resolved: string;
    try {
      resolved = require.resolve(`${pkg}/package.json`);
    } catch {
      reasons.push(`${pkg} is not installed`);
      continue;
    }
    const realName = (JSON.parse(fs.readFileSync(resolved, 'utf8')) as { name?: string }).name;
    if (realName !== REAL_NAME[pkg]) {
      reasons.push(`${pkg} is an alias of ${realName ?? 'another package'}, not the native binding`);
      continue;
    }
    try {
      require(pkg);
    } catch (err) {
      const first = messageOf(err).split('\n')[0] ?? '';
      const notBuilt = /can not be found at path|cannot find module .*tfjs_binding/i.test(messageOf(err));
      reasons.push(notBuilt ? `${pkg}'s binding is not built yet (\`npm run setup\` builds it)` : `${pkg} is installed but does not load: ${first}`);
      continue;
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      reasons.push(`${pkg} loaded but registered no "tensorflow" backend (two copies of @tensorflow/tfjs-core?)`);
      continue;
    }
    const info = path.join(path.dirname(resolved), 'kit-native.json');
    const build = fs.existsSync(info) ? (JSON.parse(fs.readFileSync(info, 'utf8')) as NativeBuild) : undefined;
    loadedFrom = { package: pkg, build };
    return { ok: true, load: loadedFrom };
  }
  return { ok: false, reasons };
}

/** Whether tfjs-node's backend runs ops on a CUDA GPU. Only valid once the backend is registered. */
export function nativeUsesGpu(): boolean {
  const backend = tf.findBackend('tensorflow') as unknown as NativeBackend | null;
  return backend?.isUsingGpuDevice === true;
}

const threadsFromEnv = (name: string): number => {
  const n = Number(process.env[name] ?? '0');
  return Number.isInteger(n) && n >= 0 ? n : 0;
};

/** The device report's tensorflow section; call when the tensorflow backend is selected. */
export function describeNative(): TensorflowReport {
  const backend = tf.findBackend('tensorflow') as unknown as NativeBackend;
  const gpu = backend.isUsingGpuDevice;
  return {
    version: backend.binding.TF_Version,
    package: loadedFrom?.package ?? 'unknown',
    gpu,
    devices: gpu ? ['CPU:0', 'GPU:0'] : ['CPU:0'],
    threads: { intraOp: threadsFromEnv('TF_NUM_INTRAOP_THREADS'), interOp: threadsFromEnv('TF_NUM_INTEROP_THREADS') },
    build: loadedFrom?.build,
  };
}
