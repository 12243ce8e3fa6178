import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../src/lib/config/paths';
import { ABLATION_FILE, ABLATION_REPORT, RUN_FILES } from '../src/lib/runs';

/**
 * The library's folders form layers that only point down: a folder may import from its own
 * layer's lower folders and from lower layers, never up. Read top to bottom, this is the map of
 * src/lib (the README's "Project layout" draws the same):
 *
 *   cli, notebook      the two ways in: the command line and the notebooks' helpers
 *   experiment         profiles, the ablation (steps × seeds), its report, evaluation, figures, HTML
 *   plot               figures, tables, image grids, block diagrams (pure: data in, HTML/JSON out)
 *   bench              throughput of training and inference
 *   train, eval        training one network; using one (predict, Grad-CAM)
 *   runs               the run folder on disk: its names, typed records, readers and writers
 *   data               X-ray folders, MedMNIST, decoding, splits, augmentation, batches
 *   backend            choosing the engine (tensorflow, webgpu, cpu) and the device report
 *   kernels            the kit's kernels per backend
 *   models             the roadmap as data, the builder, custom layers, the inference graph
 *   config, metrics    settings and paths; pure math on scores
 *   util               errors, files, random numbers, progress
 */
const LAYERS: string[][] = [['util'], ['config', 'metrics'], ['models'], ['kernels'], ['backend'], ['data'], ['pretrained'], ['runs'], ['train', 'eval'], ['bench'], ['plot'], ['experiment'], ['notebook', 'cli'], ['index']];
const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));

interface Arrow {
  from: string;
  to: string;
  file: string;
  typeOnly: boolean;
}

/** The folder of a source file: src/lib/<folder>/..., src/cli → cli, src/lib/index.ts → index. */
function folderOf(file: string): string {
  const rel = path.relative(path.join(projectRoot(), 'src'), file).split(path.sep);
  if (rel[0] === 'cli') return 'cli';
  return rel.length === 2 ? 'index' : (rel[1] as string);
}

function arrows(): Arrow[] {
  const out: Arrow[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) {
          const target = path.resolve(path.dirname(p), m[2] as string);
          const to = folderOf(fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, 'index.ts') : `${target}.ts`);
          const from = folderOf(p);
          if (from !== to) out.push({ from, to, file: path.relative(projectRoot(), p), typeOnly: m[1] !== undefined });
        }
      }
    }
  };
  walk(path.join(projectRoot(), 'src'));
  return out;
}

test('every folder of src/lib has a place in the layers', () => {
  const folders = fs.readdirSync(path.join(projectRoot(), 'src', 'lib'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  for (const f of folders) assert.ok(rank.has(f), `src/lib/${f} is in no layer of test/architecture.test.ts: add it where it belongs`);
});

test('imports only point down the layers (no upward arrow, not even a type-only one)', () => {
  const up = arrows().filter((a) => (rank.get(a.to) ?? -1) >= (rank.get(a.from) ?? -1) && !(LAYERS.find((l) => l.includes(a.from))?.includes(a.to) ?? false));
  assert.deepEqual(up.map((a) => `${a.file}: ${a.from} → ${a.to}${a.typeOnly ? ' (type)' : ''}`), []);
});

test('folders of the same layer do not import each other in a loop', () => {
  const same = arrows().filter((a) => rank.get(a.to) === rank.get(a.from));
  const pairs = new Set(same.map((a) => `${a.from}→${a.to}`));
  const loops = same.filter((a) => pairs.has(`${a.to}→${a.from}`));
  assert.deepEqual(loops.map((a) => `${a.file}: ${a.from} → ${a.to}`), []);
});

test('no import loop between files', () => {
  const graph = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const deps: string[] = [];
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/^(?:import|export)\s+(?:type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) {
          const target = path.resolve(path.dirname(p), m[1] as string);
          deps.push(fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, 'index.ts') : `${target}.ts`);
        }
        graph.set(p, deps);
      }
    }
  };
  walk(path.join(projectRoot(), 'src'));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, trail: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(f)), f].map((x) => path.relative(projectRoot(), x)).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('the run folder has one owner: its file names are spelled only in src/lib/runs', () => {
  const names = [...Object.values(RUN_FILES), ABLATION_FILE, ABLATION_REPORT].map((n) => `'${n}'`);
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !p.includes(`${path.sep}runs${path.sep}`)) {
        const text = fs.readFileSync(p, 'utf8');
        for (const n of names) if (text.includes(n)) offenders.push(`${path.relative(projectRoot(), p)}: ${n}`);
      }
    }
  };
  walk(path.join(projectRoot(), 'src'));
  assert.deepEqual(offenders, []);
});

test('each folder has an index.ts whose first line says what the folder is for', () => {
  const folders = fs.readdirSync(path.join(projectRoot(), 'src', 'lib'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  for (const f of folders) {
    const index = path.join(projectRoot(), 'src', 'lib', f, 'index.ts');
    assert.ok(fs.existsSync(index), `src/lib/${f} has no index.ts`);
    assert.match(fs.readFileSync(index, 'utf8').split('\n')[0] ?? '', /^\/\*\* .{20,} \*\/$/, `src/lib/${f}/index.ts does not start with a one-line /** ... */ saying what the folder is for`);
  }
});
