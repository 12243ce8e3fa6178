import * as path from 'node:path';
import { mean, std, welchInterval } from '../metrics/stats';
import { resolveStep } from '../models/steps';
import { finishedRuns, readAblationMeta, RunResult, RunSpec } from '../runs';

/** mean ± std over seeds, and how many seeds. */
export interface Aggregate {
  mean: number;
  std: number;
  n: number;
  values: number[];
}

export interface Delta {
  /** mean(this step) − mean(previous step). */
  diff: number;
  /** 95% Welch interval; NaN when a step has fewer than two seeds. */
  lo: number;
  hi: number;
  /** The interval contains 0 (or cannot be computed): not distinguishable from seed noise. */
  withinNoise: boolean;
}

export interface StepReport {
  /** The step as the runs name it, or `<step> (pretrained)` for fine-tuned runs (RunSpec.init). */
  step: string;
  index: number;
  title: string;
  /**
   * Fine-tuned from pretrained weights: an extra row after the roadmap, never part of its deltas.
   * Its `previous` and `delta` compare it with the same step trained from scratch, when present.
   */
  pretrained?: boolean;
  valAcc: Aggregate;
  valAuc: Aggregate;
  testAcc: Aggregate;
  testAuc: Aggregate;
  /** Change from the previous step present in the ablation. */
  previous?: string;
  delta?: { valAcc: Delta; valAuc: Delta; testAcc: Delta; testAuc: Delta };
  /** Table 10: ImageNet top-1 and its change from the previous step (when both are on the main road). */
  paperTop1?: number;
  paperDelta?: number;
  /** Mean wall time and training throughput per run. */
  wallSeconds: number;
  imgPerSec: number;
}

export interface AblationReport {
  id: string;
  dir: string;
  profile?: string;
  steps: StepReport[];
  runs: number;
  backend: string[];
  /** Per step and seed, the validation curve (for plotting all training curves together). */
  curves: { step: string; seed: number; epochs: number[]; valAuc: number[]; valAcc: number[]; trainLoss: number[] }[];
}

/** Aggregate every finished run under runs/<id>/ into per-step statistics. */
export function ablationReport(dir: string): AblationReport {
  const results = finishedRuns(dir).map((r) => r.result);
  const byStep = new Map<string, RunResult[]>();
  for (const r of results) byStep.set(rowName(r.spec), [...(byStep.get(rowName(r.spec)) ?? []), r]);
  const order = [...byStep.keys()].sort((a, b) => rowRank(byStep.get(a)?.[0]?.spec as RunSpec) - rowRank(byStep.get(b)?.[0]?.spec as RunSpec));
  const agg = (rs: RunResult[], f: (r: RunResult) => number): Aggregate => {
    const values = rs.map(f);
    return { mean: mean(values), std: std(values), n: values.length, values };
  };
  const steps: StepReport[] = order.map((name) => {
    const rs = byStep.get(name) as RunResult[];
    const spec = (rs[0] as RunResult).spec;
    const { step } = resolveStep(spec.step);
    const pretrained = spec.init !== undefined;
    return {
      step: name,
      index: step.index,
      title: pretrained ? `${step.title}, fine-tuned from pretrained weights` : step.title,
      ...(pretrained ? { pretrained } : {}),
      valAcc: agg(rs, (r) => r.best.valAcc),
      valAuc: agg(rs, (r) => r.best.valAuc),
      testAcc: agg(rs, (r) => r.test.acc),
      testAuc: agg(rs, (r) => r.test.auc),
      paperTop1: step.id === name && !pretrained ? step.paper.top1 : undefined,
      wallSeconds: mean(rs.map((r) => r.wallSeconds)),
      imgPerSec: mean(rs.map((r) => r.imgPerSec)),
    };
  });
  const roadmap = steps.filter((s) => s.pretrained !== true);
  const previousOf = (s: StepReport): StepReport | undefined => {
    if (s.pretrained !== true) return roadmap[roadmap.indexOf(s) - 1];
    // A fine-tuned row compares with its step from scratch (the same network, the same data).
    return roadmap.find((r) => resolveStep(r.step).step.index === s.index);
  };
  steps.forEach((s) => {
    const prev = previousOf(s);
    if (prev === undefined) return;
    const d = (a: Aggregate, b: Aggregate): Delta => {
      const w = welchInterval(a.values, b.values);
      return { diff: w.diff, lo: w.lo, hi: w.hi, withinNoise: !(w.lo > 0 || w.hi < 0) };
    };
    s.previous = prev.step;
    s.delta = { valAcc: d(prev.valAcc, s.valAcc), valAuc: d(prev.valAuc, s.valAuc), testAcc: d(prev.testAcc, s.testAcc), testAuc: d(prev.testAuc, s.testAuc) };
    if (s.paperTop1 !== undefined && prev.paperTop1 !== undefined) s.paperDelta = Math.round((s.paperTop1 - prev.paperTop1) * 10) / 10;
  });
  const profile = readAblationMeta(dir)?.profile;
  return {
    id: path.basename(dir),
    dir,
    profile,
    steps,
    runs: results.length,
    backend: [...new Set(results.map((r) => r.backend))],
    curves: results
      .sort((a, b) => rowRank(a.spec) - rowRank(b.spec) || a.spec.seed - b.spec.seed)
      .map((r) => ({ step: rowName(r.spec), seed: r.spec.seed, epochs: r.history.map((h) => h.epoch), valAuc: r.history.map((h) => h.valAuc), valAcc: r.history.map((h) => h.valAcc), trainLoss: r.history.map((h) => h.trainLoss) })),
  };
}

/** A run's row: its step, or `<step> (pretrained)` when it was fine-tuned. */
export function rowName(spec: Pick<RunSpec, 'step' | 'init'>): string {
  return spec.init === undefined ? spec.step : `${spec.step} (pretrained)`;
}

/** Roadmap order; fine-tuned rows after every roadmap step. */
function rowRank(spec: Pick<RunSpec, 'step' | 'init'>): number {
  const { step, kernelSize } = resolveStep(spec.step);
  return step.index + (kernelSize !== undefined ? kernelSize / 100 : 0.07) + (spec.init !== undefined ? 100 : 0);
}


/** "mean ± std" with `digits` decimals; the spread of a single seed is unknown: "mean ± –". */
export function formatMeanStd(a: { mean: number; std: number }, digits = 3): string {
  return `${a.mean.toFixed(digits)} ± ${Number.isFinite(a.std) ? a.std.toFixed(digits) : '–'}`;
}

/**
 * The ablation as a table, one row per step: what the CLI's `report`, notebook 03 and the HTML
 * page all show. Metrics are mean ± std over seeds; the delta is to the previous step, with its
 * Welch 95% interval; the paper's columns are ImageNet top-1 (Table 10).
 */
export function reportRows(report: AblationReport): Record<string, string | number>[] {
  return report.steps.map((s) => ({
    step: s.step,
    ...metricColumns(s, s.delta?.testAuc),
    'ImageNet top-1 (paper)': s.paperTop1 === undefined ? '' : s.paperTop1.toFixed(1),
    'ImageNet Δ': s.paperDelta === undefined ? '' : `${s.paperDelta >= 0 ? '+' : ''}${s.paperDelta.toFixed(1)}`,
    'img/s': Math.round(s.imgPerSec),
  }));
}

/**
 * Every finished run of an ablation folder as one row (step, seed, its metrics, speed): the
 * long table behind the report, for a DataFrame (notebook 03 groups it with danfo).
 */
export function runRows(dir: string): Record<string, string | number>[] {
  return finishedRuns(dir).map((r) => ({
    step: rowName(r.result.spec),
    seed: r.seed,
    'val AUC': r.result.best.valAuc,
    'test AUC': r.result.test.auc,
    'test accuracy': r.result.test.acc,
    'best epoch': r.result.best.epoch,
    'img/s': Math.round(r.result.imgPerSec),
    seconds: Math.round(r.result.wallSeconds),
  }));
}

/**
 * The ablation's findings in plain words: which steps changed test AUC beyond seed noise, and
 * whether the direction agrees with the paper's ImageNet result.
 */
export function describeDeltas(report: AblationReport): string[] {
  const out: string[] = [];
  const seeds = Math.min(...report.steps.map((s) => s.testAuc.n));
  if (seeds < 2) {
    out.push(`With ${seeds} seed per step there is no estimate of seed noise: treat every difference below as anecdotal, and run more seeds (the default profile uses 3).`);
  }
  for (const s of report.steps) {
    const d = s.delta?.testAuc;
    if (d === undefined) continue;
    const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`;
    const ci = Number.isFinite(d.lo) ? ` (95% CI ${pts(d.lo)} to ${pts(d.hi)})` : '';
    const paper = s.paperDelta !== undefined ? `; on ImageNet the paper saw ${s.paperDelta >= 0 ? '+' : ''}${s.paperDelta.toFixed(1)} top-1` : '';
    const verdict = d.withinNoise ? 'within seed noise' : d.diff > 0 ? 'a real gain' : 'a real loss';
    const agrees = s.paperDelta !== undefined && !d.withinNoise && s.paperDelta !== 0 ? (Math.sign(d.diff) === Math.sign(s.paperDelta) ? ' — the same direction as the paper' : ' — the opposite of the paper') : '';
    out.push(`${s.step} vs ${s.previous}: test AUC ${pts(d.diff)} points${ci}: ${verdict}${agrees}${paper}.`);
  }
  return out;
}

/** A signed number with 3 decimals: +0.012, -0.300. */
export function formatSigned(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
}

/** "[lo, hi]" of a 95% interval of a difference, with " *" when it excludes 0 (beyond noise); '' when it could not be computed. */
export function formatInterval(lo: number, hi: number): string {
  return Number.isFinite(lo) ? `[${formatSigned(lo)}, ${formatSigned(hi)}]${lo > 0 || hi < 0 ? ' *' : ''}` : '';
}

/** The columns every table of the ablation shares: seeds, val/test metrics (mean ± std), and the test-AUC delta with its interval. */
function metricColumns(s: StepReport, d: Delta | undefined): Record<string, string | number> {
  return {
    seeds: s.testAuc.n,
    'val AUC': formatMeanStd(s.valAuc),
    'test AUC': formatMeanStd(s.testAuc),
    'test accuracy': formatMeanStd(s.testAcc),
    'Δ test AUC': d === undefined ? '' : formatSigned(d.diff),
    '95% CI': d === undefined ? '' : formatInterval(d.lo, d.hi),
  };
}

/**
 * Fine-tuned rows next to the same step from scratch, for notebook 03's pretrained section: one
 * row per model, the difference (fine-tuned − from scratch, Welch 95% interval over seeds) on
 * the fine-tuned one. Empty when the ablation has no fine-tuned run.
 */
export function finetuneRows(report: AblationReport): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  for (const ft of report.steps.filter((s) => s.pretrained === true)) {
    const scratch = report.steps.find((s) => s.step === ft.previous);
    for (const s of scratch === undefined ? [ft] : [scratch, ft]) {
      out.push({
        model: s === ft ? s.step : `${s.step} (from scratch)`,
        ...metricColumns(s, s === ft ? s.delta?.testAuc : undefined),
        'img/s': Math.round(s.imgPerSec),
      });
    }
  }
  return out;
}
