/** The bottom layer: errors that say what to do, atomic file writes, seeded random numbers, progress lines, the kernel's interrupt. */
export { explainError, KitError, messageOf, noBackendError, requireBackend, SELECT_BACKEND_FIX } from './errors';
export { replaceDirAtomic, tempPathFor, writeFileAtomic } from './fs';
export { formatBytes, formatDuration, formatEpochLine, formatProgressLine, formatTrainProgress, silentProgress, terminalProgress, trainProgressUpdate } from './progress';
export type { EpochStatus, ProgressSink, ProgressUpdate, TrainStatus } from './progress';
export { hash32, Rng, seedFor } from './rng';
export { inTslabKernel, KERNEL_INTERRUPT, stopReason, stopSignal } from './kernel';
export type { StopSignal } from './kernel';
