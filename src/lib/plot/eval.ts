import type { Confusion, ReliabilityBin } from '../metrics/classification';
import { figure, type Figure } from './figure';

/** ROC curves on one chart, one per named curve, with the chance diagonal. */
export function rocFigure(curves: readonly { name: string; fpr: number[]; tpr: number[] }[], title = 'ROC curves (test)'): Figure {
  return figure(
    [
      ...curves.map((c) => ({ type: 'scatter', mode: 'lines', name: c.name, x: c.fpr, y: c.tpr, line: { width: 1.8, shape: 'hv' } })),
      { type: 'scatter', mode: 'lines', name: 'chance', x: [0, 1], y: [0, 1], line: { dash: 'dot', color: '#999' }, showlegend: false },
    ],
    { title, xaxis: { title: '1 − specificity (false positive rate)', range: [0, 1] }, yaxis: { title: 'sensitivity (true positive rate)', range: [0, 1.01] }, height: 520, width: 720 },
  );
}

/** A 2 × 2 confusion matrix as a heatmap with counts and row percentages. */
export function confusionFigure(c: Confusion, title = 'Confusion matrix (test)'): Figure {
  const rows = [[c.tn, c.fp], [c.fn, c.tp]];
  const text = rows.map((r) => {
    const total = (r[0] ?? 0) + (r[1] ?? 0);
    return r.map((v) => `${v}<br>(${total === 0 ? 0 : ((100 * v) / total).toFixed(1)}% of row)`);
  });
  return figure(
    [{ type: 'heatmap', z: rows, x: ['predicted NORMAL', 'predicted PNEUMONIA'], y: ['NORMAL', 'PNEUMONIA'], text, texttemplate: '%{text}', colorscale: 'Blues', reversescale: true, showscale: false }],
    { title, yaxis: { title: 'true class', autorange: 'reversed' }, height: 380, width: 520 },
  );
}

/** Reliability diagram: observed frequency vs mean predicted probability per bin, bars = counts. */
export function reliabilityFigure(bins: readonly ReliabilityBin[], ece: number, title = 'Reliability diagram (test)'): Figure {
  const used = bins.filter((b) => b.count > 0);
  return figure(
    [
      { type: 'scatter', mode: 'lines+markers', name: 'observed share of pneumonia', x: used.map((b) => b.confidence), y: used.map((b) => b.frequency) },
      { type: 'scatter', mode: 'lines', name: 'perfect calibration', x: [0, 1], y: [0, 1], line: { dash: 'dot', color: '#999' } },
      { type: 'bar', name: 'images per bin', x: used.map((b) => (b.lo + b.hi) / 2), y: used.map((b) => b.count), yaxis: 'y2', opacity: 0.25, width: 0.09 },
    ],
    {
      title: `${title}: ECE ${(ece * 100).toFixed(1)}%`,
      xaxis: { title: 'predicted P(pneumonia)', range: [0, 1] }, yaxis: { title: 'observed frequency', range: [0, 1.02] },
      yaxis2: { title: 'images', overlaying: 'y', side: 'right', showgrid: false }, legend: { orientation: 'h', y: -0.25 }, height: 440, width: 640,
    },
  );
}
