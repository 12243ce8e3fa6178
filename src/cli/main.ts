import { formatDeviceReport, selectBackend } from '../lib/backend';
import { loadSettings } from '../lib/config/settings';
import { loadXrayData } from '../lib/data/dataset';
import { downloadPneumoniaMnist, isValidMedmnistSize, MEDMNIST_SIZES, PNEUMONIAMNIST } from '../lib/data/medmnist';
import { dataStats } from '../lib/data/stats';
import { roadmapTable } from '../lib/models/summary';
import { getScale, ScaleName } from '../lib/models/steps';
import { KitError } from '../lib/util/errors';
import { terminalProgress } from '../lib/util/progress';
import { helpText, OptionSpec, parseArgs, parseOverrides } from './args';
import { selectBackend as ensureBackend } from '../lib/backend';
import { getProfile } from '../lib/experiment/profiles';
import { ablationId, parseShard, runAblation, runOne } from '../lib/experiment/ablation';
import { ablationDir, runDirOf } from '../lib/runs';
import { ablationReport, AblationReport } from '../lib/experiment/report';
import { withOverrides } from '../lib/train/recipe';
import type { TrainProgress } from '../lib/train/trainer';
import { formatDuration, ProgressSink } from '../lib/util/progress';
import * as path from 'node:path';
import { ablationHtmlPage } from '../lib/experiment/html-report';
import { evaluateRun, savePredictions } from '../lib/experiment/evaluate';
import { loadClassifier, predictFiles } from '../lib/eval/inference';
import { writeHtml } from '../lib/plot/html';
import { runBench } from '../lib/bench/bench';

interface Command {
  summary: string;
  options: OptionSpec;
  run: (positional: string[], options: Record<string, string | number | boolean | string[]>) => Promise<number>;
}

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const json = (value: unknown): void => print(JSON.stringify(value, null, 2));

const COMMANDS: Record<string, Command> = {
  device: {
    summary: 'which backend and adapter will run the math (the kit\'s nvidia-smi)',
    options: {
      json: { kind: 'boolean', help: 'print JSON' },
      backend: { kind: 'string', help: 'auto | tensorflow | webgpu | cpu (default: KIT_BACKEND or auto)' },
    },
    run: async (_, o) => {
      const report = await selectBackend({ backend: o['backend'] as never });
      if (o['json'] === true) json(report);
      else print(formatDeviceReport(report));
      return 0;
    },
  },
  'data stats': {
    summary: 'counts per split and class, patients, image sizes, the split\'s leakage check',
    options: {
      json: { kind: 'boolean', help: 'print JSON' },
      profile: { kind: 'string', help: 'smoke | cpu | default | paper (default: KIT_PROFILE or default)' },
      'skip-bad-images': { kind: 'boolean', help: 'leave out unreadable images and list them, instead of stopping' },
    },
    run: async (_, o) => {
      const data = await loadXrayData({
        profile: getProfile(o['profile'] as string | undefined),
        onProgress: terminalProgress(),
        onBadImage: o['skip-bad-images'] === true ? 'skip' : 'error',
      });
      const s = dataStats(data);
      if (o['json'] === true) {
        json(s);
        return 0;
      }
      print(`source   ${s.source}`);
      print(`profile  ${s.profile}: ${s.imageSize} px, ${s.fit}`);
      for (const [name, row] of Object.entries(s.sourceSplits)) print(`on disk  ${name.padEnd(5)} ${fmtRow(row)}`);
      for (const [name, row] of Object.entries(s.splits)) print(`model    ${name.padEnd(5)} ${fmtRow(row)}`);
      print(`split    ${s.split.method}${s.split.valFraction !== undefined ? `, val ${s.split.valFraction}, seed ${s.split.seed}` : ''}; patients in both train and val: ${s.split.patientOverlap}`);
      if (s.sourceImageSize !== undefined) print(`sizes    width ${fmtSummary(s.sourceImageSize.width)}, height ${fmtSummary(s.sourceImageSize.height)}`);
      for (const n of s.notes) print(`note     ${n}`);
      for (const k of s.skipped) print(`skipped  ${k.rel}: ${k.reason}`);
      return 0;
    },
  },
  stages: {
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
      const scale = getScale(String(o['scale'] ?? 'paper')).name as ScaleName;
      const rows = roadmapTable({ size: o['size'] as number | undefined, scale, inChannels: o['channels'] as number | undefined, numClasses: o['classes'] as number | undefined, variants: o['variants'] === true });
      if (o['json'] === true) {
        json(rows);
        return 0;
      }
      print(`${'step'.padEnd(24)}${'params'.padStart(10)}${'GFLOPs'.padStart(9)}${'act MiB'.padStart(9)}${'paper GFLOPs'.padStart(14)}${'paper top-1'.padStart(13)}`);
      for (const r of rows) {
        print(`${r.step.padEnd(24)}${(r.params / 1e6).toFixed(2).padStart(9)}M${r.gflops.toFixed(3).padStart(9)}${r.activationMiB.toFixed(1).padStart(9)}${r.paperGflops.toFixed(2).padStart(14)}${(r.paperTop1?.toFixed(1) ?? '').padStart(13)}`);
      }
      for (const r of rows) if (r.deviation !== undefined) print(`note: ${r.step}: ${r.deviation}`);
      return 0;
    },
  },
  train: {
    summary: 'train one roadmap step with one seed under a profile (resumes a killed run)',
    options: {
      step: { kind: 'string', help: 'roadmap step, group or kernel variant (see `stages`)' },
      seed: { kind: 'number', help: 'seed of initialization, batch order, augmentation (default 0)' },
      profile: { kind: 'string', help: 'smoke | cpu | default | paper (default: KIT_PROFILE or default)' },
      override: { kind: 'list', help: 'recipe field=value, e.g. epochs=10, batchSize=32, balance=sampler' },
      json: { kind: 'boolean', help: 'print the result as JSON' },
    },
    run: async (_, o) => {
      if (o['step'] === undefined) throw new KitError('train needs --step', { fix: 'e.g. --step separate-downsampling (list: `npx convnext-xray stages`)' });
      const profile = getProfile(o['profile'] as string | undefined);
      const overrides = parseOverrides(o['override'] as string[] | undefined);
      const recipe = withOverrides(profile.train, overrides);
      const spec = { step: String(o['step']), seed: Number(o['seed'] ?? 0), profile: profile.name, overrides };
      await ensureBackend();
      const data = await loadXrayData({ profile, onProgress: terminalProgress() });
      const dir = runDirOf(ablationDir(loadSettings().runsDir, ablationId(profile.name, overrides)), spec);
      const bar = trainBar();
      const result = await runOne(spec, profile, recipe, data, dir, { onProgress: (s2, p) => bar(s2, p) });
      if (o['json'] === true) json(result);
      else print(`${spec.step} seed ${spec.seed}: best val AUC ${result.best.valAuc.toFixed(3)} (epoch ${result.best.epoch}), test AUC ${result.test.auc.toFixed(3)}, test acc ${result.test.acc.toFixed(3)}; ${result.imgPerSec.toFixed(0)} img/s, ${formatDuration(result.wallSeconds)}; ${dir}`);
      return 0;
    },
  },
  ablate: {
    summary: 'train steps × seeds under a profile; finished runs are skipped, --shard splits the work',
    options: {
      profile: { kind: 'string', help: 'smoke | cpu | default | paper (default: KIT_PROFILE or default)' },
      seeds: { kind: 'number', help: 'seeds per step (default: the profile\'s)' },
      steps: { kind: 'string', help: 'comma-separated steps (default: all 13)' },
      shard: { kind: 'string', help: 'i/n: this process runs every n-th run from i (0 ≤ i < n)' },
      override: { kind: 'list', help: 'recipe field=value (changes the ablation id)' },
    },
    run: async (_, o) => {
      const overrides = parseOverrides(o['override'] as string[] | undefined);
      await ensureBackend();
      const bar = trainBar();
      const outcome = await runAblation({
        profile: o['profile'] as string | undefined,
        seeds: o['seeds'] as number | undefined,
        steps: o['steps'] === undefined ? undefined : String(o['steps']).split(',').map((x) => x.trim()).filter((x) => x !== ''),
        shard: o['shard'] === undefined ? undefined : parseShard(String(o['shard'])),
        overrides,
        onRunStart: (spec, i, total, skipped) => process.stderr.write(`[${i + 1}/${total}] ${spec.step} seed ${spec.seed}${skipped ? ': finished before, skipped' : ''}\n`),
        onProgress: (spec, p) => bar(spec, p),
        onRunEnd: (spec, r) => process.stderr.write(`    ${spec.step} seed ${spec.seed}: val AUC ${r.best.valAuc.toFixed(3)}, test AUC ${r.test.auc.toFixed(3)}, ${formatDuration(r.wallSeconds)}\n`),
      });
      print(`ablation ${outcome.id}: ${outcome.runs.length} runs in this shard (${outcome.runs.filter((r) => r.skipped).length} skipped); report: npx convnext-xray report ${path.relative(process.cwd(), outcome.dir)}`);
      return 0;
    },
  },
  report: {
    summary: 'per step: mean ± std over seeds of val/test accuracy and AUC, deltas with 95% intervals',
    options: {
      json: { kind: 'boolean', help: 'print JSON' },
      html: { kind: 'string', help: 'also write a standalone interactive HTML report to this file' },
    },
    run: async (positional, o) => {
      const dir = positional[0];
      if (dir === undefined) throw new KitError('report needs the ablation folder', { fix: 'e.g. npx convnext-xray report runs/smoke' });
      const report = ablationReport(path.resolve(dir));
      if (typeof o['html'] === 'string') {
        writeHtml(path.resolve(o['html']), ablationHtmlPage(path.resolve(dir)));
        process.stderr.write(`wrote ${path.resolve(o['html'])}\n`);
      }
      if (o['json'] !== true) return printReport(report);
      // The per-epoch curves are for plots; the JSON report keeps the per-step statistics.
      json({ ...report, curves: undefined });
      return 0;
    },
  },
  predict: {
    summary: 'class probabilities for X-ray images, with exactly the training preprocessing',
    options: {
      checkpoint: { kind: 'string', help: 'a run folder (runs/<id>/<step>/<seed>) or its best/ folder' },
      json: { kind: 'boolean', help: 'print JSON' },
    },
    run: async (files, o) => {
      if (typeof o['checkpoint'] !== 'string') throw new KitError('predict needs --checkpoint', { fix: 'e.g. --checkpoint runs/cpu/separate-downsampling/0' });
      if (files.length === 0) throw new KitError('predict needs at least one image file', { fix: 'e.g. npx convnext-xray predict chest.jpeg --checkpoint runs/cpu/separate-downsampling/0' });
      await ensureBackend();
      const clf = await loadClassifier(path.resolve(o['checkpoint']));
      const predictions = await predictFiles(clf, files.map((f) => path.resolve(f)));
      clf.model.dispose();
      if (o['json'] === true) json({ checkpoint: clf.dir, input: clf.input, predictions });
      else for (const p of predictions) print(`${p.file}: ${p.predicted}  (${Object.entries(p.probabilities).map(([c, v]) => `P(${c}) ${v.toFixed(4)}`).join(', ')})`);
      return 0;
    },
  },
  evaluate: {
    summary: 'every test metric of a run with its bootstrap 95% interval (threshold chosen on val)',
    options: {
      split: { kind: 'string', help: 'test | val (default test)' },
      sensitivity: { kind: 'number', help: 'choose the threshold for this validation sensitivity (default: Youden\'s J)' },
      rounds: { kind: 'number', help: 'bootstrap rounds (default 1000)' },
      save: { kind: 'boolean', help: 'write the recomputed predictions to the run\'s predictions.json' },
      json: { kind: 'boolean', help: 'print JSON' },
    },
    run: async (positional, o) => {
      const dir = positional[0];
      if (dir === undefined) throw new KitError('evaluate needs a run folder', { fix: 'e.g. npx convnext-xray evaluate runs/cpu/separate-downsampling/0 --split test' });
      const split = String(o['split'] ?? 'test');
      if (split !== 'test' && split !== 'val') throw new KitError(`unknown split "${split}"`, { fix: 'use --split test or --split val' });
      await ensureBackend();
      const rule = typeof o['sensitivity'] === 'number' ? { rule: 'sensitivity' as const, target: o['sensitivity'] } : { rule: 'youden' as const };
      const { evaluation, predictions } = await evaluateRun(path.resolve(dir), split, { rule, rounds: o['rounds'] as number | undefined });
      if (o['save'] === true) savePredictions(path.resolve(dir), predictions);
      if (o['json'] === true) {
        json({ run: path.resolve(dir), ...evaluation, roc: undefined, reliability: undefined });
        return 0;
      }
      print(`${dir}: ${split}, n = ${evaluation.n}, threshold ${evaluation.threshold.value.toFixed(4)} (${evaluation.threshold.rule.rule}, chosen on val)`);
      print(`confusion: TP ${evaluation.confusion.tp}, FN ${evaluation.confusion.fn}, FP ${evaluation.confusion.fp}, TN ${evaluation.confusion.tn}`);
      for (const [k, v] of Object.entries(evaluation.metrics)) print(`${k.padEnd(18)}${v.value.toFixed(4)}  [${v.lo.toFixed(4)}, ${v.hi.toFixed(4)}]`);
      return 0;
    },
  },
  bench: {
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
      await ensureBackend({ backend: o['backend'] as never });
      const scale = getScale(String(o['scale'] ?? 'atto')).name as ScaleName;
      const result = await runBench({
        size: (o['size'] as number | undefined) ?? 64,
        batch: (o['batch'] as number | undefined) ?? 64,
        scale,
        steps: o['steps'] === undefined ? undefined : String(o['steps']).split(',').map((x) => x.trim()).filter((x) => x !== ''),
        stock: o['stock'] === true,
        profileKernels: o['profile-kernels'] === true,
        iterations: o['iterations'] as number | undefined,
        onProgress: terminalProgress(),
      });
      if (o['json'] === true) {
        json(result);
        return 0;
      }
      print(`backend ${result.backend}${result.adapter !== undefined ? ` (${result.adapter})` : ''}, ${result.size} px, batch ${result.batch}, scale ${result.scale}`);
      print(`${'step'.padEnd(22)}${'train img/s'.padStart(13)}${'forward img/s'.padStart(15)}${result.rows[0]?.stock ? `${'stock train'.padStart(13)}${'stock fwd'.padStart(11)}${'train ×'.padStart(9)}${'fwd ×'.padStart(8)}` : ''}`);
      for (const r of result.rows) {
        const stock = r.stock !== undefined && r.speedup !== undefined ? `${r.stock.trainImgPerSec.toFixed(1).padStart(13)}${r.stock.forwardImgPerSec.toFixed(1).padStart(11)}${r.speedup.train.toFixed(2).padStart(9)}${r.speedup.forward.toFixed(2).padStart(8)}` : '';
        print(`${r.step.padEnd(22)}${r.kit.trainImgPerSec.toFixed(1).padStart(13)}${r.kit.forwardImgPerSec.toFixed(1).padStart(15)}${stock}`);
      }
      for (const r of result.rows) {
        if (r.kernels === undefined) continue;
        print(`\n${r.step}: time per kernel in one training step (${r.timestampQueries === true ? 'GPU timestamp queries' : 'host timings'})`);
        for (const k of r.kernels.slice(0, 12)) print(`  ${k.name.padEnd(40)}${k.ms.toFixed(2).padStart(10)} ms  ×${k.calls}`);
      }
      return 0;
    },
  },
  'data download': {
    summary: `download ${PNEUMONIAMNIST.name} from Zenodo into the cache (MD5 checked)`,
    options: {
      size: { kind: 'string', help: `${MEDMNIST_SIZES.join(' | ')} | all (default 128)` },
      json: { kind: 'boolean', help: 'print JSON' },
    },
    run: async (_, o) => {
      const raw = String(o['size'] ?? '128');
      const sizes = raw === 'all' ? [...MEDMNIST_SIZES] : [Number(raw)];
      for (const size of sizes) {
        if (!isValidMedmnistSize(size)) throw new KitError(`no ${PNEUMONIAMNIST.name} file at ${raw} px`, { fix: `use --size ${MEDMNIST_SIZES.join(', ')} or all` });
      }
      const { cacheDir } = loadSettings();
      const results = [];
      for (const size of sizes) {
        if (!isValidMedmnistSize(size)) continue;
        const r = await downloadPneumoniaMnist({ size, cacheDir, onProgress: terminalProgress() });
        results.push({ size, ...r });
        if (o['json'] !== true) print(`${size} px: ${r.action} ${r.path} (MD5 ${r.md5})`);
      }
      if (o['json'] === true) json(results);
      if (o['json'] !== true) print(`Use it: unset XRAY_DATA for the 128 px default, or XRAY_DATA=${results[0]?.path ?? '<file>'}`);
      return 0;
    },
  },
};

/** A one-line progress bar for training, on stderr. */
function trainBar(): (spec: { step: string; seed: number }, p: TrainProgress) => void {
  const sink: ProgressSink = terminalProgress();
  return (spec, p) =>
    sink({
      label: `${spec.step} seed ${spec.seed} epoch ${p.epoch}/${p.epochs}`,
      done: p.step,
      total: p.steps,
      unit: 'steps',
      info: `loss ${p.loss.toFixed(3)}, lr ${p.lr.toExponential(1)}, ${p.imgPerSec.toFixed(0)} img/s${p.last !== undefined ? `, val acc ${p.last.valAcc.toFixed(3)} AUC ${p.last.valAuc.toFixed(3)}` : ''}, ETA ${formatDuration(p.etaSeconds)}`,
    });
}

function printReport(r: AblationReport): number {
  const pm = (a: { mean: number; std: number; n: number }): string => `${a.mean.toFixed(3)} ± ${Number.isFinite(a.std) ? a.std.toFixed(3) : '-'}`;
  print(`ablation ${r.id} (${r.profile ?? '?'}), ${r.runs} finished runs, backend ${r.backend.join(', ')}`);
  print(`${'step'.padEnd(22)}${'n'.padStart(3)}${'val AUC'.padStart(16)}${'test AUC'.padStart(16)}${'test acc'.padStart(16)}${'Δ test AUC [95% CI]'.padStart(28)}${'paper Δ'.padStart(9)}`);
  for (const s of r.steps) {
    const d = s.delta?.testAuc;
    const delta = d === undefined ? '' : `${d.diff >= 0 ? '+' : ''}${d.diff.toFixed(3)} [${Number.isFinite(d.lo) ? `${d.lo.toFixed(3)}, ${d.hi.toFixed(3)}` : 'n < 2'}]${d.withinNoise ? ' ~' : ' *'}`;
    print(`${s.step.padEnd(22)}${String(s.testAuc.n).padStart(3)}${pm(s.valAuc).padStart(16)}${pm(s.testAuc).padStart(16)}${pm(s.testAcc).padStart(16)}${delta.padStart(28)}${(s.paperDelta !== undefined ? `${s.paperDelta >= 0 ? '+' : ''}${s.paperDelta.toFixed(1)}` : '').padStart(9)}`);
  }
  print('~ : the 95% interval contains 0 (within seed noise); * : it does not');
  return 0;
}

function fmtRow(row: Record<string, number | undefined>): string {
  return Object.entries(row)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function fmtSummary(s: { min: number; median: number; max: number }): string {
  return `${s.min}–${s.max} (median ${s.median})`;
}

function usage(): string {
  const lines = ['usage: convnext-xray <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(16)}${c.summary}`);
  lines.push('', 'Run `convnext-xray <command> --help` for its options. Settings: XRAY_DATA, KIT_PROFILE, KIT_BACKEND, KIT_CACHE_DIR (see README).');
  return lines.join('\n');
}

/** Run the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
    print(usage());
    return argv.length === 0 ? 1 : 0;
  }
  // Commands are one or two words ("device", "data stats").
  const two = `${argv[0]} ${argv[1] ?? ''}`;
  const name = COMMANDS[two] !== undefined ? two : (argv[0] as string);
  const command = COMMANDS[name];
  if (command === undefined) {
    const group = Object.keys(COMMANDS).filter((k) => k.startsWith(`${argv[0]} `));
    throw new KitError(`unknown command "${argv.slice(0, group.length > 0 ? 2 : 1).join(' ')}"`, {
      fix: `use one of: ${(group.length > 0 ? group : Object.keys(COMMANDS)).join(', ')}`,
    });
  }
  const rest = argv.slice(name.split(' ').length);
  if (rest.includes('--help')) {
    print(`convnext-xray ${name}: ${command.summary}\n\n${helpText(command.options)}`);
    return 0;
  }
  const { positional, options } = parseArgs(rest, command.options, name);
  return command.run(positional, options);
}
