import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadPretrained, hubFileUrl, hubRepoOf, pretrainedDir, HUB_RECORD } from '../../src/lib/pretrained/hub';
import { KitError } from '../../src/lib/util/errors';
import type { ProgressUpdate } from '../../src/lib/util/progress';
import { closedPortBase, serve, type LocalServer } from '../data/local-server';

const REPO = 'kit-test/convnext-tiny';
const CONFIG = Buffer.from(JSON.stringify({ model_type: 'convnext', depths: [3, 3, 9, 3], hidden_sizes: [96, 192, 384, 768] }));
// Larger than one socket chunk, so the transfer and its progress come in several pieces.
const MODEL = crypto.randomBytes(300_000);

const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');
/** git's blob hash, what the hub publishes as the ETag of a small (non-LFS) file. */
const gitSha1 = (b: Uint8Array): string => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** How the fake hub misbehaves on the CDN: sends other bytes, or drops the connection halfway. */
type CdnMode = 'right' | 'wrong' | 'cut';

interface FakeHub {
  server: LocalServer;
  /** "METHOD path authorization" per request. */
  log: string[];
  cdn: CdnMode;
  /** The model the hub publishes (size and sha256) and serves. */
  model: Buffer;
  /** Answer every HEAD with this status and X-Error-Code, as a gated repo does. */
  refuse?: { status: number; code: string };
  /** A file the repo lacks (404 EntryNotFound). */
  missing?: string;
  /** What GET config.json sends, when not the CONFIG whose git hash the HEAD publishes. */
  configBody?: Buffer;
}

/**
 * A local imitation of huggingface.co's resolve endpoint, as huggingface_hub sees it: HEAD on a
 * small file answers 200 with ETag (git blob SHA-1) and Content-Length; HEAD on the LFS file answers
 * 302 to a CDN URL with X-Linked-Etag (sha256) and X-Linked-Size; unknown repos and files get 404
 * with X-Error-Code.
 */
async function fakeHub(): Promise<FakeHub> {
  const hub: FakeHub = { server: undefined as unknown as LocalServer, log: [], cdn: 'right', model: MODEL };
  const commit = 'c'.repeat(40);
  hub.server = await serve((req, res) => {
    const url = req.url ?? '';
    hub.log.push(`${req.method ?? '?'} ${url} ${req.headers.authorization ?? '-'}`);
    const head = req.method === 'HEAD';
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    if (resolve !== null) {
      const [, repo, , file] = resolve;
      if (hub.refuse !== undefined) return void res.writeHead(hub.refuse.status, { 'x-error-code': hub.refuse.code }).end();
      // A renamed repo: the hub redirects relatively to the new name.
      if (repo === 'kit-test/old-name') return void res.writeHead(307, { location: url.replace('old-name', 'convnext-tiny') }).end();
      if (repo !== REPO) return void res.writeHead(404, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' }).end();
      if (file === hub.missing) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      if (file === 'config.json') {
        res.writeHead(200, { etag: `"${gitSha1(CONFIG)}"`, 'content-length': CONFIG.length, 'x-repo-commit': commit });
        return void res.end(head ? undefined : (hub.configBody ?? CONFIG));
      }
      if (file === 'model.safetensors') {
        // Absolute: the CDN (the same server here). Relative would mean a renamed repo.
        return void res
          .writeHead(302, {
            location: `${hub.server.base}/cdn/${sha256(hub.model)}`,
            'x-linked-etag': `"${sha256(hub.model)}"`,
            'x-linked-size': hub.model.length,
            'x-repo-commit': commit,
          })
          .end();
      }
      return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
    }
    if (url.startsWith('/cdn/')) {
      const body = hub.cdn === 'wrong' ? crypto.randomBytes(hub.model.length) : hub.model;
      res.writeHead(200, { 'content-length': body.length });
      if (hub.cdn !== 'cut') return void res.end(body);
      res.write(body.subarray(0, body.length / 2), () => res.socket?.destroy());
      return;
    }
    res.writeHead(404).end();
  });
  return hub;
}

interface Box {
  cacheDir: string;
  dir: string;
  /** Every file under the cache folder, relative: shows leftovers and temp files. */
  tree(): string[];
}

async function withHub(fn: (hub: FakeHub, box: Box) => Promise<void>): Promise<void> {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-test-'));
  const hub = await fakeHub();
  try {
    await fn(hub, {
      cacheDir,
      dir: path.join(cacheDir, 'pretrained', 'kit-test--convnext-tiny'),
      tree: () => filesUnder(cacheDir),
    });
  } finally {
    await hub.server.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** Every file under `root`, relative, sorted (dot files included: temp files start with a dot). */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
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

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('hubRepoOf() keeps HF repo ids and maps timm names to timm/<name>.<tag>', () => {
  assert.equal(hubRepoOf('facebook/convnext-tiny-224'), 'facebook/convnext-tiny-224');
  assert.equal(hubRepoOf(' https://huggingface.co/facebook/convnext-tiny-224/ '), 'facebook/convnext-tiny-224');
  assert.equal(hubRepoOf('timm/convnext_atto.d2_in1k'), 'timm/convnext_atto.d2_in1k');
  assert.equal(hubRepoOf('convnext_atto.d2_in1k'), 'timm/convnext_atto.d2_in1k');
  assert.equal(hubRepoOf('convnext_tiny.fb_in1k'), 'timm/convnext_tiny.fb_in1k');
  // Without a tag: timm's default tag, as timm.create_model(name, pretrained=True) picks it.
  assert.equal(hubRepoOf('convnext_atto'), 'timm/convnext_atto.d2_in1k');
  assert.equal(hubRepoOf('convnext_tiny'), 'timm/convnext_tiny.in12k_ft_in1k');
  // Unknown to the kit: mapped as it is, and the hub's 404 explains.
  assert.equal(hubRepoOf('convnextv2_atto'), 'timm/convnextv2_atto');
  for (const bad of ['a/b/c', 'owner/bad--name', 'owner/-x', 'ConvNeXt Tiny', '']) {
    assert.throws(() => hubRepoOf(bad), KitError, bad);
  }
});

test('pretrainedDir() and hubFileUrl() spell the folder and the resolve URL', () => {
  assert.equal(pretrainedDir('/c', 'facebook/convnext-tiny-224'), path.join('/c', 'pretrained', 'facebook--convnext-tiny-224'));
  assert.equal(pretrainedDir('/c', 'timm/convnext_atto.d2_in1k', 'refs/pr/1'), path.join('/c', 'pretrained', 'timm--convnext_atto.d2_in1k@refs_pr_1'));
  assert.equal(hubFileUrl('https://huggingface.co/', 'timm/convnext_atto.d2_in1k', 'main', 'model.safetensors'), 'https://huggingface.co/timm/convnext_atto.d2_in1k/resolve/main/model.safetensors');
  assert.equal(hubFileUrl('https://huggingface.co', 'o/r', 'refs/pr/1', 'config.json'), 'https://huggingface.co/o/r/resolve/refs%2Fpr%2F1/config.json');
});

test('downloadPretrained() fetches both files, checks the published sha256 and git hash, and skips them the second time', async () => {
  await withHub(async (hub, box) => {
    const updates: ProgressUpdate[] = [];
    const first = await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base, token: 'hf_test', onProgress: (u) => updates.push(u) });
    assert.equal(first.dir, box.dir);
    assert.equal(first.repo, REPO);
    assert.equal(first.commit, 'c'.repeat(40));
    assert.deepEqual(first.files, [
      { name: 'config.json', bytes: CONFIG.length, sha256: sha256(CONFIG), check: 'git-sha1', skipped: false },
      { name: 'model.safetensors', bytes: MODEL.length, sha256: sha256(MODEL), check: 'sha256', skipped: false },
    ]);
    assert.ok(fs.readFileSync(path.join(box.dir, 'config.json')).equals(CONFIG));
    assert.ok(fs.readFileSync(path.join(box.dir, 'model.safetensors')).equals(MODEL));
    const rel = path.relative(box.cacheDir, box.dir);
    assert.deepEqual(box.tree(), [path.join(rel, 'config.json'), path.join(rel, HUB_RECORD), path.join(rel, 'model.safetensors')]);
    // Both HEADs before any GET; the token goes to the hub; the model comes from the CDN location.
    assert.deepEqual(
      hub.log.map((l) => l.replace(/[0-9a-f]{64}/, '<sha256>')),
      [
        `HEAD /${REPO}/resolve/main/config.json Bearer hf_test`,
        `HEAD /${REPO}/resolve/main/model.safetensors Bearer hf_test`,
        `GET /${REPO}/resolve/main/config.json Bearer hf_test`,
        `GET /cdn/<sha256> Bearer hf_test`,
      ],
    );
    const model = updates.filter((u) => u.label === `download ${REPO} model.safetensors`);
    assert.deepEqual(model.at(-1), { label: `download ${REPO} model.safetensors`, done: MODEL.length, total: MODEL.length, unit: 'B' });

    hub.log.length = 0;
    const second = await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base });
    assert.deepEqual(second.files.map((f) => [f.name, f.skipped]), [['config.json', true], ['model.safetensors', true]]);
    assert.match(second.notes.join('\n'), /already in .* match the hub: nothing to download/);
    assert.deepEqual(hub.log.map((l) => l.split(' ')[0]), ['HEAD', 'HEAD'], 'only the metadata is asked again');
  });
});

test('downloadPretrained() replaces only a damaged file and keeps the verified one', async () => {
  await withHub(async (hub, box) => {
    await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base });
    fs.writeFileSync(path.join(box.dir, 'config.json'), '{"edited": true}');
    hub.log.length = 0;
    const result = await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base });
    assert.deepEqual(result.files.map((f) => [f.name, f.skipped]), [['config.json', false], ['model.safetensors', true]]);
    assert.ok(fs.readFileSync(path.join(box.dir, 'config.json')).equals(CONFIG));
    assert.deepEqual(hub.log.filter((l) => l.startsWith('GET')).map((l) => l.split(' ')[1]), [`/${REPO}/resolve/main/config.json`]);
    assert.equal(box.tree().length, 3, `no temp files: ${box.tree().join(', ')}`);
  });
});

test('downloadPretrained() with a wrong sha256 discards the file and writes nothing', async () => {
  await withHub(async (hub, box) => {
    hub.cdn = 'wrong';
    const err = await rejectsKit(
      downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base }),
      new RegExp(`${escape(REPO)} model\\.safetensors: the downloaded file has SHA-256 [0-9a-f]{64}, but ${sha256(MODEL)} was expected; it was discarded`),
    );
    assert.match(err.fix, new RegExp(`nothing was written to ${escape(box.dir)}`));
    assert.deepEqual(box.tree(), [], 'no file, no temp file');
    assert.equal(fs.existsSync(box.dir), false);
  });
});

test('downloadPretrained() checks a small file against its git blob SHA-1 ETag', async () => {
  // The fake hub's ETag is git's blob hash: the known answer in huggingface_hub's utils/sha.py git_hash().
  assert.equal(gitSha1(Buffer.from('Hello, World!')), 'b45ef6fec89518d314f546fd6c3025367b721684');
  await withHub(async (hub, box) => {
    hub.configBody = Buffer.from(CONFIG.toString().replace('convnext', 'resnet00'));
    await rejectsKit(
      downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base }),
      new RegExp(`config\\.json: the downloaded file has git blob SHA-1 [0-9a-f]{40}, but the hub published ${gitSha1(CONFIG)}; it was discarded`),
    );
    assert.deepEqual(box.tree(), []);
  });
});

test('downloadPretrained() cut off mid-body removes the partial file and writes nothing', async () => {
  await withHub(async (hub, box) => {
    hub.cdn = 'cut';
    await rejectsKit(
      downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base }),
      new RegExp(`${escape(REPO)} model\\.safetensors: the download was cut off after \\d+ of ${MODEL.length} bytes`),
      /partial file was removed/,
    );
    assert.deepEqual(box.tree(), []);
  });
});

test('downloadPretrained() leaves a verified folder untouched when the update fails', async () => {
  await withHub(async (hub, box) => {
    await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base });
    const before = box.tree().map((f) => [f, sha256(fs.readFileSync(path.join(box.cacheDir, f)))]);
    hub.model = crypto.randomBytes(MODEL.length); // a new version on the hub...
    hub.cdn = 'cut'; // ...whose download breaks
    await rejectsKit(downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base }), /cut off/);
    assert.deepEqual(box.tree().map((f) => [f, sha256(fs.readFileSync(path.join(box.cacheDir, f)))]), before);
  });
});

test('downloadPretrained() on a missing repo or file names it and says what to do', async () => {
  await withHub(async (hub, box) => {
    const err = await rejectsKit(
      downloadPretrained('kit-test/no-such-model', { cacheDir: box.cacheDir, endpoint: hub.server.base }),
      /the hub has no repo kit-test\/no-such-model \(HTTP 404\)/,
    );
    assert.match(err.fix, /check the id on http:\/\/127\.0\.0\.1:\d+\/kit-test\/no-such-model/);
    assert.match(err.fix, /timm names need their pretrained tag, e\.g\. convnext_atto\.d2_in1k/);
    assert.match(err.fix, /set HF_TOKEN/);

    await rejectsKit(downloadPretrained('convnextv2_atto', { cacheDir: box.cacheDir, endpoint: hub.server.base }), /the hub has no repo timm\/convnextv2_atto/);

    hub.missing = 'model.safetensors';
    const entry = await rejectsKit(
      downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base }),
      /the hub repo kit-test\/convnext-tiny has no model\.safetensors at revision main \(HTTP 404\)/,
    );
    assert.match(entry.fix, /pytorch_model\.bin must be converted/);
    assert.deepEqual(box.tree(), [], 'config.json is not downloaded alone');
  });
});

test('downloadPretrained() follows a renamed repo (relative redirect) and keeps the name it was given', async () => {
  await withHub(async (hub, box) => {
    const result = await downloadPretrained('kit-test/old-name', { cacheDir: box.cacheDir, endpoint: hub.server.base });
    assert.equal(result.dir, path.join(box.cacheDir, 'pretrained', 'kit-test--old-name'));
    assert.ok(fs.readFileSync(path.join(result.dir, 'model.safetensors')).equals(MODEL));
  });
});

test('downloadPretrained() on a gated repo says to accept its conditions and set HF_TOKEN', async () => {
  await withHub(async (hub, box) => {
    hub.refuse = { status: 403, code: 'GatedRepo' };
    const err = await rejectsKit(downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base }), /kit-test\/convnext-tiny is gated or private: access is refused \(HTTP 403\)/);
    assert.match(err.fix, /accept its conditions, then set HF_TOKEN/);
    assert.deepEqual(box.tree(), []);
  });
});

test('downloadPretrained() without a network says how to place the files by hand', async () => {
  const base = await closedPortBase();
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-test-'));
  try {
    const dir = path.join(cacheDir, 'pretrained', 'timm--convnext_atto.d2_in1k');
    const err = await rejectsKit(downloadPretrained('convnext_atto.d2_in1k', { cacheDir, endpoint: base }), /refused the connection/);
    assert.ok(err.fix.includes(`create the folder ${dir} and save them there as config.json and model.safetensors`), err.fix);
    assert.ok(err.fix.includes(`${base}/timm/convnext_atto.d2_in1k/resolve/main/config.json and ${base}/timm/convnext_atto.d2_in1k/resolve/main/model.safetensors`), err.fix);
    assert.match(err.fix, /train --init <folder>.*weights import <folder>/);
    assert.equal(fs.existsSync(path.join(cacheDir, 'pretrained')), false);
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('downloadPretrained() offline keeps a folder verified earlier and says so', async () => {
  await withHub(async (hub, box) => {
    await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: hub.server.base });
    const offline = await closedPortBase();
    const result = await downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: offline });
    assert.equal(result.dir, box.dir);
    assert.deepEqual(result.files.map((f) => [f.name, f.skipped, f.sha256]), [['config.json', true, sha256(CONFIG)], ['model.safetensors', true, sha256(MODEL)]]);
    assert.match(result.notes.join('\n'), /the hub cannot be reached .*verified when they were downloaded/);

    fs.writeFileSync(path.join(box.dir, 'model.safetensors'), 'damaged');
    await rejectsKit(downloadPretrained(REPO, { cacheDir: box.cacheDir, endpoint: offline }), /refused the connection/);
  });
});

test('downloadPretrained() reads HF_ENDPOINT and HF_TOKEN like huggingface_hub', async () => {
  await withHub(async (hub, box) => {
    const saved = { endpoint: process.env.HF_ENDPOINT, token: process.env.HF_TOKEN };
    process.env.HF_ENDPOINT = `${hub.server.base}/`;
    process.env.HF_TOKEN = 'hf_env';
    try {
      await downloadPretrained(REPO, { cacheDir: box.cacheDir });
    } finally {
      for (const [key, value] of [['HF_ENDPOINT', saved.endpoint], ['HF_TOKEN', saved.token]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    assert.equal(hub.log[0], `HEAD /${REPO}/resolve/main/config.json Bearer hf_env`);
  });
});
