import * as tf from '@tensorflow/tfjs-core';

/**
 * Every error the kit raises on purpose is a KitError: it says what was wrong, where, and what
 * to do about it, so a learner never has to read a stack trace to know the next step.
 */
export class KitError extends Error {
  /** What was wrong, without the place and the fix. */
  readonly problem: string;
  /** What to do about it, in one or two sentences, for a library (notebook) user. */
  readonly fix: string;
  /**
   * The same advice for a command-line user, when it differs: CLI flags instead of library
   * options (`--skip-bad-images`, not `{ onBadImage: 'skip' }`). The CLI prints it instead of fix.
   */
  readonly cliFix?: string;
  /** The file, option or value the error is about, when there is one. */
  readonly where?: string;

  constructor(problem: string, options: { fix: string; cliFix?: string; where?: string; cause?: unknown }) {
    const where = options.where === undefined ? '' : ` (${options.where})`;
    super(`${problem}${where}\n  Fix: ${options.fix}`, { cause: options.cause });
    this.name = 'KitError';
    this.problem = problem;
    this.fix = options.fix;
    if (options.cliFix !== undefined) this.cliFix = options.cliFix;
    this.where = options.where;
  }
}

/** The fix of the no-backend error: tfjs needs a backend chosen before any tensor exists. */
export const SELECT_BACKEND_FIX = 'call `await kit.backend.selectBackend()` first (in a notebook: the cell after the imports; the CLI does it for you)';

/** The KitError for "TensorFlow.js has no backend yet". */
export function noBackendError(cause?: unknown): KitError {
  return new KitError('no TensorFlow.js backend is chosen yet: the library was used before selectBackend()', { fix: SELECT_BACKEND_FIX, cause });
}

/**
 * Throw the no-backend KitError when TensorFlow.js has no backend and none registered (nothing
 * called selectBackend, nothing imported a tfjs backend package), instead of tfjs's "No backend
 * found in registry" from deep inside. For synchronous entry points (building a model) that
 * cannot choose a backend themselves; asynchronous ones call backend/ensureBackend.
 */
export function requireBackend(): void {
  const engine = tf.engine() as unknown as { backendName: string | null; registryFactory: Record<string, unknown> };
  if (engine.backendName == null && Object.keys(engine.registryFactory).length === 0) throw noBackendError();
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
  if (/No backend found in registry|Backend name '[^']*' not found in registry/.test(message)) return noBackendError(err);
  return err;
}

/** The message of anything thrown, for wrapping foreign errors into a KitError. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
