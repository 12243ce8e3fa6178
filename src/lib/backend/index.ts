import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { KitError, messageOf } from '../util/errors';
import { loadSettings } from '../config/settings';
import { installKitKernels as installKernels } from '../kernels';

/**
 * Which TensorFlow.js backend runs the math, chosen once per process.
 *
 * Preference order, best first:
 * - `tensorflow`: the native libtensorflow binding (`@tensorflow/tfjs-node-gpu`, then
 *   `@tensorflow/tfjs-node`), when installed and loadable; CUDA on an NVIDIA GPU for `-gpu`.
 * - `webgpu`: Dawn (npm `webgpu`) over Vulkan: any GPU with a Vulkan driver, or the CPU through
 *   Mesa's lavapipe. The kit's own kernels (src/lib/kernels) are installed here.
 * - `cpu`: pure JavaScript. Always there, far too slow to train a convnet; fine for tests.
 */
export type BackendName = 'tensorflow' | 'webgpu' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'webgpu', 'cpu'];

/** What a loader found: the backend is registered with tfjs, or why it is not available. */
export type LoadResult = { ok: true; detail: string } | { ok: false; reason: string; install: string };

/** One function per backend that makes it available to tfjs (registers it) or says why not. */
export interface BackendLoaders {
  tensorflow: () => Promise<LoadResult>;
  webgpu: () => Promise<LoadResult>;
  cpu: () => Promise<LoadResult>;
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Whether this is a software rasterizer (lavapipe / SwiftShader) rather than a real GPU. */
  software: boolean;
  features: string[];
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
}

/** The kit's answer to `nvidia-smi`: what will run the math. */
export interface DeviceReport {
  backend: BackendName;
  tfjsVersion: string;
  /** Present for the webgpu backend. */
  adapter?: AdapterReport;
  /** Whether the kit's fast kernels are installed (webgpu only). */
  kitKernels: boolean;
  /** Every backend considered, in order, and what happened. */
  tried: { backend: BackendName; ok: boolean; detail: string }[];
  host: { platform: string; cpus: number; cpuModel: string; memoryGiB: number; node: string };
}

export interface SelectOptions {
  /** A backend name, or `auto` for the preference order. Default: KIT_BACKEND / config / auto. */
  backend?: BackendName | 'auto';
  /** Injected loaders (tests); missing ones are the real loaders. */
  loaders?: Partial<BackendLoaders>;
  /** Install the kit's WebGPU kernels (default true; KIT_STOCK_KERNELS=1 turns them off). */
  kitKernels?: boolean;
}

let current: DeviceReport | undefined;

/**
 * Pick and initialize the backend. Call once at the start of a notebook or program; later calls
 * return the same report unless a different backend is asked for.
 */
export async function selectBackend(options: SelectOptions = {}): Promise<DeviceReport> {
  const wanted = parseBackendName(options.backend ?? loadSettings().backend);
  if (current !== undefined && (wanted === 'auto' || wanted === current.backend)) return current;
  const loaders: BackendLoaders = { ...realLoaders, ...options.loaders };
  const candidates = wanted === 'auto' ? BACKENDS : [wanted];
  const tried: DeviceReport['tried'] = [];
  for (const name of candidates) {
    let result: LoadResult;
    try {
      result = await loaders[name]();
    } catch (err) {
      result = { ok: false, reason: messageOf(err), install: installHint(name) };
    }
    if (result.ok) {
      const ok = await initBackend(name);
      if (ok.ok) {
        tried.push({ backend: name, ok: true, detail: result.detail });
        const kitKernels = await installKitKernels(name, options.kitKernels);
        current = await buildReport(name, tried, kitKernels);
        return current;
      }
      result = { ok: false, reason: ok.reason, install: installHint(name) };
    }
    tried.push({ backend: name, ok: false, detail: result.reason });
    if (wanted !== 'auto') {
      throw new KitError(`the "${name}" backend is not available: ${result.reason}`, {
        where: 'KIT_BACKEND / selectBackend({ backend })',
        fix: `${result.install}; or use KIT_BACKEND=auto to take the best available one`,
      });
    }
  }
  throw new KitError(`no TensorFlow.js backend could start: ${tried.map((t) => `${t.backend}: ${t.detail}`).join('; ')}`, {
    fix: 'reinstall the project dependencies with `npm ci`',
  });
}

/** The report of the backend chosen by selectBackend; throws if none was chosen yet. */
export function deviceReport(): DeviceReport {
  if (current === undefined) {
    throw new KitError('no backend selected yet', { fix: 'call `await selectBackend()` first' });
  }
  return current;
}

export function parseBackendName(value: string): BackendName | 'auto' {
  if (value === 'auto' || (BACKENDS as readonly string[]).includes(value)) return value as BackendName | 'auto';
  throw new KitError(`unknown backend "${value}"`, {
    where: 'KIT_BACKEND',
    fix: `use one of: auto, ${BACKENDS.join(', ')}`,
  });
}

function installHint(name: BackendName): string {
  switch (name) {
    case 'tensorflow':
      return 'install the native binding: `npm install @tensorflow/tfjs-node-gpu` (NVIDIA GPU: needs CUDA 11.2 and cuDNN 8.1 on the library path) or `npm install @tensorflow/tfjs-node` (CPU), and allow its install script (`npm install-scripts approve @tensorflow/tfjs-node`) so it can download libtensorflow';
    case 'webgpu':
      return 'install the Vulkan loader and a driver: `sudo apt-get install libvulkan1 mesa-vulkan-drivers` (Debian 12: add `-t bookworm-backports`, Mesa 22 is too old), or the NVIDIA driver for a GPU; then `npm ci`';
    case 'cpu':
      return 'run `npm ci` to reinstall @tensorflow/tfjs-backend-cpu';
  }
}

async function initBackend(name: BackendName): Promise<{ ok: true } | { ok: false; reason: string }> {
  // tfjs logs and returns false when a backend factory fails; capture why.
  const errors: string[] = [];
  const originalWarn = console.warn;
  console.warn = (...args: unknown[]) => errors.push(args.map(String).join(' '));
  try {
    const ok = await tf.setBackend(name);
    await tf.ready();
    if (!ok) return { ok: false, reason: `tfjs could not initialize it${errors.length ? `: ${errors.join('; ')}` : ''}` };
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: messageOf(err) };
  } finally {
    console.warn = originalWarn;
  }
}

async function installKitKernels(name: BackendName, wanted: boolean | undefined): Promise<boolean> {
  const enabled = wanted ?? process.env['KIT_STOCK_KERNELS'] !== '1';
  return enabled ? installKernels(name) : false;
}

async function buildReport(name: BackendName, tried: DeviceReport['tried'], kitKernels: boolean): Promise<DeviceReport> {
  const cpus = os.cpus();
  const report: DeviceReport = {
    backend: name,
    tfjsVersion: tf.version_core,
    kitKernels,
    tried,
    host: {
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
    },
  };
  if (name === 'webgpu') report.adapter = await describeAdapter();
  return report;
}

async function describeAdapter(): Promise<AdapterReport> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter == null) throw new KitError('the WebGPU adapter disappeared after the backend started', { fix: 'restart the kernel' });
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: /llvmpipe|lavapipe|swiftshader|software|cpu/.test(text),
    features: [...adapter.features].map(String).sort(),
    limits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
    },
  };
}

/** Human-readable lines of the report, for a notebook cell or the CLI. */
export function formatDeviceReport(r: DeviceReport): string {
  const lines = [`backend      ${r.backend} (TensorFlow.js ${r.tfjsVersion})`];
  if (r.adapter !== undefined) {
    const a = r.adapter;
    lines.push(`adapter      ${[a.vendor, a.architecture, a.device].filter((s) => s !== '').join(' / ')}${a.software ? '  [software rasterizer: the CPU]' : ''}`);
    if (a.description !== '') lines.push(`description  ${a.description}`);
    lines.push(`max buffer   ${(a.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB`);
    lines.push(`kit kernels  ${r.kitKernels ? 'on' : 'off (stock tfjs kernels)'}`);
  }
  lines.push(`host         ${r.host.cpus} × ${r.host.cpuModel}, ${r.host.memoryGiB} GiB, Node ${r.host.node}`);
  for (const t of r.tried) lines.push(`${t.ok ? 'chosen ' : 'skipped'}      ${t.backend}: ${t.detail}`);
  return lines.join('\n');
}

// ---- the real loaders ----------------------------------------------------------------------

const realLoaders: BackendLoaders = {
  tensorflow: loadTensorflow,
  webgpu: loadWebgpu,
  cpu: async () => {
    require('@tensorflow/tfjs-backend-cpu');
    return { ok: true, detail: 'pure JavaScript' };
  },
};

async function loadTensorflow(): Promise<LoadResult> {
  const reasons: string[] = [];
  for (const pkg of ['tfjs-node-native', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    let resolved: string;
    try {
      resolved = require.resolve(`${pkg}/package.json`);
    } catch {
      reasons.push(`${pkg} is not installed`);
      continue;
    }
    // danfojs-node's npm override maps @tensorflow/tfjs-node onto plain @tensorflow/tfjs, which
    // has no native code: that is "not installed" for our purpose.
    const realName = (require(resolved) as { name?: string }).name;
    if (realName !== pkg && !(pkg === 'tfjs-node-native' && realName === '@tensorflow/tfjs-node')) {
      reasons.push(`${pkg} is an alias of ${realName ?? 'another package'}, not the native binding`);
      continue;
    }
    try {
      require(pkg);
    } catch (err) {
      reasons.push(`${pkg} is installed but does not load: ${messageOf(err).split('\n')[0] ?? ''}`);
      continue;
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      reasons.push(`${pkg} loaded but registered no "tensorflow" backend (two copies of @tensorflow/tfjs-core?)`);
      continue;
    }
    return { ok: true, detail: pkg };
  }
  return { ok: false, reason: reasons.join('; '), install: installHint('tensorflow') };
}

async function loadWebgpu(): Promise<LoadResult> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu === undefined) {
    let dawn: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    try {
      dawn = (await import('webgpu')) as unknown as typeof dawn;
    } catch (err) {
      return { ok: false, reason: `the npm package "webgpu" (Dawn) does not load: ${messageOf(err)}`, install: installHint('webgpu') };
    }
    // tfjs-backend-webgpu registers itself only if navigator.gpu exists when it is imported,
    // and uses the WebGPU constants (GPUBufferUsage, ...) as globals.
    Object.assign(globalThis, dawn.globals);
    const navigator = (g.navigator ?? {}) as { gpu?: GPU };
    navigator.gpu = dawn.create([]);
    if (g.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true, writable: true });
  }
  const adapter = await g.navigator?.gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter == null) {
    return { ok: false, reason: 'Dawn found no Vulkan adapter (no Vulkan loader or driver, or Mesa older than 23)', install: installHint('webgpu') };
  }
  require('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') == null) {
    return { ok: false, reason: '@tensorflow/tfjs-backend-webgpu did not register (was it imported before navigator.gpu was set?)', install: 'restart the kernel and call selectBackend() before importing @tensorflow/tfjs-backend-webgpu yourself' };
  }
  return { ok: true, detail: `Dawn on ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim() };
}
