import { loadXrayData } from '../../lib/data/dataset';
import { dataStats, OverlapStats } from '../../lib/data/stats';
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
    if (s.leakage !== undefined) {
      for (const o of s.leakage.source) print(`leakage  on disk ${fmtOverlap(o)}`);
      for (const o of s.leakage.splits) print(`leakage  model   ${fmtOverlap(o)}`);
      const unknown = Object.entries(s.leakage.withoutPatientId).filter(([, n]) => n > 0);
      if (unknown.length > 0) print(`leakage  images without a patient id in their name (compared by content only): ${unknown.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      // Every duplicate across the source's splits (the model's splits are subsets of them).
      const pairs = s.leakage.source.flatMap((o) => o.pairs);
      for (const d of pairs.slice(0, MAX_PAIRS)) print(`same     ${d.b} ${d.kind === 'identical' ? '=' : `≈ (dHash ${d.distance} bits)`} ${d.a}`);
      if (pairs.length > MAX_PAIRS) print(`same     ... ${pairs.length - MAX_PAIRS} more (--json lists them all)`);
      print(`leakage  compared by ${s.leakage.method.identical}; near-duplicates: ${s.leakage.method.similar}`);
    }
    if (s.sourceImageSize !== undefined) print(`sizes    width ${fmtSummary(s.sourceImageSize.width)}, height ${fmtSummary(s.sourceImageSize.height)}`);
    for (const n of s.notes) print(`note     ${n}`);
    for (const k of s.skipped) print(`skipped  ${k.rel}: ${k.reason}`);
    return 0;
  },
});

const MAX_PAIRS = 50;
const MAX_IDS = 10;

/** "train and test: 4 patient ids (IM-0001, ...), 10 images of test with a copy in train (10 identical, 0 near-identical)" */
function fmtOverlap(o: OverlapStats): string {
  const [a, b] = o.between;
  const ids = o.patientIds.slice(0, MAX_IDS).join(', ') + (o.patients > MAX_IDS ? `, ... ${o.patients - MAX_IDS} more` : '');
  const patients = `${o.patients} patient id${o.patients === 1 ? '' : 's'} in both${o.patients > 0 ? ` (${ids})` : ''}`;
  return `${a} and ${b}: ${patients}; ${o.images} image${o.images === 1 ? '' : 's'} of ${b} with a copy in ${a} (${o.identical} identical, ${o.similar} near-identical)`;
}

function fmtRow(row: Record<string, number | undefined>): string {
  return Object.entries(row)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function fmtSummary(s: { min: number; median: number; max: number }): string {
  return `${s.min}–${s.max} (median ${s.median})`;
}
