import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ownedVariable } from './adamw';

/** Exponential moving average of all model weights (BatchNorm statistics included, as timm's ModelEmaV2). */
export class WeightEma {
  private readonly shadow: tf.Variable[];
  constructor(
    private readonly model: tfl.LayersModel,
    private readonly decay: number,
  ) {
    this.shadow = model.weights.map((w) => ownedVariable(w.read().clone()));
  }
  update(): void {
    tf.tidy(() => this.model.weights.forEach((w, i) => {
      const s = this.shadow[i] as tf.Variable;
      s.assign(tf.add(tf.mul(s, this.decay), tf.mul(w.read(), 1 - this.decay)));
    }));
  }
  snapshot(): tf.Tensor[] {
    return this.shadow.map((s) => s.clone());
  }
  async values(): Promise<Float32Array[]> {
    return Promise.all(this.shadow.map(async (s) => (await s.data()) as Float32Array));
  }
  setWeights(values: tf.Tensor[] | undefined): void {
    if (values === undefined) return;
    this.shadow.forEach((s, i) => s.assign(values[i] as tf.Tensor));
    tf.dispose(values);
  }
  /** Run fn with the averaged weights in the model, then put the live weights back. */
  async withAverage<T>(fn: () => Promise<T>): Promise<T> {
    const live = this.model.getWeights().map((w) => w.clone());
    this.model.setWeights(this.shadow);
    try {
      return await fn();
    } finally {
      this.model.setWeights(live);
      tf.dispose(live);
    }
  }
  dispose(): void {
    tf.dispose(this.shadow);
  }
}
