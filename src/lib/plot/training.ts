import type { EpochMetrics } from '../train/trainer';
import { figure, type Figure, type Trace } from './figure';

/**
 * The figure of one training run, shared by the notebooks, the CLI's HTML report and the live
 * display (the figures of a whole ablation are in experiment/figures.ts).
 */

/** Training loss (left axis) and validation accuracy and AUC (right axis) per epoch. */
export function curvesFigure(history: readonly EpochMetrics[], title = 'Training curves'): Figure {
  const epochs = history.map((h) => h.epoch);
  return figure(
    [
      { type: 'scatter', mode: 'lines+markers', name: 'train loss', x: epochs, y: history.map((h) => h.trainLoss) },
      { type: 'scatter', mode: 'lines+markers', name: 'val loss', x: epochs, y: history.map((h) => h.valLoss), line: { dash: 'dot' } },
      { type: 'scatter', mode: 'lines+markers', name: 'val accuracy', x: epochs, y: history.map((h) => h.valAcc), yaxis: 'y2' },
      { type: 'scatter', mode: 'lines+markers', name: 'val ROC-AUC', x: epochs, y: history.map((h) => h.valAuc), yaxis: 'y2' },
    ],
    {
      title,
      xaxis: { title: 'epoch', dtick: epochs.length > 20 ? undefined : 1 },
      yaxis: { title: 'loss', rangemode: 'tozero' },
      yaxis2: { title: 'accuracy / AUC', overlaying: 'y', side: 'right', range: [0, 1.02] },
      legend: { orientation: 'h', y: -0.25 },
      height: 380,
    },
  );
}
