import { curvesFigure } from '../plot/training';
import { escapeHtml } from '../plot/escape';
import type { EpochMetrics, TrainProgress } from '../train/trainer';
import { formatTrainProgress, terminalProgress, trainProgressUpdate } from '../util/progress';
import { inNotebook, liveFigure, newOutput } from './display';

export interface TrainingDisplay {
  onProgress: (p: TrainProgress) => void;
  onEpoch: (m: EpochMetrics, history: readonly EpochMetrics[]) => void;
}

/**
 * The live view of a training run in a notebook: one status line updated in place (epoch, step,
 * loss, learning rate, img/s, last validation accuracy and AUC, ETA) and the training curves
 * redrawn after every epoch. Outside a notebook, a terminal progress bar.
 */
export function trainingDisplay(title = 'Training'): TrainingDisplay {
  if (!inNotebook()) {
    const bar = terminalProgress();
    return {
      onProgress: (p) => bar(trainProgressUpdate(title, p)),
      onEpoch: () => undefined,
    };
  }
  const status = newOutput();
  const chart = liveFigure({ height: 380 });
  let last = 0;
  return {
    onProgress: (p) => {
      const now = Date.now();
      if (now - last < 500 && p.step !== p.steps) return;
      last = now;
      const frac = (p.epoch - 1 + p.step / p.steps) / p.epochs;
      status.html(
        `<div style="font:12px ui-monospace,Menlo,Consolas,monospace">` +
          `<b>${escapeHtml(title)}</b> ${p.phase === 'val' ? '(validating)' : ''}<br>` +
          `<progress value="${frac.toFixed(4)}" max="1" style="width:320px"></progress> ${(frac * 100).toFixed(0)}%<br>` +
          `${escapeHtml(formatTrainProgress(p))}</div>`,
      );
    },
    onEpoch: (_m, history) => chart.update(curvesFigure(history, `${title}: training curves`)),
  };
}
