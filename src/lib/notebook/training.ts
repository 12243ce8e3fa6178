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
 *
 * While it trains, Kernel › Interrupt (SIGINT in the kernel) turns the status line into what
 * happens next: tslab itself ends the cell at once with a bare "Interrupted asynchronously" and a
 * stack trace, and the trainer's own message never reaches the cell, so the display says it.
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
  let epochs = 0;
  let finished = 0;
  const box = (body: string): string => `<div style="font:12px ui-monospace,Menlo,Consolas,monospace"><b>${escapeHtml(title)}</b> ${body}</div>`;
  const onInterrupt = (): void => {
    const kept = finished === 0 ? 'no epoch had finished, so a re-run starts from the beginning' : `the checkpoint of epoch ${finished} is kept, so a re-run resumes from epoch ${finished + 1} and reaches the same weights as an uninterrupted run`;
    status.html(box(`<span style="color:#b45309">interrupted (Kernel › Interrupt)</span><br>Training stops at the end of its current step; ${escapeHtml(kept)}. Run this cell again to continue.`));
  };
  const listen = (on: boolean): void => {
    if (on) process.once('SIGINT', onInterrupt);
    else process.removeListener('SIGINT', onInterrupt);
  };
  return {
    onProgress: (p) => {
      if (epochs === 0) listen(true);
      epochs = p.epochs;
      // Epochs before this one have finished (and, in a run folder, are checkpointed), also after a resume.
      finished = p.epoch - 1;
      const now = Date.now();
      if (now - last < 500 && p.step !== p.steps) return;
      last = now;
      const frac = (p.epoch - 1 + p.step / p.steps) / p.epochs;
      status.html(
        box(
          `${p.phase === 'val' ? '(validating)' : ''}<br>` +
            `<progress value="${frac.toFixed(4)}" max="1" style="width:320px"></progress> ${(frac * 100).toFixed(0)}%<br>` +
            `${escapeHtml(formatTrainProgress(p))}`,
        ),
      );
    },
    onEpoch: (m, history) => {
      finished = m.epoch;
      if (epochs > 0 && m.epoch >= epochs) listen(false);
      chart.update(curvesFigure(history, `${title}: training curves`));
    },
  };
}
