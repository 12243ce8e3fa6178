import * as tf from '@tensorflow/tfjs-core';

/**
 * The small part of tfjs-backend-webgpu's program interface the kit's kernels use. A program is
 * WGSL source plus how to launch it; the backend adds the bindings (`result` for the output, one
 * `array<f32>` per name in variableNames), a `uniforms` struct (the fields in `uniforms`, after
 * the backend's own shapes), and the `_start` entry point that calls our `main(index)`.
 */
export interface WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** Extra uniform fields, e.g. 'M : i32, N : i32,'. */
  uniforms?: string;
  size?: boolean;
  getUserCode(): string;
}

/** The WebGPU backend as far as the kernels need it. */
export interface WebGPUBackendLike {
  runWebGPUProgram(program: WebGPUProgram, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: { type: 'int32' | 'float32'; data: number[] }[], output?: tf.TensorInfo): tf.TensorInfo;
  disposeData(dataId: unknown): boolean;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: ArrayLike<number>): tf.TensorInfo;
}

export const WORKGROUP = 64;

/**
 * A flat program: one invocation per `threads`, `main(index)` with index in [0, threads).
 * The shader key must name every constant baked into the source (tfjs caches pipelines by it).
 */
export function flatProgram(name: string, variableNames: string[], outputShape: number[], threads: number, uniforms: string, code: string): WebGPUProgram {
  return {
    variableNames,
    outputShape,
    shaderKey: name,
    // tfjs derives the index from a dispatch over x only; larger dispatches are reshaped by the backend.
    dispatchLayout: { x: [0] },
    dispatch: [Math.max(1, Math.ceil(threads / WORKGROUP)), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: `${uniforms} threads : i32,`,
    getUserCode: () => code,
  };
}

/** Uniform values in the order the program's `uniforms` string declares them, plus `threads`. */
export function intUniforms(values: readonly number[], threads: number): { type: 'int32'; data: number[] }[] {
  return [...values, threads].map((v) => ({ type: 'int32' as const, data: [v] }));
}

let poison = false;

/**
 * Tests: fill every kit kernel's output with NaN before the kernel runs, so an element the
 * kernel forgets to write shows up as NaN instead of whatever the reused buffer held.
 */
export function setPoisonOutputs(on: boolean): void {
  poison = on;
}

export function run(backend: WebGPUBackendLike, program: WebGPUProgram, inputs: tf.TensorInfo[], uniforms: { type: 'int32' | 'float32'; data: number[] }[]): tf.TensorInfo {
  if (!poison) return backend.runWebGPUProgram(program, inputs, 'float32', uniforms);
  const size = program.outputShape.reduce((a, b) => a * b, 1);
  const output = backend.makeTensorInfo(program.outputShape, 'float32', new Float32Array(size).fill(NaN));
  return backend.runWebGPUProgram(program, inputs, 'float32', uniforms, output);
}
