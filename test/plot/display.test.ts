import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { figure, line } from '../../src/lib/plot/figure';
import {
  inNotebook,
  liveFigure,
  progressDisplay,
  setDisplayForTests,
  show,
  showHtml,
  showImages,
  showTable,
  type DisplayHost,
} from '../../src/lib/notebook/display';
import { trainingDisplay } from '../../src/lib/notebook/training';
import type { EpochMetrics, TrainProgress } from '../../src/lib/train/trainer';

const PLOTLY_MARK = 'window.Plotly = Plotly;';

interface Output {
  /** undefined: a new output from `display`; otherwise the newDisplay it belongs to. */
  displayId: string | undefined;
  html: string;
}

function recorder(): { host: DisplayHost; outputs: Output[] } {
  const outputs: Output[] = [];
  let next = 0;
  const host: DisplayHost = {
    display: { html: (html) => void outputs.push({ displayId: undefined, html }) },
    newDisplay: () => {
      const displayId = `display-${next++}`;
      return { html: (html) => void outputs.push({ displayId, html }) };
    },
  };
  return { host, outputs };
}

const divId = (html: string): string | undefined => /<div id="([^"]+)"/.exec(html)?.[1];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => setDisplayForTests(undefined));

test('outside a kernel, show functions print short notes instead of throwing', async (t) => {
  const log = t.mock.method(console, 'log', () => undefined);
  assert.equal(inNotebook(), false);
  show(figure(line([1], [2]), { title: 'Loss' }));
  show(figure([line([1], [2]), { type: 'bar', x: [1], y: [1] }]));
  showTable([{ a: 0.5, b: '<x>' }], { digits: 1 });
  showHtml('<b>hi</b>');
  await showImages([{ pixels: new Uint8Array(4), width: 2, height: 2, caption: 'cat' }]);
  const live = liveFigure();
  live.update(figure([], { title: 'Curves' }));
  live.update(figure([], { title: 'Curves' }));
  const printed = log.mock.calls.map((c) => String(c.arguments[0]));
  assert.deepEqual(printed, [
    '[figure: Loss]',
    '[figure: 2 traces (scatter, bar)]',
    ['a    b', '---  ---', '0.5  <x>'].join('\n'),
    '[html output, 9 characters: shown in notebooks only]',
    '[images: 1 (2×2): cat]',
    '[live figure: Curves]',
  ]);
  assert.equal(typeof progressDisplay(), 'function');
});

test('in a kernel, the Plotly script is sent exactly once across two show() calls, before the first chart', () => {
  const { host, outputs } = recorder();
  setDisplayForTests(host);
  assert.equal(inNotebook(), true);
  show(figure(line([1], [2]), { title: 'first' }));
  show(figure(line([1], [3]), { title: 'second' }));
  assert.equal(outputs.length, 3);
  assert.equal(outputs.filter((o) => o.html.includes(PLOTLY_MARK)).length, 1);
  assert.ok(outputs[0]?.html.includes(PLOTLY_MARK));
  assert.ok(outputs[1]?.html.includes('"first"') && outputs[2]?.html.includes('"second"'));
  assert.ok(outputs.every((o) => o.displayId === undefined), 'each chart is its own output');
});

test('a fresh page (new kernel process) gets the Plotly script again', () => {
  const first = recorder();
  setDisplayForTests(first.host);
  show(figure([]));
  const second = recorder();
  setDisplayForTests(second.host);
  show(figure([]));
  assert.equal(second.outputs.filter((o) => o.html.includes(PLOTLY_MARK)).length, 1);
});

test('liveFigure updates reuse one display and one div id, and draw with Plotly.react', () => {
  const { host, outputs } = recorder();
  setDisplayForTests(host);
  const live = liveFigure({ height: 300 });
  live.update(figure(line([1], [0.9]), { title: 'epoch 1' }));
  live.update(figure(line([1, 2], [0.9, 0.7]), { title: 'epoch 2' }));
  live.update(figure(line([1, 2, 3], [0.9, 0.7, 0.6]), { title: 'epoch 3' }));
  const [plotly, ...updates] = outputs;
  assert.ok(plotly?.html.includes(PLOTLY_MARK) && plotly.displayId === undefined);
  assert.equal(updates.length, 3);
  assert.equal(new Set(updates.map((o) => o.displayId)).size, 1);
  assert.notEqual(updates[0]?.displayId, undefined);
  assert.deepEqual(updates.map((o) => divId(o.html)), [live.id, live.id, live.id]);
  assert.ok(updates.every((o) => o.html.includes('P.react(el') && o.html.includes('height:300px')));
  assert.ok(updates[2]?.html.includes('"epoch 3"'));

  const other = liveFigure();
  other.update(figure([]));
  const last = outputs[outputs.length - 1];
  assert.notEqual(last?.displayId, updates[0]?.displayId);
  assert.notEqual(other.id, live.id);
  assert.equal(outputs.filter((o) => o.html.includes(PLOTLY_MARK)).length, 1);
});

test('showTable and showImages send HTML to the notebook', async () => {
  const { host, outputs } = recorder();
  setDisplayForTests(host);
  showTable([{ step: '<stem>', acc: 0.123456 }], { digits: 2, caption: 'Steps' });
  await showImages([{ pixels: new Uint8Array([0, 255, 255, 0]), width: 2, height: 2, caption: 'x' }]);
  assert.ok(outputs[0]?.html.includes('<td>&lt;stem&gt;</td><td class="num">0.12</td>'));
  assert.ok(outputs[1]?.html.includes('src="data:image/png;base64,'));
  assert.ok(!outputs.some((o) => o.html.includes(PLOTLY_MARK)), 'tables and images do not need Plotly');
});

test('progressDisplay throttles redraws in one display and always draws the final state', async () => {
  const { host, outputs } = recorder();
  setDisplayForTests(host);
  const sink = progressDisplay();
  for (let done = 1; done <= 100; done++) sink({ label: 'decode <train>', done, total: 100, unit: 'images' });
  assert.equal(outputs.length, 2, 'the first update and, at once, the finished one');
  await sleep(350);
  assert.equal(outputs.length, 2, 'no late redraw after the final state');
  assert.equal(new Set(outputs.map((o) => o.displayId)).size, 1);
  assert.match(outputs[0]?.html ?? '', /1\/100 images/);
  assert.match(outputs[1]?.html ?? '', /100\/100 images/);
  assert.ok(outputs[1]?.html.includes('decode &lt;train&gt;'));
});

test('progressDisplay draws a skipped update when the interval ends, and keeps a line per label', async () => {
  const { host, outputs } = recorder();
  setDisplayForTests(host);
  const sink = progressDisplay({ minIntervalMs: 40 });
  sink({ label: 'download', done: 10, unit: 'B' });
  sink({ label: 'download', done: 2000, unit: 'B' });
  sink({ label: 'unzip', done: 1, total: 4 });
  assert.equal(outputs.length, 1);
  await sleep(120);
  assert.equal(outputs.length, 2, 'one trailing redraw');
  const last = outputs[1]?.html ?? '';
  assert.match(last, /download 2\.0 kB/);
  assert.match(last, /unzip \[/);
  assert.ok(last.indexOf('download') < last.indexOf('unzip'));
});

test('inside a real tslab kernel process, show() and liveFigure() go through tslab display messages', () => {
  // Stand in for the kernel: tslab's jupyter module is loaded and has a writer for display data.
  const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
  const messages: { data: Record<string, string>; transient: { display_id?: string }; update: boolean | undefined }[] = [];
  jupyter.lastWriteDisplayData = (msg: { data: Record<string, string>; transient: { display_id?: string } }, update: boolean | undefined) =>
    messages.push({ ...msg, update });
  try {
    setDisplayForTests(undefined);
    assert.equal(inNotebook(), true);
    show(figure([], { title: 'kernel' }));
    const live = liveFigure();
    live.update(figure([], { title: 'a' }));
    live.update(figure([], { title: 'b' }));
    assert.equal(messages.length, 4);
    assert.ok(messages[0]?.data['text/html']?.includes(PLOTLY_MARK));
    assert.ok(messages[1]?.data['text/html']?.includes('"kernel"'));
    const [first, second] = [messages[2], messages[3]];
    assert.ok(first?.transient.display_id !== undefined);
    assert.equal(second?.transient.display_id, first.transient.display_id);
    assert.deepEqual([Boolean(first.update), second?.update], [false, true], 'then update_display_data in place');
    assert.equal(divId(second?.data['text/html'] ?? ''), live.id);
  } finally {
    jupyter.lastWriteDisplayData = null;
    setDisplayForTests(undefined);
  }
  assert.equal(inNotebook(), false, 'detection follows the kernel state');
});

test('trainingDisplay: Kernel › Interrupt (SIGINT) turns its status line into what happens next; the listener goes once training ends', () => {
  const { host, outputs } = recorder();
  setDisplayForTests(host);
  const listeners = process.listenerCount('SIGINT');
  const live = trainingDisplay('ConvNeXt, seed 0');
  const progress = (epoch: number, step: number): TrainProgress => ({ phase: 'train', epoch, epochs: 3, step, steps: 4, loss: 0.5, lr: 1e-3, imgPerSec: 100, etaSeconds: 5 });
  const metrics = (epoch: number): EpochMetrics => ({ epoch, trainLoss: 0.5, valLoss: 0.4, valAcc: 0.8, valAuc: 0.9, lr: 1e-3, imgPerSec: 100, seconds: 1, best: true });
  live.onProgress(progress(2, 4));
  assert.equal(process.listenerCount('SIGINT'), listeners + 1);
  process.emit('SIGINT');
  const status = outputs.filter((o) => o.displayId === 'display-0').pop()?.html ?? '';
  assert.match(status, /interrupted \(Kernel › Interrupt\)/);
  assert.match(status, /the checkpoint of epoch 1 is kept, so a re-run resumes from epoch 2/);
  assert.equal(process.listenerCount('SIGINT'), listeners, 'it fires once');
  // A run that ends normally removes its listener.
  const other = trainingDisplay('again');
  other.onProgress(progress(1, 1));
  for (const e of [1, 2, 3]) other.onEpoch(metrics(e), [1, 2, 3].slice(0, e).map(metrics));
  assert.equal(process.listenerCount('SIGINT'), listeners);
});
