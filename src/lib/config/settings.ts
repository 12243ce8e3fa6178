import * as fs from 'node:fs';
import * as path from 'node:path';
import { KitError, messageOf } from '../util/errors';
import { projectRoot, resolveFromRoot } from './paths';

/**
 * Settings that differ between machines, not between experiments. Each comes from, in order:
 * an environment variable, `kit.config.json` at the project root, a default.
 *
 * | setting  | env           | config key | default                                   |
 * |----------|---------------|------------|-------------------------------------------|
 * | data     | XRAY_DATA     | data       | PneumoniaMNIST 128 px in the cache        |
 * | profile  | KIT_PROFILE   | profile    | `default`                                  |
 * | backend  | KIT_BACKEND   | backend    | `auto` (tensorflow → webgpu → cpu)         |
 * | cacheDir | KIT_CACHE_DIR | cacheDir   | `.cache/` in the project                   |
 * | runsDir  | KIT_RUNS_DIR  | runsDir    | `runs/` in the project                     |
 * | native   | KIT_NATIVE    | native     | `auto`: which native TensorFlow build `npm run setup` makes (auto, cpu, gpu, off); `off` also keeps auto selection away from it |
 * | dataUrl  | KIT_DATA_URL  | dataUrl    | Zenodo: where the default download comes from (a mirror; tests point it at a dead port) |
 * | pretrained | KIT_PRETRAINED | pretrained | none: a folder of pretrained ConvNeXt weights (config.json + model.safetensors) for the notebooks' fine-tuning sections |
 */
export interface Settings {
  /** A Kaggle-layout folder or a MedMNIST .npz file; undefined = the default download. */
  data: string | undefined;
  profile: string;
  backend: string;
  cacheDir: string;
  runsDir: string;
  native: string;
  /** Replaces the Zenodo files folder of the default PneumoniaMNIST download; undefined = Zenodo. */
  dataUrl?: string | undefined;
  /** Pretrained ConvNeXt weights for the notebooks' fine-tuning sections; undefined = skip them. */
  pretrained?: string | undefined;
}

export const CONFIG_FILE = 'kit.config.json';

const KEYS = ['data', 'profile', 'backend', 'cacheDir', 'runsDir', 'native', 'dataUrl', 'pretrained'] as const;
type Key = (typeof KEYS)[number];

const ENV: Record<Key, string> = {
  data: 'XRAY_DATA',
  profile: 'KIT_PROFILE',
  backend: 'KIT_BACKEND',
  cacheDir: 'KIT_CACHE_DIR',
  runsDir: 'KIT_RUNS_DIR',
  native: 'KIT_NATIVE',
  dataUrl: 'KIT_DATA_URL',
  pretrained: 'KIT_PRETRAINED',
};

/** Read the settings now (env and config file are read on every call, never at import). */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const file = readConfigFile();
  const pick = (key: Key): string | undefined => {
    const fromEnv = env[ENV[key]];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return file[key];
  };
  const data = pick('data');
  return {
    data: data === undefined ? undefined : resolveFromRoot(data),
    profile: pick('profile') ?? 'default',
    backend: pick('backend') ?? 'auto',
    cacheDir: resolveFromRoot(pick('cacheDir') ?? '.cache'),
    runsDir: resolveFromRoot(pick('runsDir') ?? 'runs'),
    native: pick('native') ?? 'auto',
    dataUrl: pick('dataUrl'),
    pretrained: ((v) => (v === undefined ? undefined : resolveFromRoot(v)))(pick('pretrained')),
  };
}

function readConfigFile(): Partial<Record<Key, string>> {
  const file = path.join(projectRoot(), CONFIG_FILE);
  if (!fs.existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KitError(`${CONFIG_FILE} is not valid JSON: ${messageOf(err)}`, {
      where: file,
      fix: `correct the JSON, or delete the file to use the defaults`,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KitError(`${CONFIG_FILE} must hold a JSON object`, { where: file, fix: `write e.g. {"data": "../data/chest_xray"}` });
  }
  const out: Partial<Record<Key, string>> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      throw new KitError(`unknown key "${k}" in ${CONFIG_FILE}`, { where: file, fix: `use only: ${KEYS.join(', ')}` });
    }
    if (typeof v !== 'string') {
      throw new KitError(`"${k}" in ${CONFIG_FILE} must be a string, found ${JSON.stringify(v)}`, { where: file, fix: `quote the value` });
    }
    out[k as Key] = v;
  }
  return out;
}
