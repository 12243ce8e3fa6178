import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelConfig } from '../../src/lib/models/config';

/**
 * A saved model turned into what kit format 1 wrote before layers were named by role: no
 * `kit.format`, and the positional names of that version's plan.ts (the i-th conv of a block
 * `pwconv{i}`, `conv{i}` or `dwconv{i}`, the norm and activation after it `norm{i}`, `act{i}`,
 * `shortcut_conv`, `droppath`, `down{stage}_conv`). The tables are written out here by hand from
 * that code, not computed by models/legacy.ts, which is what the tests check.
 */
export function formatOneRoles(config: ModelConfig): Record<string, string> {
  const common = { downsample_conv: 'shortcut_conv', downsample_norm: 'shortcut_norm', drop_path: 'droppath', gamma: 'gamma', add: 'add', act_out: 'act_out' };
  if (config.block === 'bottleneck') {
    // 1×1 → k×k → 1×1: the spatial conv is second.
    const spatial = config.spatialConv === 'depthwise' ? 'dwconv2' : 'conv2';
    return { ...common, conv1: 'pwconv1', norm1: 'norm1', act1: 'act1', conv2: spatial, norm2: 'norm2', act2: 'act2', conv3: 'pwconv3', norm3: 'norm3' };
  }
  if (config.spatialFirst) {
    // dw k×k → 1×1 (×4) → 1×1.
    return { ...common, dwconv: 'dwconv1', norm: 'norm1', dwconv_act: 'act1', pwconv1: 'pwconv2', pwconv1_norm: 'norm2', act: 'act2', pwconv2: 'pwconv3', pwconv2_norm: 'norm3' };
  }
  // 1×1 (×4) → dw k×k → 1×1.
  return { ...common, pwconv1: 'pwconv1', pwconv1_norm: 'norm1', act: 'act1', dwconv: 'dwconv2', norm: 'norm2', dwconv_act: 'act2', pwconv2: 'pwconv3', pwconv2_norm: 'norm3' };
}

/** A layer or weight name (`s1_b1_pwconv1/kernel`) as format 1 named it. */
export function formatOneName(name: string, config: ModelConfig): string {
  const block = /^(s\d+_b\d+)_([^/]+)(\/.*)?$/.exec(name);
  if (block !== null) {
    const old = formatOneRoles(config)[block[2] as string];
    if (old === undefined) throw new Error(`formatOneName: no format-1 name for ${name}`);
    return `${block[1]}_${old}${block[3] ?? ''}`;
  }
  const down = /^s(\d+)_downsample_(norm|conv)(\/.*)?$/.exec(name);
  return down === null ? name : `down${down[1]}_${down[2]}${down[3] ?? ''}`;
}

/**
 * Rewrite `dir`/model.json as format 1 wrote it: every layer and weight name renamed, `kit.format`
 * removed (weights.bin is unchanged: the same layers in the same order). `edit` may change the
 * `kit` metadata further.
 */
export function rewriteAsFormatOne(dir: string, config: ModelConfig, edit: (kit: Record<string, unknown>) => void = () => {}): void {
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'), (_key, v: unknown) => (typeof v === 'string' ? formatOneName(v, config) : v)) as { kit: Record<string, unknown> };
  delete json.kit['format'];
  edit(json.kit);
  fs.writeFileSync(file, JSON.stringify(json));
}
