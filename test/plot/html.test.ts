import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as vm from 'node:vm';
import { figure, line, bar, type Figure } from '../../src/lib/plot/figure';
import { figureHtml, plotlyScriptTag, standaloneHtml, writeHtml } from '../../src/lib/plot/html';
import { jsonForScript } from '../../src/lib/plot/escape';
import { KitError } from '../../src/lib/util/errors';

const PLOTLY_SOURCE = fs.readFileSync(require.resolve('plotly.js-dist-min/plotly.min.js'), 'utf8');

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** The figure JSON embedded by figureHtml, parsed back. */
function embeddedFigures(html: string): unknown[] {
  return [...html.matchAll(/^ {2}var fig = (.*);$/gm)].map((m) => JSON.parse(m[1] ?? 'null') as unknown);
}

function scriptBodies(html: string): string[] {
  return [...html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '');
}

test('figureHtml escapes a title containing </script> so each script has exactly one closing tag', () => {
  const fig = figure(line([1, 2], [3, 4], { name: '<!-- x -->' }), { title: 'bad </script><script>alert(1)</script>' });
  const html = figureHtml(fig, { id: 'p1' });
  assert.equal(count(html.toLowerCase(), '<script'), 1);
  assert.equal(count(html.toLowerCase(), '</script'), 1);
  assert.equal(count(html, '<!--'), 0);
  assert.ok(html.trimEnd().endsWith('</script>'));
  const [parsed] = embeddedFigures(html);
  assert.deepEqual(parsed, JSON.parse(JSON.stringify(fig)), 'the escaped JSON still parses to the same figure');
});

test('jsonForScript escapes U+2028/2029 and writes typed arrays as arrays', () => {
  const json = jsonForScript({ s: 'a\u2028b\u2029c&', y: new Float32Array([0.5, 1]), n: NaN });
  assert.ok(!json.includes('\u2028') && !json.includes('\u2029') && !json.includes('&'));
  assert.deepEqual(JSON.parse(json), { s: 'a\u2028b\u2029c&', y: [0.5, 1], n: null });
});

test('figureHtml uses the given id and height, and layout.height when no height is given', () => {
  const html = figureHtml(figure([]), { id: 'loss-curve', height: 300 });
  assert.match(html, /<div id="loss-curve"[^>]*height:300px/);
  assert.match(figureHtml(figure([], { height: 250 })), /height:250px/);
  const a = /<div id="([^"]+)"/.exec(figureHtml(figure([])))?.[1];
  const b = /<div id="([^"]+)"/.exec(figureHtml(figure([])))?.[1];
  assert.ok(a !== undefined && b !== undefined && a !== b, 'fresh ids differ');
});

test('figureHtml rejects an id that could break out of the attribute', () => {
  assert.throws(() => figureHtml(figure([]), { id: 'x" onload="alert(1)' }), KitError);
  assert.throws(() => figureHtml(figure([]), { height: -5 }), KitError);
});

test("figureHtml's script waits for Plotly, then draws with newPlot and redraws the same div with react", async () => {
  const calls: { fn: string; el: unknown; data: unknown }[] = [];
  const el: { _fullLayout?: unknown } = {};
  const plotly = {
    newPlot(target: typeof el, data: unknown, layout: unknown): void {
      calls.push({ fn: 'newPlot', el: target, data });
      target._fullLayout = layout;
    },
    react(target: typeof el, data: unknown): void {
      calls.push({ fn: 'react', el: target, data });
    },
  };
  const window: { Plotly?: typeof plotly } = {};
  const context = vm.createContext({
    window,
    setTimeout,
    document: { getElementById: (id: string) => (id === 'live' ? el : null) },
  });
  const first = figure(line([1, 2], [3, 4]));
  const [script1] = scriptBodies(figureHtml(first, { id: 'live' }));
  vm.runInContext(script1 ?? '', context);
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(calls.length, 0, 'nothing is drawn before Plotly exists');
  window.Plotly = plotly;
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.deepEqual(calls.map((c) => c.fn), ['newPlot']);
  assert.equal(calls[0]?.el, el);
  assert.deepEqual(JSON.parse(JSON.stringify(calls[0]?.data)), first.data);

  const second = figure(bar(['a'], [1]));
  const [script2] = scriptBodies(figureHtml(second, { id: 'live' }));
  vm.runInContext(script2 ?? '', context);
  assert.deepEqual(calls.map((c) => c.fn), ['newPlot', 'react']);
  assert.deepEqual(JSON.parse(JSON.stringify(calls[1]?.data)), second.data);
});

test('plotlyScriptTag inlines plotly.min.js in one script element', () => {
  const tag = plotlyScriptTag();
  assert.ok(tag.includes(PLOTLY_SOURCE));
  assert.equal(count(tag.toLowerCase(), '</script'), 1);
  assert.equal(plotlyScriptTag(), tag, 'cached');
});

const pageFigures: Figure[] = [
  figure(line([1, 2, 3], [0.9, 0.5, 0.3], { name: 'train' }), { title: 'Loss' }),
  figure(bar(['stem', 'patchify'], [0.81, 0.84]), { title: 'Accuracy </script>' }),
  figure(line([0, 1], new Float64Array([1, 2]))),
];

test('standaloneHtml contains the Plotly source exactly once, even with several figures', () => {
  const html = standaloneHtml({ title: 'Report', body: pageFigures });
  assert.equal(count(html, PLOTLY_SOURCE), 1);
  assert.equal(count(html, 'window.Plotly = Plotly;'), 1);
  assert.ok(html.indexOf(PLOTLY_SOURCE) < html.indexOf('<body>'), 'Plotly loads in <head>, before any chart');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
});

test("standaloneHtml's figure JSON parses back to the same data", () => {
  const html = standaloneHtml({ title: 'Report', body: pageFigures });
  const parsed = embeddedFigures(html) as Figure[];
  assert.equal(parsed.length, pageFigures.length);
  parsed.forEach((fig, i) => {
    const original = pageFigures[i];
    assert.ok(original !== undefined);
    assert.deepEqual(fig.data, JSON.parse(JSON.stringify(original.data, (_k, v: unknown) => (v instanceof Float64Array ? [...v] : v))));
    assert.deepEqual(fig.layout, original.layout);
  });
  assert.deepEqual((parsed[2]?.data[0] as { y: unknown }).y, [1, 2]);
});

test('standaloneHtml renders headings, tables and raw HTML, escaping the title; no Plotly without charts', () => {
  const html = standaloneHtml({
    title: 'A & <B>',
    body: [{ heading: 'Results <1>' }, { table: [{ step: 'stem', acc: 0.5 }], caption: 'Table 1' }, '<p id="raw">raw</p>'],
  });
  assert.ok(html.includes('<title>A &amp; &lt;B&gt;</title>'));
  assert.ok(html.includes('<h2>Results &lt;1&gt;</h2>'));
  assert.ok(html.includes('<caption>Table 1</caption>'));
  assert.ok(html.includes('<p id="raw">raw</p>'));
  assert.ok(!html.includes('window.Plotly = Plotly;'));
});

test('writeHtml writes the complete page atomically, leaving no temporary files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-html-'));
  try {
    const file = path.join(dir, 'reports', 'report.html');
    const page = { title: 'Report', body: pageFigures };
    writeHtml(file, page);
    fs.writeFileSync(path.join(dir, 'reports', 'keep.txt'), 'x');
    writeHtml(file, { title: 'Second', body: [{ heading: 'only' }] });
    assert.deepEqual(fs.readdirSync(path.join(dir, 'reports')).sort(), ['keep.txt', 'report.html']);
    assert.equal(fs.readFileSync(file, 'utf8'), standaloneHtml({ title: 'Second', body: [{ heading: 'only' }] }));
    writeHtml(file, page);
    const written = fs.readFileSync(file, 'utf8');
    assert.equal(written, standaloneHtml(page));
    assert.ok(written.endsWith('</html>\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
