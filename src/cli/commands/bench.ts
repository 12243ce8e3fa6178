import { parseBackendName, selectBackend } from '../../lib/backend';
import { runBench } from '../../lib/bench/bench';
import { getScale } from '../../lib/models/steps';
import { tableText } from '../../lib/plot/table';
import { terminalProgress } from '../../lib/util/progress';
import { splitList } from '../args';
import { defineCommand, print, printJson } from '../command';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'train and forward img/s per roadmap step on generated batches, kit kernels vs stock',
  options: {
    backend: { kind: 'string', help: 'auto | tensorflow | webgpu | cpu (default: KIT_BACKEND or auto)' },
    size: { kind: 'number', help: 'input size in pixels (default 64)' },
    batch: { kind: 'number', help: 'batch size (default 64)' },
    scale: { kind: 'string', help: 'paper | femto | atto | smoke (default atto)' },
    steps: { kind: 'string', help: 'comma-separated roadmap steps (default: all)' },
    stock: { kind: 'boolean', help: 'also measure the stock tfjs kernels, in the same run' },
    'profile-kernels': { kind: 'boolean', help: 'time every kernel of one training step' },
    iterations: { kind: 'number', help: 'timed steps per measurement (median; default 5)' },
    json: { kind: 'boolean', help: 'print JSON' },
  },
  run: async (_, o) => {
    await selectBackend({ backend: o.backend === undefined ? undefined : parseBackendName(o.backend) });
    const scale = getScale(o.scale ?? 'atto').name;
    const result = await runBench({
      size: o.size ?? 64,
      batch: o.batch ?? 64,
      scale,
      steps: splitList(o.steps),
      stock: o.stock,
      profileKernels: o['profile-kernels'],
      iterations: o.iterations,
      onProgress: terminalProgress(),
    });
    if (o.json) {
      printJson(result);
      return 0;
    }
    print(`backend ${result.backend}${result.adapter !== undefined ? ` (${result.adapter})` : ''}, ${result.size} px, batch ${result.batch}, scale ${result.scale}`);
    // The stock columns appear only when the stock kernels were measured (--stock, on a backend with kit kernels).
    const rows = result.rows.map((r) => ({
      step: r.step,
      'train img/s': r.kit.trainImgPerSec.toFixed(1),
      'forward img/s': r.kit.forwardImgPerSec.toFixed(1),
      ...(r.stock !== undefined && r.speedup !== undefined
        ? { 'stock train': r.stock.trainImgPerSec.toFixed(1), 'stock fwd': r.stock.forwardImgPerSec.toFixed(1), 'train ×': r.speedup.train.toFixed(2), 'fwd ×': r.speedup.forward.toFixed(2) }
        : {}),
    }));
    print(tableText(rows, { align: { 'train img/s': 'right', 'forward img/s': 'right', 'stock train': 'right', 'stock fwd': 'right', 'train ×': 'right', 'fwd ×': 'right' } }));
    for (const r of result.rows) {
      if (r.kernels === undefined) continue;
      print(`\n${r.step}: time per kernel in one training step (${r.timestampQueries === true ? 'GPU timestamp queries' : 'host timings'})`);
      for (const k of r.kernels.slice(0, 12)) print(`  ${k.name.padEnd(40)}${k.ms.toFixed(2).padStart(10)} ms  ×${k.calls}`);
    }
    return 0;
  },
});
