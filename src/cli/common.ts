import * as path from 'node:path';
import { loadSettings } from '../lib/config/settings';
import { terminalProgress, TrainStatus, trainProgressUpdate } from '../lib/util/progress';

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
