import { ModelConfig, TOTAL_STRIDE } from './config';
import { PlanOp, planModel } from './plan';

/**
 * A config's residual block read as the paper's Figure 4 reads it, top to bottom:
 * `dwconv 7×7 → LN → pwconv1 1×1 (×4) → GELU → pwconv2 1×1 → γ → +` for ConvNeXt. It is read
 * off the plan (plan.ts), the same description the builder builds, so it cannot drift from the
 * network; roles are the layers' names (plan.ts explains them).
 */
export interface BlockItem {
  /** The layer's name without its `s{stage}_b{block}_` prefix (`dwconv`, `pwconv1`, `norm`, `act_out`, `gamma`, `add`). */
  role: string;
  kind: 'conv' | 'norm' | 'act' | 'scale' | 'drop' | 'add';
  /** What it computes, as the figure labels it: `1×1`, `7×7 dw`, `BN`, `LN`, `ReLU`, `GELU`, `γ`, `drop path`, `+`. */
  label: string;
  /** Convs: the kernel size. */
  kernel?: number;
  /** Convs: one filter per channel. */
  depthwise?: boolean;
  /** Convs: output channels as a multiple of the block's channels (ConvNeXt's pwconv1: 4; ResNet's conv1: 1/4). */
  channels?: number;
}

export interface BlockDescription {
  /** Channels at the block's input and output (stage 1): the unit of BlockItem.channels. */
  width: number;
  /** The residual branch in order, the sum (`add`), then what follows the sum. */
  items: BlockItem[];
  /** The items on one line, joined by arrows; convs as `role kernel (×channels)`. */
  text: string;
}

/**
 * The block that repeats in `config`'s network: stride 1 with an identity shortcut (the second
 * block of stage 1; the first block of a stage may also downsample, which the diagram shows).
 */
export function describeBlock(config: ModelConfig): BlockDescription {
  // At least two blocks in stage 1, so there is one that neither downsamples nor changes width.
  const depths = config.depths.map((d, i) => (i === 0 ? Math.max(d, 2) : d));
  const plan = planModel({ ...config, depths }, TOTAL_STRIDE);
  const block = plan.find((op): op is Extract<PlanOp, { op: 'residual' }> => op.op === 'residual' && op.name === 's1_b2');
  if (block === undefined) throw new Error('describeBlock: the plan has no block s1_b2');
  const width = block.in[2];
  const role = (op: PlanOp): string => op.name.slice(block.name.length + 1);
  const item = (op: PlanOp): BlockItem => {
    switch (op.op) {
      case 'conv':
        return { role: role(op), kind: 'conv', label: `${op.kernel}×${op.kernel}${op.depthwise ? ' dw' : ''}`, kernel: op.kernel, depthwise: op.depthwise, channels: op.filters / width };
      case 'norm':
        return { role: role(op), kind: 'norm', label: op.kind === 'batch' ? 'BN' : 'LN' };
      case 'act':
        return { role: role(op), kind: 'act', label: op.fn === 'relu' ? 'ReLU' : 'GELU' };
      default:
        throw new Error(`describeBlock: unexpected ${op.op} layer ${op.name} in a block`);
    }
  };
  const items: BlockItem[] = block.body.map(item);
  if (block.layerScale !== null) items.push({ role: 'gamma', kind: 'scale', label: 'γ' });
  if (block.dropPath > 0) items.push({ role: 'drop_path', kind: 'drop', label: 'drop path' });
  items.push({ role: 'add', kind: 'add', label: '+' });
  items.push(...block.after.map(item));
  return { width, items, text: items.map(itemText).join(' → ') };
}

/** `pwconv1 1×1 (×4)`, `conv2 3×3 dw (×1/4)`; a depthwise conv named dwconv needs no `dw`; other layers show their label. */
function itemText(it: BlockItem): string {
  if (it.kind !== 'conv') return it.label;
  const label = it.depthwise === true && it.role.startsWith('dw') ? it.label.replace(/ dw$/, '') : it.label;
  const m = it.channels ?? 1;
  const times = m === 1 ? '' : m > 1 ? ` (×${formatRatio(m)})` : ` (×1/${formatRatio(1 / m)})`;
  return `${it.role} ${label}${times}`;
}

function formatRatio(r: number): string {
  return Math.abs(r - Math.round(r)) < 1e-9 ? String(Math.round(r)) : r.toFixed(2);
}
