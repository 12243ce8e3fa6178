import * as path from 'node:path';
import { selectBackend } from '../../lib/backend';
import { evaluateRun, savePredictions } from '../../lib/experiment/evaluate';
import { ablationDir, runDirOf } from '../../lib/runs';
import { KitError } from '../../lib/util/errors';
import { defineCommand, print, printJson } from '../command';
import { resolveRunsDir } from '../common';

export const evaluateCommand = defineCommand({
  name: 'evaluate',
  summary: 'every test metric of a run with its bootstrap 95% interval (threshold chosen on val)',
  options: {
    split: { kind: 'string', help: 'test | val (default test)' },
    sensitivity: { kind: 'number', help: 'choose the threshold for this validation sensitivity (default: Youden\'s J)' },
    rounds: { kind: 'number', help: 'bootstrap rounds (default 1000)' },
    save: { kind: 'boolean', help: 'write the recomputed predictions to the run\'s predictions.json' },
    'runs-dir': { kind: 'string', help: 'take the argument as <ablation id>/<step>/<seed> in this folder; without it, as a run folder' },
    json: { kind: 'boolean', help: 'print JSON' },
  },
  run: async (positional, o) => {
    const arg = positional[0];
    if (arg === undefined) {
      throw new KitError('evaluate needs a run folder', {
        fix: o['runs-dir'] === undefined ? 'e.g. npx convnext-xray evaluate runs/cpu/separate-downsampling/0 --split test' : `e.g. npx convnext-xray evaluate cpu/separate-downsampling/0 --runs-dir ${o['runs-dir']}`,
      });
    }
    const split = o.split ?? 'test';
    if (split !== 'test' && split !== 'val') throw new KitError(`unknown split "${split}"`, { fix: 'use --split test or --split val' });
    const dir = o['runs-dir'] === undefined ? path.resolve(arg) : runInRunsDir(arg, o['runs-dir']);
    await selectBackend();
    const rule = o.sensitivity !== undefined ? { rule: 'sensitivity' as const, target: o.sensitivity } : { rule: 'youden' as const };
    const { evaluation, predictions } = await evaluateRun(dir, split, { rule, rounds: o.rounds });
    if (o.save) savePredictions(dir, predictions);
    if (o.json) {
      printJson({ run: dir, ...evaluation, roc: undefined, reliability: undefined });
      return 0;
    }
    print(`${arg}: ${split}, n = ${evaluation.n}, threshold ${evaluation.threshold.value.toFixed(4)} (${evaluation.threshold.rule.rule}, chosen on val)`);
    print(`confusion: TP ${evaluation.confusion.tp}, FN ${evaluation.confusion.fn}, FP ${evaluation.confusion.fp}, TN ${evaluation.confusion.tn}`);
    // Both classes are there (evaluateRun refuses otherwise); precision alone can still be undefined.
    for (const [k, v] of Object.entries(evaluation.metrics)) print(`${k.padEnd(18)}${Number.isFinite(v.value) ? `${v.value.toFixed(4)}  [${v.lo.toFixed(4)}, ${v.hi.toFixed(4)}]` : `n/a (${undefinedBecause(k)})`}`);
    return 0;
  },
});

/** Why a metric has no value at this threshold, though both classes are in the split. */
function undefinedBecause(metric: string): string {
  return metric === 'precision' ? 'no image was called PNEUMONIA at this threshold' : 'undefined on this split at this threshold';
}

/** With --runs-dir, the argument names one run in it: `<ablation id>/<step>/<seed>`. */
function runInRunsDir(arg: string, runsDir: string): string {
  const parts = arg.split(/[\\/]/).filter((p) => p !== '');
  const [id, step, seed] = parts;
  if (parts.length !== 3 || id === undefined || step === undefined || seed === undefined || !/^\d+$/.test(seed) || parts.some((p) => p === '.' || p === '..')) {
    throw new KitError(`with --runs-dir, the argument is <ablation id>/<step>/<seed>, got "${arg}"`, {
      fix: `e.g. npx convnext-xray evaluate cpu/separate-downsampling/0 --runs-dir ${runsDir}, or drop --runs-dir and give the run folder: evaluate ${arg}`,
    });
  }
  return runDirOf(ablationDir(resolveRunsDir(runsDir), id), { step, seed: Number(seed) });
}
