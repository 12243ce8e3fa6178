import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KitError, messageOf } from '../util/errors';
import { tempPathFor } from '../util/fs';

/**
 * One writer per run folder. A process that trains in a run folder holds `<run>/train.lock`
 * (RUN_FILES.lock), a small JSON file saying who holds it (LockHolder). A second writer, in
 * another process or in this one, is refused with the holder's pid, host and start time.
 *
 * - Taking the lock is one atomic step: the holder's JSON is written to a temporary file and
 *   hard-linked to the lock's name; link(2) fails when the name exists, like open(O_EXCL), and
 *   the lock never exists half-written. (File systems without hard links get open('wx').)
 * - A lock is stale when its holder is on this machine (same host name and pid namespace) and is
 *   gone: the pid is not alive (`kill(pid, 0)` fails with ESRCH), the machine rebooted since
 *   (Linux boot id), or the pid now belongs to a process started at another time (pid reuse,
 *   e.g. a restarted container). A stale lock is taken over; a lock of another machine or
 *   container never is, since its process cannot be seen from here.
 * - Taking over is safe against two processes doing it at once: only the process that creates
 *   `<lock>.takeover-<token of the stale lock>` (exclusively) may delete the lock, and it deletes
 *   it only if it still holds that same token. Then every process tries the exclusive create
 *   again, and one wins. A live lock is therefore never deleted by someone else.
 * - The lock is released when the work ends, fails or is interrupted, and when the process exits
 *   (process 'exit'); after a kill -9 or a crash it is stale and taken over by the next run.
 */
export interface LockHolder {
  pid: number;
  /** os.hostname() of the holder. */
  host: string;
  /** When the lock was taken (ISO 8601). */
  since: string;
  /** The holder's command line, to find it in `ps`. */
  command: string;
  /** Unique per lock (hex): tells this lock from a later one of the same process. */
  token: string;
  /** Linux only: the boot, the pid namespace (a container) and the start of the process (clock ticks since boot). */
  bootId?: string;
  pidNamespace?: string;
  processStart?: string;
}

/** The lock a process holds on one run folder. */
export interface RunLock {
  readonly dir: string;
  readonly file: string;
  readonly holder: LockHolder;
  /**
   * Set when the work holding the lock was asked to stop (an interrupt): another lockRun() of
   * the same folder in this process then waits for the release instead of being refused, so a
   * notebook cell re-run right after Kernel › Interrupt resumes once the old loop has stopped.
   */
  stopping: boolean;
  /** Resolves when the lock is released. */
  readonly released: Promise<void>;
  /** Delete the lock file (if it is still this lock's); idempotent. */
  release(): void;
}

export interface LockOptions {
  /** The file name of the lock inside the folder (runs/index.ts passes RUN_FILES.lock). */
  name: string;
  /** Stops the wait for a stopping holder in this process. */
  signal?: AbortSignal;
  /** Called once when the lock is held by stopping work of this process and the call waits for it. */
  onWait?: (holder: LockHolder) => void;
}

/** Locks this process holds, by lock file path (real path), for the in-process checks. */
const held = new Map<string, RunLock>();

/** Take the lock of `dir` (created if missing), or fail with a KitError naming the holder. */
export async function lockFolder(dir: string, options: LockOptions): Promise<RunLock> {
  // The folders made here are removed again on release if nothing was written in them (a refused or failed start).
  const created = fs.mkdirSync(dir, { recursive: true });
  const file = path.join(fs.realpathSync(dir), options.name);
  for (let mine = held.get(file); mine !== undefined; mine = held.get(file)) {
    if (!mine.stopping) throw refusal(file, mine.holder, 'this process');
    options.onWait?.(mine.holder);
    await waitOrAbort(mine.released, options.signal, file);
  }
  const holder = takeLockFile(file);
  let resolve = (): void => undefined;
  const released = new Promise<void>((r) => (resolve = r));
  const onExit = (): void => lock.release();
  const lock: RunLock = {
    dir,
    file,
    holder,
    stopping: false,
    released,
    release: () => {
      if (held.get(file) !== lock) return;
      held.delete(file);
      process.off('exit', onExit);
      try {
        if (readHolder(file)?.token === holder.token) fs.unlinkSync(file);
      } catch {
        // Already gone, or unreadable: nothing of ours to delete.
      }
      if (created !== undefined) removeEmptyFolders(path.resolve(dir), path.resolve(created));
      resolve();
    },
  };
  held.set(file, lock);
  process.on('exit', onExit);
  return lock;
}

/** rmdir `dir` and its parents up to `top`, as long as they are empty. */
function removeEmptyFolders(dir: string, top: string): void {
  for (let d = dir; d.startsWith(top); d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}

/** Who holds the lock file `file`, or undefined when there is none. */
export function lockHolder(file: string): LockHolder | undefined {
  return readHolder(file);
}

function waitOrAbort(done: Promise<void>, signal: AbortSignal | undefined, file: string): Promise<void> {
  if (signal === undefined) return done;
  const stopped = (): KitError => new KitError('stopped while waiting for the interrupted training of this run to stop', { where: file, fix: 'run again to resume' });
  if (signal.aborted) return Promise.reject(stopped());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    void done.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

const TAKE_ATTEMPTS = 5;

function takeLockFile(file: string): LockHolder {
  const me = newHolder();
  const text = JSON.stringify(me, null, 2);
  for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
    if (attempt > 0) sleepSync(20 * attempt);
    if (createExclusive(file, text)) return me;
    const holder = readHolder(file);
    if (holder === undefined) continue; // released meanwhile: try again
    const state = holderState(holder);
    if (state !== 'gone') throw refusal(file, holder, state);
    takeOverStale(file, holder, text);
  }
  throw new KitError(`could not take the lock after ${TAKE_ATTEMPTS} attempts: other processes keep taking it, or a takeover of a stale lock was left unfinished`, {
    where: file,
    fix: `make sure no other process trains this run (\`ps\`), then delete ${file} and any ${path.basename(file)}.takeover-* beside it, and run again`,
  });
}

/**
 * Delete the stale lock `stale`, only if it is still in place. Whoever creates the takeover file
 * of this stale lock first does it; the others find it taken and try the lock again.
 */
function takeOverStale(file: string, stale: LockHolder, text: string): void {
  const guard = `${file}.takeover-${stale.token}`;
  if (!createExclusive(guard, text)) return;
  try {
    if (readHolder(file)?.token === stale.token) fs.unlinkSync(file);
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

/** Create `file` with `text` if it does not exist; false if it does. Atomic, never half-written. */
function createExclusive(file: string, text: string): boolean {
  const tmp = tempPathFor(file);
  fs.writeFileSync(tmp, text);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  // No hard links here: O_EXCL. A reader may see the file empty for a moment (readHolder waits).
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** The holder written in a lock file; undefined when there is no file. A damaged file is an error. */
function readHolder(file: string): LockHolder | undefined {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new KitError(`cannot read the run's lock file: ${messageOf(err)}`, { where: file, fix: 'check the folder\'s permissions' });
    }
    const holder = parseHolder(text);
    if (holder !== undefined) return holder;
    // Empty for a moment when written with open('wx'); anything else for a second is damage.
    if (attempt >= 20) {
      throw new KitError('the run\'s lock file is damaged (not the JSON of a lock holder)', {
        where: file,
        fix: `make sure no other process trains this run (\`ps\`), then delete ${file} and run again`,
      });
    }
    sleepSync(50);
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && Number.isInteger(h.pid) && h.pid > 0 && typeof h.host === 'string' && typeof h.since === 'string' && typeof h.token === 'string' && /^[0-9a-f]{8,64}$/.test(h.token)) {
      return { command: '', ...h } as LockHolder;
    }
  } catch {
    // not JSON (yet)
  }
  return undefined;
}

/** 'alive' (a process of this machine that runs), 'gone' (stale), or 'elsewhere' (cannot be seen from here). */
function holderState(h: LockHolder): 'alive' | 'gone' | 'elsewhere' {
  const here = machine();
  if (h.host !== here.host) return 'elsewhere';
  if (h.pidNamespace !== undefined && here.pidNamespace !== undefined && h.pidNamespace !== here.pidNamespace) return 'elsewhere';
  if (h.bootId !== undefined && here.bootId !== undefined && h.bootId !== here.bootId) return 'gone';
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    // EPERM: alive, but another user's.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
  }
  const start = processStart(h.pid);
  if (h.processStart !== undefined && start !== undefined && start !== h.processStart) return 'gone';
  return 'alive';
}

function refusal(file: string, h: LockHolder, state: 'alive' | 'elsewhere' | 'this process'): KitError {
  const since = `since ${h.since}${ago(h.since)}`;
  const command = h.command !== '' ? `, started as \`${h.command}\`` : '';
  if (state === 'this process') {
    return new KitError(`this run is already being trained in this process (pid ${h.pid}, ${since})`, {
      where: path.dirname(file),
      fix: 'wait for the other training call to finish (a notebook cell still running, or a train() that was not awaited), or stop it first (Kernel › Interrupt in a notebook, or abort its signal) and run again',
    });
  }
  if (state === 'alive') {
    return new KitError(`another process is training this run: pid ${h.pid} on this machine (${h.host}), ${since}${command}`, {
      where: file,
      fix: `wait for it to finish, or stop it with \`kill -INT ${h.pid}\` (it stops at the next step and keeps its last checkpoint), then run again to resume; two processes writing one run would mix their checkpoints`,
    });
  }
  const container = h.host === machine().host ? ' (another container or pid namespace)' : '';
  return new KitError(`this run is locked by pid ${h.pid} on host ${h.host}${container}, ${since}${command}`, {
    where: file,
    fix: `if that process still runs, wait for it or stop it there; if it is gone (crashed, or its machine rebooted), delete ${file} and run again. A lock from another machine is never taken over automatically: this machine cannot see whether that process is alive`,
  });
}

function ago(iso: string): string {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s) || s < 0) return '';
  return s < 120 ? ` (${Math.round(s)} s ago)` : s < 7200 ? ` (${Math.round(s / 60)} min ago)` : ` (${(s / 3600).toFixed(1)} h ago)`;
}

function newHolder(): LockHolder {
  const here = machine();
  const holder: LockHolder = {
    pid: process.pid,
    host: here.host,
    since: new Date().toISOString(),
    command: [path.basename(process.argv[0] ?? 'node'), ...process.argv.slice(1)].join(' ').slice(0, 300),
    token: crypto.randomBytes(8).toString('hex'),
  };
  if (here.bootId !== undefined) holder.bootId = here.bootId;
  if (here.pidNamespace !== undefined) holder.pidNamespace = here.pidNamespace;
  const start = processStart(process.pid);
  if (start !== undefined) holder.processStart = start;
  return holder;
}

let machineFacts: { host: string; bootId?: string; pidNamespace?: string } | undefined;

function machine(): { host: string; bootId?: string; pidNamespace?: string } {
  if (machineFacts === undefined) {
    machineFacts = { host: os.hostname() };
    try {
      machineFacts.bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // not Linux
    }
    try {
      machineFacts.pidNamespace = fs.readlinkSync('/proc/self/ns/pid');
    } catch {
      // not Linux, or /proc hidden
    }
  }
  return machineFacts;
}

/** Linux: when `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot). */
function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
