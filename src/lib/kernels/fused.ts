import * as tf from '@tensorflow/tfjs-core';
import { LayerMath, STOCK_MATH } from '../models/layers';
import { chunksFor, sumChunks } from './conv-grad';
import { flatProgram, intUniforms, run, WebGPUBackendLike } from './program';

/**
 * Fused LayerNorm (channels-last) and GELU for WebGPU, forward and backward, as kernels with
 * custom gradients. Stock tfjs builds LayerNorm from ~10 kernels forward (moments, sub, rsqrt,
 * mul, add, ...) and more backward, and GELU from 5; here each direction is one or two dispatches.
 * The math is the same as the layers' reference (models/layers.ts STOCK_MATH); erf uses the same
 * Abramowitz–Stegun 7.1.26 approximation as tfjs's own Erf kernel, so results agree closely.
 */

const ERF_WGSL = `
fn kitErf(v : f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, v >= 0.0);
}`;

// --- LayerNorm -------------------------------------------------------------------------------

/** Per row of x [rows, C]: (mean, 1/sqrt(var + eps)), two-pass for accuracy. */
const LN_STATS_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let C = uniforms.C;
  let base = index * C;
  var sum = 0.0;
  for (var c = 0; c < C; c = c + 1) { sum = sum + x[base + c]; }
  let mean = sum / f32(C);
  var sq = 0.0;
  for (var c = 0; c < C; c = c + 1) { let d = x[base + c] - mean; sq = sq + d * d; }
  result[2 * index] = mean;
  result[2 * index + 1] = inverseSqrt(sq / f32(C) + uniforms.eps);
}`;

/** y = (x − mean) · rstd · γ + β, one thread per element. */
const LN_APPLY_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let c = index % uniforms.C;
  let row = index / uniforms.C;
  result[index] = (x[index] - stats[2 * row]) * stats[2 * row + 1] * gamma[c] + beta[c];
}`;

/**
 * dx per row: with g = dy · γ and x̂ the normalized input,
 * dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)).
 */
const LN_GRAD_X_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let C = uniforms.C;
  let base = index * C;
  let mean = stats[2 * index];
  let rstd = stats[2 * index + 1];
  var m1 = 0.0;
  var m2 = 0.0;
  for (var c = 0; c < C; c = c + 1) {
    let g = dy[base + c] * gamma[c];
    m1 = m1 + g;
    m2 = m2 + g * (x[base + c] - mean) * rstd;
  }
  m1 = m1 / f32(C);
  m2 = m2 / f32(C);
  for (var c = 0; c < C; c = c + 1) {
    let xhat = (x[base + c] - mean) * rstd;
    result[base + c] = rstd * (dy[base + c] * gamma[c] - m1 - xhat * m2);
  }
}`;

/** Partial dγ and dβ: partial[chunk][0][c] = Σ dy · x̂, partial[chunk][1][c] = Σ dy over a chunk of rows. */
const LN_GRAD_PARAMS_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let C = uniforms.C;
  let c = index % C;
  let chunk = index / C;
  let r0 = chunk * uniforms.chunkSize;
  let r1 = min(uniforms.rows, r0 + uniforms.chunkSize);
  var dg = 0.0;
  var db = 0.0;
  for (var r = r0; r < r1; r = r + 1) {
    let d = dy[r * C + c];
    dg = dg + d * (x[r * C + c] - stats[2 * r]) * stats[2 * r + 1];
    db = db + d;
  }
  result[(chunk * 2) * C + c] = dg;
  result[(chunk * 2 + 1) * C + c] = db;
}`;

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function lnStats(backend: WebGPUBackendLike, x: tf.TensorInfo, eps: number): tf.TensorInfo {
  const C = x.shape[x.shape.length - 1] as number;
  const rows = x.shape.reduce((a, b) => a * b, 1) / C;
  const program = flatProgram('kitLayerNormStats', ['x'], [rows, 2], rows, 'C : i32, eps : f32,', LN_STATS_CODE);
  return run(backend, program, [x], [{ type: 'int32', data: [C] }, { type: 'float32', data: [eps] }, { type: 'int32', data: [rows] }]);
}

export const FUSED_KERNELS: tf.KernelConfig[] = [
  {
    kernelName: 'KitLayerNormStats',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }: Args) => lnStats(backend as WebGPUBackendLike, inputs['x'] as tf.TensorInfo, attrs?.['eps'] as number),
  },
  {
    kernelName: 'KitLayerNormApply',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }: Args) => {
      const x = inputs['x'] as tf.TensorInfo;
      const C = x.shape[x.shape.length - 1] as number;
      const size = x.shape.reduce((a, b) => a * b, 1);
      const program = flatProgram('kitLayerNormApply', ['x', 'stats', 'gamma', 'beta'], x.shape, size, 'C : i32,', LN_APPLY_CODE);
      return run(backend as WebGPUBackendLike, program, [x, inputs['stats'] as tf.TensorInfo, inputs['gamma'] as tf.TensorInfo, inputs['beta'] as tf.TensorInfo], intUniforms([C], size));
    },
  },
  {
    kernelName: 'KitLayerNormGradX',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }: Args) => {
      const x = inputs['x'] as tf.TensorInfo;
      const C = x.shape[x.shape.length - 1] as number;
      const rows = x.shape.reduce((a, b) => a * b, 1) / C;
      const program = flatProgram('kitLayerNormGradX', ['dy', 'x', 'stats', 'gamma'], x.shape, rows, 'C : i32,', LN_GRAD_X_CODE);
      return run(backend as WebGPUBackendLike, program, [inputs['dy'] as tf.TensorInfo, x, inputs['stats'] as tf.TensorInfo, inputs['gamma'] as tf.TensorInfo], intUniforms([C], rows));
    },
  },
  {
    kernelName: 'KitLayerNormGradParams',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }: Args) => {
      const b = backend as WebGPUBackendLike;
      const x = inputs['x'] as tf.TensorInfo;
      const C = x.shape[x.shape.length - 1] as number;
      const rows = x.shape.reduce((a, c) => a * c, 1) / C;
      const chunks = chunksFor(rows, C);
      const chunkSize = Math.ceil(rows / chunks);
      const program = flatProgram('kitLayerNormGradParams', ['dy', 'x', 'stats'], [chunks, 2, C], chunks * C, 'C : i32, rows : i32, chunkSize : i32,', LN_GRAD_PARAMS_CODE);
      const partial = run(b, program, [inputs['dy'] as tf.TensorInfo, x, inputs['stats'] as tf.TensorInfo], intUniforms([C, rows, chunkSize], chunks * C));
      return sumChunks(b, partial, chunks, [2, C]);
    },
  },
  {
    kernelName: 'KitGelu',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }: Args) => {
      const x = inputs['x'] as tf.TensorInfo;
      const size = x.shape.reduce((a, b) => a * b, 1);
      const program = flatProgram('kitGelu', ['x'], x.shape, size, '', `${ERF_WGSL}
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let v = x[index];
  result[index] = 0.5 * v * (1.0 + kitErf(v * 0.7071067811865476));
}`);
      return run(backend as WebGPUBackendLike, program, [x], intUniforms([], size));
    },
  },
  {
    kernelName: 'KitGeluGrad',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }: Args) => {
      const x = inputs['x'] as tf.TensorInfo;
      const size = x.shape.reduce((a, b) => a * b, 1);
      const program = flatProgram('kitGeluGrad', ['dy', 'x'], x.shape, size, '', `${ERF_WGSL}
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let v = x[index];
  // d/dx x·Φ(x) = Φ(x) + x·φ(x)
  let cdf = 0.5 * (1.0 + kitErf(v * 0.7071067811865476));
  let pdf = exp(-0.5 * v * v) * 0.3989422804014327;
  result[index] = dy[index] * (cdf + v * pdf);
}`);
      return run(backend as WebGPUBackendLike, program, [inputs['dy'] as tf.TensorInfo, x], intUniforms([], size));
    },
  },
];

const runKernel = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor => tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;

// tf.customGrad passes inputs and the save function as one variadic list.
type Variadic = (tf.Tensor | tf.GradSaveFunc)[];

const geluOp = tf.customGrad((...args: Variadic) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: runKernel('KitGelu', { x }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [runKernel('KitGeluGrad', { dy, x: saved[0] as tf.Tensor })],
  };
});

const layerNormOps = new Map<number, (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor>();

function layerNormOp(eps: number): (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
  let op = layerNormOps.get(eps);
  if (op === undefined) {
    op = tf.customGrad((...args: Variadic) => {
      const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const stats = runKernel('KitLayerNormStats', { x }, { eps });
      save([x, gamma, stats]);
      return {
        value: runKernel('KitLayerNormApply', { x, stats, gamma, beta }),
        gradFunc: (g: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sg, ss] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          const dx = runKernel('KitLayerNormGradX', { dy: g, x: sx, stats: ss, gamma: sg });
          const params = runKernel('KitLayerNormGradParams', { dy: g, x: sx, stats: ss });
          const [dGamma, dBeta] = tf.unstack(params);
          params.dispose();
          return [dx, dGamma as tf.Tensor, dBeta as tf.Tensor];
        },
      };
    });
    layerNormOps.set(eps, op);
  }
  return op;
}

/**
 * The layers' math on fused WebGPU kernels (installed by kernels/index.ts). On any other active
 * backend (a test switching to cpu, say) it falls back to the stock math.
 */
export const FUSED_MATH: LayerMath = {
  ...STOCK_MATH,
  layerNorm: (x, gamma, beta, eps) => (tf.getBackend() === 'webgpu' ? layerNormOp(eps)(x, gamma, beta) : STOCK_MATH.layerNorm(x, gamma, beta, eps)),
  gelu: (x) => (tf.getBackend() === 'webgpu' ? geluOp(x) : STOCK_MATH.gelu(x)),
};

// --- AdamW -----------------------------------------------------------------------------------

/**
 * One AdamW update of one variable in three dispatches (new p, new m, new v, each computed from
 * p, g, m, v) instead of the ~12 element-wise kernels of the op-by-op version: a training step of
 * a 70-variable network drops from ~840 optimizer dispatches to ~210.
 */
const ADAMW_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let g = grad[index];
  let m = uniforms.beta1 * moment1[index] + (1.0 - uniforms.beta1) * g;
  let v = uniforms.beta2 * moment2[index] + (1.0 - uniforms.beta2) * g * g;
  if (uniforms.which == 1) { result[index] = m; return; }
  if (uniforms.which == 2) { result[index] = v; return; }
  let update = (m / uniforms.bc1) / (sqrt(v / uniforms.bc2) + uniforms.eps);
  result[index] = param[index] * uniforms.decay - uniforms.lr * update;
}`;

FUSED_KERNELS.push({
  kernelName: 'KitAdamW',
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }: Args) => {
    const p = inputs['param'] as tf.TensorInfo;
    const size = p.shape.reduce((a, b) => a * b, 1);
    const a = attrs ?? {};
    const program = flatProgram('kitAdamW', ['param', 'grad', 'moment1', 'moment2'], p.shape, size, 'which : i32, lr : f32, beta1 : f32, beta2 : f32, eps : f32, decay : f32, bc1 : f32, bc2 : f32,', ADAMW_CODE);
    const f = (k: string): { type: 'float32'; data: number[] } => ({ type: 'float32', data: [a[k] as number] });
    return run(backend as WebGPUBackendLike, program, [p, inputs['grad'] as tf.TensorInfo, inputs['moment1'] as tf.TensorInfo, inputs['moment2'] as tf.TensorInfo], [
      { type: 'int32', data: [a['which'] as number] }, f('lr'), f('beta1'), f('beta2'), f('eps'), f('decay'), f('bc1'), f('bc2'), { type: 'int32', data: [size] },
    ]);
  },
});
