/**
 * Progress of long work. Library code reports through a `ProgressSink`; the caller decides how
 * it shows: a terminal bar (CLI), an updating notebook display (src/lib/notebook), or nothing.
 */
export interface ProgressUpdate {
  /** What is being done, e.g. "decode train images". */
  label: string;
  done: number;
  /** Undefined when the total is unknown (e.g. a download without Content-Length). */
  total?: number;
  /** Unit of done/total: shown after the numbers ("images", "B" for bytes). */
  unit?: string;
  /** Extra text after the bar, e.g. "loss 0.41". */
  info?: string;
}

export type ProgressSink = (update: ProgressUpdate) => void;

export const silentProgress: ProgressSink = () => undefined;

/** Format a byte count as "12.3 MB". */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i] ?? 'B'}`;
}

/** Format seconds as "1:05" or "1:02:03". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One line of text for an update: "decode  [#####.....] 50% 100/200 images  0:03 left  info". */
export function formatProgressLine(u: ProgressUpdate, elapsedSeconds: number, width = 24): string {
  const fmt = (n: number): string => (u.unit === 'B' ? formatBytes(n) : String(n));
  const unit = u.unit !== undefined && u.unit !== 'B' ? ` ${u.unit}` : '';
  let line: string;
  if (u.total !== undefined && u.total > 0) {
    const frac = Math.min(1, u.done / u.total);
    const filled = Math.round(frac * width);
    const eta = u.done > 0 ? (elapsedSeconds * (u.total - u.done)) / u.done : NaN;
    line = `${u.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${fmt(u.done)}/${fmt(u.total)}${unit}  ${formatDuration(elapsedSeconds)} elapsed, ${formatDuration(eta)} left`;
  } else {
    line = `${u.label} ${fmt(u.done)}${unit}  ${formatDuration(elapsedSeconds)} elapsed`;
  }
  return u.info !== undefined && u.info !== '' ? `${line}  ${u.info}` : line;
}

/**
 * A progress bar on stderr for the CLI. On a terminal it redraws one line (at most 10 times a
 * second); in a log file (CI) it prints a line per 10% so logs stay short.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const starts = new Map<string, number>();
  const lastDecile = new Map<string, number>();
  let lastDraw = 0;
  return (u) => {
    const now = Date.now();
    if (!starts.has(u.label)) starts.set(u.label, now);
    const elapsed = (now - (starts.get(u.label) ?? now)) / 1000;
    const finished = u.total !== undefined && u.done >= u.total;
    const line = formatProgressLine(u, elapsed);
    if (stream.isTTY) {
      if (!finished && now - lastDraw < 100) return;
      lastDraw = now;
      const cols = stream.columns ?? 120;
      stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}${finished ? '\n' : ''}`);
    } else {
      const decile = u.total !== undefined && u.total > 0 ? Math.floor((10 * u.done) / u.total) : -1;
      if (decile === lastDecile.get(u.label) && !finished) return;
      if (finished && lastDecile.get(u.label) === 10) return;
      lastDecile.set(u.label, finished ? 10 : decile);
      stream.write(`${line}\n`);
    }
  };
}

/**
 * Where a training run is, in plain fields (train/trainer's TrainProgress has them all; util is
 * the lowest layer, so it names the fields it reads instead of importing that type).
 */
export interface TrainStatus {
  epoch: number;
  epochs: number;
  /** Step within the epoch (1-based) and steps per epoch. */
  step: number;
  steps: number;
  loss: number;
  lr: number;
  imgPerSec: number;
  /** Estimated seconds left in the run. */
  etaSeconds: number;
  /** The last finished epoch's validation metrics, if any. */
  last?: { valAcc: number; valAuc: number };
}

/** "loss 0.412 · lr 1.0e-3 · 180 img/s · val acc 0.871 · val AUC 0.932 · ETA 3:12": the run's numbers. */
function trainMetricsText(p: TrainStatus): string {
  const val = p.last !== undefined ? ` · val acc ${p.last.valAcc.toFixed(3)} · val AUC ${p.last.valAuc.toFixed(3)}` : '';
  return `loss ${p.loss.toFixed(3)} · lr ${p.lr.toExponential(1)} · ${p.imgPerSec.toFixed(0)} img/s${val} · ETA ${formatDuration(p.etaSeconds)}`;
}

/**
 * The status line of a training run, the one spelling of it (notebook display, CLI bar):
 * "epoch 2/5 · step 10/40 · loss 0.412 · lr 1.0e-3 · 180 img/s · val acc 0.871 · val AUC 0.932 · ETA 3:12".
 */
export function formatTrainProgress(p: TrainStatus): string {
  return `epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.steps} · ${trainMetricsText(p)}`;
}

/**
 * A training run as a progress update for a bar: one bar per epoch (the label names it, the bar
 * counts its steps), the rest of the status line after the bar.
 */
export function trainProgressUpdate(label: string, p: TrainStatus): ProgressUpdate {
  return { label: `${label} epoch ${p.epoch}/${p.epochs}`, done: p.step, total: p.steps, unit: 'steps', info: trainMetricsText(p) };
}

/** The validation metrics of one finished epoch, in plain fields (runs/EpochMetrics has them all). */
export interface EpochStatus {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valAcc: number;
  valAuc: number;
  seconds: number;
  best: boolean;
}

/** "resnet seed 0 epoch 1/2: train loss 0.693 · val loss 0.690 · val acc 0.625 · val AUC 0.712 (best) · 0:12": one line per epoch, for logs. */
export function formatEpochLine(label: string, m: EpochStatus, epochs: number): string {
  return `${label} epoch ${m.epoch}/${epochs}: train loss ${m.trainLoss.toFixed(3)} · val loss ${m.valLoss.toFixed(3)} · val acc ${m.valAcc.toFixed(3)} · val AUC ${m.valAuc.toFixed(3)}${m.best ? ' (best)' : ''} · ${formatDuration(m.seconds)}`;
}
