import * as tf from '@tensorflow/tfjs-core';

/**
 * AdamW (Loshchilov & Hutter, 2019) with PyTorch's semantics: the weight decay is decoupled from
 * the gradient, applied as p ← p · (1 − lr · wd) before the Adam step, and only to the
 * parameters that `decay` selects (ConvNeXt/timm: no decay on norms, biases and layer scale,
 * i.e. on 1-D parameters). TensorFlow.js has only Adam, whose L2 penalty would be rescaled by
 * the adaptive denominator; that is the difference AdamW fixes.
 */
export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /** Which variables get weight decay (default: rank ≥ 2, i.e. conv and linear kernels). */
  decay?: (v: tf.Variable) => boolean;
}

/** The optimizer's state for a checkpoint: step count and both moments per variable, in order. */
export interface AdamWState {
  step: number;
  names: string[];
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly decayOf: (v: tf.Variable) => boolean;
  private readonly vars: tf.Variable[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;

  constructor(variables: tf.Variable[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.05;
    this.decayOf = options.decay ?? ((v) => v.rank >= 2);
    this.vars = variables;
    this.m = variables.map((x) => ownedVariable(tf.zerosLike(x)));
    this.v = variables.map((x) => ownedVariable(tf.zerosLike(x)));
  }

  get step(): number {
    return this.t;
  }

  /** Variables that receive weight decay, by name (for inspection and tests). */
  decayed(): string[] {
    return this.vars.filter((x) => this.decayOf(x)).map((x) => x.name);
  }

  /** One update with learning rate `lr`; grads are keyed by variable name. Grads are not disposed. */
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    // On WebGPU with the kit's kernels: the same update, fused (kernels/fused.ts, KitAdamW).
    if (tf.getBackend() === 'webgpu' && tf.getKernel('KitAdamW', 'webgpu') !== undefined) {
      this.applyFused(grads, lr, bc1, bc2);
      return;
    }
    tf.tidy(() => {
      this.vars.forEach((p, i) => {
        const g = grads[p.name];
        if (g === undefined) return;
        const m = this.m[i] as tf.Variable;
        const v = this.v[i] as tf.Variable;
        const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(mNew);
        v.assign(vNew);
        const decayed = this.decayOf(p) && this.weightDecay > 0 ? tf.mul(p, 1 - lr * this.weightDecay) : p;
        // p ← p − lr · m̂ / (√v̂ + ε), with m̂ = m / bc1 and v̂ = v / bc2.
        const update = tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), this.epsilon));
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    });
  }

  private applyFused(grads: tf.NamedTensorMap, lr: number, bc1: number, bc2: number): void {
    this.vars.forEach((p, i) => {
      const g = grads[p.name];
      if (g === undefined) return;
      const m = this.m[i] as tf.Variable;
      const v = this.v[i] as tf.Variable;
      const attrs = { lr, beta1: this.beta1, beta2: this.beta2, eps: this.epsilon, decay: this.decayOf(p) ? 1 - lr * this.weightDecay : 1, bc1, bc2 };
      const inputs = { param: p, grad: g, moment1: m, moment2: v };
      // The new p is computed from the old m and v, so all three are computed before any assign.
      const [np, nm, nv] = [0, 1, 2].map((which) => tf.engine().runKernel('KitAdamW', inputs, { ...attrs, which }) as tf.Tensor);
      p.assign(np as tf.Tensor);
      m.assign(nm as tf.Tensor);
      v.assign(nv as tf.Tensor);
      tf.dispose([np as tf.Tensor, nm as tf.Tensor, nv as tf.Tensor]);
    });
  }

  async getState(): Promise<AdamWState> {
    return {
      step: this.t,
      names: this.vars.map((x) => x.name),
      m: await Promise.all(this.m.map(async (x) => (await x.data()) as Float32Array)),
      v: await Promise.all(this.v.map(async (x) => (await x.data()) as Float32Array)),
    };
  }

  /**
   * Restore a saved state. Variables are matched by position and size (tfjs makes variable
   * names unique per process, so a rebuilt model's names carry other suffixes).
   */
  setState(state: AdamWState): void {
    const sizes = this.vars.map((x) => x.size);
    if (state.m.length !== sizes.length || state.m.some((m, i) => m.length !== sizes[i])) {
      throw new Error(`optimizer state is for other variables (${state.m.length} saved, ${sizes.length} here, or their sizes differ)`);
    }
    this.t = state.step;
    tf.tidy(() =>
      this.vars.forEach((x, i) => {
        (this.m[i] as tf.Variable).assign(tf.tensor(state.m[i] as Float32Array, x.shape));
        (this.v[i] as tf.Variable).assign(tf.tensor(state.v[i] as Float32Array, x.shape));
      }),
    );
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/**
 * A non-trainable variable holding `init`'s values. tf.variable keeps its own reference to the
 * data, so the initial tensor must be disposed or it stays alive (one leaked tensor per variable).
 */
export function ownedVariable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init, false);
  init.dispose();
  return v;
}

/**
 * Scale gradients so their global L2 norm is at most maxNorm (PyTorch's clip_grad_norm_).
 * Returns the new gradients and the norm before clipping; the input grads are disposed.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  return tf.tidy(() => {
    const names = Object.keys(grads);
    const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n] as tf.Tensor))))) as tf.Scalar;
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    const out: tf.NamedTensorMap = {};
    for (const n of names) out[n] = tf.mul(grads[n] as tf.Tensor, scale);
    tf.dispose(Object.values(grads));
    return { grads: out, norm };
  });
}
