import { loadSettings } from '../../lib/config/settings';
import { downloadPneumoniaMnist, isValidMedmnistSize, MEDMNIST_SIZES, PNEUMONIAMNIST } from '../../lib/data/medmnist';
import { KitError } from '../../lib/util/errors';
import { terminalProgress } from '../../lib/util/progress';
import { defineCommand, print, printJson } from '../command';

export const dataDownloadCommand = defineCommand({
  name: 'data download',
  summary: `download ${PNEUMONIAMNIST.name} from Zenodo into the cache (MD5 checked)`,
  options: {
    size: { kind: 'string', help: `${MEDMNIST_SIZES.join(' | ')} | all (default 128)` },
    json: { kind: 'boolean', help: 'print JSON' },
  },
  run: async (_, o) => {
    const raw = o.size ?? '128';
    const sizes = raw === 'all' ? [...MEDMNIST_SIZES] : [Number(raw)];
    for (const size of sizes) {
      if (!isValidMedmnistSize(size)) throw new KitError(`no ${PNEUMONIAMNIST.name} file at ${raw} px`, { fix: `use --size ${MEDMNIST_SIZES.join(', ')} or all` });
    }
    const { cacheDir } = loadSettings();
    const results = [];
    for (const size of sizes) {
      if (!isValidMedmnistSize(size)) continue;
      const r = await downloadPneumoniaMnist({ size, cacheDir, onProgress: terminalProgress() });
      results.push({ size, ...r });
      if (!o.json) print(`${size} px: ${r.action} ${r.path} (MD5 ${r.md5})`);
    }
    if (o.json) printJson(results);
    else print(`Use it: unset XRAY_DATA for the 128 px default, or XRAY_DATA=${results[0]?.path ?? '<file>'}`);
    return 0;
  },
});
