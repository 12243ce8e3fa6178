import { ModelConfig, TOTAL_STRIDE } from './config';
import { blockRoles, PlanOp, planModel } from './plan';

/**
 * Kit format 1 named a block's layers by position: the i-th conv was `pwconv{i}`, `conv{i}` or
 * `dwconv{i}`, the norm and activation after it `norm{i}` and `act{i}`, the shortcut
 * `shortcut_conv` / `shortcut_norm`, stochastic depth `droppath`, and the separate downsampling
 * layers `down{stage}_norm` / `down{stage}_conv`. Format 2 names them by role (plan.ts). The
 * network is the same, layer for layer and in the same order, so a format-1 model loads once its
 * names are mapped.
 */

/** Every layer of `config`'s network: its format-1 name → its name now (unchanged names included). */
export function formatOneNames(config: ModelConfig): Map<string, string> {
  const map = new Map<string, string>();
  const spatial = blockRoles(config).spatial.conv;
  const visit = (op: PlanOp): void => {
    if (op.op !== 'residual') {
      const down = /^s(\d+)_downsample_(norm|conv)$/.exec(op.name);
      map.set(down === null ? op.name : `down${down[1]}_${down[2]}`, op.name);
      return;
    }
    const block = op.name;
    const role = (o: PlanOp): string => o.name.slice(block.length + 1);
    let conv = 0;
    for (const o of op.body) {
      if (o.op === 'conv') conv++;
      const old = o.op === 'conv' ? `${role(o) === spatial ? (o.depthwise ? 'dwconv' : 'conv') : 'pwconv'}${conv}` : `${o.op}${conv}`;
      map.set(`${block}_${old}`, o.name);
    }
    for (const o of op.shortcut) map.set(o.name.replace(/_downsample_(conv|norm)$/, '_shortcut_$1'), o.name);
    if (op.layerScale !== null) map.set(`${block}_gamma`, `${block}_gamma`);
    if (op.dropPath > 0) map.set(`${block}_droppath`, `${block}_drop_path`);
    map.set(`${block}_add`, `${block}_add`);
    for (const o of op.after) map.set(o.name, o.name);
  };
  planModel(config, TOTAL_STRIDE).forEach(visit);
  return map;
}
