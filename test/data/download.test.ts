import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadFile, ensureDownloaded, headUrl, md5File } from '../../src/lib/data/download';
import { KitError } from '../../src/lib/util/errors';
import type { ProgressUpdate } from '../../src/lib/util/progress';
import { closedPortBase, sendBytes, serve, type LocalServer } from './local-server';

// Larger than one socket chunk, so progress is reported several times.
const PAYLOAD = crypto.randomBytes(300_000);
const PAYLOAD_MD5 = crypto.createHash('md5').update(PAYLOAD).digest('hex');
const PAYLOAD_SHA256 = crypto.createHash('sha256').update(PAYLOAD).digest('hex');

/** The standard routes: the file, a redirect to it, a redirect loop, errors, a cut and a stall. */
function payloadServer(): Promise<LocalServer> {
  return serve((req, res) => {
    const route = (req.url ?? '').split('?')[0];
    if (route === '/data.bin') return sendBytes(res, PAYLOAD);
    if (route === '/moved') return void res.writeHead(302, { location: '/data.bin' }).end();
    if (route === '/moved-abs') return void res.writeHead(301, { location: `http://${req.headers.host}/moved` }).end();
    if (route === '/loop') return void res.writeHead(307, { location: '/loop' }).end();
    if (route === '/busy') return void res.writeHead(503).end('try later');
    if (route === '/cut' || route === '/stall') {
      res.writeHead(200, { 'content-length': PAYLOAD.length });
      // Flush half the body, then drop the connection (/cut) or go silent (/stall).
      res.write(PAYLOAD.subarray(0, PAYLOAD.length / 2), () => {
        if (route === '/cut') res.socket?.destroy();
      });
      return;
    }
    if (route === '/silent') return; // accepts the request, never answers
    if (route === '/chunked') return void res.writeHead(200).end(PAYLOAD); // no Content-Length
    res.writeHead(404).end('not found');
  });
}

interface Sandbox {
  dir: string;
  dest: string;
  /** Names in the folder: shows leftover temporary files. */
  files(): string[];
}

async function withSandbox(fn: (box: Sandbox, server: LocalServer) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'download-test-'));
  const server = await payloadServer();
  try {
    await fn({ dir, dest: path.join(dir, 'data.bin'), files: () => fs.readdirSync(dir).sort() }, server);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function rejectsKit(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<KitError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KitError, `expected a KitError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

test('downloadFile() with the right MD5 writes the exact bytes and reports progress up to done == total', async () => {
  await withSandbox(async (box, server) => {
    const updates: ProgressUpdate[] = [];
    const result = await downloadFile({
      url: `${server.base}/data.bin`,
      dest: box.dest,
      md5: PAYLOAD_MD5.toUpperCase(), // hex case does not matter
      onProgress: (u) => updates.push(u),
    });
    assert.deepEqual(result, { path: box.dest, bytes: PAYLOAD.length, md5: PAYLOAD_MD5 });
    assert.ok(fs.readFileSync(box.dest).equals(PAYLOAD));
    assert.deepEqual(box.files(), ['data.bin']);
    assert.ok(updates.length > 2, `expected several progress updates, got ${updates.length}`);
    const last = updates.at(-1);
    assert.deepEqual(last, { label: 'download data.bin', done: PAYLOAD.length, total: PAYLOAD.length, unit: 'B' });
    assert.deepEqual(updates[0]?.done, 0);
    for (let i = 1; i < updates.length; i++) assert.ok((updates[i]?.done ?? 0) >= (updates[i - 1]?.done ?? 0));
  });
});

test('downloadFile() with a wrong MD5 throws with both hashes, leaves no file and no temp file', async () => {
  await withSandbox(async (box, server) => {
    const wrong = 'f'.repeat(32);
    const err = await rejectsKit(
      downloadFile({ url: `${server.base}/data.bin`, dest: box.dest, md5: wrong }),
      new RegExp(`MD5 ${PAYLOAD_MD5}, but ${wrong} was expected`),
      new RegExp(`${server.base}/data\\.bin`),
    );
    assert.match(err.fix, new RegExp(`save it as ${box.dest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.deepEqual(box.files(), []);
  });
});

test('downloadFile() cut off mid-transfer throws, removes the partial file and keeps the older dest', async () => {
  await withSandbox(async (box, server) => {
    fs.writeFileSync(box.dest, 'older good file');
    await rejectsKit(
      downloadFile({ url: `${server.base}/cut`, dest: box.dest }),
      new RegExp(`cut off after \\d+ of ${PAYLOAD.length} bytes`),
      /partial file was removed/,
    );
    assert.equal(fs.readFileSync(box.dest, 'utf8'), 'older good file');
    assert.deepEqual(box.files(), ['data.bin']);
  });
});

test('downloadFile() gives up on a stalled transfer after timeoutMs, leaving nothing behind', async () => {
  await withSandbox(async (box, server) => {
    await rejectsKit(
      downloadFile({ url: `${server.base}/stall`, dest: box.dest, timeoutMs: 300 }),
      new RegExp(`cut off after ${PAYLOAD.length / 2} of ${PAYLOAD.length} bytes \\(the server stopped sending\\)`),
    );
    assert.deepEqual(box.files(), []);
  });
});

test('downloadFile() follows relative and absolute redirects', async () => {
  await withSandbox(async (box, server) => {
    const result = await downloadFile({ url: `${server.base}/moved-abs`, dest: box.dest, md5: PAYLOAD_MD5 });
    assert.equal(result.bytes, PAYLOAD.length);
    assert.ok(fs.readFileSync(box.dest).equals(PAYLOAD));
    assert.deepEqual(server.requests, ['/moved-abs', '/moved', '/data.bin']);
  });
});

test('downloadFile() stops after 5 redirects', async () => {
  await withSandbox(async (box, server) => {
    await rejectsKit(downloadFile({ url: `${server.base}/loop`, dest: box.dest }), /more than 5 redirects/);
    assert.equal(server.requests.length, 6);
    assert.deepEqual(box.files(), []);
  });
});

test('downloadFile() turns HTTP 404 and 503 into clear errors with the alternatives', async () => {
  await withSandbox(async (box, server) => {
    const err = await rejectsKit(
      downloadFile({ url: `${server.base}/gone.npz`, dest: box.dest, offlineHelp: 'set XRAY_DATA' }),
      /server refused the download \(HTTP 404 Not Found\)/,
      /gone\.npz/,
    );
    assert.match(err.fix, /\(2\) set XRAY_DATA; or \(3\) download http:\/\/127\.0\.0\.1:\d+\/gone\.npz .* copy it to /);
    await rejectsKit(downloadFile({ url: `${server.base}/busy`, dest: box.dest }), /refused the download for now \(HTTP 503/);
    assert.deepEqual(box.files(), []);
  });
});

test('downloadFile() on a refused connection says the server is unreachable and lists the options', async () => {
  const base = await closedPortBase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'download-test-'));
  try {
    const dest = path.join(dir, 'sub', 'x.npz');
    const err = await rejectsKit(
      downloadFile({ url: `${base}/x.npz`, dest, offlineHelp: 'set XRAY_DATA to a folder' }),
      /refused the connection/,
      /this machine cannot reach it/,
    );
    assert.match(err.fix, /check the internet connection/);
    assert.match(err.fix, /set XRAY_DATA to a folder/);
    assert.ok(err.fix.includes(`copy it to ${dest}`));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'sub')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('downloadFile() times out when the server never answers', async () => {
  await withSandbox(async (box, server) => {
    await rejectsKit(downloadFile({ url: `${server.base}/silent`, dest: box.dest, timeoutMs: 200 }), /no answer from 127\.0\.0\.1:\d+ within 0\.2 s/);
    assert.deepEqual(box.files(), []);
  });
});

test('ensureDownloaded() downloads once, keeps a file with the right MD5, and replaces a damaged one', async () => {
  await withSandbox(async (box, server) => {
    const options = { url: `${server.base}/data.bin`, dest: box.dest, md5: PAYLOAD_MD5 };
    assert.equal((await ensureDownloaded(options)).action, 'downloaded');
    assert.equal(server.requests.length, 1);

    const kept = await ensureDownloaded(options);
    assert.deepEqual(kept, { path: box.dest, md5: PAYLOAD_MD5, action: 'kept' });
    assert.equal(server.requests.length, 1, 'a file with the right MD5 is not downloaded again');

    fs.writeFileSync(box.dest, 'damaged');
    const damagedMd5 = crypto.createHash('md5').update('damaged').digest('hex');
    const updates: ProgressUpdate[] = [];
    const replaced = await ensureDownloaded({ ...options, onProgress: (u) => updates.push(u) });
    assert.equal(replaced.action, 'replaced');
    assert.equal(server.requests.length, 2);
    assert.ok(fs.readFileSync(box.dest).equals(PAYLOAD));
    assert.match(updates[0]?.info ?? '', new RegExp(`has MD5 ${damagedMd5}, expected ${PAYLOAD_MD5}.*downloading it again`));
    assert.deepEqual(box.files(), ['data.bin']);
  });
});

test('downloadFile() checks sha256 and size: right ones pass, wrong ones discard the file', async () => {
  await withSandbox(async (box, server) => {
    const ok = await downloadFile({ url: `${server.base}/data.bin`, dest: box.dest, sha256: PAYLOAD_SHA256, size: PAYLOAD.length });
    assert.deepEqual(ok, { path: box.dest, bytes: PAYLOAD.length, md5: PAYLOAD_MD5, sha256: PAYLOAD_SHA256 });
    fs.rmSync(box.dest);

    const wrong = '0'.repeat(64);
    await rejectsKit(downloadFile({ url: `${server.base}/data.bin`, dest: box.dest, sha256: wrong }), new RegExp(`SHA-256 ${PAYLOAD_SHA256}, but ${wrong} was expected; it was discarded`));
    // A Content-Length other than the expected size fails before the body is read.
    await rejectsKit(downloadFile({ url: `${server.base}/data.bin`, dest: box.dest, size: 10 }), new RegExp(`sends ${PAYLOAD.length} bytes, but 10 were expected`));
    // Without Content-Length the size is checked after the transfer (and shown as the progress total).
    await rejectsKit(downloadFile({ url: `${server.base}/chunked`, dest: box.dest, size: 10 }), new RegExp(`sends ${PAYLOAD.length} bytes, but 10 were expected`));
    const updates: ProgressUpdate[] = [];
    await downloadFile({ url: `${server.base}/chunked`, dest: box.dest, size: PAYLOAD.length, onProgress: (u) => updates.push(u) });
    assert.equal(updates.at(-1)?.total, PAYLOAD.length);
    assert.deepEqual(box.files(), ['data.bin']);
  });
});

test('downloadFile() sends extra headers, but no authorization to another host after a redirect', async () => {
  const seen: string[] = [];
  const cdn = await serve((req, res) => {
    seen.push(`cdn ${req.headers.authorization ?? '-'} ${req.headers['x-extra'] ?? '-'}`);
    sendBytes(res, PAYLOAD);
  });
  const origin = await serve((req, res) => {
    seen.push(`origin ${req.headers.authorization ?? '-'} ${req.headers['x-extra'] ?? '-'}`);
    if (req.url === '/same') return void res.writeHead(302, { location: '/file' }).end();
    if (req.url === '/file') return sendBytes(res, PAYLOAD);
    res.writeHead(302, { location: `${cdn.base}/blob` }).end();
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'download-test-'));
  try {
    const headers = { Authorization: 'Bearer secret', 'x-extra': 'yes' };
    await downloadFile({ url: `${origin.base}/same`, dest: path.join(dir, 'a'), headers });
    await downloadFile({ url: `${origin.base}/elsewhere`, dest: path.join(dir, 'b'), headers });
    assert.deepEqual(seen, ['origin Bearer secret yes', 'origin Bearer secret yes', 'origin Bearer secret yes', 'cdn - yes']);
  } finally {
    await cdn.close();
    await origin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('headUrl() returns a redirect unfollowed with its headers, and a dead server as a KitError with the given fix', async () => {
  await withSandbox(async (_box, server) => {
    const head = await headUrl(`${server.base}/moved`, { headers: { 'x-extra': 'yes' }, fix: 'unused' });
    assert.equal(head.status, 302);
    assert.equal(head.headers.location, '/data.bin');
    assert.deepEqual(server.requests, ['/moved']);
  });
  const base = await closedPortBase();
  const err = await rejectsKit(headUrl(`${base}/x`, { fix: 'place it by hand' }), /refused the connection/);
  assert.equal(err.fix, 'place it by hand');
});

test('md5File() hashes a file like crypto does on its bytes', async () => {
  await withSandbox(async (box) => {
    fs.writeFileSync(box.dest, PAYLOAD);
    assert.equal(await md5File(box.dest), PAYLOAD_MD5);
  });
});
