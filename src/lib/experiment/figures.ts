/** Figures of a whole ablation: every step's metric with its spread, the deltas with their intervals, all training curves. */
import type { AblationReport } from './report';
import { figure, type Figure, type Trace } from '../plot/figure';

/** A fraction as a percentage with one decimal. */
const fmtPct = (x: number): number => Math.round(x * 1000) / 10;

/** Test (or validation) accuracy and AUC per step: mean over seeds, error bars = std. */
export function stepMetricsFigure(report: AblationReport, split: 'test' | 'val' = 'test'): Figure {
  const steps = report.steps.map((s) => s.step);
  const bar = (name: string, pick: (s: AblationReport['steps'][number]) => { mean: number; std: number }): Trace => ({
    type: 'bar', name, x: steps,
    y: report.steps.map((s) => fmtPct(pick(s).mean)),
    error_y: { type: 'data', array: report.steps.map((s) => (Number.isFinite(pick(s).std) ? fmtPct(pick(s).std) : 0)), visible: true },
  });
  return figure(
    split === 'test'
      ? [bar('test accuracy %', (s) => s.testAcc), bar('test ROC-AUC × 100', (s) => s.testAuc)]
      : [bar('val accuracy %', (s) => s.valAcc), bar('val ROC-AUC × 100', (s) => s.valAuc)],
    {
      title: `Per step, ${split} split: mean ± std over seeds (n = ${Math.min(...report.steps.map((s) => s.testAuc.n))}–${Math.max(...report.steps.map((s) => s.testAuc.n))})`,
      barmode: 'group', yaxis: { title: '%', range: [lowerBound(report, split), 100] }, xaxis: { tickangle: -35 }, legend: { orientation: 'h', y: -0.45 }, height: 440,
    },
  );
}

/** A y-axis floor 10 points under the lowest bar (minus its error), in steps of 10, at least 0. */
function lowerBound(report: AblationReport, split: 'test' | 'val'): number {
  const lows = report.steps.flatMap((s) => (split === 'test' ? [s.testAcc, s.testAuc] : [s.valAcc, s.valAuc]).map((a) => a.mean - (Number.isFinite(a.std) ? a.std : 0)));
  const min = Math.min(...lows.filter((v) => Number.isFinite(v)));
  return Number.isFinite(min) ? Math.max(0, Math.floor(min * 10 - 1) * 10) : 0;
}

/**
 * The change of each step from the previous one on X-rays (test AUC, 95% interval) next to the
 * paper's ImageNet top-1 change, on two axes: same sign = the ImageNet finding carried over.
 */
export function deltaFigure(report: AblationReport): Figure {
  // The roadmap's deltas only: a fine-tuned row's delta (to the same step from scratch) answers another question.
  const rows = report.steps.filter((s) => s.delta !== undefined && s.pretrained !== true);
  const x = rows.map((s) => s.step);
  return figure(
    [
      {
        type: 'bar', name: 'X-rays: Δ test AUC × 100 (95% CI)', x,
        y: rows.map((s) => fmtPct(s.delta?.testAuc.diff ?? NaN)),
        error_y: {
          type: 'data', symmetric: false, visible: true,
          array: rows.map((s) => (Number.isFinite(s.delta?.testAuc.hi) ? fmtPct((s.delta?.testAuc.hi ?? 0) - (s.delta?.testAuc.diff ?? 0)) : 0)),
          arrayminus: rows.map((s) => (Number.isFinite(s.delta?.testAuc.lo) ? fmtPct((s.delta?.testAuc.diff ?? 0) - (s.delta?.testAuc.lo ?? 0)) : 0)),
        },
        marker: { color: rows.map((s) => (s.delta?.testAuc.withinNoise ? '#9ecae1' : '#3182bd')) },
        offsetgroup: 1,
      },
      { type: 'bar', name: 'ImageNet (paper): Δ top-1 %', x, y: rows.map((s) => s.paperDelta ?? null), yaxis: 'y2', marker: { color: '#fd8d3c' }, offsetgroup: 2 },
    ],
    {
      title: 'What each step changed: X-rays (light bars: within seed noise) vs the paper on ImageNet',
      barmode: 'group', xaxis: { tickangle: -35 },
      yaxis: { title: 'Δ test AUC × 100', zeroline: true }, yaxis2: { title: 'Δ ImageNet top-1 %', overlaying: 'y', side: 'right', zeroline: true },
      legend: { orientation: 'h', y: -0.45 }, height: 460,
    },
  );
}

/** Validation AUC per epoch of every run, one colour per step: all training curves on one chart. */
export function allCurvesFigure(report: AblationReport): Figure {
  const steps = [...new Set(report.curves.map((c) => c.step))];
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#843c39', '#7b4173', '#3182bd', '#e6550d'];
  return figure(
    report.curves.map((c) => ({
      type: 'scatter', mode: 'lines', x: c.epochs, y: c.valAuc, name: c.step, legendgroup: c.step,
      showlegend: c.seed === Math.min(...report.curves.filter((d) => d.step === c.step).map((d) => d.seed)),
      line: { color: palette[steps.indexOf(c.step) % palette.length], width: 1.5 }, opacity: 0.8,
      hovertemplate: `${c.step} seed ${c.seed}<br>epoch %{x}: val AUC %{y:.3f}<extra></extra>`,
    })),
    { title: 'Validation ROC-AUC per epoch, every run (one colour per step)', xaxis: { title: 'epoch', dtick: Math.max(1, ...report.curves.map((c) => c.epochs.length)) <= 20 ? 1 : undefined }, yaxis: { title: 'val ROC-AUC' }, height: 460 },
  );
}

/**
 * Fine-tuned from pretrained weights vs trained from scratch, same network, data, seeds and
 * budget: the validation AUC of both per epoch. Pretraining usually shows in the first epochs.
 */
export function finetuneFigure(report: AblationReport): Figure {
  const rows = report.steps.filter((s) => s.pretrained === true);
  const names = new Set(rows.flatMap((s) => [s.step, ...(s.previous !== undefined ? [s.previous] : [])]));
  const fig = allCurvesFigure({ ...report, curves: report.curves.filter((c) => names.has(c.step)) });
  return { ...fig, layout: { ...fig.layout, title: { text: 'ConvNeXt from scratch vs fine-tuned from pretrained weights: validation ROC-AUC per epoch' } } };
}
