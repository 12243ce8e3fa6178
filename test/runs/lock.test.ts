import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { ablationId, runAblation } from '../../src/lib/experiment/ablation';
import { ablationDir, lockRun, LockHolder, runDirOf, runLockHolder, runPaths } from '../../src/lib/runs';
import { KitError } from '../../src/lib/util/errors';
import { tempDir } from '../helpers/data';
import { squaresData } from '../helpers/synthetic';

const RUNS = path.join(projectRoot(), 'dist', 'src', 'lib', 'runs');

/** A Node process that runs `body` with `runs` (the compiled src/lib/runs) and `dir` in scope. */
function nodeWith(body: string, dir: string): ChildProcess {
  return spawn(process.execPath, ['-e', `const runs = require(${JSON.stringify(RUNS)}); const dir = ${JSON.stringify(dir)};\n(async () => { ${body} })().catch((e) => { console.log('ERROR ' + e.message.split('\\n')[0]); process.exit(2); });`], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function lineFrom(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = pattern.exec(out);
      if (m) resolve(m[0]);
    });
    child.on('exit', (code) => reject(new Error(`child exited ${code} before printing ${pattern}: ${out}`)));
  });
}

const exited = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));

/** A pid that no process has: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function writeLock(dir: string, holder: Partial<LockHolder>): void {
  fs.mkdirSync(dir, { recursive: true });
  const h = { pid: process.pid, host: os.hostname(), since: new Date(Date.now() - 90_000).toISOString(), command: 'node train', token: '0123456789abcdef', ...holder };
  fs.writeFileSync(runPaths(dir).lock, JSON.stringify(h));
}

test('lockRun() writes who holds the run (pid, host, since, token) and release() removes it, once', async () => {
  const dir = path.join(tempDir(), 'smoke', 'resnet', '0');
  const lock = await lockRun(dir);
  const holder = runLockHolder(dir);
  assert.ok(holder !== undefined);
  assert.equal(holder.pid, process.pid);
  assert.equal(holder.host, os.hostname());
  assert.ok(Math.abs(Date.parse(holder.since) - Date.now()) < 60_000);
  assert.match(holder.token, /^[0-9a-f]{16}$/);
  assert.equal(lock.file, path.join(fs.realpathSync(dir), 'train.lock'));
  lock.release();
  await lock.released;
  assert.equal(runLockHolder(dir), undefined);
  assert.equal(fs.existsSync(dir), false, 'a folder the lock made and nothing used is removed again');
  lock.release();
});

test('a second writer in this process is refused, naming this process; after release it gets the lock', async () => {
  const dir = tempDir();
  const lock = await lockRun(dir);
  await assert.rejects(lockRun(dir), (e: unknown) => e instanceof KitError && new RegExp(`already being trained in this process \\(pid ${process.pid}, since `).test(e.message));
  lock.release();
  (await lockRun(dir)).release();
});

test('a lock held by another live process is refused with its pid, host, start and how to stop it', async () => {
  const dir = tempDir();
  const child = nodeWith(`const lock = await runs.lockRun(dir); console.log('HELD ' + process.pid); process.stdin.on('data', () => { lock.release(); process.exit(0); });`, dir);
  const pid = Number((await lineFrom(child, /HELD (\d+)/)).split(' ')[1]);
  try {
    await assert.rejects(lockRun(dir), (e: unknown) => {
      assert.ok(e instanceof KitError);
      assert.match(e.message, new RegExp(`another process is training this run: pid ${pid} on this machine \\(${os.hostname()}\\), since \\d{4}-\\d\\d-\\d\\dT`));
      assert.match(e.message, /, started as `node`/);
      assert.match(e.fix, new RegExp(`kill -INT ${pid}`));
      return true;
    });
  } finally {
    child.stdin?.write('release\n');
  }
  assert.equal(await exited(child), 0);
  (await lockRun(dir)).release();
});

test('the lock goes when its process exits without releasing it (process.exit), and a killed holder (kill -9) leaves a stale lock that is taken over', async () => {
  const a = tempDir();
  const exiting = nodeWith(`await runs.lockRun(dir); console.log('HELD'); process.exit(3);`, a);
  assert.equal(await exited(exiting), 3);
  assert.equal(runLockHolder(a), undefined, 'released on exit');

  const b = tempDir();
  const killed = nodeWith(`await runs.lockRun(dir); console.log('HELD'); setInterval(() => undefined, 1000);`, b);
  await lineFrom(killed, /HELD/);
  killed.kill('SIGKILL');
  await exited(killed);
  const stale = runLockHolder(b);
  assert.equal(stale?.pid, killed.pid, 'kill -9 leaves the lock behind');
  const lock = await lockRun(b);
  assert.equal(runLockHolder(b)?.pid, process.pid, 'taken over');
  lock.release();
});

test('stale locks of this machine are taken over: a dead pid, a pid reused by a later process, an older boot', async () => {
  const cases: [string, Partial<LockHolder>][] = [
    ['dead pid', { pid: deadPid() }],
    ['pid reused', { processStart: '1' }],
    ['another boot', { bootId: '00000000-0000-0000-0000-000000000000' }],
  ];
  for (const [what, holder] of cases) {
    if (holder.processStart !== undefined && !fs.existsSync('/proc/self/stat')) continue;
    if (holder.bootId !== undefined && !fs.existsSync('/proc/sys/kernel/random/boot_id')) continue;
    const dir = tempDir();
    writeLock(dir, holder);
    const lock = await lockRun(dir);
    assert.equal(runLockHolder(dir)?.token, lock.holder.token, what);
    assert.deepEqual(fs.readdirSync(dir), ['train.lock'], `${what}: no takeover file left`);
    lock.release();
  }
});

test('a lock of another host, or of another container on this host, is never taken over: the error says how to clear it', async () => {
  for (const [holder, where] of [[{ host: 'gpu-node-7' }, /on host gpu-node-7, since/], [{ pidNamespace: 'pid:[1]' }, /\(another container or pid namespace\)/]] as const) {
    const dir = tempDir();
    writeLock(dir, { ...holder, pid: deadPid() });
    const before = fs.readFileSync(runPaths(dir).lock, 'utf8');
    await assert.rejects(lockRun(dir), (e: unknown) => {
      assert.ok(e instanceof KitError);
      assert.match(e.message, /this run is locked by pid \d+/);
      assert.match(e.message, where);
      assert.match(e.message, /\(1 min ago\)|\(90 s ago\)|\(91 s ago\)/);
      assert.ok(e.fix.includes(`delete ${runPaths(fs.realpathSync(dir)).lock}`), e.fix);
      assert.match(e.fix, /never taken over automatically/);
      return true;
    });
    assert.equal(fs.readFileSync(runPaths(dir).lock, 'utf8'), before, 'left as it was');
  }
});

test('a damaged lock file is an error that says to check and delete it', async () => {
  const dir = tempDir();
  fs.writeFileSync(runPaths(dir).lock, '{"pid": "x"}');
  await assert.rejects(lockRun(dir), (e: unknown) => e instanceof KitError && /lock file is damaged/.test(e.message) && /delete/.test(e.fix));
});

test('many processes taking over one stale lock at once: exactly one gets it, the others are refused naming it', async () => {
  for (let round = 0; round < 3; round++) {
    const dir = tempDir();
    writeLock(dir, { pid: deadPid() });
    const go = path.join(dir, 'go');
    const children = Array.from({ length: 6 }, () =>
      nodeWith(
        `while (!require('fs').existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 2));
         try { const lock = await runs.lockRun(dir); console.log('WON ' + process.pid); process.stdin.on('data', () => { lock.release(); process.exit(0); }); }
         catch (e) { console.log('REFUSED ' + e.message.split('\\n')[0]); process.exit(0); }`,
        dir,
      ),
    );
    const outcomes = children.map((c) => lineFrom(c, /(WON \d+|REFUSED .*)\n/));
    fs.writeFileSync(go, '');
    const lines = await Promise.all(outcomes);
    const winners = lines.filter((l) => l.startsWith('WON'));
    assert.equal(winners.length, 1, lines.join(''));
    const winner = (winners[0] as string).split(' ')[1]?.trim();
    for (const l of lines.filter((x) => x.startsWith('REFUSED'))) assert.match(l, new RegExp(`another process is training this run: pid ${winner} `));
    assert.equal(String(runLockHolder(dir)?.pid), winner);
    // Only the winner waits for this line; the refused ones may have exited already (writing to them is EPIPE).
    for (const c of children) {
      c.stdin?.on('error', () => undefined);
      c.stdin?.end('done\n');
    }
    await Promise.all(children.map(exited));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['go'], 'the winner released it, no takeover file left');
  }
});

test('a holder asked to stop: lockRun in this process waits for its release (a notebook re-run), and a stop of the waiter ends the wait', async () => {
  const dir = tempDir();
  const lock = await lockRun(dir);
  lock.stopping = true;
  const waited: LockHolder[] = [];
  const next = lockRun(dir, { onWait: (h) => waited.push(h) });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(runLockHolder(dir)?.token, lock.holder.token, 'still the old holder');
  lock.release();
  const taken = await next;
  assert.equal(waited[0]?.token, lock.holder.token);
  assert.notEqual(taken.holder.token, lock.holder.token);
  taken.stopping = true;
  const controller = new AbortController();
  const third = lockRun(dir, { signal: controller.signal });
  controller.abort();
  await assert.rejects(third, /stopped while waiting for the interrupted training of this run/);
  taken.release();
});

test('two shards of one ablation never train the same run: a run whose lock is held elsewhere stops the shard, naming the holder', async () => {
  const runsDir = tempDir();
  const overrides = { epochs: 1 };
  const run = runDirOf(ablationDir(runsDir, ablationId('smoke', overrides)), { step: 'resnet', seed: 0 });
  const child = nodeWith(`const lock = await runs.lockRun(dir); console.log('HELD ' + process.pid); process.stdin.on('data', () => { lock.release(); process.exit(0); });`, run);
  const pid = (await lineFrom(child, /HELD (\d+)/)).split(' ')[1];
  try {
    await assert.rejects(
      runAblation({ profile: 'smoke', steps: ['resnet', 'gelu'], seeds: 1, overrides, shard: { index: 0, count: 2 }, runsDir, data: squaresData(32, { train: 32, val: 16, test: 16 }) }),
      (e: unknown) => e instanceof KitError && new RegExp(`another process is training this run: pid ${pid} `).test(e.message),
    );
    assert.equal(fs.existsSync(runPaths(run).meta), false, 'nothing written into the held run');
  } finally {
    child.stdin?.write('release\n');
  }
  await exited(child);
});
