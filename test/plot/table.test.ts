import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCell, tableHtml, tableText, toTableData } from '../../src/lib/plot/table';
import { KitError } from '../../src/lib/util/errors';

const rows = [
  { step: '<b>stem</b>', acc: 0.912345, epochs: 30 },
  { step: 'patchify & co', acc: 0.5, lr: 4e-6 },
];

test('tableHtml escapes < and & in headers and cells', () => {
  const html = tableHtml([{ 'a<b': '<script>x</script>' }], { caption: 'c<d' });
  assert.ok(!html.includes('<script>'));
  assert.ok(html.includes('<th>a&lt;b</th>'));
  assert.ok(html.includes('<td>&lt;script&gt;x&lt;/script&gt;</td>'));
  assert.ok(html.includes('<caption>c&lt;d</caption>'));
  assert.ok(tableHtml(rows).includes('<td>patchify &amp; co</td>'));
});

test('tableHtml formats numbers with the given digits and right-aligns them', () => {
  const html = tableHtml(rows, { digits: 2 });
  assert.ok(html.includes('<td class="num">0.91</td>'));
  assert.ok(html.includes('<td class="num">0.50</td>'));
  assert.ok(html.includes('<td class="num">30</td>'), 'integers stay integers');
  assert.ok(html.includes('<td class="num">4.0e-6</td>'), 'tiny numbers use exponent form');
  assert.ok(tableHtml(rows).includes('<td class="num">0.9123</td>'), 'default is 4 digits');
});

test('rows become columns in first-seen order, missing cells empty', () => {
  assert.deepEqual(toTableData(rows), {
    columns: ['step', 'acc', 'epochs', 'lr'],
    rows: [
      ['<b>stem</b>', 0.912345, 30, undefined],
      ['patchify & co', 0.5, undefined, 4e-6],
    ],
  });
});

test('formatCell handles non-finite numbers, null, booleans, bigints and objects', () => {
  assert.equal(formatCell(NaN), 'NaN');
  assert.equal(formatCell(-Infinity), '-Infinity');
  assert.equal(formatCell(null), '');
  assert.equal(formatCell(undefined), '');
  assert.equal(formatCell(true), 'true');
  assert.equal(formatCell(12n), '12');
  assert.equal(formatCell({ a: [1] }), '{"a":[1]}');
  assert.equal(formatCell(-0.123456, 3), '-0.123');
  assert.equal(formatCell(0.0004, 3), '4.00e-4');
  assert.equal(formatCell(1.5, 0), '2');
});

test('tableText aligns columns under a rule line', () => {
  const text = tableText([{ name: 'a', v: 1.5 }, { name: 'long name', v: 10 }], { digits: 1, caption: 'T' });
  assert.equal(text, ['T', 'name       v', '---------  ---', 'a          1.5', 'long name  10'].join('\n'));
});

test('tableText right-aligns the columns named in align, header included, and leaves the rest left', () => {
  const text = tableText([{ step: 'resnet', auc: '0.9 ± 0.1', n: 3 }, { step: 'gelu', auc: '0.95 ± 0.01', n: 12 }], { align: { auc: 'right', n: 'right' } });
  assert.equal(text, ['step            auc   n', '------  -----------  --', 'resnet    0.9 ± 0.1   3', 'gelu    0.95 ± 0.01  12'].join('\n'));
  const indexed = tableText({ columns: ['v'], values: [[1], [22]], index: ['a', 'bb'] }, { align: { v: 'right' } });
  assert.equal(indexed, ['     v', '--  --', 'a    1', 'bb  22'].join('\n'), 'the index column stays left-aligned');
});

test('a danfo.js DataFrame renders its columns and values, and a non-default index', async () => {
  const dfd = (await import('danfojs-node')) as unknown as {
    DataFrame: new (data: unknown, options?: { index?: string[] }) => unknown;
  };
  const df = new dfd.DataFrame([{ step: 'a<', acc: 0.25 }, { step: 'b', acc: 0.5 }]);
  const html = tableHtml(df as never, { digits: 1 });
  assert.ok(html.includes('<th>step</th><th>acc</th>'));
  assert.ok(html.includes('<td>a&lt;</td><td class="num">0.3</td>'), 'toFixed rounds the tie 0.25 up');
  assert.ok(!html.includes('<th></th>'), 'the default 0..n-1 index is not shown');
  const indexed = new dfd.DataFrame({ acc: [0.5] }, { index: ['resnet'] });
  assert.deepEqual(toTableData(indexed as never), { columns: ['acc'], rows: [[0.5]], index: ['resnet'] });
});

test('a table of something else is a KitError naming what was passed', () => {
  assert.throws(() => tableHtml({ foo: 1 } as never), (err: unknown) => err instanceof KitError && /foo/.test(err.message));
  assert.throws(() => tableHtml(rows, { digits: -1 }), KitError);
});
