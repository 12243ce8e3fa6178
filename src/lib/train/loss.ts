import * as tf from '@tensorflow/tfjs-core';

/**
 * Cross-entropy on logits with label smoothing and per-class weights.
 *
 * Label smoothing ε (Szegedy et al. 2016): the target puts 1 − ε on the true class and ε / K on
 * every class, so the model is not pushed to infinite confidence. Class weights w_c: each sample's
 * loss is multiplied by the weight of its class and the sum is divided by the sum of the weights
 * (PyTorch's CrossEntropyLoss(weight=...) convention), so a class with 2.9× fewer images can
 * count as much in total.
 *
 * logits [B, K], labels int32 [B]; returns a scalar.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, options: { smoothing?: number; classWeights?: readonly number[] } = {}): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const eps = options.smoothing ?? 0;
    const onehot = tf.oneHot(labels, k);
    const target = eps > 0 ? tf.add(tf.mul(onehot, 1 - eps), eps / k) : onehot;
    const perSample = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), -1));
    if (options.classWeights === undefined) return tf.mean(perSample) as tf.Scalar;
    const w = tf.gather(tf.tensor1d([...options.classWeights]), labels);
    return tf.div(tf.sum(tf.mul(perSample, w)), tf.sum(w)) as tf.Scalar;
  });
}
