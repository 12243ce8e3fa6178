import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildModel } from '../../src/lib/models/build';
import { describeBlock } from '../../src/lib/models/describe';
import { configFor, STEP_IDS, StepId } from '../../src/lib/models/steps';
import { useCpu } from '../helpers/tf';

before(useCpu);

/** The repeated block of every roadmap step, as the paper's Figure 4 would be read aloud. */
const GOLDEN: Record<StepId, string> = {
  resnet: 'conv1 1×1 (×1/4) → BN → ReLU → conv2 3×3 (×1/4) → BN → ReLU → conv3 1×1 → BN → + → ReLU',
  'stage-ratio': 'conv1 1×1 (×1/4) → BN → ReLU → conv2 3×3 (×1/4) → BN → ReLU → conv3 1×1 → BN → + → ReLU',
  'patchify-stem': 'conv1 1×1 (×1/4) → BN → ReLU → conv2 3×3 (×1/4) → BN → ReLU → conv3 1×1 → BN → + → ReLU',
  depthwise: 'conv1 1×1 (×1/4) → BN → ReLU → conv2 3×3 dw (×1/4) → BN → ReLU → conv3 1×1 → BN → + → ReLU',
  wider: 'conv1 1×1 (×1/4) → BN → ReLU → conv2 3×3 dw (×1/4) → BN → ReLU → conv3 1×1 → BN → + → ReLU',
  'inverted-bottleneck': 'pwconv1 1×1 (×4) → BN → ReLU → dwconv 3×3 (×4) → BN → ReLU → pwconv2 1×1 → BN → + → ReLU',
  'move-up-dwconv': 'dwconv 3×3 → BN → ReLU → pwconv1 1×1 (×4) → BN → ReLU → pwconv2 1×1 → BN → + → ReLU',
  'kernel-7': 'dwconv 7×7 → BN → ReLU → pwconv1 1×1 (×4) → BN → ReLU → pwconv2 1×1 → BN → + → ReLU',
  gelu: 'dwconv 7×7 → BN → GELU → pwconv1 1×1 (×4) → BN → GELU → pwconv2 1×1 → BN → + → GELU',
  'fewer-activations': 'dwconv 7×7 → BN → pwconv1 1×1 (×4) → BN → GELU → pwconv2 1×1 → BN → +',
  'fewer-norms': 'dwconv 7×7 → BN → pwconv1 1×1 (×4) → GELU → pwconv2 1×1 → +',
  'layer-norm': 'dwconv 7×7 → LN → pwconv1 1×1 (×4) → GELU → pwconv2 1×1 → +',
  'separate-downsampling': 'dwconv 7×7 → LN → pwconv1 1×1 (×4) → GELU → pwconv2 1×1 → γ → +',
};

for (const step of STEP_IDS) {
  test(`describeBlock() of ${step}: ${GOLDEN[step]}`, () => {
    assert.equal(describeBlock(configFor(step, { scale: 'paper' })).text, GOLDEN[step]);
  });
}

test('describeBlock() reads the same at every scale (channels are multiples of the block\'s width)', () => {
  for (const step of STEP_IDS) {
    for (const scale of ['femto', 'atto', 'smoke'] as const) assert.equal(describeBlock(configFor(step, { scale })).text, GOLDEN[step], `${step} at ${scale}`);
  }
});

test('describeBlock() gives the structure behind the text: role, kind, kernel, channel multiple', () => {
  const convnext = describeBlock(configFor('separate-downsampling', { scale: 'paper', dropPath: 0.1 }));
  assert.equal(convnext.width, 96);
  assert.deepEqual(convnext.items, [
    { role: 'dwconv', kind: 'conv', label: '7×7 dw', kernel: 7, depthwise: true, channels: 1 },
    { role: 'norm', kind: 'norm', label: 'LN' },
    { role: 'pwconv1', kind: 'conv', label: '1×1', kernel: 1, depthwise: false, channels: 4 },
    { role: 'act', kind: 'act', label: 'GELU' },
    { role: 'pwconv2', kind: 'conv', label: '1×1', kernel: 1, depthwise: false, channels: 1 },
    { role: 'gamma', kind: 'scale', label: 'γ' },
    { role: 'drop_path', kind: 'drop', label: 'drop path' },
    { role: 'add', kind: 'add', label: '+' },
  ]);
  assert.equal(convnext.text, 'dwconv 7×7 → LN → pwconv1 1×1 (×4) → GELU → pwconv2 1×1 → γ → drop path → +');
  const resnet = describeBlock(configFor('resnet', { scale: 'paper' }));
  assert.equal(resnet.width, 256);
  assert.deepEqual(resnet.items.map((i) => i.role), ['conv1', 'norm1', 'act1', 'conv2', 'norm2', 'act2', 'conv3', 'norm3', 'add', 'act_out']);
  assert.deepEqual(resnet.items.filter((i) => i.kind === 'conv').map((i) => i.channels), [0.25, 0.25, 1]);
});

test('describeBlock() roles are the built model\'s layer names, for every step', () => {
  for (const step of STEP_IDS) {
    const config = configFor(step, { scale: 'atto', dropPath: 0.1 });
    const model = buildModel(config, 32);
    const layers = model.layers.map((l) => l.name).filter((n) => n.startsWith('s1_b2_')).map((n) => n.slice('s1_b2_'.length));
    model.dispose();
    assert.deepEqual([...describeBlock(config).items.map((i) => i.role)].sort(), [...layers].sort(), step);
  }
});
