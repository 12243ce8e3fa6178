import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { loadSettings } from '../config/settings';
import { downloadFile, headUrl, type HeadResponse } from '../data/download';
import { KitError, messageOf } from '../util/errors';
import { tempPathFor, writeFileAtomic } from '../util/fs';
import type { ProgressSink } from '../util/progress';

/**
 * Downloads a pretrained ConvNeXt (`config.json` + `model.safetensors`) from the HuggingFace hub
 * the way huggingface_hub does (src/huggingface_hub/file_download.py, `get_hf_file_metadata`):
 * a HEAD on `{endpoint}/{repo}/resolve/{revision}/{file}` that follows only relative redirects
 * (a renamed repo) publishes the file's hash as its ETag (`X-Linked-Etag` for a git-LFS file:
 * its sha256; `ETag` for a small git file: its git blob SHA-1) and its size (`X-Linked-Size`,
 * else `Content-Length`); the GET then goes to the published location (for LFS, a CDN). Unlike
 * `hf_hub_download`, which checks only the size, both the size and the hash are verified here
 * before a file is kept, and a folder is either complete and verified or untouched.
 */

/** The two files of a HuggingFace-layout checkpoint, in download order. */
export const HUB_FILES = ['config.json', 'model.safetensors'] as const;
/** What downloadPretrained records beside them: repo, revision, commit and the verified hashes. */
export const HUB_RECORD = 'hub.json';
/** huggingface_hub's default endpoint (constants.py `_HF_DEFAULT_ENDPOINT`); HF_ENDPOINT replaces it. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface HubDownloadOptions {
  /** Default: the cacheDir setting; files go to `<cacheDir>/pretrained/<owner>--<repo>/`. */
  cacheDir?: string;
  /** Default: env HF_ENDPOINT (a mirror), else https://huggingface.co, as in huggingface_hub. */
  endpoint?: string;
  /** Branch, tag or commit; default 'main'. */
  revision?: string;
  /** Access token for private or gated repos; default env HF_TOKEN (or HUGGING_FACE_HUB_TOKEN). */
  token?: string;
  onProgress?: ProgressSink;
  /** Give up when the hub sends nothing for this long; default downloadFile's 30 s. */
  timeoutMs?: number;
}

/** How a file was checked against what the hub published. */
export type HubCheck = 'sha256' | 'git-sha1' | 'size';

export interface HubFile {
  name: string;
  bytes: number;
  /** SHA-256 of the file as it is on disk (computed here for every file). */
  sha256: string;
  /** sha256: the LFS hash the hub publishes; git-sha1: the git blob hash of a small file; size: no hash was published. */
  check: HubCheck;
  /** True when the file was already there and matched, so nothing was downloaded. */
  skipped: boolean;
}

export interface PretrainedDownload {
  /** The folder holding config.json and model.safetensors, for `train --init` / `weights import`. */
  dir: string;
  repo: string;
  revision: string;
  /** The commit the hub resolved the revision to (X-Repo-Commit), when it said. */
  commit?: string;
  files: HubFile[];
  /** Sentences for the user: a default timm tag taken, files already there, the hub not reachable. */
  notes: string[];
}

/**
 * timm's default pretrained tag of each ConvNeXt: the first tag listed for the architecture in
 * timm/models/convnext.py `default_cfgs`, i.e. what `timm.create_model(name, pretrained=True)` loads
 * (timm/models/_registry.py `generate_default_cfgs`; the hub repo is `timm/<name>.<tag>`).
 */
const TIMM_DEFAULT_TAGS: Record<string, string> = {
  convnext_atto: 'd2_in1k',
  convnext_femto: 'd1_in1k',
  convnext_pico: 'd1_in1k',
  convnext_nano: 'in12k_ft_in1k',
  convnext_tiny: 'in12k_ft_in1k',
  convnext_small: 'in12k_ft_in1k',
  convnext_base: 'fb_in22k_ft_in1k',
  convnext_large: 'fb_in22k_ft_in1k',
  convnext_xlarge: 'fb_in22k_ft_in1k',
};
/** Sizes that also have the paper's ImageNet-1k weights under the tag `fb_in1k`. */
const TIMM_FB_IN1K = new Set(['convnext_tiny', 'convnext_small', 'convnext_base', 'convnext_large']);

/** huggingface_hub's REPO_ID_REGEX with a namespace (utils/_validators.py); `--` and `..` are forbidden there too. */
const REPO_ID = /^[\w.-]+\/[\w.-]{1,96}$/;
/** A timm model name, with or without its pretrained tag: `convnext_atto`, `convnext_atto.d2_in1k`. */
const TIMM_NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)?$/;
/** huggingface_hub's REGEX_SHA256 (file_download.py): an ETag of this form is an LFS file's sha256. */
const SHA256_HEX = /^[0-9a-f]{64}$/;
const GIT_SHA1_HEX = /^[0-9a-f]{40}$/;
const MAX_RELATIVE_REDIRECTS = 5;

/**
 * The hub repo of a name: an HF repo id (`facebook/convnext-tiny-224`, also pasted as a
 * huggingface.co URL) stays as it is; a timm name maps to `timm/<name>`, and a ConvNeXt timm name
 * without a tag gets timm's default tag (`convnext_atto` → `timm/convnext_atto.d2_in1k`).
 */
export function hubRepoOf(name: string): string {
  const trimmed = name.trim().replace(/^https?:\/\/(www\.)?(huggingface\.co|hf\.co)\//, '').replace(/\/+$/, '');
  if (trimmed.includes('/')) {
    if (!REPO_ID.test(trimmed) || /--|\.\./.test(trimmed) || /(^|\/)[.-]|[.-]($|\/)/.test(trimmed)) {
      throw new KitError(`${JSON.stringify(name)} is not a HuggingFace repo id`, {
        fix: `write it as owner/name (letters, digits, '-', '_', '.'), e.g. facebook/convnext-tiny-224, or give a timm name such as convnext_atto.d2_in1k`,
      });
    }
    return trimmed;
  }
  if (!TIMM_NAME.test(trimmed)) {
    throw new KitError(`${JSON.stringify(name)} is neither a HuggingFace repo id nor a timm model name`, {
      fix: `give a repo id such as facebook/convnext-tiny-224, or a timm name with its pretrained tag such as convnext_atto.d2_in1k`,
    });
  }
  const tag = trimmed.includes('.') ? undefined : TIMM_DEFAULT_TAGS[trimmed];
  return `timm/${tag === undefined ? trimmed : `${trimmed}.${tag}`}`;
}

/** The folder downloadPretrained fills: `<cacheDir>/pretrained/<owner>--<repo>` (`@<revision>` added when not main). */
export function pretrainedDir(cacheDir: string, repo: string, revision: string = DEFAULT_REVISION): string {
  const base = repo.replace('/', '--');
  const name = revision === DEFAULT_REVISION ? base : `${base}@${revision.replace(/[^\w.-]/g, '_')}`;
  return path.join(cacheDir, 'pretrained', name);
}

/** `{endpoint}/{repo}/resolve/{revision}/{file}`: huggingface_hub's HUGGINGFACE_CO_URL_TEMPLATE; a browser downloads it too. */
export function hubFileUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${encodeURI(file)}`;
}

/**
 * Download config.json and model.safetensors of a hub repo into `<cacheDir>/pretrained/<owner>--<repo>/`
 * and return the folder. Files already there that match the hub's size and hash are kept (a second
 * call downloads nothing and says so in `notes`); the others are downloaded into a temporary folder,
 * verified, and only then moved in. Without a network, a folder verified earlier (hub.json) is
 * returned as it is; otherwise the error says how to place the two files by hand.
 */
export async function downloadPretrained(name: string, options: HubDownloadOptions = {}): Promise<PretrainedDownload> {
  const repo = hubRepoOf(name);
  const endpoint = (options.endpoint ?? nonEmpty(process.env.HF_ENDPOINT) ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  const revision = options.revision ?? DEFAULT_REVISION;
  const dir = pretrainedDir(options.cacheDir ?? loadSettings().cacheDir, repo, revision);
  const token = options.token ?? nonEmpty(process.env.HF_TOKEN) ?? nonEmpty(process.env.HUGGING_FACE_HUB_TOKEN);
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const where: Where = { repo, revision, endpoint, dir, hasToken: token !== undefined };
  const notes: string[] = [];
  const say = (note: string): void => {
    notes.push(note);
    options.onProgress?.({ label: `download ${repo}`, done: 0, unit: 'B', info: note });
  };
  const bare = name.trim();
  if (!bare.includes('/') && !bare.includes('.') && repo !== `timm/${bare}`) {
    const fb = TIMM_FB_IN1K.has(bare) ? `; for the paper's ImageNet-1k weights use ${bare}.fb_in1k` : '';
    say(`${bare} has no pretrained tag: using timm's default, ${repo.slice('timm/'.length)}${fb}`);
  }

  let published: Published[];
  try {
    published = [];
    for (const file of HUB_FILES) published.push(await publishedFile(file, auth, where, options.timeoutMs));
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    const kept = await keptOffline(where);
    if (kept === undefined) throw err.error;
    say(`the hub cannot be reached (${err.error.problem}); using the files in ${dir}, verified when they were downloaded`);
    return { dir, repo, revision, ...(kept.commit === undefined ? {} : { commit: kept.commit }), files: kept.files, notes };
  }

  const files: HubFile[] = [];
  const missing: Published[] = [];
  for (const p of published) {
    const found = await matchingFile(path.join(dir, p.name), p);
    if (found !== undefined) files.push({ name: p.name, bytes: p.size, sha256: found, check: p.check, skipped: true });
    else missing.push(p);
  }
  const commit = published.find((p) => p.commit !== undefined)?.commit;
  if (missing.length === 0) {
    writeRecordIfChanged(dir, record(where, commit, published, files));
    say(`${HUB_FILES.join(' and ')} are already in ${dir} and match the hub: nothing to download`);
    return { dir, repo, revision, ...(commit === undefined ? {} : { commit }), files, notes };
  }

  const staging = tempPathFor(dir);
  fs.mkdirSync(staging, { recursive: true });
  try {
    for (const p of missing) files.push(await fetchVerified(p, staging, auth, where, options));
    files.sort((a, b) => HUB_FILES.indexOf(a.name as HubFileName) - HUB_FILES.indexOf(b.name as HubFileName));
    const rec = record(where, commit, published, files);
    if (!fs.existsSync(dir)) {
      writeFileAtomic(path.join(staging, HUB_RECORD), rec);
      fs.renameSync(staging, dir); // the whole folder appears at once
    } else {
      // Everything is downloaded and verified: only renames are left, no network in between.
      for (const p of missing) fs.renameSync(path.join(staging, p.name), path.join(dir, p.name));
      writeRecordIfChanged(dir, rec);
    }
  } catch (err) {
    if (err instanceof KitError && err.where?.startsWith(staging) === true) {
      throw new KitError(err.problem, { where: dir, fix: err.fix.replaceAll(staging, dir), cause: err });
    }
    if (err instanceof KitError || typeof (err as { path?: unknown }).path !== 'string') throw err;
    throw new KitError(`cannot write the downloaded weights: ${messageOf(err)}`, {
      where: dir,
      fix: `check the free disk space and the write permission of ${path.dirname(dir)}`,
      cause: err,
    });
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return { dir, repo, revision, ...(commit === undefined ? {} : { commit }), files, notes };
}

type HubFileName = (typeof HUB_FILES)[number];

interface Where {
  repo: string;
  revision: string;
  endpoint: string;
  dir: string;
  hasToken: boolean;
}

/** What the hub publishes about one file (huggingface_hub's HfFileMetadata). */
interface Published {
  name: HubFileName;
  /** The resolve URL asked. */
  url: string;
  /** Where to GET it: the resolve URL, or the CDN it redirects to. */
  location: string;
  /** The normalized ETag: a sha256 (LFS), a git blob SHA-1 (small file), or something else. */
  etag: string;
  size: number;
  check: HubCheck;
  commit?: string;
}

/** The HEAD of a file could not be sent or answered: the machine is offline or the hub is unreachable. */
class Unreachable extends Error {
  constructor(readonly error: KitError) {
    super(error.message);
  }
}

async function publishedFile(name: HubFileName, auth: Record<string, string>, where: Where, timeoutMs: number | undefined): Promise<Published> {
  const url = hubFileUrl(where.endpoint, where.repo, where.revision, name);
  // huggingface_hub asks for identity encoding so that sizes are the file's, not a compressed one's.
  const headers = { ...auth, 'accept-encoding': 'identity' };
  let current = url;
  for (let hop = 0; ; hop++) {
    let response: HeadResponse;
    try {
      response = await headUrl(current, { headers, ...(timeoutMs === undefined ? {} : { timeoutMs }), fix: byHandFix(where) });
    } catch (err) {
      if (err instanceof KitError) throw new Unreachable(err);
      throw err;
    }
    const { status } = response;
    const location = header(response, 'location');
    const redirect = status >= 300 && status < 400 && location !== undefined;
    // A relative redirect is a renamed repo on the same hub: follow it. An absolute one is the CDN: stop.
    if (redirect && !/^([a-z][a-z0-9+.-]*:)?\/\//i.test(location) && hop < MAX_RELATIVE_REDIRECTS) {
      current = new URL(location, current).toString();
      continue;
    }
    if (!redirect && (status < 200 || status >= 300)) throw hubRefused(response, name, current, where);
    const etag = normalizeEtag(header(response, 'x-linked-etag') ?? header(response, 'etag'));
    // A redirect's own Content-Length is the redirect body's, so only X-Linked-Size counts there.
    const sizeText = header(response, 'x-linked-size') ?? (redirect ? undefined : header(response, 'content-length'));
    const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
    if (etag === undefined || size === undefined) {
      throw new KitError(`the hub published no ${etag === undefined ? 'ETag' : 'size'} for ${name}, so the download cannot be verified`, {
        where: current,
        fix:
          `check that ${where.endpoint} is the HuggingFace hub or a mirror of it (HF_ENDPOINT; a proxy may strip the headers ` +
          `X-Linked-Etag, X-Linked-Size, ETag and Content-Length); or ${placeByHand(where)}`,
      });
    }
    const commit = header(response, 'x-repo-commit');
    return {
      name,
      url,
      location: redirect ? new URL(location, current).toString() : current,
      etag,
      size,
      check: SHA256_HEX.test(etag) ? 'sha256' : GIT_SHA1_HEX.test(etag) ? 'git-sha1' : 'size',
      ...(commit === undefined ? {} : { commit }),
    };
  }
}

/** GET one file into `staging`, checking the published size and hash; returns it as a HubFile. */
async function fetchVerified(
  p: Published,
  staging: string,
  auth: Record<string, string>,
  where: Where,
  options: HubDownloadOptions,
): Promise<HubFile> {
  const dest = path.join(staging, p.name);
  // As huggingface_hub does: a CDN on another host gets a signed URL and no token.
  const sameHost = new URL(p.location).host === new URL(where.endpoint).host;
  try {
    await downloadFile({
      url: p.location,
      dest,
      size: p.size,
      ...(p.check === 'sha256' ? { sha256: p.etag } : {}),
      headers: sameHost ? auth : {},
      label: `download ${where.repo} ${p.name}`,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  } catch (err) {
    if (!(err instanceof KitError) || err.where === dest) throw err;
    throw new KitError(`${where.repo} ${p.name}: ${err.problem}`, { where: err.where ?? p.location, fix: retryFix(where), cause: err });
  }
  const hashes = await hashFile(dest);
  if (p.check === 'git-sha1' && hashes.gitSha1 !== p.etag) {
    throw new KitError(
      `${where.repo} ${p.name}: the downloaded file has git blob SHA-1 ${hashes.gitSha1}, but the hub published ${p.etag}; it was discarded`,
      { where: p.location, fix: retryFix(where) },
    );
  }
  return { name: p.name, bytes: p.size, sha256: hashes.sha256, check: p.check, skipped: false };
}

/** The sha256 of `file` when it exists with the published size and hash; undefined otherwise. */
async function matchingFile(file: string, p: Published): Promise<string | undefined> {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return undefined;
  }
  if (size !== p.size) return undefined;
  const hashes = await hashFile(file);
  if (p.check === 'sha256' && hashes.sha256 !== p.etag) return undefined;
  if (p.check === 'git-sha1' && hashes.gitSha1 !== p.etag) return undefined;
  return hashes.sha256;
}

/**
 * SHA-256 and git blob SHA-1 of a file in one read. The git hash is `sha1("blob <size>\0" + bytes)`,
 * as huggingface_hub's utils/sha.py `git_hash` computes it (`git hash-object`).
 */
async function hashFile(file: string): Promise<{ sha256: string; gitSha1: string }> {
  const sha256 = crypto.createHash('sha256');
  const gitSha1 = crypto.createHash('sha1').update(`blob ${fs.statSync(file).size}\0`);
  await pipeline(fs.createReadStream(file), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      sha256.update(chunk);
      gitSha1.update(chunk);
    }
  });
  return { sha256: sha256.digest('hex'), gitSha1: gitSha1.digest('hex') };
}

interface HubRecord {
  repo: string;
  revision: string;
  endpoint: string;
  commit?: string;
  files: { name: string; bytes: number; sha256: string; published: string; check: HubCheck }[];
}

function record(where: Where, commit: string | undefined, published: Published[], files: HubFile[]): string {
  const rec: HubRecord = {
    repo: where.repo,
    revision: where.revision,
    endpoint: where.endpoint,
    ...(commit === undefined ? {} : { commit }),
    files: files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256, published: published.find((p) => p.name === f.name)?.etag ?? '', check: f.check })),
  };
  return `${JSON.stringify(rec, null, 2)}\n`;
}

function writeRecordIfChanged(dir: string, text: string): void {
  const file = path.join(dir, HUB_RECORD);
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return;
  writeFileAtomic(file, text);
}

/** Offline: the folder's files, when hub.json says they came from this repo and revision and they still match it. */
async function keptOffline(where: Where): Promise<{ commit?: string; files: HubFile[] } | undefined> {
  let rec: HubRecord;
  try {
    rec = JSON.parse(fs.readFileSync(path.join(where.dir, HUB_RECORD), 'utf8')) as HubRecord;
  } catch {
    return undefined;
  }
  if (rec.repo !== where.repo || rec.revision !== where.revision || !Array.isArray(rec.files)) return undefined;
  const files: HubFile[] = [];
  for (const name of HUB_FILES) {
    const entry = rec.files.find((f) => f.name === name);
    const file = path.join(where.dir, name);
    if (entry === undefined || !fs.existsSync(file) || fs.statSync(file).size !== entry.bytes) return undefined;
    if ((await hashFile(file)).sha256 !== entry.sha256) return undefined;
    files.push({ name, bytes: entry.bytes, sha256: entry.sha256, check: entry.check, skipped: true });
  }
  return { ...(rec.commit === undefined ? {} : { commit: rec.commit }), files };
}

/** The KitError for a HEAD the hub answered with an error status, after huggingface_hub's hf_raise_for_status. */
function hubRefused(response: HeadResponse, file: string, url: string, where: Where): KitError {
  const { repo, revision, endpoint } = where;
  const code = header(response, 'x-error-code');
  const status = `HTTP ${response.status}`;
  const page = `${endpoint}/${repo}`;
  const token = where.hasToken
    ? 'HF_TOKEN is set: check that its account may read the repo'
    : 'if the repo is private or gated, set HF_TOKEN to an access token (huggingface.co/settings/tokens) and run again';
  if (code === 'EntryNotFound') {
    return new KitError(`the hub repo ${repo} has no ${file} at revision ${revision} (${status})`, {
      where: url,
      fix:
        `look at the files on ${page}/tree/${revision}: the kit needs ${HUB_FILES.join(' and ')} (a repo with only ` +
        `pytorch_model.bin must be converted to safetensors first, or its weights taken from timm's copy, e.g. ` +
        `timm/convnext_tiny.fb_in1k for facebook/convnext-tiny-224); timm repos have them all`,
    });
  }
  if (code === 'RevisionNotFound') {
    return new KitError(`the hub repo ${repo} has no revision ${JSON.stringify(revision)} (${status})`, {
      where: url,
      fix: `check the branch, tag or commit on ${page}, or leave the revision out to take main`,
    });
  }
  if (code === 'GatedRepo' || response.status === 403) {
    return new KitError(`the hub repo ${repo} is gated or private: access is refused (${status})`, {
      where: url,
      fix: `open ${page} while logged in and accept its conditions, then ${where.hasToken ? 'run again (HF_TOKEN is set; it must belong to that account)' : 'set HF_TOKEN to an access token of that account (huggingface.co/settings/tokens) and run again'}`,
    });
  }
  if (code === 'RepoNotFound' || response.status === 404 || response.status === 401) {
    // The hub answers 401 both for a missing repo and for a private one without a token.
    return new KitError(`the hub has no repo ${repo}${response.status === 401 ? ' that this request may read' : ''} (${status})`, {
      where: url,
      fix:
        `check the id on ${page} (owner/name, as in the address bar); timm names need their pretrained tag, ` +
        `e.g. convnext_atto.d2_in1k (the repo timm/convnext_atto.d2_in1k); ${token}`,
    });
  }
  const busy = response.status >= 500 || response.status === 429;
  return new KitError(`the hub ${busy ? 'refused the request for now' : 'answered unexpectedly'} (${status})${busy ? '; it may be busy or down' : ''}`, {
    where: url,
    fix: `run the command again${busy ? ' later' : ''}; or ${placeByHand(where)}`,
  });
}

/** The fix when the hub cannot be reached: retry online, or put the two files there by hand. */
function byHandFix(where: Where): string {
  return `check the internet connection (and proxy; HF_ENDPOINT selects a hub mirror) and run the command again; or ${placeByHand(where)}`;
}

function retryFix(where: Where): string {
  return `run the command again (nothing was written to ${where.dir}); if it keeps failing, ${placeByHand(where)}`;
}

function placeByHand(where: Where): string {
  const urls = HUB_FILES.map((f) => hubFileUrl(where.endpoint, where.repo, where.revision, f));
  return (
    `place the files by hand: on a machine with internet, download ${urls.join(' and ')} in a browser ` +
    `(logged in, for a gated repo), create the folder ${where.dir} and save them there as ${HUB_FILES.join(' and ')}; ` +
    `\`npx convnext-xray train --init <folder>\` and \`npx convnext-xray weights import <folder>\` take that folder, ` +
    `or any folder that holds these two files`
  );
}

function header(response: HeadResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** huggingface_hub's `_normalize_etag`: drop a weak `W/` prefix and the quotes. */
function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  const value = etag.replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return value === '' ? undefined : value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The folder of `--init <folder|hub-id>`: an existing folder as it is; anything else is a hub
 * id or timm name, fetched with downloadPretrained (which keeps a folder it verified before, so
 * a second run needs no network beyond two HEAD requests, and none when offline).
 */
export async function resolvePretrained(nameOrDir: string, options: HubDownloadOptions = {}): Promise<string> {
  if (fs.existsSync(nameOrDir)) return path.resolve(nameOrDir);
  let repo: string;
  try {
    repo = hubRepoOf(nameOrDir);
  } catch (err) {
    throw new KitError(`no folder "${nameOrDir}", and it is not a HuggingFace hub id or timm name either (${messageOf(err)})`, {
      where: nameOrDir,
      fix: 'give a folder holding config.json and model.safetensors, or a hub id such as facebook/convnext-tiny-224 or a timm name such as convnext_atto.d2_in1k',
    });
  }
  return (await downloadPretrained(repo, options)).dir;
}
