import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend';
import { installKitKernels, useStockKernels } from '../kernels';
import { buildModel } from '../models/build';
import { fuseForInference } from '../models/fuse';
import { configFor, ScaleName, STEP_IDS } from '../models/steps';
import { AdamW } from '../train/adamw';
import { crossEntropy } from '../train/loss';
import { ProgressSink, silentProgress } from '../util/progress';

/**
 * Training and inference throughput of roadmap steps on generated batches, with the kit's
 * kernels and (optionally) with the stock tfjs kernels in the same process, and where the time
 * goes per kernel. Generated data keeps the numbers about the compute alone (no decoding, no
 * host-to-device copies of real images).
 */
export interface BenchOptions {
  size: number;
  batch: number;
  scale: ScaleName;
  steps?: string[];
  /** Also measure with the stock kernels (the ratio column). */
  stock?: boolean;
  /** Time every kernel of one training step. */
  profileKernels?: boolean;
  /** Untimed steps first (shader compilation), then timed steps; the median is reported. */
  warmup?: number;
  iterations?: number;
  onProgress?: ProgressSink;
}

export interface Throughput {
  /** Images per second of a full training step: forward, backward, AdamW update. */
  trainImgPerSec: number;
  /**
   * Images per second of an inference forward pass: with the kit, through the inference graph
   * (models/fuse.ts: BatchNorm folded, epilogues fused), which predict and evaluation use; with
   * the stock kernels, model.apply(x, { training: false }).
   */
  forwardImgPerSec: number;
  /** Median milliseconds per training step and per forward pass. */
  trainMs: number;
  forwardMs: number;
}

export interface BenchRow {
  step: string;
  params: number;
  kit: Throughput;
  stock?: Throughput;
  /** kit / stock throughput. */
  speedup?: { train: number; forward: number };
  /** Milliseconds per kernel name in one training step, largest first. */
  kernels?: { name: string; ms: number; calls: number }[];
  /** Whether kernel times came from GPU timestamp queries (else they are host-side timings). */
  timestampQueries?: boolean;
}

export interface BenchResult {
  backend: string;
  adapter?: string;
  size: number;
  batch: number;
  scale: ScaleName;
  rows: BenchRow[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const report = await ensureBackend();
  const onProgress = options.onProgress ?? silentProgress;
  const steps = options.steps ?? [...STEP_IDS];
  const rows: BenchRow[] = [];
  const kitAvailable = report.backend === 'webgpu' || report.backend === 'tensorflow';
  for (const [i, step] of steps.entries()) {
    onProgress({ label: 'benchmark', done: i, total: steps.length, unit: 'steps', info: step });
    const config = configFor(step, { scale: options.scale, inChannels: 1, numClasses: 2 });
    const model = buildModel(config, options.size, { seed: 0 });
    const params = model.trainableWeights.reduce((s, w) => s + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
    const x = tf.randomNormal([options.batch, options.size, options.size, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d(Array.from({ length: options.batch }, (_, k) => k % 2), 'int32');
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new AdamW(vars);
    const trainStep = async (): Promise<void> => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y), vars);
      optimizer.apply(grads, 1e-4);
      tf.dispose(Object.values(grads));
      await value.data();
      value.dispose();
    };
    const measure = async (kit: boolean): Promise<Throughput> => {
      let graph: ReturnType<typeof fuseForInference> | undefined;
      const forward = async (): Promise<void> => {
        const out = graph !== undefined ? graph.predict(x) : (model.apply(x, { training: false }) as tf.Tensor);
        await out.data();
        out.dispose();
      };
      const time = async (fn: () => Promise<void>): Promise<number> => {
        for (let k = 0; k < (options.warmup ?? 2); k++) await fn();
        const ms: number[] = [];
        for (let k = 0; k < (options.iterations ?? 5); k++) {
          const t = performance.now();
          await fn();
          ms.push(performance.now() - t);
        }
        return median(ms);
      };
      const trainMs = await time(trainStep);
      // Fused after the training steps, from the weights they reached (as predict after training).
      if (kit) graph = fuseForInference(model);
      const forwardMs = await time(forward);
      graph?.dispose();
      return { trainMs, forwardMs, trainImgPerSec: (options.batch * 1000) / trainMs, forwardImgPerSec: (options.batch * 1000) / forwardMs };
    };
    const row: BenchRow = { step, params, kit: { trainImgPerSec: NaN, forwardImgPerSec: NaN, trainMs: NaN, forwardMs: NaN } };
    if (options.stock === true && kitAvailable) {
      useStockKernels();
      row.stock = await measure(false);
    }
    if (kitAvailable) await installKitKernels(report.backend);
    row.kit = await measure(true);
    if (row.stock !== undefined) row.speedup = { train: row.kit.trainImgPerSec / row.stock.trainImgPerSec, forward: row.kit.forwardImgPerSec / row.stock.forwardImgPerSec };
    if (options.profileKernels === true) {
      const info = await tf.profile(trainStep);
      const byName = new Map<string, { ms: number; calls: number }>();
      for (const k of info.kernels) {
        const ms = await k.kernelTimeMs;
        const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
        e.ms += typeof ms === 'number' ? ms : 0;
        e.calls++;
        byName.set(k.name, e);
      }
      row.kernels = [...byName.entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
      row.timestampQueries = (tf.backend() as unknown as { supportTimestampQuery?: boolean }).supportTimestampQuery === true;
    }
    rows.push(row);
    optimizer.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
  onProgress({ label: 'benchmark', done: steps.length, total: steps.length, unit: 'steps' });
  const a = report.adapter;
  return { backend: report.backend, adapter: a === undefined ? undefined : `${a.vendor} ${a.architecture} ${a.description}`.trim(), size: options.size, batch: options.batch, scale: options.scale, rows };
}
