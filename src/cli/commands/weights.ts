import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../../lib/backend';
import { CLASS_NAMES } from '../../lib/data/classes';
import { getProfile } from '../../lib/experiment/profiles';
import { MODEL_JSON, saveModel, WEIGHTS_BIN } from '../../lib/models/io';
import { adaptPretrained, GRAYSCALE_MODES, GrayscaleMode } from '../../lib/pretrained/adapt';
import { checkMapping, kitParams, PretrainedConvNeXt, readPretrained, TensorMapping } from '../../lib/pretrained/convnext';
import { downloadPretrained, resolvePretrained } from '../../lib/pretrained/hub';
import { tableText } from '../../lib/plot/table';
import { ModelMeta, RunInit } from '../../lib/runs';
import { KitError } from '../../lib/util/errors';
import { terminalProgress } from '../../lib/util/progress';
import { defineCommand, print, printJson } from '../command';

const GRAYSCALE_HELP = `how the RGB stem becomes gray: ${GRAYSCALE_MODES.join(' | ')} (default sum: timm's adapt_input_conv; repeat: exactly the gray image shown as RGB)`;

function oneFolder(args: readonly string[], command: string): string {
  if (args.length !== 1) throw new KitError(`weights ${command} takes one folder`, { fix: `e.g. npx convnext-xray weights ${command} ~/.cache/convnext-xray/pretrained/facebook--convnext-tiny-224` });
  return path.resolve(args[0] as string);
}

export function grayscaleOption(value: string | undefined): GrayscaleMode | undefined {
  if (value === undefined) return undefined;
  if (!(GRAYSCALE_MODES as readonly string[]).includes(value)) throw new KitError(`unknown --grayscale ${JSON.stringify(value)}`, { fix: `use ${GRAYSCALE_MODES.map((m) => `--grayscale ${m}`).join(' or ')}` });
  return value as GrayscaleMode;
}

/**
 * The pretrained start of `train --init` / `ablate --pretrained`: `--grayscale` checked (and only
 * with the weights flag), a hub id fetched once into the cache. Undefined without the flag.
 */
export async function runInitOption(weights: string | undefined, grayscale: string | undefined, flag: string): Promise<RunInit | undefined> {
  if (grayscale !== undefined && weights === undefined) throw new KitError(`--grayscale goes with ${flag}`, { fix: `add ${flag} <folder|hub-id>, or leave --grayscale out` });
  const mode = grayscaleOption(grayscale);
  if (weights === undefined) return undefined;
  return { weights: await resolvePretrained(weights, { onProgress: terminalProgress() }), ...(mode !== undefined ? { grayscale: mode } : {}) };
}

/** The inspect report as JSON: the architecture, the counts, and every tensor's mapping. */
function inspectJson(p: PretrainedConvNeXt): object {
  return {
    dir: p.dir, layout: p.layout, variant: p.variant, depths: p.config.depths, dims: p.dims, kernelSize: p.config.kernelSize,
    inChannels: p.config.inChannels, numClasses: p.config.numClasses, headNormEps: p.config.headNormEps ?? 1e-6, convMlp: p.convMlp,
    params: p.params, kitParams: kitParams(p), normalization: p.normalization, classes: p.classes?.slice(0, 5),
    mapping: p.mapping.map(({ source, shape, target, targetShape, transform, status }: TensorMapping) => ({ source, shape, target, targetShape, transform, status })),
    missing: p.missing,
  };
}

/** --out is replaced whole (saveModel swaps a new folder in): refuse one that holds anything but a kit checkpoint, and the weights' own folder. */
function checkOutFolder(out: string, source: string): void {
  const fix = `give a new or empty folder, e.g. --out checkpoints/${path.basename(source)}`;
  if (out === source) throw new KitError('--out is the pretrained folder itself: the checkpoint would replace the weights', { where: out, fix });
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new KitError('--out is a file, not a folder', { where: out, fix });
  const other = fs.readdirSync(out).filter((f) => f !== MODEL_JSON && f !== WEIGHTS_BIN);
  if (other.length > 0) {
    throw new KitError(`--out already holds other files (${other.slice(0, 5).join(', ')}${other.length > 5 ? ', …' : ''}): the checkpoint replaces the whole folder, so they would be deleted`, { where: out, fix });
  }
}

export const weightsInspectCommand = defineCommand({
  name: 'weights inspect',
  summary: 'a pretrained ConvNeXt folder: architecture, exact parameter count, how every tensor maps (or why not)',
  options: {
    json: { kind: 'boolean', help: 'print JSON (every tensor)' },
  },
  run: async (args, o) => {
    const p = readPretrained(oneFolder(args, 'inspect'));
    if (o.json) {
      printJson(inspectJson(p));
      return p.mapping.every((m) => m.status === 'ok') && p.missing.length === 0 ? 0 : 1;
    }
    const unplaced = p.mapping.filter((m) => m.status !== 'ok').length;
    const bad = unplaced + p.missing.length;
    print(`${p.dir}`);
    print(`  ${p.layout === 'hf' ? 'HuggingFace transformers' : 'timm'} ConvNeXt, ${p.variant}: depths ${p.config.depths.join('-')}, widths ${p.dims.join('-')}, ${p.config.kernelSize}×${p.config.kernelSize} depthwise, ${p.config.inChannels} input channels, ${p.config.numClasses} classes${p.convMlp ? ', MLP as 1×1 convs (conv_mlp)' : ''}`);
    print(`  parameters: ${p.params.toLocaleString('en-US')} in the file, ${kitParams(p).toLocaleString('en-US')} in the kit's network`);
    print(`  head LayerNorm eps ${(p.config.headNormEps ?? 1e-6).toExponential(0)}; pretrained with mean ${JSON.stringify(p.normalization.mean)}, std ${JSON.stringify(p.normalization.std)} (${p.normalization.from})`);
    const rows: Record<string, string>[] = p.mapping.map((m) => ({ tensor: m.source, shape: JSON.stringify(m.shape), 'kit weight': m.target ?? '—', 'kit shape': m.targetShape === undefined ? '' : JSON.stringify(m.targetShape), transform: m.transform ?? '', status: m.status }));
    for (const n of p.missing) rows.push({ tensor: '—', shape: '', 'kit weight': n, 'kit shape': '', transform: '', status: 'missing' });
    print('');
    print(tableText(rows));
    print('');
    print(bad === 0 ? `every tensor maps: \`npx convnext-xray train --step convnext --init ${p.dir}\` fine-tunes it` : `${unplaced} tensor(s) have no place in the kit (unmatched or mis-shaped), ${p.missing.length} kit weight(s) have no tensor (missing): the kit cannot load these weights`);
    return bad === 0 ? 0 : 1;
  },
});

export const weightsImportCommand = defineCommand({
  name: 'weights import',
  summary: 'turn a pretrained ConvNeXt folder into a kit checkpoint (gray stem, X-ray head) that predict and evaluate take',
  options: {
    out: { kind: 'string', help: 'the checkpoint folder to write (model.json + weights.bin), atomically' },
    size: { kind: 'number', help: "input size in px (default: the profile's)" },
    profile: { kind: 'string', help: 'smoke | cpu | default | paper | finetune: the input size and fit (default: KIT_PROFILE or default)' },
    grayscale: { kind: 'string', help: GRAYSCALE_HELP },
    'keep-head': { kind: 'boolean', help: "keep the pretrained classifier and its class names (e.g. ImageNet's 1000) instead of a new seeded NORMAL/PNEUMONIA head" },
    seed: { kind: 'number', help: 'seed of the new head (default 0)' },
    json: { kind: 'boolean', help: 'print JSON' },
  },
  run: async (args, o) => {
    const dir = oneFolder(args, 'import');
    if (o.out === undefined) throw new KitError('weights import needs --out', { fix: `e.g. --out checkpoints/${path.basename(dir)}` });
    const out = path.resolve(o.out);
    checkOutFolder(out, dir);
    const profile = getProfile(o.profile);
    const size = o.size ?? profile.data.imageSize;
    const p = readPretrained(dir);
    checkMapping(p);
    await selectBackend();
    const keep = o['keep-head'] === true;
    const classes = keep ? (p.classes ?? Array.from({ length: p.config.numClasses }, (_, i) => `class ${i}`)) : [...CLASS_NAMES];
    const adapted = adaptPretrained(p, { size, numClasses: classes.length, newHead: !keep, grayscale: grayscaleOption(o.grayscale), seed: o.seed ?? 0 });
    const meta: ModelMeta = {
      step: 'convnext', scale: p.variant, seed: o.seed ?? 0, config: adapted.config,
      input: { size, fit: profile.data.fit, channels: 1, normalization: adapted.normalization as { mean: number; std: number } },
      classes, epoch: 0, valAuc: NaN, valAcc: NaN, init: adapted.init,
    };
    await saveModel(adapted.model, out, meta);
    adapted.model.dispose();
    if (o.json) printJson({ out, init: adapted.init, input: meta.input, classes: classes.length, notes: adapted.notes });
    else {
      for (const n of adapted.notes) print(n);
      print(`wrote ${out}: ${size} px, ${classes.length} classes${keep ? '' : ' (the head is new and untrained: fine-tune with `train --init`)'}; predict/evaluate use it with --checkpoint ${out}`);
    }
    return 0;
  },
});

export const weightsDownloadCommand = defineCommand({
  name: 'weights download',
  summary: 'fetch config.json + model.safetensors of a HuggingFace hub id or timm name into the cache (size and sha256 checked)',
  options: {
    revision: { kind: 'string', help: 'branch, tag or commit (default main)' },
    json: { kind: 'boolean', help: 'print JSON' },
  },
  run: async (args, o) => {
    if (args.length !== 1) throw new KitError('weights download takes one name', { fix: 'e.g. npx convnext-xray weights download facebook/convnext-tiny-224 (HuggingFace) or convnext_atto.d2_in1k (timm)' });
    const r = await downloadPretrained(args[0] as string, { revision: o.revision, onProgress: terminalProgress() });
    if (o.json) printJson(r);
    else {
      for (const n of r.notes) print(n);
      for (const f of r.files) print(`  ${f.name}: ${f.skipped ? 'already there' : 'downloaded'}, ${f.bytes.toLocaleString('en-US')} bytes, ${f.check} checked`);
      print(`${r.dir}\nUse it: npx convnext-xray weights inspect ${r.dir}; npx convnext-xray train --step convnext --init ${r.dir}`);
    }
    return 0;
  },
});
