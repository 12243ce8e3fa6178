/**
 * Every error the kit raises on purpose is a KitError: it says what was wrong, where, and what
 * to do about it, so a learner never has to read a stack trace to know the next step.
 */
export class KitError extends Error {
  /** What to do about it, in one or two sentences. */
  readonly fix: string;
  /** The file, option or value the error is about, when there is one. */
  readonly where?: string;

  constructor(problem: string, options: { fix: string; where?: string; cause?: unknown }) {
    const where = options.where === undefined ? '' : ` (${options.where})`;
    super(`${problem}${where}\n  Fix: ${options.fix}`, { cause: options.cause });
    this.name = 'KitError';
    this.fix = options.fix;
    this.where = options.where;
  }
}

/** The message of anything thrown, for wrapping foreign errors into a KitError. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
