import { selectBackend } from '../../lib/backend';
import { loadXrayData, XrayData } from '../../lib/data/dataset';
import { ablationId, recipeOf, runOne } from '../../lib/experiment/ablation';
import { rowName } from '../../lib/experiment/report';
import { getProfile } from '../../lib/experiment/profiles';
import { resolveStep } from '../../lib/models/steps';
import { ablationDir, lockRun, runDirOf, RunSpec } from '../../lib/runs';
import { KitError } from '../../lib/util/errors';
import { formatDuration, terminalProgress } from '../../lib/util/progress';
import { parseOverrides } from '../args';
import { defineCommand, print, printJson } from '../command';
import { epochLines, resolveRunsDir, stopOnSignals, trainBar } from '../common';
import { runInitOption } from './weights';

export const STRICT_SPLITS_HELP = 'refuse to train when train, val and test share a patient id or an identical or near-identical image (default: train, with a warning)';

/** The loader's notes (leakage and class-count warnings among them) on stderr, before training starts. */
export function printDataNotes(data: Pick<XrayData, 'notes'>): void {
  for (const n of data.notes) process.stderr.write(`note: ${n}\n`);
}

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train one roadmap step with one seed under a profile (resumes a killed or interrupted run)',
  options: {
    step: { kind: 'string', help: 'roadmap step, group or kernel variant (see `stages`)' },
    seed: { kind: 'number', help: 'seed of initialization, batch order, augmentation (default 0)' },
    profile: { kind: 'string', help: 'smoke | cpu | default | paper (default: KIT_PROFILE or default)' },
    override: { kind: 'list', help: 'recipe field=value, e.g. epochs=10, batchSize=32, balance=sampler' },
    'runs-dir': { kind: 'string', help: 'write the run to <dir>/<ablation id>/<step>/<seed> (default: KIT_RUNS_DIR or runs/)' },
    init: { kind: 'string', help: "fine-tune from pretrained ConvNeXt weights: a folder (config.json + model.safetensors) or a hub id / timm name (downloaded once into the cache); uses the profile's finetune recipe; the run goes to <step>+pretrained/<seed>" },
    grayscale: { kind: 'string', help: 'with --init: how the RGB stem becomes gray, sum (default) | repeat' },
    'strict-splits': { kind: 'boolean', help: STRICT_SPLITS_HELP },
    json: { kind: 'boolean', help: 'print the result as JSON' },
  },
  run: async (_, o) => {
    if (o.step === undefined) throw new KitError('train needs --step', { fix: 'e.g. --step separate-downsampling (list: `npx convnext-xray stages`)' });
    resolveStep(o.step);
    const profile = getProfile(o.profile);
    const overrides = parseOverrides(o.override);
    // A hub id is fetched (once) before the run folder is locked: a download is not training.
    const init = await runInitOption(o.init, o.grayscale, '--init');
    const spec: RunSpec = { step: o.step, seed: o.seed ?? 0, profile: profile.name, overrides, ...(init !== undefined ? { init } : {}) };
    const recipe = recipeOf(spec, profile);
    const dir = runDirOf(ablationDir(resolveRunsDir(o['runs-dir']), ablationId(profile.name, overrides)), spec);
    // Ctrl-C stops at the next step; the run folder is ours before the (long) data loading, so a second `train` is refused at once.
    const stop = stopOnSignals();
    try {
      const lock = await lockRun(dir);
      try {
        await selectBackend();
        const data = await loadXrayData({ profile, onProgress: terminalProgress(), leakage: o['strict-splits'] ? 'error' : 'warn' });
        printDataNotes(data);
        const result = await runOne(spec, profile, recipe, data, dir, { onProgress: trainBar(), onEpoch: epochLines(recipe.epochs), signal: stop.signal, lock });
        if (o.json) printJson(result);
        else print(`${rowName(spec)} seed ${spec.seed}: best val AUC ${result.best.valAuc.toFixed(3)} (epoch ${result.best.epoch}), test AUC ${result.test.auc.toFixed(3)}, test acc ${result.test.acc.toFixed(3)}; ${result.imgPerSec.toFixed(0)} img/s, ${formatDuration(result.wallSeconds)}; ${dir}`);
        return 0;
      } finally {
        lock.release();
      }
    } finally {
      stop.dispose();
    }
  },
});
