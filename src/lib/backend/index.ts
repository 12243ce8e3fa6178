/** Choosing the engine by speed (tensorflow, webgpu, cpu), starting it, and the device report. */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { KitError, messageOf } from '../util/errors';
import { loadSettings } from '../config/settings';
import { installKitKernels as installKernels, installMissingKernels } from '../kernels';
import { describeNative, loadNative, nativeUsesGpu, TensorflowReport } from './tensorflow';

export type { TensorflowReport } from './tensorflow';

/**
 * Which TensorFlow.js backend runs the math, chosen once per process.
 *
 * - `tensorflow`: libtensorflow through tfjs-node's binding. `npm run setup` builds it from
 *   PyPI's TensorFlow wheel (scripts/native.js) into the npm alias `tfjs-node-native`; a normally
 *   installed `@tensorflow/tfjs-node(-gpu)` is taken too. CUDA when built as the gpu flavour and
 *   a GPU is usable, else the CPU (oneDNN; the fastest way to train on a CPU).
 * - `webgpu`: Dawn (npm `webgpu`) over Vulkan: any GPU with a Vulkan driver, or the CPU through
 *   Mesa's lavapipe. The kit's own kernels (src/lib/kernels) are installed here.
 * - `cpu`: pure JavaScript. Always there, far too slow to train a convnet; fine for tests.
 *
 * `auto` ranks them by measured speed (README, "Backends"): tensorflow on a GPU, webgpu on a
 * hardware adapter, tensorflow on the CPU, webgpu on a software adapter (lavapipe), cpu.
 */
export type BackendName = 'tensorflow' | 'webgpu' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'webgpu', 'cpu'];

/**
 * What a loader found: the backend is registered with tfjs (and whether it runs on an
 * accelerator: a CUDA device for tensorflow, a hardware adapter for webgpu), or why it is not.
 */
export type LoadResult =
  | { ok: true; detail: string; accelerated?: boolean; describe?: () => Promise<Pick<DeviceReport, 'adapter' | 'tensorflow'>> }
  | { ok: false; reason: string; install: string };

/** One function per backend that makes it available to tfjs (registers it) or says why not. */
export interface BackendLoaders {
  tensorflow: () => Promise<LoadResult>;
  webgpu: () => Promise<LoadResult>;
  cpu: () => Promise<LoadResult>;
}

/** The `auto` order: a backend is taken at the first rank whose condition its load result meets. */
export const AUTO_RANKING: readonly { backend: BackendName; accelerated: boolean; label: string }[] = [
  { backend: 'tensorflow', accelerated: true, label: 'tensorflow on a GPU' },
  { backend: 'webgpu', accelerated: true, label: 'webgpu on a hardware adapter' },
  { backend: 'tensorflow', accelerated: false, label: 'tensorflow on the CPU' },
  { backend: 'webgpu', accelerated: false, label: 'webgpu on a software adapter' },
  { backend: 'cpu', accelerated: false, label: 'pure JavaScript' },
];

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
  /** Present for the tensorflow backend. */
  tensorflow?: TensorflowReport;
  /** Whether the kit's own kernels are installed (webgpu: WGSL kernels; tensorflow: native ops). */
  kitKernels: boolean;
  /** Every backend considered, in order, and what happened. */
  tried: { backend: BackendName; ok: boolean; detail: string }[];
  host: { platform: string; cpus: number; cpuModel: string; memoryGiB: number; node: string };
}

export interface SelectOptions {
  /** A backend name, or `auto` for the ranking above. Default: KIT_BACKEND / config / auto. */
  backend?: BackendName | 'auto';
  /** Injected loaders (tests); missing ones are the real loaders. */
  loaders?: Partial<BackendLoaders>;
  /** Install the kit's kernels (default true; KIT_STOCK_KERNELS=1 turns them off). */
  kitKernels?: boolean;
  /** Choose again even when a backend was already chosen (tests; switching in a notebook). */
  reselect?: boolean;
}

let current: DeviceReport | undefined;

/**
 * Pick and initialize the backend. Call once at the start of a notebook or program; later calls
 * return the same report unless a different backend is asked for. Library functions that need a
 * backend call it themselves, so calling them first is fine too.
 */
export async function selectBackend(options: SelectOptions = {}): Promise<DeviceReport> {
  const settings = loadSettings();
  const wanted = parseBackendName(options.backend ?? settings.backend);
  if (current !== undefined && options.reselect !== true && (wanted === 'auto' || wanted === current.backend)) return current;
  const loaders: BackendLoaders = { ...realLoaders, ...options.loaders };
  const loaded = new Map<BackendName, LoadResult>();
  const load = async (name: BackendName): Promise<LoadResult> => {
    let result = loaded.get(name);
    if (result === undefined) {
      try {
        result = await loaders[name]();
      } catch (err) {
        result = { ok: false, reason: messageOf(err), install: installHint(name) };
      }
      loaded.set(name, result);
    }
    return result;
  };
  const tried: DeviceReport['tried'] = [];
  const failed = new Set<BackendName>();
  const ranking = wanted === 'auto' ? AUTO_RANKING : [{ backend: wanted, accelerated: false, label: wanted }];
  // KIT_NATIVE=off (or "native": "off" in kit.config.json) keeps auto away from the native backend.
  if (wanted === 'auto' && settings.native === 'off') {
    loaded.set('tensorflow', { ok: false, reason: 'turned off (KIT_NATIVE=off)', install: 'unset KIT_NATIVE' });
  }
  for (const rank of ranking) {
    const name = rank.backend;
    if (failed.has(name)) continue;
    const result = await load(name);
    if (result.ok && rank.accelerated && result.accelerated !== true) continue;
    let reason: string;
    let install = installHint(name);
    if (result.ok) {
      const ok = await initBackend(name);
      if (ok.ok) {
        tried.push({ backend: name, ok: true, detail: `${result.detail}${wanted === 'auto' ? ` (auto: ${rank.label})` : ''}` });
        const kitKernels = await installKitKernels(name, options.kitKernels);
        current = { ...(await buildReport(name, tried, kitKernels)), ...(await result.describe?.()) };
        return current;
      }
      reason = ok.reason;
    } else {
      reason = result.reason;
      install = result.install;
    }
    failed.add(name);
    tried.push({ backend: name, ok: false, detail: reason });
    if (wanted !== 'auto') {
      throw new KitError(`the "${name}" backend is not available: ${reason}`, {
        where: 'KIT_BACKEND / selectBackend({ backend })',
        fix: `${install}; or use KIT_BACKEND=auto to take the best available one`,
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

/**
 * The report of the backend in use, for library entry points (train, predict, Grad-CAM, ...):
 * the one selectBackend chose; else one already running in tfjs (set with tf.setBackend, as
 * tests do), kept as it is; else a fresh choice (KIT_BACKEND, else auto), so calling the library
 * before choosing a backend works.
 */
export async function ensureBackend(): Promise<DeviceReport> {
  if (current !== undefined) return current;
  const running = (tf.engine() as unknown as { backendName: string | null }).backendName;
  if (running !== null && (BACKENDS as readonly string[]).includes(running)) {
    const name = running as BackendName;
    current = await buildReport(name, [{ backend: name, ok: true, detail: 'already running (chosen outside selectBackend)' }], false);
    return current;
  }
  return selectBackend();
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
      return 'build the native binding from PyPI\'s TensorFlow wheel: `npm run setup` (it says what failed, if it does; `npm run setup -- --native-rebuild` starts it over; `--native=gpu` for the CUDA build)';
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
  installMissingKernels(name);
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
  return report;
}

/** Whether a WebGPU adapter is a software rasterizer (lavapipe / SwiftShader) rather than a GPU. */
function isSoftwareAdapter(info: { vendor: string; architecture: string; device: string; description: string }): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|software|cpu/.test(text);
}

async function describeAdapter(): Promise<AdapterReport> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter == null) throw new KitError('the WebGPU adapter disappeared after the backend started', { fix: 'restart the kernel' });
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: isSoftwareAdapter(info),
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
  if (r.tensorflow !== undefined) {
    const t = r.tensorflow;
    const threads = (n: number): string => (n === 0 ? 'TensorFlow default (one per core)' : String(n));
    lines.push(`tensorflow   ${t.version} on ${t.devices.join(', ')} (${t.package})`);
    lines.push(`threads      intra-op ${threads(t.threads.intraOp)}, inter-op ${threads(t.threads.interOp)}`);
    if (t.build !== undefined) lines.push(`built from   ${t.build.requirements} (${t.build.flavour}), library in ${t.build.library}`);
    lines.push(`kit kernels  ${r.kitKernels ? 'on (native ops for augmentation, BatchNorm, ReLU grad, AdamW)' : 'off (stock tfjs-node kernels)'}`);
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
  const r = loadNative();
  if (!r.ok) return { ok: false, reason: r.reasons.join('; '), install: installHint('tensorflow') };
  const gpu = nativeUsesGpu();
  const build = r.load.build;
  const from = build !== undefined ? `, built by setup (${build.flavour})` : '';
  return { ok: true, detail: `${r.load.package}${from}, ${gpu ? 'CUDA GPU' : 'CPU'}`, accelerated: gpu, describe: async () => ({ tensorflow: describeNative() }) };
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
  const software = isSoftwareAdapter(adapter.info);
  return { ok: true, detail: `Dawn on ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim(), accelerated: !software, describe: async () => ({ adapter: await describeAdapter() }) };
}
