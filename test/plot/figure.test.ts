import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bar, figure, figureTitle, heatmap, histogram, line, scatter } from '../../src/lib/plot/figure';

test('figure() applies the kit defaults: white template, responsive, no Plotly logo', () => {
  const fig = figure(line([1, 2], [3, 4]));
  assert.equal(fig.data.length, 1);
  const template = fig.layout?.['template'] as { layout: Record<string, unknown> };
  assert.equal(template.layout['plot_bgcolor'], '#ffffff');
  assert.deepEqual(fig.config, { responsive: true, displaylogo: false });
  assert.deepEqual(fig.layout?.['margin'], { l: 56, r: 24, b: 48, t: 24 });
});

test('figure() lets the caller override config and single margin sides', () => {
  const fig = figure([], { margin: { l: 10 } }, { displaylogo: true, staticPlot: true });
  assert.deepEqual(fig.layout?.['margin'], { l: 10, r: 24, b: 48, t: 24 });
  assert.deepEqual(fig.config, { responsive: true, displaylogo: true, staticPlot: true });
});

test('figure() turns string titles into { text } for the figure and every axis', () => {
  const fig = figure([], { title: 'Loss', xaxis: { title: 'epoch', type: 'log' }, yaxis2: { title: { text: 'acc' } } });
  assert.deepEqual(fig.layout?.['title'], { text: 'Loss' });
  assert.deepEqual(fig.layout?.['xaxis'], { title: { text: 'epoch' }, type: 'log' });
  assert.deepEqual(fig.layout?.['yaxis2'], { title: { text: 'acc' } });
  assert.equal((fig.layout?.['margin'] as { t: number }).t, 56, 'a title gets room on top');
  assert.equal(figureTitle(fig), 'Loss');
  assert.equal(figureTitle(figure([])), undefined);
});

test('figure() does not mutate the layout it was given', () => {
  const layout = { title: 'x', xaxis: { title: 'y' } };
  figure([], layout);
  assert.deepEqual(layout, { title: 'x', xaxis: { title: 'y' } });
});

test('trace builders set type and mode, and extra overrides them', () => {
  assert.deepEqual(line([1], [2], { name: 'train' }), { type: 'scatter', mode: 'lines', x: [1], y: [2], name: 'train' });
  assert.deepEqual(scatter([1], [2]), { type: 'scatter', mode: 'markers', x: [1], y: [2] });
  assert.deepEqual(line([1], [2], { mode: 'lines+markers' })['mode'], 'lines+markers');
  assert.deepEqual(bar(['a'], [2]), { type: 'bar', x: ['a'], y: [2] });
  assert.deepEqual(histogram([1, 2, 2]), { type: 'histogram', x: [1, 2, 2] });
  assert.deepEqual(heatmap([[1, 0], [0, 1]], { x: ['n', 'p'] }), {
    type: 'heatmap',
    z: [[1, 0], [0, 1]],
    colorscale: 'Blues',
    x: ['n', 'p'],
  });
});
