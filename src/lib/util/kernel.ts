/**
 * The process the library runs in: a tslab (Jupyter) kernel or not, and the kernel's interrupt
 * as an AbortSignal for long work.
 *
 * Kernel › Interrupt in JupyterLab sends SIGINT to the kernel process. tslab handles it by ending
 * the running cell's wait, but an `await` cannot be cancelled from outside: a training loop goes
 * on in the background unless it stops itself. So while long work runs in a kernel, a SIGINT
 * listener aborts it (trainers check the signal between steps), and is removed afterwards.
 * Outside a kernel nothing is installed: a plain Node program keeps Node's own Ctrl-C (exit), and
 * the CLI installs its own handler (src/cli/common.ts).
 */

/** The paths of tslab's Jupyter modules loaded in this process (one per tslab copy). */
export function tslabJupyterModules(): { file: string; exports: unknown }[] {
  return Object.entries(require.cache)
    .filter(([file]) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file))
    .map(([file, mod]) => ({ file, exports: mod?.exports }));
}

/** True inside a tslab kernel: its Jupyter server module is loaded. */
export function inTslabKernel(): boolean {
  return tslabJupyterModules().length > 0;
}

/** The reason an interrupt gives its AbortSignal: the signal's name (the trainer prints it). */
export const KERNEL_INTERRUPT = 'kernel interrupt (SIGINT)';

export interface StopSignal {
  /** Aborted by `signal` or, when installed, by SIGINT; undefined when there is neither. */
  readonly signal: AbortSignal | undefined;
  /** Remove the SIGINT listener, if one was installed. */
  dispose(): void;
}

/**
 * `signal`, plus SIGINT while the work runs when `onSigint` (default: inside a tslab kernel).
 * Call dispose() when the work ends, however it ends.
 */
export function stopSignal(signal: AbortSignal | undefined, onSigint: boolean = inTslabKernel()): StopSignal {
  if (!onSigint) return { signal, dispose: () => undefined };
  const controller = new AbortController();
  const listener = (): void => controller.abort(KERNEL_INTERRUPT);
  // Not now but in a microtask: tslab runs a cell's synchronous part under vm's breakOnSigint,
  // and a SIGINT listener added during it (runOne's first lines run there) is lost with the
  // watchdog's signal handler: the kernel then never sees Kernel › Interrupt again.
  let state: 'pending' | 'installed' | 'disposed' = 'pending';
  queueMicrotask(() => {
    if (state !== 'pending') return;
    process.on('SIGINT', listener);
    state = 'installed';
  });
  return {
    signal: signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]),
    dispose: () => {
      if (state === 'installed') process.off('SIGINT', listener);
      state = 'disposed';
    },
  };
}

/** What stopped work, in words: the abort reason when it is text ("SIGINT"), else "stopped". */
export function stopReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return 'stopped';
}
