import * as path from 'node:path';
import { loadSettings } from '../lib/config/settings';
import { EpochStatus, formatEpochLine, terminalProgress, TrainStatus, trainProgressUpdate } from '../lib/util/progress';
import { SIGNAL_EXIT_CODES } from './errors';

/**
 * The runs folder a command uses: `--runs-dir` (relative to the current folder, like every path
 * on the command line) wins over the KIT_RUNS_DIR setting (whose default is runs/ in the project).
 */
export function resolveRunsDir(option: string | undefined): string {
  return option !== undefined ? path.resolve(option) : loadSettings().runsDir;
}

/** A one-line progress bar for training on stderr: one bar per epoch of each run. */
export function trainBar(): (spec: { step: string; seed: number }, p: TrainStatus) => void {
  const sink = terminalProgress();
  return (spec, p) => sink(trainProgressUpdate(`${spec.step} seed ${spec.seed}`, p));
}

/** What stops a training command: the signal its training checks between steps. */
export interface SignalStop {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * SIGINT (Ctrl-C) and SIGTERM for a command that trains: the first stops training at the next
 * step boundary (the command then ends with "training interrupted …" and exit code 130 or 143;
 * the last checkpoint is intact and the run folder's lock released); a second one exits at once
 * (the lock is still released, on process exit).
 */
export function stopOnSignals(): SignalStop {
  const controller = new AbortController();
  const onSignal = (name: 'SIGINT' | 'SIGTERM'): void => {
    if (!controller.signal.aborted) {
      process.stderr.write(`\nconvnext-xray: ${name}: stopping at the next training step (the last checkpoint is kept); ${name === 'SIGINT' ? 'Ctrl-C' : name} again exits at once\n`);
      controller.abort(name);
      return;
    }
    process.stderr.write(`convnext-xray: second ${name}: exiting now; the last checkpoint is kept, run the same command again to resume\n`);
    process.exit(SIGNAL_EXIT_CODES[name]);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/** One line on stderr per finished epoch (logs keep the numbers the bar overwrites). */
export function epochLines(epochs: number): (spec: { step: string; seed: number }, m: EpochStatus) => void {
  return (spec, m) => process.stderr.write(`${formatEpochLine(`${spec.step} seed ${spec.seed}`, m, epochs)}\n`);
}
