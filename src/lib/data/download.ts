import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError, messageOf } from '../util/errors';
import { tempPathFor } from '../util/fs';
import type { ProgressSink } from '../util/progress';

/**
 * Downloads that never leave a half-written file: bytes stream into a temporary file beside the
 * destination, are counted against Content-Length and hashed while they arrive, and only a
 * complete, verified file is renamed over the destination. Uses node:http/https only (no
 * dependencies); redirects are followed because Zenodo and mirrors use them.
 */

export interface DownloadOptions {
  url: string;
  /** Final path; its folder is created. An existing file stays untouched unless the download succeeds. */
  dest: string;
  /** Expected MD5 (hex). When given, a file with any other hash is discarded. */
  md5?: string;
  /** Expected SHA-256 (hex), e.g. what the HuggingFace hub publishes for a large file. Checked like md5. */
  sha256?: string;
  /** Expected size in bytes, checked even when the server sends no Content-Length. */
  size?: number;
  /**
   * Extra request headers, e.g. `authorization`. The authorization header is dropped when a
   * redirect leads to another host (a CDN's signed URL needs none, and must not see the token).
   */
  headers?: Record<string, string>;
  onProgress?: ProgressSink;
  /** Give up when the server sends nothing for this long (connecting included). Default 30 s. */
  timeoutMs?: number;
  /** Progress label; default "download <file name>". */
  label?: string;
  /**
   * Other ways to get the data, added to the error's fix when the server cannot be reached or
   * refuses. The default fix already says where to put a manually downloaded copy.
   */
  offlineHelp?: string;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  md5: string;
  /** Present when the sha256 option was given. */
  sha256?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Download `url` to `dest` atomically, checking length and (optionally) size, MD5 and SHA-256. */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const { url, dest } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const label = options.label ?? `download ${path.basename(dest)}`;
  const help = unreachableFix(url, dest, options.offlineHelp);
  const expectedMd5 = options.md5?.toLowerCase();
  const expectedSha256 = options.sha256?.toLowerCase();
  const headers = options.headers ?? {};

  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = tempPathFor(dest);
  // Filled in as the transfer goes, so a failure can say how far it got.
  const state: TransferState = { finalUrl: url, received: 0, total: undefined, bodyStarted: false, timedOut: false };
  let sink: fs.WriteStream | undefined;
  try {
    const response = await open(url, headers, timeoutMs, state, help);
    const length = response.headers['content-length'];
    const announced = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    if (announced !== undefined && options.size !== undefined && announced !== options.size) {
      response.destroy(); // no point in fetching a file of the wrong size
      throw wrongSize(announced, options.size, state, url, dest);
    }
    state.total = announced ?? options.size;
    state.bodyStarted = true;
    const hash = crypto.createHash('md5');
    const sha = expectedSha256 === undefined ? undefined : crypto.createHash('sha256');
    const report = (): void => options.onProgress?.({ label, done: state.received, total: state.total, unit: 'B' });
    report();
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback): void {
        hash.update(chunk);
        sha?.update(chunk);
        state.received += chunk.length;
        report();
        callback(null, chunk);
      },
    });
    sink = fs.createWriteStream(tmp, { flags: 'wx' });
    await pipeline(response, meter, sink);
    if (state.total !== undefined && state.received < state.total) throw cutOff(state, url, dest);
    if (options.size !== undefined && state.received !== options.size) throw wrongSize(state.received, options.size, state, url, dest);
    const md5 = hash.digest('hex');
    const sha256 = sha?.digest('hex');
    if (expectedMd5 !== undefined && md5 !== expectedMd5) {
      throw new KitError(`the downloaded file has MD5 ${md5}, but ${expectedMd5} was expected; it was discarded`, {
        where: state.finalUrl,
        fix:
          `run the command again (the transfer may have been damaged); if it keeps failing, the file on the server ` +
          `has changed: download ${url} yourself, check its MD5, and save it as ${dest}`,
      });
    }
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      throw new KitError(`the downloaded file has SHA-256 ${String(sha256)}, but ${expectedSha256} was expected; it was discarded`, {
        where: state.finalUrl,
        fix:
          `run the command again (the transfer may have been damaged); if it keeps failing, the file on the server ` +
          `has changed: download ${url} yourself, check its SHA-256, and save it as ${dest}`,
      });
    }
    syncFile(tmp);
    fs.renameSync(tmp, dest);
    return { path: dest, bytes: state.received, md5, ...(sha256 === undefined ? {} : { sha256 }) };
  } catch (err) {
    // A transfer that fails early can beat the temp file's open: wait for it, or the file appears after the rm.
    if (sink !== undefined && !sink.closed) await new Promise<void>((resolve) => sink?.once('close', () => resolve()));
    fs.rmSync(tmp, { force: true });
    if (err instanceof KitError) throw err;
    // Errors from the file system carry the path; everything else is the network's doing.
    if (typeof (err as { path?: unknown }).path === 'string') {
      throw new KitError(`cannot write the download: ${messageOf(err)}`, {
        where: dest,
        fix: `check the free disk space and the write permission of ${path.dirname(dest)}`,
        cause: err,
      });
    }
    if (state.bodyStarted) throw cutOff(state, url, dest, err);
    throw unreachable(err, state, timeoutMs, help);
  }
}

export interface EnsureOptions extends DownloadOptions {
  md5: string;
}

export interface EnsureResult {
  path: string;
  md5: string;
  /** kept: a file with the right MD5 was already there; replaced: one with a wrong MD5 was. */
  action: 'kept' | 'downloaded' | 'replaced';
}

/**
 * Make sure `dest` exists with the given MD5: keep a matching file (no network), otherwise
 * download it. A file with the wrong MD5 is reported through onProgress and downloaded again.
 */
export async function ensureDownloaded(options: EnsureOptions): Promise<EnsureResult> {
  const expected = options.md5.toLowerCase();
  if (fs.existsSync(options.dest)) {
    const found = await md5File(options.dest);
    if (found === expected) return { path: options.dest, md5: found, action: 'kept' };
    options.onProgress?.({
      label: options.label ?? `download ${path.basename(options.dest)}`,
      done: 0,
      unit: 'B',
      info: `${options.dest} has MD5 ${found}, expected ${expected} (damaged or outdated): downloading it again`,
    });
    const result = await downloadFile(options);
    return { path: result.path, md5: result.md5, action: 'replaced' };
  }
  const result = await downloadFile(options);
  return { path: result.path, md5: result.md5, action: 'downloaded' };
}

/** MD5 (hex) of a file, read as a stream so large files need little memory. */
export async function md5File(file: string): Promise<string> {
  const hash = crypto.createHash('md5');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

interface TransferState {
  finalUrl: string;
  received: number;
  total: number | undefined;
  bodyStarted: boolean;
  timedOut: boolean;
}

/** GET `url`, following up to MAX_REDIRECTS redirects; resolves with a 2xx response. */
async function open(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  state: TransferState,
  help: string,
): Promise<http.IncomingMessage> {
  let current = url;
  for (let hop = 0; ; hop++) {
    state.finalUrl = current;
    const sameHost = safeHost(current) === safeHost(url);
    const response = await send('GET', current, sameHost ? headers : withoutAuthorization(headers), timeoutMs, state, help);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      response.resume(); // drain the redirect body so the socket is released
      if (hop >= MAX_REDIRECTS) {
        throw new KitError(`more than ${MAX_REDIRECTS} redirects, last to ${location}`, { where: url, fix: help });
      }
      current = new URL(location, current).toString();
      continue;
    }
    if (status >= 200 && status < 300) return response;
    response.resume();
    const reason = `HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`;
    const problem =
      status >= 500 || status === 429
        ? `the server refused the download for now (${reason}); it may be busy or down`
        : status >= 400
          ? `the server refused the download (${reason}); the file may have moved`
          : `the server answered with an unexpected ${reason}`;
    throw new KitError(problem, { where: current, fix: help });
  }
}

export interface HeadResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/**
 * One HEAD request; a redirect is returned, not followed (the HuggingFace hub publishes a file's
 * size and hash on the redirect itself). A server that cannot be reached becomes the same
 * KitError as in downloadFile, with `fix` as its fix.
 */
export async function headUrl(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number; fix: string },
): Promise<HeadResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const state: TransferState = { finalUrl: url, received: 0, total: undefined, bodyStarted: false, timedOut: false };
  try {
    const response = await send('HEAD', url, options.headers ?? {}, timeoutMs, state, options.fix);
    response.resume();
    return { status: response.statusCode ?? 0, headers: response.headers };
  } catch (err) {
    if (err instanceof KitError) throw err;
    throw unreachable(err, state, timeoutMs, options.fix);
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
}

function send(
  method: 'GET' | 'HEAD',
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  state: TransferState,
  help: string,
): Promise<http.IncomingMessage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new KitError(`not a valid URL: ${JSON.stringify(url)}`, { fix: 'use a full http:// or https:// URL' }));
  }
  const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
  if (client === undefined) {
    return Promise.reject(new KitError(`unsupported URL scheme ${parsed.protocol}`, { where: url, fix: help }));
  }
  return new Promise((resolve, reject) => {
    const request = client.request(parsed, { method, headers: { 'user-agent': 'convnext-xray-kit', ...headers } }, resolve);
    // Idle timeout on the socket: covers connecting, waiting for headers and a stalled body.
    request.setTimeout(timeoutMs, () => {
      state.timedOut = true;
      request.destroy(new Error(`no data for ${timeoutMs / 1000} s`));
    });
    request.on('error', reject);
    request.end();
  });
}

/** The fix shown when the server cannot be reached or refuses: retry, or get the file another way. */
function unreachableFix(url: string, dest: string, offlineHelp: string | undefined): string {
  const options = [`check the internet connection (and proxy) and run the command again`];
  if (offlineHelp !== undefined) options.push(offlineHelp);
  options.push(`download ${url} on another machine or in a browser and copy it to ${dest}`);
  return options.map((o, i) => `(${i + 1}) ${o}`).join('; or ');
}

function unreachable(err: unknown, state: TransferState, timeoutMs: number, help: string): KitError {
  const code = (err as { code?: unknown }).code;
  const host = safeHost(state.finalUrl);
  let problem: string;
  if (state.timedOut || code === 'ETIMEDOUT') {
    problem = `no answer from ${host} within ${timeoutMs / 1000} s: the machine seems to be offline or the server is not responding`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    problem = `cannot look up ${host}: the machine seems to be offline (no DNS)`;
  } else if (code === 'ECONNREFUSED') {
    problem = `the server ${host} refused the connection: it is down, or this machine cannot reach it`;
  } else if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') {
    problem = `no network route to ${host}: the machine seems to be offline`;
  } else {
    problem = `the download failed before any data arrived: ${messageOf(err)}`;
  }
  return new KitError(problem, { where: state.finalUrl, fix: help, cause: err });
}

function wrongSize(found: number, expected: number, state: TransferState, url: string, dest: string): KitError {
  return new KitError(`the server sends ${found} bytes, but ${expected} were expected; nothing was kept`, {
    where: state.finalUrl,
    fix:
      `run the command again; if it keeps failing, the file on the server has changed: download ${url} ` +
      `yourself, check its size, and save it as ${dest}`,
  });
}

function cutOff(state: TransferState, url: string, dest: string, cause?: unknown): KitError {
  const of = state.total === undefined ? '' : ` of ${state.total}`;
  const why = state.timedOut ? 'the server stopped sending' : cause === undefined ? 'the connection closed early' : messageOf(cause);
  return new KitError(`the download was cut off after ${state.received}${of} bytes (${why}); the partial file was removed`, {
    where: state.finalUrl,
    fix: `run the command again; if it keeps failing, download ${url} yourself and save it as ${dest}`,
    cause,
  });
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Flush the temporary file to disk before the rename, so a crash cannot leave an empty dest. */
function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
