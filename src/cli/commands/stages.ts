import { roadmapTable } from '../../lib/models/summary';
import { getScale } from '../../lib/models/steps';
import { tableText } from '../../lib/plot/table';
import { defineCommand, print, printJson } from '../command';

export const stagesCommand = defineCommand({
  name: 'stages',
  summary: 'every roadmap step with its parameters, FLOPs and activation memory, next to the paper',
  options: {
    json: { kind: 'boolean', help: 'print JSON' },
    size: { kind: 'number', help: 'input size in pixels (default 224, the paper\'s)' },
    scale: { kind: 'string', help: 'paper | femto | atto | smoke (default paper)' },
    channels: { kind: 'number', help: 'input channels (default 3 as ImageNet; 1 for X-rays)' },
    classes: { kind: 'number', help: 'output classes (default 1000 as ImageNet; 2 for X-rays)' },
    variants: { kind: 'boolean', help: 'also list the kernel-size variants 5, 9, 11' },
  },
  run: async (_, o) => {
    const scale = getScale(o.scale ?? 'paper').name;
    const rows = roadmapTable({ size: o.size, scale, inChannels: o.channels, numClasses: o.classes, variants: o.variants });
    if (o.json) {
      printJson(rows);
      return 0;
    }
    const table = rows.map((r) => ({
      step: r.step,
      params: `${(r.params / 1e6).toFixed(2)}M`,
      GFLOPs: r.gflops.toFixed(3),
      'act MiB': r.activationMiB.toFixed(1),
      'paper GFLOPs': r.paperGflops.toFixed(2),
      'paper top-1': r.paperTop1?.toFixed(1) ?? '',
    }));
    print(tableText(table, { align: { params: 'right', GFLOPs: 'right', 'act MiB': 'right', 'paper GFLOPs': 'right', 'paper top-1': 'right' } }));
    for (const r of rows) if (r.deviation !== undefined) print(`note: ${r.step}: ${r.deviation}`);
    return 0;
  },
});
