import { confusionFigure, reliabilityFigure, rocFigure } from '../plot/eval';
import { HtmlBlock, StandalonePage } from '../plot/html';
import { allCurvesFigure, deltaFigure, stepMetricsFigure } from './figures';
import { ablationReport, describeDeltas, formatMeanStd, reportRows } from './report';
import { escapeHtml } from '../plot/escape';
import { evaluateAblation, EvaluationOptions, StepEvaluation } from './evaluate';
import { MetricName } from '../metrics/classification';
import { PUBLISHED } from './published';

const SHOWN: [MetricName, string][] = [
  ['accuracy', 'accuracy'], ['sensitivity', 'sensitivity'], ['specificity', 'specificity'], ['precision', 'precision'],
  ['f1', 'F1'], ['balancedAccuracy', 'balanced acc.'], ['rocAuc', 'ROC-AUC'], ['prAuc', 'PR-AUC'], ['ece', 'ECE'],
];

/** Rows "mean ± std (seed-0 95% CI)" per step, for tables in the notebook and the HTML report. */
export function testMetricRows(steps: readonly StepEvaluation[]): Record<string, string | number>[] {
  return steps.map((s) => {
    const first = s.runs[0]?.evaluation;
    const row: Record<string, string | number> = { step: s.step, seeds: s.runs.length, threshold: first !== undefined ? Number(first.threshold.value.toFixed(3)) : '' };
    for (const [k, label] of SHOWN) {
      const m = s.summary[k];
      const iv = first?.metrics[k];
      row[label] = `${formatMeanStd(m)}${iv !== undefined && Number.isFinite(iv.lo) ? ` [${iv.lo.toFixed(3)}, ${iv.hi.toFixed(3)}]` : ''}`;
    }
    return row;
  });
}

/**
 * A standalone HTML report of an ablation for sharing after a session: the ablation plots
 * (per-step metrics, deltas vs ImageNet, all curves) and the evaluation plots (ROC curves,
 * confusion matrix and reliability of the final step), all interactive, Plotly inlined once.
 */
export function ablationHtmlPage(dir: string, options: EvaluationOptions = {}): StandalonePage {
  const report = ablationReport(dir);
  const steps = evaluateAblation(dir, options);
  // The final model is the roadmap's last step trained from scratch (fine-tuned rows are extras).
  const final = steps.filter((s) => s.pretrained !== true).pop();
  const finalRun = final?.runs[0];
  const body: HtmlBlock[] = [
    `<p>${escapeHtml(`${report.runs} finished runs of ${report.steps.length} roadmap steps (profile ${report.profile ?? '?'}, backend ${report.backend.join(', ')}). Thresholds are chosen on validation (Youden's J) and applied unchanged to test; intervals are seeded bootstrap 95% intervals of the seed-0 run; ± is the standard deviation over seeds.`)}</p>`,
    { heading: 'The ablation' },
    { table: reportRows(report), caption: 'mean ± std over seeds; Δ to the previous step with its Welch 95% interval (* : outside seed noise)' },
    stepMetricsFigure(report, 'test'),
    deltaFigure(report),
    `<ul>${describeDeltas(report).map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`,
    allCurvesFigure(report),
    { heading: 'Test metrics per step' },
    { table: testMetricRows(steps), caption: 'mean ± std over seeds [seed-0 bootstrap 95% CI]' },
    rocFigure(steps.map((s) => ({ name: `${s.step} (AUC ${formatMeanStd(s.summary.rocAuc)})`, fpr: s.runs[0]?.evaluation.roc.fpr ?? [], tpr: s.runs[0]?.evaluation.roc.tpr ?? [] })), 'ROC curves on test (seed 0 of each step)'),
  ];
  if (final !== undefined && finalRun !== undefined) {
    body.push({ heading: `The final model: ${final.step}, seed ${finalRun.seed}` });
    body.push(confusionFigure(finalRun.evaluation.confusion, `Confusion matrix at threshold ${finalRun.evaluation.threshold.value.toFixed(3)} (test)`));
    body.push(reliabilityFigure(finalRun.evaluation.reliability, finalRun.evaluation.metrics.ece.value));
  }
  body.push({ heading: 'Published results on the same test set' });
  body.push({ table: PUBLISHED.map((p) => ({ result: p.name, settings: p.settings, accuracy: p.accuracy ?? '', sensitivity: p.sensitivity ?? '', specificity: p.specificity ?? '', AUC: p.auc ?? '' })), digits: 3 });
  return { title: `convnext-xray-kit ablation ${report.id}`, body };
}
