import { escapeHtml } from './escape';
import { ModelConfig } from '../models/config';
import { PlanOp, planModel } from '../models/plan';

/**
 * A block diagram of a roadmap step as an SVG picture: the stem, then the first block of
 * stage 2 (where downsampling happens, so the shortcut and the downsampling layers show),
 * drawn top to bottom like the paper's Figure 4. Boxes that a previous step did not have are
 * outlined, so a learner sees what changed.
 */
export interface DiagramBox {
  label: string;
  kind: 'conv' | 'dwconv' | 'pwconv' | 'norm' | 'act' | 'pool' | 'add' | 'scale' | 'drop' | 'head';
}

export interface DiagramModel {
  title: string;
  stem: DiagramBox[];
  /** Layers before the block (separate downsampling). */
  before: DiagramBox[];
  body: DiagramBox[];
  shortcut: DiagramBox[];
  after: DiagramBox[];
}

const COLORS: Record<DiagramBox['kind'], string> = {
  conv: '#c6dbef',
  dwconv: '#9ecae1',
  pwconv: '#deebf7',
  norm: '#fdd0a2',
  act: '#fcbba1',
  pool: '#d9d9d9',
  add: '#f0f0f0',
  scale: '#dadaeb',
  drop: '#e5e5e5',
  head: '#d9d9d9',
};

function box(op: PlanOp, cfg: ModelConfig): DiagramBox | undefined {
  switch (op.op) {
    case 'conv': {
      const k = `${op.kernel}×${op.kernel}`;
      const stride = op.stride > 1 ? `, /${op.stride}` : '';
      if (op.depthwise) return { label: `dw ${k}${stride}, ${op.filters}`, kind: 'dwconv' };
      return { label: `${k} conv${stride}, ${op.filters}`, kind: op.kernel === 1 ? 'pwconv' : 'conv' };
    }
    case 'norm':
      return { label: op.kind === 'batch' ? 'BN' : 'LN', kind: 'norm' };
    case 'act':
      return { label: op.fn === 'relu' ? 'ReLU' : 'GELU', kind: 'act' };
    case 'maxpool':
      return { label: `max-pool ${op.kernel}×${op.kernel}, /${op.stride}`, kind: 'pool' };
    default:
      void cfg;
      return undefined;
  }
}

/** The diagram's content for a config (first block of stage 2). */
export function diagramModel(config: ModelConfig, title: string): DiagramModel {
  const plan = planModel(config, 224);
  const stem: DiagramBox[] = [];
  const before: DiagramBox[] = [];
  let block: Extract<PlanOp, { op: 'residual' }> | undefined;
  for (const op of plan) {
    if (op.op === 'residual') {
      if (op.name === 's2_b1') {
        block = op;
        break;
      }
      continue;
    }
    const b = box(op, config);
    if (b === undefined) continue;
    if (op.name.startsWith('stem')) stem.push(b);
    else if (op.name.startsWith('s2_downsample')) before.push(b);
  }
  if (block === undefined) throw new Error('diagram: no first block in stage 2');
  const body = block.body.map((o) => box(o, config)).filter((b): b is DiagramBox => b !== undefined);
  if (block.layerScale !== null) body.push({ label: `layer scale γ, init ${block.layerScale < 1e-3 ? block.layerScale.toExponential(0) : block.layerScale}`, kind: 'scale' });
  if (block.dropPath > 0 || config.dropPath > 0) body.push({ label: 'drop path', kind: 'drop' });
  const shortcut = block.shortcut.map((o) => box(o, config)).filter((b): b is DiagramBox => b !== undefined);
  const after = block.after.map((o) => box(o, config)).filter((b): b is DiagramBox => b !== undefined);
  return { title, stem, before, body, shortcut, after };
}

const W = 250;
const BOX_W = 150;
const BOX_H = 22;
const GAP = 8;

/**
 * Render diagrams side by side as one SVG. Boxes of `diagrams[i]` whose label does not appear
 * in `diagrams[i - 1]` (same section) are outlined in red.
 */
export function diagramsSvg(diagrams: readonly DiagramModel[]): string {
  const parts: string[] = [];
  let height = 0;
  diagrams.forEach((d, i) => {
    const prev = i > 0 ? diagrams[i - 1] : undefined;
    const { svg, h } = oneDiagram(d, prev, i * W);
    parts.push(svg);
    height = Math.max(height, h);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${diagrams.length * W}" height="${height}" font-family="sans-serif" font-size="11">${parts.join('')}</svg>`;
}

function oneDiagram(d: DiagramModel, prev: DiagramModel | undefined, x0: number): { svg: string; h: number } {
  const out: string[] = [];
  const cx = x0 + 20 + BOX_W / 2;
  let y = 0;
  const text = (x: number, yy: number, s: string, extra = ''): void => {
    out.push(`<text x="${x}" y="${yy}" text-anchor="middle" ${extra}>${escapeHtml(s)}</text>`);
  };
  const isNew = (b: DiagramBox, section: keyof Omit<DiagramModel, 'title'>): boolean => prev !== undefined && !prev[section].some((p) => p.label === b.label);
  const drawBox = (b: DiagramBox, x: number, yy: number, fresh: boolean): void => {
    out.push(`<rect x="${x - BOX_W / 2}" y="${yy}" width="${BOX_W}" height="${BOX_H}" rx="4" fill="${COLORS[b.kind]}" stroke="${fresh ? '#d62728' : '#636363'}" stroke-width="${fresh ? 2.5 : 1}"/>`);
    text(x, yy + 15, b.label);
  };
  const arrow = (x: number, y1: number, y2: number): void => {
    out.push(`<line x1="${x}" y1="${y1}" x2="${x}" y2="${y2}" stroke="#636363" marker-end="url(#arrow)"/>`);
  };
  out.push('<defs><marker id="arrow" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#636363"/></marker></defs>');
  y += 14;
  text(cx + 20, y, d.title, 'font-weight="bold" font-size="12"');
  y += 10;
  const section = (label: string, boxes: DiagramBox[], key: keyof Omit<DiagramModel, 'title'>): void => {
    if (boxes.length === 0) return;
    y += 6;
    text(cx, y + 8, label, 'fill="#636363" font-style="italic"');
    y += 14;
    for (const b of boxes) {
      drawBox(b, cx, y, isNew(b, key));
      y += BOX_H;
      arrow(cx, y, y + GAP);
      y += GAP;
    }
  };
  section('stem', d.stem, 'stem');
  section('between stages 1 and 2', d.before, 'before');
  // The block: body down the middle, shortcut on the right, joined at "+".
  y += 6;
  text(cx, y + 8, 'first block of stage 2', 'fill="#636363" font-style="italic"');
  y += 20;
  const top = y;
  for (const b of d.body) {
    drawBox(b, cx, y, isNew(b, 'body'));
    y += BOX_H;
    arrow(cx, y, y + GAP);
    y += GAP;
  }
  const sx = cx + BOX_W / 2 + 10;
  const addY = y + 10;
  if (d.shortcut.length > 0) {
    let sy = top + 10;
    for (const b of d.shortcut) {
      const fresh = isNew(b, 'shortcut');
      out.push(`<rect x="${sx - 5}" y="${sy}" width="70" height="${BOX_H}" rx="4" fill="${COLORS[b.kind]}" stroke="${fresh ? '#d62728' : '#636363'}" stroke-width="${fresh ? 2.5 : 1}"/>`);
      out.push(`<text x="${sx + 30}" y="${sy + 15}" text-anchor="middle" font-size="9">${escapeHtml(b.label.replace(' conv', ''))}</text>`);
      sy += BOX_H + 4;
    }
  }
  // Shortcut line from above the block down to "+".
  out.push(`<polyline points="${cx},${top - 4} ${x0 + W - 14},${top - 4} ${x0 + W - 14},${addY} ${cx + 12},${addY}" fill="none" stroke="#636363" stroke-dasharray="${d.shortcut.length > 0 ? '0' : '4 3'}" marker-end="url(#arrow)"/>`);
  out.push(`<circle cx="${cx}" cy="${addY}" r="10" fill="${COLORS.add}" stroke="#636363"/>`);
  text(cx, addY + 4, '+');
  y = addY + 10;
  for (const b of d.after) {
    arrow(cx, y, y + GAP);
    y += GAP;
    drawBox(b, cx, y, isNew(b, 'after'));
    y += BOX_H;
  }
  return { svg: out.join(''), h: y + 10 };
}
