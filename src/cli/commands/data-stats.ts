import { loadXrayData } from '../../lib/data/dataset';
import { dataStats } from '../../lib/data/stats';
import { getProfile } from '../../lib/experiment/profiles';
import { terminalProgress } from '../../lib/util/progress';
import { defineCommand, print, printJson } from '../command';

export const dataStatsCommand = defineCommand({
  name: 'data stats',
  summary: 'counts per split and class, patients, image sizes, the split\'s leakage check',
  options: {
    json: { kind: 'boolean', help: 'print JSON' },
    profile: { kind: 'string', help: 'smoke | cpu | default | paper (default: KIT_PROFILE or default)' },
    'skip-bad-images': { kind: 'boolean', help: 'leave out unreadable images and list them, instead of stopping' },
  },
  run: async (_, o) => {
    const data = await loadXrayData({
      profile: getProfile(o.profile),
      onProgress: terminalProgress(),
      onBadImage: o['skip-bad-images'] ? 'skip' : 'error',
    });
    const s = dataStats(data);
    if (o.json) {
      printJson(s);
      return 0;
    }
    print(`source   ${s.source}`);
    print(`profile  ${s.profile}: ${s.imageSize} px, ${s.fit}`);
    for (const [name, row] of Object.entries(s.sourceSplits)) print(`on disk  ${name.padEnd(5)} ${fmtRow(row)}`);
    for (const [name, row] of Object.entries(s.splits)) print(`model    ${name.padEnd(5)} ${fmtRow(row)}`);
    print(`split    ${s.split.method}${s.split.valFraction !== undefined ? `, val ${s.split.valFraction}, seed ${s.split.seed}` : ''}; patients in both train and val: ${s.split.patientOverlap}`);
    if (s.sourceImageSize !== undefined) print(`sizes    width ${fmtSummary(s.sourceImageSize.width)}, height ${fmtSummary(s.sourceImageSize.height)}`);
    for (const n of s.notes) print(`note     ${n}`);
    for (const k of s.skipped) print(`skipped  ${k.rel}: ${k.reason}`);
    return 0;
  },
});

function fmtRow(row: Record<string, number | undefined>): string {
  return Object.entries(row)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function fmtSummary(s: { min: number; median: number; max: number }): string {
  return `${s.min}–${s.max} (median ${s.median})`;
}
