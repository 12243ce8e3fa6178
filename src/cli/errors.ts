import { SKIP_BAD_IMAGES } from '../lib/data/decode';
import { TrainingInterrupted } from '../lib/train/trainer';
import { explainError, KitError } from '../lib/util/errors';
import type { Command } from './command';

/** A KitError as the CLI prints it, with the exit code the process ends with. */
export class CommandError extends KitError {
  constructor(
    problem: string,
    options: { fix: string; where?: string; cause?: unknown },
    readonly exitCode: number,
  ) {
    super(problem, options);
  }
}

/** The exit code of a command stopped by a signal: 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT_CODES: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * An error as a command-line user should read it: tfjs errors explained, the fix for the command
 * line (the error's cliFix, else its library advice reworded: flags instead of options), and the
 * exit code (an interrupt by SIGINT exits 130). Anything that is not a KitError is returned as is.
 */
export function forCommandLine(err: unknown, command: Command): unknown {
  const e = explainError(err);
  if (!(e instanceof KitError)) return e;
  const fix = e.cliFix ?? cliWords(e.fix, command);
  const exitCode = e instanceof TrainingInterrupted ? (SIGNAL_EXIT_CODES[e.reason as keyof typeof SIGNAL_EXIT_CODES] ?? 1) : 1;
  if (fix === e.fix && exitCode === 1) return e;
  return new CommandError(e.problem, { fix, where: e.where, cause: e }, exitCode);
}

/** Library advice that names a library option, said with the command's flag (or how to get there without one). */
function cliWords(fix: string, command: Command): string {
  return fix.replace(SKIP_BAD_IMAGES, () =>
    'skip-bad-images' in command.options
      ? 'or run again with --skip-bad-images to leave such files out and list them in the report'
      : 'or list every unreadable file with `npx convnext-xray data stats --skip-bad-images` and move them out of the data folder',
  );
}
