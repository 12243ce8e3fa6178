/**
 * One typed configuration covers every network on the road from ResNet-50 to ConvNeXt
 * (Liu et al., "A ConvNet for the 2020s", CVPR 2022, §2 and Table 10). Each roadmap step
 * (steps.ts) changes only the fields the paper changes; the builder (build.ts) turns a config
 * into a TensorFlow.js model, and plan.ts into an analytic description (shapes, params, FLOPs).
 */
export interface ModelConfig {
  /** Blocks per stage. ResNet-50: [3, 4, 6, 3]; Swin-T's 1:1:3:1 ratio gives [3, 3, 9, 3] (§2.2). */
  depths: number[];
  /**
   * Base width w of stage 1; stage i has w·2^(i-1). In a ResNet bottleneck block the k×k conv
   * has w channels and the block's input/output 4w; in an inverted block the input/output has w
   * channels and the hidden layer 4w (§2.4). ResNet-50: 64; Swin-T / ConvNeXt-T: 96 (§2.3).
   */
  width: number;
  /** `resnet`: 7×7 stride-2 conv + max-pool; `patchify`: 4×4 stride-4 conv, like ViT/Swin patches (§2.2). */
  stem: 'resnet' | 'patchify';
  /** `bottleneck`: 1×1 reduce → k×k → 1×1 expand (ResNet); `inverted`: 1×1 expand ×4 → ... (§2.4). */
  block: 'bottleneck' | 'inverted';
  /** `dense`: an ordinary k×k conv; `depthwise`: one filter per channel, ResNeXt's groups = channels (§2.3). */
  spatialConv: 'dense' | 'depthwise';
  /** The k×k conv first in the block (before the 1×1 convs) rather than in the middle (§2.5, "moving up"). */
  spatialFirst: boolean;
  /** Kernel size k of the spatial conv: 3 in ResNet, 7 in ConvNeXt (§2.5; 5, 9, 11 also tried). */
  kernelSize: number;
  /** Activation function: ReLU, or GELU in its exact erf form as in Transformers (§2.6). */
  activation: 'relu' | 'gelu';
  /** `all`: after every conv but the last and after the residual add (ResNet); `one`: only between the two 1×1 convs (§2.6). */
  activations: 'all' | 'one';
  /** `all`: a norm after every conv of the block; `one`: a single norm, before the 1×1 convs (§2.6). */
  norms: 'all' | 'one';
  /** BatchNorm, or LayerNorm over channels (channels-last) as in Transformers (§2.6). */
  norm: 'batch' | 'layer';
  /**
   * `in-block`: the first block of stages 2–4 downsamples with a strided conv, the shortcut with
   * a strided 1×1 conv + norm (ResNet). `separate`: a norm + 2×2 stride-2 conv between stages, a
   * norm after the stem and before the head, like Swin's patch merging (§2.6).
   */
  downsampling: 'in-block' | 'separate';
  /** Layer scale: each block's residual branch is multiplied by a learned per-channel γ, initialised to this; null = off. */
  layerScale: number | null;
  /** Stochastic depth: the largest drop-path rate, reached by the last block, rising linearly from 0 (a training-recipe setting, §2.1). */
  dropPath: number;
  /** Input channels: 1 for grayscale X-rays, 3 for RGB (ImageNet). */
  inChannels: number;
  /** Output classes: 2 (NORMAL, PNEUMONIA) here, 1000 on ImageNet. */
  numClasses: number;
  /**
   * Epsilon of the LayerNorm before the classifier; absent = LAYER_NORM_EPS (1e-6, the official
   * code and timm). Only HuggingFace's ConvNeXt differs (`layer_norm_eps`, 1e-12), so a model
   * imported from it keeps its value (pretrained/convnext.ts).
   */
  headNormEps?: number;
}

/** Epsilon of every norm: ConvNeXt's LayerNorm uses 1e-6; BatchNorm keeps PyTorch's 1e-5. */
export const LAYER_NORM_EPS = 1e-6;
export const BATCH_NORM_EPS = 1e-5;

/** Total stride from input to the last stage: 4 (stem) × 2 × 2 × 2. */
export const TOTAL_STRIDE = 32;

/** The fields of `b` that differ from `a`, as [field, before, after]. */
export function configDiff(a: ModelConfig, b: ModelConfig): [keyof ModelConfig, unknown, unknown][] {
  const out: [keyof ModelConfig, unknown, unknown][] = [];
  for (const key of Object.keys(b) as (keyof ModelConfig)[]) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) out.push([key, a[key], b[key]]);
  }
  return out;
}
