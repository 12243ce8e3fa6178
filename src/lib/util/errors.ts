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

/**
 * A KitError for the errors TensorFlow.js itself throws that a learner can act on (no backend,
 * a kernel the backend lacks); anything else is returned unchanged.
 */
export function explainError(err: unknown): unknown {
  if (err instanceof KitError) return err;
  const message = messageOf(err);
  const kernel = /Kernel '([^']+)' not registered for backend '([^']+)'/.exec(message);
  if (kernel !== null) {
    return new KitError(`the ${kernel[2]} backend has no ${kernel[1]} operation`, {
      where: `backend ${kernel[2]}`,
      fix: `run \`npx convnext-xray device\` to see the backend; choose another with KIT_BACKEND=webgpu (or tensorflow, cpu) and restart, and please report which call needed ${kernel[1]}`,
      cause: err,
    });
  }
  if (/No backend found in registry|Backend name '[^']*' not found in registry/.test(message)) {
    return new KitError(`no TensorFlow.js backend is running: ${message}`, { fix: 'call `await kit.selectBackend()` first (the CLI does it for you)', cause: err });
  }
  return err;
}

/** The message of anything thrown, for wrapping foreign errors into a KitError. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
