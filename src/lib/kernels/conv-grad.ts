import * as tf from '@tensorflow/tfjs-core';
import { flatProgram, intUniforms, run, WebGPUBackendLike } from './program';

/**
 * Filter gradients as a parallel reduction.
 *
 * The stock WebGPU kernels give one thread per filter weight and loop over every batch × output
 * pixel serially (9,216 threads × 262,144 steps for a 3×3 conv at 64×64×32, batch 64: 98 ms on
 * an H100). The filter gradient is a matrix product with a long reduction:
 *
 *   dW[m, n] = Σ_k X[k, m] · dY[k, n],  m = (kh, kw, ci), n = co, k = (b, oy, ox),
 *
 * so the reduction over k is split into chunks (split-K): pass 1 gives each thread one m, four
 * consecutive n and one chunk of k, writing a partial sum; pass 2 adds the partials of each
 * weight. Enough chunks are used to give the device tens of thousands of threads.
 */

/**
 * Threads to aim for: a large GPU needs ~64k in flight; a CPU rasterizer (lavapipe, 2 cores)
 * is fastest with few long threads, since every extra chunk costs partial-sum traffic.
 */
let targetThreads = 65536;
const MIN_CHUNK = 32;

export function setReductionParallelism(threads: number): void {
  targetThreads = threads;
}

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

export function geometryOf(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels,
    kH: info.filterHeight, kW: info.filterWidth, strideH: info.strideHeight, strideW: info.strideWidth,
    padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}

/**
 * How many chunks to split a reduction of length k into, for `outputs` independent results;
 * chunks are whole multiples of `granule` (e.g. one output row) and at least MIN_CHUNK long.
 */
export function chunksFor(k: number, outputs: number, granule = 1): number {
  const byThreads = Math.ceil(targetThreads / Math.max(outputs, 1));
  const byLength = Math.ceil(k / Math.max(MIN_CHUNK, granule));
  return Math.max(1, Math.min(byLength, byThreads, Math.ceil(k / granule)));
}

// Geometry uniforms shared by the conv programs, in this order.
const GEOMETRY_UNIFORMS = 'batch : i32, inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, kH : i32, kW : i32, strideH : i32, strideW : i32, padTop : i32, padLeft : i32,';
function geometryValues(g: ConvGeometry): number[] {
  return [g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft];
}

/**
 * Every program here computes 4 channels per thread; the last group of a channel count that is
 * not a multiple of 4 is partial, so only its first `count` lanes are written.
 */
const STORE_LANES = `
fn storeLanes(base : i32, v : vec4<f32>, count : i32) {
  result[base] = v.x;
  if (count > 1) { result[base + 1] = v.y; }
  if (count > 2) { result[base + 2] = v.z; }
  if (count > 3) { result[base + 3] = v.w; }
}`;

/**
 * Pass 1 of Conv2DBackpropFilter (NHWC x, dy). Output: partial[chunk][m][n], m = (kh, kw, ci).
 * Thread t: n4 = t % nGroups (4 output channels), m = (t / nGroups) % M, chunk = t / (nGroups · M).
 * A chunk is a range of output rows (b, oy); within a row only the ox whose input column is inside
 * the image are visited, so the inner loop is two strided loads and a multiply-add.
 */
const FILTER_PARTIAL_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let O = uniforms.outC;
  let nGroups = (O + 3) / 4;
  let M = uniforms.kH * uniforms.kW * uniforms.inC;
  let n0 = (index % nGroups) * 4;
  let m = (index / nGroups) % M;
  let chunk = index / (nGroups * M);
  let ci = m % uniforms.inC;
  let kw = (m / uniforms.inC) % uniforms.kW;
  let kh = m / (uniforms.inC * uniforms.kW);
  // Output columns whose input column ox·s + kw − padLeft lies in [0, inW).
  let oxLo = max(0, (uniforms.padLeft - kw + uniforms.strideW - 1) / uniforms.strideW);
  // WGSL's integer division truncates toward zero: a negative numerator (a tap right of a small
  // input, e.g. a 3×3 kernel on a 2×2 image) must give no columns, not one.
  let hiNum = uniforms.inW - 1 + uniforms.padLeft - kw;
  let oxHi = select(min(uniforms.outW, hiNum / uniforms.strideW + 1), 0, hiNum < 0);
  let rows = uniforms.batch * uniforms.outH;
  let r0 = chunk * uniforms.chunkSize;
  let r1 = min(rows, r0 + uniforms.chunkSize);
  let xStep = uniforms.strideW * uniforms.inC;
  var acc = vec4<f32>(0.0);
  for (var r = r0; r < r1; r = r + 1) {
    let oy = r % uniforms.outH;
    let b = r / uniforms.outH;
    let iy = oy * uniforms.strideH + kh - uniforms.padTop;
    if (iy < 0 || iy >= uniforms.inH) { continue; }
    var xi = ((b * uniforms.inH + iy) * uniforms.inW + oxLo * uniforms.strideW + kw - uniforms.padLeft) * uniforms.inC + ci;
    var di = (r * uniforms.outW + oxLo) * O + n0;
    for (var ox = oxLo; ox < oxHi; ox = ox + 1) {
      let xv = x[xi];
      var d = vec4<f32>(0.0);
      d.x = dy[di];
      if (n0 + 1 < O) { d.y = dy[di + 1]; }
      if (n0 + 2 < O) { d.z = dy[di + 2]; }
      if (n0 + 3 < O) { d.w = dy[di + 3]; }
      acc = acc + xv * d;
      xi = xi + xStep;
      di = di + O;
    }
  }
  storeLanes((chunk * M + m) * O + n0, acc, O - n0);
}${STORE_LANES}`;

/** Pass 2: out[i] = Σ_c partial[c · size + i]. */
const SUM_CHUNKS_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  var acc = 0.0;
  for (var c = 0; c < uniforms.chunks; c = c + 1) {
    acc = acc + partial[c * uniforms.threads + index];
  }
  result[index] = acc;
}`;

/** Sum a [chunks, ...shape] partial tensor over its first axis (disposing it); one chunk is a copy. */
export function sumChunks(backend: WebGPUBackendLike, partial: tf.TensorInfo, chunks: number, shape: number[]): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  const program = flatProgram('kitSumChunks', ['partial'], shape, size, 'chunks : i32,', SUM_CHUNKS_CODE);
  const out = run(backend, program, [partial], intUniforms([chunks], size));
  backend.disposeData(partial.dataId);
  return out;
}

export function conv2dBackpropFilter(backend: WebGPUBackendLike, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const M = g.kH * g.kW * g.inC;
  const nGroups = Math.ceil(g.outC / 4);
  const rows = g.batch * g.outH;
  const chunks = chunksFor(rows * g.outW, M * nGroups, g.outW);
  const chunkSize = Math.ceil(rows / chunks);
  const threads = chunks * M * nGroups;
  const partial = run(
    backend,
    flatProgram('kitConv2DBackpropFilterPartial', ['x', 'dy'], [chunks, M, g.outC], threads, `${GEOMETRY_UNIFORMS} chunkSize : i32,`, FILTER_PARTIAL_CODE),
    [x, dy],
    intUniforms([...geometryValues(g), chunkSize], threads),
  );
  return sumChunks(backend, partial, chunks, [g.kH, g.kW, g.inC, g.outC]);
}

/**
 * Pass 1 of DepthwiseConv2dNativeBackpropFilter (channel multiplier 1): partial[chunk][kh][kw][c],
 * thread t: c4 = t % cGroups, m = (kh, kw) = (t / cGroups) % (kH·kW), chunk = a range of rows.
 */
const DEPTHWISE_FILTER_PARTIAL_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let C = uniforms.inC;
  let cGroups = (C + 3) / 4;
  let M = uniforms.kH * uniforms.kW;
  let c0 = (index % cGroups) * 4;
  let m = (index / cGroups) % M;
  let chunk = index / (cGroups * M);
  let kw = m % uniforms.kW;
  let kh = m / uniforms.kW;
  let oxLo = max(0, (uniforms.padLeft - kw + uniforms.strideW - 1) / uniforms.strideW);
  // WGSL's integer division truncates toward zero: a negative numerator (a tap right of a small
  // input, e.g. a 3×3 kernel on a 2×2 image) must give no columns, not one.
  let hiNum = uniforms.inW - 1 + uniforms.padLeft - kw;
  let oxHi = select(min(uniforms.outW, hiNum / uniforms.strideW + 1), 0, hiNum < 0);
  let rows = uniforms.batch * uniforms.outH;
  let r0 = chunk * uniforms.chunkSize;
  let r1 = min(rows, r0 + uniforms.chunkSize);
  let xStep = uniforms.strideW * C;
  var acc = vec4<f32>(0.0);
  for (var r = r0; r < r1; r = r + 1) {
    let oy = r % uniforms.outH;
    let b = r / uniforms.outH;
    let iy = oy * uniforms.strideH + kh - uniforms.padTop;
    if (iy < 0 || iy >= uniforms.inH) { continue; }
    var xi = ((b * uniforms.inH + iy) * uniforms.inW + oxLo * uniforms.strideW + kw - uniforms.padLeft) * C + c0;
    var di = (r * uniforms.outW + oxLo) * C + c0;
    for (var ox = oxLo; ox < oxHi; ox = ox + 1) {
      var xv = vec4<f32>(0.0);
      var dv = vec4<f32>(0.0);
      xv.x = x[xi]; dv.x = dy[di];
      if (c0 + 1 < C) { xv.y = x[xi + 1]; dv.y = dy[di + 1]; }
      if (c0 + 2 < C) { xv.z = x[xi + 2]; dv.z = dy[di + 2]; }
      if (c0 + 3 < C) { xv.w = x[xi + 3]; dv.w = dy[di + 3]; }
      acc = acc + xv * dv;
      xi = xi + xStep;
      di = di + C;
    }
  }
  storeLanes((chunk * M + m) * C + c0, acc, C - c0);
}${STORE_LANES}`;

export function depthwiseBackpropFilter(backend: WebGPUBackendLike, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const M = g.kH * g.kW;
  const cGroups = Math.ceil(g.inC / 4);
  const rows = g.batch * g.outH;
  const chunks = chunksFor(rows * g.outW, M * cGroups, g.outW);
  const chunkSize = Math.ceil(rows / chunks);
  const threads = chunks * M * cGroups;
  const partial = run(
    backend,
    flatProgram('kitDepthwiseBackpropFilterPartial', ['x', 'dy'], [chunks, M, g.inC], threads, `${GEOMETRY_UNIFORMS} chunkSize : i32,`, DEPTHWISE_FILTER_PARTIAL_CODE),
    [x, dy],
    intUniforms([...geometryValues(g), chunkSize], threads),
  );
  return sumChunks(backend, partial, chunks, [g.kH, g.kW, g.inC, 1]);
}

/**
 * DepthwiseConv2dNativeBackpropInput (multiplier 1): one thread per 4 input channels of one
 * input pixel, gathering from the output pixels whose window covers it:
 *   dx[b, iy, ix, c] = Σ_{kh, kw} dy[b, (iy + padTop − kh) / s, (ix + padLeft − kw) / s, c] · W[kh, kw, c]
 * over the (kh, kw) for which the division is exact and in range.
 */
const DEPTHWISE_INPUT_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let C = uniforms.inC;
  let cGroups = (C + 3) / 4;
  let c0 = (index % cGroups) * 4;
  let p = index / cGroups;
  let ix = p % uniforms.inW;
  let iy = (p / uniforms.inW) % uniforms.inH;
  let b = p / (uniforms.inW * uniforms.inH);
  var acc = vec4<f32>(0.0);
  for (var kh = 0; kh < uniforms.kH; kh = kh + 1) {
    let ny = iy + uniforms.padTop - kh;
    if (ny < 0 || ny % uniforms.strideH != 0) { continue; }
    let oy = ny / uniforms.strideH;
    if (oy >= uniforms.outH) { continue; }
    for (var kw = 0; kw < uniforms.kW; kw = kw + 1) {
      let nx = ix + uniforms.padLeft - kw;
      if (nx < 0 || nx % uniforms.strideW != 0) { continue; }
      let ox = nx / uniforms.strideW;
      if (ox >= uniforms.outW) { continue; }
      let dyBase = ((b * uniforms.outH + oy) * uniforms.outW + ox) * C + c0;
      let wBase = (kh * uniforms.kW + kw) * C + c0;
      var dv = vec4<f32>(0.0);
      var wv = vec4<f32>(0.0);
      dv.x = dy[dyBase]; wv.x = W[wBase];
      if (c0 + 1 < C) { dv.y = dy[dyBase + 1]; wv.y = W[wBase + 1]; }
      if (c0 + 2 < C) { dv.z = dy[dyBase + 2]; wv.z = W[wBase + 2]; }
      if (c0 + 3 < C) { dv.w = dy[dyBase + 3]; wv.w = W[wBase + 3]; }
      acc = acc + dv * wv;
    }
  }
  storeLanes(((b * uniforms.inH + iy) * uniforms.inW + ix) * C + c0, acc, C - c0);
}${STORE_LANES}`;

export function depthwiseBackpropInput(backend: WebGPUBackendLike, dy: tf.TensorInfo, w: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const threads = g.batch * g.inH * g.inW * Math.ceil(g.inC / 4);
  return run(
    backend,
    flatProgram('kitDepthwiseBackpropInput', ['dy', 'W'], [g.batch, g.inH, g.inW, g.inC], threads, GEOMETRY_UNIFORMS, DEPTHWISE_INPUT_CODE),
    [dy, w],
    intUniforms(geometryValues(g), threads),
  );
}

/**
 * A direct convolution for few input channels (the 1-channel X-ray stems: 7×7/2 and 4×4/4),
 * where the stock implicit-GEMM path is starved (its reduction is only k·k·Cin long: 49 or 16)
 * and took 214 ms for a 7×7 stem at batch 32 on lavapipe. One thread per output pixel and 4
 * output channels; optional bias and ReLU fused.
 */
const DIRECT_CONV_CODE = `
fn main(index : i32) {
  if (index >= uniforms.threads) { return; }
  let O = uniforms.outC;
  let nGroups = (O + 3) / 4;
  let n0 = (index % nGroups) * 4;
  let p = index / nGroups;
  let ox = p % uniforms.outW;
  let oy = (p / uniforms.outW) % uniforms.outH;
  let b = p / (uniforms.outW * uniforms.outH);
  var acc = vec4<f32>(0.0);
  for (var kh = 0; kh < uniforms.kH; kh = kh + 1) {
    let iy = oy * uniforms.strideH + kh - uniforms.padTop;
    if (iy < 0 || iy >= uniforms.inH) { continue; }
    for (var kw = 0; kw < uniforms.kW; kw = kw + 1) {
      let ix = ox * uniforms.strideW + kw - uniforms.padLeft;
      if (ix < 0 || ix >= uniforms.inW) { continue; }
      let xBase = ((b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC;
      let wRow = (kh * uniforms.kW + kw) * uniforms.inC;
      for (var ci = 0; ci < uniforms.inC; ci = ci + 1) {
        let xv = x[xBase + ci];
        let wBase = (wRow + ci) * O + n0;
        var wv = vec4<f32>(0.0);
        wv.x = W[wBase];
        if (n0 + 1 < O) { wv.y = W[wBase + 1]; }
        if (n0 + 2 < O) { wv.z = W[wBase + 2]; }
        if (n0 + 3 < O) { wv.w = W[wBase + 3]; }
        acc = acc + xv * wv;
      }
    }
  }
  BIAS_AND_ACTIVATION
  storeLanes(p * O + n0, acc, O - n0);
}${STORE_LANES}`;

export function directConv2d(backend: WebGPUBackendLike, x: tf.TensorInfo, w: tf.TensorInfo, g: ConvGeometry, bias: tf.TensorInfo | undefined, relu: boolean): tf.TensorInfo {
  const threads = g.batch * g.outH * g.outW * Math.ceil(g.outC / 4);
  const epilogue = [
    bias !== undefined
      ? `var bv = vec4<f32>(0.0); bv.x = bias[n0]; if (n0 + 1 < O) { bv.y = bias[n0 + 1]; } if (n0 + 2 < O) { bv.z = bias[n0 + 2]; } if (n0 + 3 < O) { bv.w = bias[n0 + 3]; } acc = acc + bv;`
      : '',
    relu ? 'acc = max(acc, vec4<f32>(0.0));' : '',
  ].join('\n');
  const inputs = bias !== undefined ? [x, w, bias] : [x, w];
  return run(
    backend,
    flatProgram(`kitDirectConv2D_${bias !== undefined}_${relu}`, bias !== undefined ? ['x', 'W', 'bias'] : ['x', 'W'], [g.batch, g.outH, g.outW, g.outC], threads, GEOMETRY_UNIFORMS, DIRECT_CONV_CODE.replace('BIAS_AND_ACTIVATION', epilogue)),
    inputs,
    intUniforms(geometryValues(g), threads),
  );
}
