import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/lib/config/paths';
import { ablationId } from '../../src/lib/experiment/ablation';
import { readSafetensors } from '../../src/lib/pretrained/safetensors';
import { ablationDir, readRunMeta, runDirOf } from '../../src/lib/runs';
import { closedPortBase, serve, type LocalServer } from '../data/local-server';
import { sharedXrays, tempDir } from '../helpers/data';
import { copyFixture, FIXTURES, writeSafetensors } from '../helpers/pretrained';

/**
 * `weights inspect | import | download` and `train --init` as a user meets them: exit codes and
 * the lines on stdout/stderr, on the committed PyTorch-made fixtures (test/fixtures/pretrained)
 * and, for download, a local imitation of the HuggingFace hub (as in test/pretrained/hub.test.ts).
 */
const bin = path.join(projectRoot(), 'bin', 'convnext-xray.js');

type Result = { code: number; stdout: string; stderr: string };

function cli(args: string[], env: Record<string, string> = {}): Result {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** cli() without blocking this process, so that a server in it (the fake hub) can answer the child. */
function cliAsync(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');
/** git's blob hash: what the hub publishes as the ETag of a small (non-LFS) file. */
const gitSha1 = (b: Uint8Array): string => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

const HF_A = path.join(FIXTURES, 'hf-a');
const HF_B = path.join(FIXTURES, 'hf-b');
/** A real chest X-ray of the test split. */
const xray = (): string => path.join(sharedXrays(), 'test', 'NORMAL', 'IM-0001-0001.jpeg');
const smoke = (): Record<string, string> => ({ XRAY_DATA: sharedXrays(), KIT_PROFILE: 'smoke' });

interface Prediction {
  input: { size: number; channels: number; normalization: { mean: number; std: number } };
  predictions: { probabilities: Record<string, number>; predicted: string }[];
}

function predict(checkpoint: string, untrainedHead = true): Prediction {
  const p = cli(['predict', xray(), '--checkpoint', checkpoint, '--json'], smoke());
  assert.equal(p.code, 0, p.stderr);
  // A freshly imported checkpoint with a new head says its probabilities mean nothing yet.
  assert.equal(/head was never trained/.test(p.stderr), untrainedHead, p.stderr);
  return JSON.parse(p.stdout) as Prediction;
}

/** The damage of the broken copy: a tensor left out, and one under a name no layout uses. */
const DROPPED = 'convnext.encoder.stages.1.layers.0.layernorm.bias';
const RENAMED = ['convnext.embeddings.layernorm.weight', 'convnext.embeddings.layer_norm.weight'] as const;

/** hf-a with DROPPED left out of model.safetensors and RENAMED[0] saved as RENAMED[1]. */
function brokenCopy(): string {
  const dir = copyFixture('hf-a', 'broken-');
  const file = path.join(dir, 'model.safetensors');
  const tensors = [...readSafetensors(file).tensors]
    .filter(([name]) => name !== DROPPED)
    .map(([name, t]) => ({ name: name === RENAMED[0] ? RENAMED[1] : name, shape: t.shape, values: t.values }));
  writeSafetensors(file, tensors, { format: 'pt' });
  return dir;
}

test('weights inspect on a HuggingFace fixture shows the architecture, the exact parameter count and every tensor mapped (exit 0); --json has every status ok', () => {
  const r = cli(['weights', 'inspect', HF_A]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /HuggingFace transformers ConvNeXt, custom: depths 1-1-2-1, widths 8-16-32-64, 7×7 depthwise, 3 input channels, 3 classes/);
  assert.match(r.stdout, /parameters: 72,235 in the file, 72,235 in the kit's network/);
  assert.match(r.stdout, /^convnext\.embeddings\.patch_embeddings\.weight +\[8,3,4,4\] +stem_conv\/kernel +\[4,4,3,8\] +conv +ok$/m);
  assert.match(r.stdout, /^convnext\.encoder\.stages\.0\.layers\.0\.dwconv\.weight +\[8,1,7,7\] +s1_b1_dwconv\/depthwise_kernel +\[7,7,8,1\] +depthwise +ok$/m);
  assert.match(r.stdout, /^classifier\.weight +\[3,64\] +head_fc\/kernel +\[64,3\] +linear +ok$/m);
  assert.ok(r.stdout.includes(`every tensor maps: \`npx convnext-xray train --step convnext --init ${HF_A}\` fine-tunes it`), r.stdout);

  const j = cli(['weights', 'inspect', HF_A, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const report = JSON.parse(j.stdout) as { layout: string; depths: number[]; dims: number[]; params: number; kitParams: number; mapping: { source: string; status: string }[]; missing: string[] };
  assert.deepEqual([report.layout, report.depths, report.dims, report.params, report.kitParams], ['hf', [1, 1, 2, 1], [8, 16, 32, 64], 72_235, 72_235]);
  assert.equal(report.mapping.length, readSafetensors(path.join(HF_A, 'model.safetensors')).tensors.size, 'one row per tensor in the file');
  assert.deepEqual(report.mapping.filter((m) => m.status !== 'ok'), []);
  assert.deepEqual(report.missing, []);
});

test('weights inspect on a copy with one tensor removed and one renamed lists the unmatched tensor and the missing kit weights (exit 1, also with --json); import refuses it the same way', () => {
  const dir = brokenCopy();
  const r = cli(['weights', 'inspect', dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /parameters: 72,219 in the file, 72,235 in the kit's network/);
  assert.match(r.stdout, new RegExp(`^${escape(RENAMED[1])} +\\[8\\] +— +unmatched$`, 'm'));
  assert.match(r.stdout, /^— +stem_norm\/gamma +missing$/m, 'the renamed tensor leaves its kit weight empty');
  assert.match(r.stdout, /^— +s2_b1_norm\/beta +missing$/m, 'the removed one too');
  assert.match(r.stdout, /1 tensor\(s\) have no place in the kit \(unmatched or mis-shaped\), 2 kit weight\(s\) have no tensor \(missing\): the kit cannot load these weights\n$/);

  const j = cli(['weights', 'inspect', dir, '--json']);
  assert.equal(j.code, 1, j.stderr);
  const report = JSON.parse(j.stdout) as { mapping: { source: string; status: string }[]; missing: string[] };
  assert.deepEqual(report.mapping.filter((m) => m.status !== 'ok').map((m) => [m.source, m.status]), [[RENAMED[1], 'unmatched']]);
  assert.deepEqual(report.missing, ['stem_norm/gamma', 's2_b1_norm/beta']);

  const out = path.join(tempDir(), 'ckpt');
  const i = cli(['weights', 'import', dir, '--out', out, '--profile', 'smoke']);
  assert.equal(i.code, 1);
  assert.match(i.stderr, /the HuggingFace weights in .* do not map onto the kit's ConvNeXt \(1 unmatched, 0 mis-shaped, 2 missing\)/);
  assert.match(i.stderr, new RegExp(`unmatched +${escape(RENAMED[1])} \\[8\\]: no kit weight takes it`));
  assert.match(i.stderr, /missing +s2_b1_norm\/beta: no tensor in the file fills it/);
  assert.ok(i.stderr.includes(`Run \`npx convnext-xray weights inspect ${dir}\` for the whole mapping`), i.stderr);
  assert.equal(fs.existsSync(out), false, 'no checkpoint written');
});

test('weights import hf-b --profile smoke writes a checkpoint that predict takes: gray input at 32 px normalized with 0.449/0.226, NORMAL/PNEUMONIA; --keep-head keeps the config\'s id2label classes', () => {
  const out = path.join(tempDir(), 'hf-b-xray');
  const r = cli(['weights', 'import', HF_B, '--out', out, '--profile', 'smoke']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^stem: 3 → 1 input channel by summing its RGB filters \(timm's adapt_input_conv\); gray input normalized with mean 0\.449, std 0\.226 \(from ImageNet default\)$/m);
  assert.ok(r.stdout.includes(`wrote ${out}: 32 px, 2 classes (the head is new and untrained: fine-tune with \`train --init\`); predict/evaluate use it with --checkpoint ${out}`), r.stdout);
  assert.deepEqual(fs.readdirSync(out).sort(), ['model.json', 'weights.bin']);
  const p = predict(out);
  assert.equal(p.input.size, 32, "the smoke profile's size");
  assert.equal(p.input.channels, 1);
  assert.ok(Math.abs(p.input.normalization.mean - 0.449) < 1e-9 && Math.abs(p.input.normalization.std - 0.226) < 1e-9, JSON.stringify(p.input.normalization));
  const probs = p.predictions[0]?.probabilities ?? {};
  assert.deepEqual(Object.keys(probs).sort(), ['NORMAL', 'PNEUMONIA']);
  assert.ok(Math.abs((probs['NORMAL'] ?? 0) + (probs['PNEUMONIA'] ?? 0) - 1) < 1e-5, JSON.stringify(probs));

  // hf-b's config.json: id2label {0: negative, 1: positive}.
  const kept = path.join(tempDir(), 'hf-b-kept');
  const k = cli(['weights', 'import', HF_B, '--out', kept, '--profile', 'smoke', '--keep-head']);
  assert.equal(k.code, 0, k.stderr);
  assert.doesNotMatch(k.stdout, /head is new|head: a new classifier/);
  const labels = Object.values((JSON.parse(fs.readFileSync(path.join(HF_B, 'config.json'), 'utf8')) as { id2label: Record<string, string> }).id2label);
  const keptPrediction = predict(kept, false).predictions[0];
  assert.deepEqual(Object.keys(keptPrediction?.probabilities ?? {}), labels);
  assert.ok(labels.includes(keptPrediction?.predicted ?? ''));
});

test(
  'weights import of a model that already has 2 classes (hf-b) without --keep-head gives a new head, as its output says',
  () => {
    const out = path.join(tempDir(), 'hf-b-xray');
    const r = cli(['weights', 'import', HF_B, '--out', out, '--profile', 'smoke']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^head: a new classifier for 2 classes \(seeded, std 0\.02\), replacing the pretrained 2-class one \(negative, positive\)$/m);
    const kit = (JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')) as { kit: { init: { newHead: unknown } } }).kit;
    assert.notEqual(kit.init.newHead, null, 'model.json records the new head');
  },
);

test('weights import into an --out holding an earlier checkpoint replaces it whole (no temporary folder left); without --out it says to add one', () => {
  const parent = tempDir();
  const out = path.join(parent, 'ckpt');
  assert.equal(cli(['weights', 'import', HF_B, '--out', out, '--profile', 'smoke']).code, 0);
  const again = cli(['weights', 'import', HF_A, '--out', out, '--profile', 'smoke', '--keep-head']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), ['model.json', 'weights.bin']);
  assert.deepEqual(fs.readdirSync(parent), ['ckpt'], 'the swap leaves no .ckpt.tmp-* folder');
  assert.deepEqual(Object.keys(predict(out, false).predictions[0]?.probabilities ?? {}), ['effusion', 'nodule', 'normal'], "hf-a's classes: the new checkpoint, not the old one");

  const none = cli(['weights', 'import', HF_B, '--profile', 'smoke']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /convnext-xray: weights import needs --out\n {2}Fix: e\.g\. --out checkpoints\/hf-b\n$/);
});

test(
  'weights import refuses an --out folder that holds other files, and leaves them as they were',
  () => {
    const out = tempDir();
    fs.writeFileSync(path.join(out, 'notes.txt'), 'my notes\n');
    fs.mkdirSync(path.join(out, 'sub'));
    fs.writeFileSync(path.join(out, 'sub', 'scan.jpeg'), 'not really a jpeg');
    const r = cli(['weights', 'import', HF_B, '--out', out, '--profile', 'smoke']);
    assert.ok(fs.existsSync(path.join(out, 'notes.txt')) && fs.existsSync(path.join(out, 'sub', 'scan.jpeg')), `the user's files are kept (exit ${r.code}): ${fs.readdirSync(out).join(', ')}`);
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stderr.includes(out), r.stderr);
    assert.match(r.stderr, /notes\.txt[\s\S]*Fix: /);
  },
);

/** A local imitation of huggingface.co's resolve endpoint serving one repo from a fixture folder (hub.test.ts explains the headers). */
async function fakeHub(repo: string, fixture: string): Promise<{ server: LocalServer; log: string[] }> {
  const files = { config: fs.readFileSync(path.join(fixture, 'config.json')), model: fs.readFileSync(path.join(fixture, 'model.safetensors')) };
  const commit = 'c'.repeat(40);
  const log: string[] = [];
  const hub = { server: undefined as unknown as LocalServer, log };
  hub.server = await serve((req, res) => {
    const url = req.url ?? '';
    log.push(`${req.method ?? '?'} ${url}`);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    if (resolve !== null && resolve[1] !== repo) return void res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
    if (resolve?.[3] === 'config.json') {
      res.writeHead(200, { etag: `"${gitSha1(files.config)}"`, 'content-length': files.config.length, 'x-repo-commit': commit });
      return void res.end(req.method === 'HEAD' ? undefined : files.config);
    }
    if (resolve?.[3] === 'model.safetensors') {
      const cdn = `${hub.server.base}/cdn/${sha256(files.model)}`;
      return void res.writeHead(302, { location: cdn, 'x-linked-etag': `"${sha256(files.model)}"`, 'x-linked-size': files.model.length, 'x-repo-commit': commit }).end();
    }
    if (url === `/cdn/${sha256(files.model)}`) {
      res.writeHead(200, { 'content-length': files.model.length });
      return void res.end(files.model);
    }
    res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
  });
  return hub;
}

test('weights download <hub id> puts the two files, byte for byte, into KIT_CACHE_DIR/pretrained/<owner>--<repo>; train --init <hub id> then trains from that folder with no second download', async () => {
  const repo = 'kit-test/convnext-tiny-fixture';
  const hub = await fakeHub(repo, HF_A);
  const cache = tempDir();
  const env = { ...smoke(), KIT_CACHE_DIR: cache, HF_ENDPOINT: hub.server.base };
  const folder = path.join(cache, 'pretrained', 'kit-test--convnext-tiny-fixture');
  try {
    const d = await cliAsync(['weights', 'download', repo], env);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^ {2}config\.json: downloaded, 783 bytes, git-sha1 checked$/m);
    assert.match(d.stdout, /^ {2}model\.safetensors: downloaded, 296,076 bytes, sha256 checked$/m);
    const printed = /^(\/.*)\nUse it: npx convnext-xray weights inspect /m.exec(d.stdout)?.[1];
    assert.equal(printed, folder, d.stdout);
    const published = (JSON.parse(fs.readFileSync(path.join(HF_A, 'fixture.json'), 'utf8')) as { files: Record<string, { sha256: string }> }).files;
    for (const name of ['config.json', 'model.safetensors']) {
      assert.ok(fs.readFileSync(path.join(folder, name)).equals(fs.readFileSync(path.join(HF_A, name))), `${name} is the fixture's, byte for byte`);
      assert.equal(sha256(fs.readFileSync(path.join(folder, name))), published[name]?.sha256);
    }

    hub.log.length = 0;
    const runs = tempDir();
    const t = await cliAsync(['train', '--step', 'convnext', '--init', repo, '--profile', 'smoke', '--runs-dir', runs, '--override', 'epochs=1'], env);
    assert.equal(t.code, 0, t.stderr);
    assert.ok(t.stdout.includes(`fine-tuning a ConvNeXt (HuggingFace weights, ${folder})`), t.stdout);
    assert.deepEqual(hub.log.map((l) => l.split(' ')[0]), ['HEAD', 'HEAD'], 'the files in the cache are checked against the hub, not downloaded again');
    const run = runDirOf(ablationDir(runs, ablationId('smoke', { epochs: 1 })), { step: 'convnext', seed: 0, init: { weights: folder } });
    const init = readRunMeta(run).init;
    assert.equal(init?.source, folder, 'run.json: the hub id resolved to the cached folder');
    assert.equal(init?.sha256, published['model.safetensors']?.sha256);
  } finally {
    await hub.server.close();
  }

  // The hub gone: the folder verified above is used as it is.
  const offline = cli(['weights', 'download', repo], { ...env, HF_ENDPOINT: await closedPortBase() });
  assert.equal(offline.code, 0, offline.stderr);
  assert.ok(offline.stdout.includes(`the hub cannot be reached`) && offline.stdout.includes(`using the files in ${folder}, verified when they were downloaded`), offline.stdout);
});

test('weights download with the hub unreachable (a closed port) exits 1 and says where to place the two files by hand', async () => {
  const base = await closedPortBase();
  const cache = tempDir();
  const repo = 'kit-test/convnext-tiny-fixture';
  const folder = path.join(cache, 'pretrained', 'kit-test--convnext-tiny-fixture');
  const r = cli(['weights', 'download', repo], { KIT_CACHE_DIR: cache, HF_ENDPOINT: base });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /convnext-xray: .*refused the connection/);
  assert.ok(r.stderr.includes('place the files by hand'), r.stderr);
  assert.ok(r.stderr.includes(`download ${base}/${repo}/resolve/main/config.json and ${base}/${repo}/resolve/main/model.safetensors`), r.stderr);
  assert.ok(r.stderr.includes(`create the folder ${folder} and save them there as config.json and model.safetensors`), r.stderr);
  assert.match(r.stderr, /`npx convnext-xray train --init <folder>` and `npx convnext-xray weights import <folder>` take that folder/);
  assert.equal(fs.existsSync(path.join(cache, 'pretrained')), false, 'nothing written');
});

test('train --init <folder> --grayscale repeat records init.grayscale "repeat" in run.json; --grayscale without --init, or an unknown mode, exits 1 saying what to do', () => {
  const runs = tempDir();
  const t = cli(['train', '--step', 'convnext', '--init', HF_A, '--grayscale', 'repeat', '--runs-dir', runs, '--override', 'epochs=1'], smoke());
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^stem: 3 → 1 input channel by folding the repeated gray channel and its per-channel normalization into the filters/m);
  const run = runDirOf(ablationDir(runs, ablationId('smoke', { epochs: 1 })), { step: 'convnext', seed: 0, init: { weights: HF_A } });
  const init = readRunMeta(run).init;
  assert.deepEqual([init?.source, init?.grayscale], [HF_A, 'repeat']);

  const alone = cli(['train', '--step', 'convnext', '--grayscale', 'repeat', '--runs-dir', runs], smoke());
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /convnext-xray: --grayscale goes with --init\n {2}Fix: add --init <folder\|hub-id>, or leave --grayscale out\n$/);
  const avg = cli(['train', '--step', 'convnext', '--init', HF_A, '--grayscale', 'avg', '--runs-dir', runs], smoke());
  assert.equal(avg.code, 1);
  assert.match(avg.stderr, /convnext-xray: unknown --grayscale "avg"\n {2}Fix: use --grayscale sum or --grayscale repeat\n$/);
  assert.deepEqual(fs.readdirSync(runs), [ablationId('smoke', { epochs: 1 })], 'no run folder for the refused commands');
});
