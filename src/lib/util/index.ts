/** The bottom layer: errors that say what to do, atomic file writes, seeded random numbers, progress lines. */
export { explainError, KitError, messageOf } from './errors';
export { replaceDirAtomic, tempPathFor, writeFileAtomic } from './fs';
export { formatBytes, formatDuration, formatProgressLine, formatTrainProgress, silentProgress, terminalProgress, trainProgressUpdate } from './progress';
export type { ProgressSink, ProgressUpdate, TrainStatus } from './progress';
export { hash32, Rng, seedFor } from './rng';
