import * as path from 'node:path';
import { selectBackend } from '../../lib/backend';
import { parseShard, runAblation } from '../../lib/experiment/ablation';
import { getProfile } from '../../lib/experiment/profiles';
import { withOverrides } from '../../lib/train/recipe';
import { formatDuration } from '../../lib/util/progress';
import { parseOverrides, splitList } from '../args';
import { defineCommand, print } from '../command';
import { epochLines, resolveRunsDir, stopOnSignals, trainBar } from '../common';
import { printDataNotes, STRICT_SPLITS_HELP } from './train';
import { runInitOption } from './weights';
import { rowName } from '../../lib/experiment/report';

export const ablateCommand = defineCommand({
  name: 'ablate',
  summary: 'train steps × seeds under a profile; finished runs are skipped, --shard splits the work, Ctrl-C stops at the next step',
  options: {
    profile: { kind: 'string', help: 'smoke | cpu | default | paper | finetune (default: KIT_PROFILE or default)' },
    pretrained: { kind: 'string', help: "also fine-tune ConvNeXt from these weights (folder or hub id) once per seed: the extra row `convnext (pretrained)`, with the profile's finetune recipe" },
    grayscale: { kind: 'string', help: 'with --pretrained: sum (default) | repeat' },
    seeds: { kind: 'number', help: 'seeds per step (default: the profile\'s)' },
    steps: { kind: 'string', help: 'comma-separated steps (default: all 13)' },
    shard: { kind: 'string', help: 'i/n: this process runs every n-th run from i (0 ≤ i < n)' },
    override: { kind: 'list', help: 'recipe field=value (changes the ablation id)' },
    'runs-dir': { kind: 'string', help: 'write the ablation to <dir>/<ablation id> (default: KIT_RUNS_DIR or runs/)' },
    'strict-splits': { kind: 'boolean', help: STRICT_SPLITS_HELP },
  },
  run: async (_, o) => {
    const overrides = parseOverrides(o.override);
    const epochs = withOverrides(getProfile(o.profile).train, overrides).epochs;
    const pretrained = await runInitOption(o.pretrained, o.grayscale, '--pretrained');
    await selectBackend();
    const bar = trainBar();
    const stop = stopOnSignals();
    try {
      const outcome = await runAblation({
        profile: o.profile,
        seeds: o.seeds,
        steps: splitList(o.steps),
        shard: o.shard === undefined ? undefined : parseShard(o.shard),
        overrides,
        ...(pretrained !== undefined ? { pretrained } : {}),
        runsDir: resolveRunsDir(o['runs-dir']),
        leakage: o['strict-splits'] ? 'error' : 'warn',
        onData: printDataNotes,
        signal: stop.signal,
        onRunStart: (spec, i, total, skipped) => process.stderr.write(`[${i + 1}/${total}] ${rowName(spec)} seed ${spec.seed}${skipped ? ': finished before, skipped' : ''}\n`),
        onProgress: bar,
        onEpoch: epochLines(epochs),
        onRunEnd: (spec, r) => process.stderr.write(`    ${rowName(spec)} seed ${spec.seed}: val AUC ${r.best.valAuc.toFixed(3)}, test AUC ${r.test.auc.toFixed(3)}, ${formatDuration(r.wallSeconds)}\n`),
      });
      print(`ablation ${outcome.id}: ${outcome.runs.length} runs in this shard (${outcome.runs.filter((r) => r.skipped).length} skipped); report: npx convnext-xray report ${path.relative(process.cwd(), outcome.dir)}`);
      return 0;
    } finally {
      stop.dispose();
    }
  },
});
